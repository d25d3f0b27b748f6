"""healthd.daemon: `healthd run`, its parts one by one and as a user starts it."""
