"""healthd.compat.dockerflow: healthd's own tests of the heartbeat endpoints."""
