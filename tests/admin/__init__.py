"""healthd.admin: the history pages, the current state, the search."""
