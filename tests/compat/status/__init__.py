"""healthd.compat.status: healthd's own tests of the status endpoints and stats."""
