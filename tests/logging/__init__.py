"""healthd.logging, healthd.middleware and healthd.access_log: the lines each writes."""
