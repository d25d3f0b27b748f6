"""The database side: writing a run's history, the report queries, retention."""
