"""healthd.history: the rows a run writes, the report queries, retention."""
