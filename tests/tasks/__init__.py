"""healthd.tasks: the schedule and what a run costs."""
