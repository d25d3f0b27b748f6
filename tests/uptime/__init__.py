"""healthd.uptime: the uptime page, its badges and the history API."""
