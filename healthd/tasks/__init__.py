"""Celery tasks: run the checks and store what they found."""

from __future__ import annotations

from celery import shared_task

from healthd.history.retention import prune
from healthd.tasks.deliver import deliver_notification, deliver_outbox_task, flush_groups_task
from healthd.tasks.instances import watch_instances
from healthd.tasks.run import claim_run, run_and_record
from healthd.tasks.schedule import sync_schedule
from healthd.tasks.stats import gather_stats
from healthd.tasks.sweep import sweep_passive
from healthd.util.logs import get_logger

logger = get_logger("healthd.tasks")

__all__ = ["claim_run", "deliver_notification", "deliver_outbox_task", "flush_groups_task",
           "gather_stats", "run_and_record", "run_checks", "sweep_passive", "sync_schedule",
           "watch_instances"]


@shared_task(name="healthd.tasks.run_checks", ignore_result=True)
def run_checks(names: list[str] | None = None, once_per: float | None = None) -> dict:
    """Run the named checks (all for None), store the results, announce transitions.

    ``once_per`` (seconds; set by the schedule) makes a second run of the same checks
    within half that period a no-op, so a beat started twice by mistake does not double
    the runs. A run asked for by hand passes none and always runs.
    """
    if once_per and not claim_run(names, once_per):
        logger.info("skipped a duplicate run of %s", names or "every check")
        return {"skipped": True}
    summary = run_and_record(names, once_per)
    return {"checks": len(summary.results), "transitions": len(summary.transitions)}


@shared_task(name="healthd.tasks.prune_history", ignore_result=True)
def prune_history() -> dict:
    """Delete history older than the retention settings, in batches."""
    return prune()
