"""healthd.system_checks: settings checked at start-up."""
