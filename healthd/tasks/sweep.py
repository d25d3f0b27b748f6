"""The lateness sweep of passive checks, on beat's schedule and as one-shot timers."""

from __future__ import annotations

from celery import shared_task
from django.core.exceptions import ImproperlyConfigured

from healthd import passive
from healthd.passive import beat
from healthd.store.client import StoreNotConfigured
from healthd.util.logs import get_logger
from healthd.util.outages import DATABASE_ERRORS, REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.tasks")


@shared_task(name="healthd.tasks.sweep_passive", ignore_result=True)
def sweep_passive(names: list[str] | None = None, armed_for: float | None = None) -> dict:
    """Record late each passive check (these, or all) whose success did not arrive within
    ``every + grace``; first bring the watched django-celery-beat rows in step.

    Scheduled every ``PASSIVE_SWEEP_INTERVAL``; a report whose deadline comes sooner
    queues one for that deadline (``armed_for``), so a short period is late on time.
    """
    watched: dict[str, list[str]] = {}
    if names is None:
        try:
            watched = beat.sync_watched()
        except (*DATABASE_ERRORS, *REDIS_ERRORS, StoreNotConfigured,
                ImproperlyConfigured) as exc:  # away, or a bad setting: sweep what Redis knows
            logger.warning("could not bring the watched beat rows in step: %s", redact(exc))
    late = passive.sweep(names, armed_for=armed_for)
    return {"late": late, **watched}
