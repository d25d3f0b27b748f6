"""healthd.conf: the settings object and the per-process caches."""
