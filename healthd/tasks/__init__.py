"""Celery tasks: run the checks and store what they found."""

from __future__ import annotations

import logging

from celery import shared_task

from healthd.tasks.run import run_and_record
from healthd.tasks.schedule import sync_schedule

logger = logging.getLogger("healthd.tasks")

__all__ = ["run_and_record", "run_checks", "sync_schedule"]


@shared_task(name="healthd.tasks.run_checks", ignore_result=True)
def run_checks(names: list[str] | None = None) -> dict:
    """Run the named checks (all for None), store the results, announce transitions."""
    summary = run_and_record(names)
    return {"checks": len(summary.results), "transitions": len(summary.transitions)}


@shared_task(name="healthd.tasks.prune_history", ignore_result=True)
def prune_history() -> dict:
    """Delete history older than the retention settings, in batches."""
    from healthd.retention import prune

    return prune()
