"""healthd.probes: the orchestrators' probes, in Django and answered before it."""
