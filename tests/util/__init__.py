"""healthd.util: the small helpers."""
