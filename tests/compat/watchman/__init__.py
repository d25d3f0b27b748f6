"""healthd.compat.watchman: healthd's own tests of the watchman endpoints."""
