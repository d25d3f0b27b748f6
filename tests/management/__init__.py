"""healthd.management: the operators' commands."""
