"""healthd.store: the Redis store on every topology, the state read from it, staleness."""
