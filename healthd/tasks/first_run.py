"""A first run as soon as a worker is up, so a fresh deploy is not red for an interval."""

from __future__ import annotations

from healthd.alerting import outbox
from healthd.tasks import deliver_outbox_task, gather_stats, run_checks
from healthd.util.logs import get_logger
from healthd.util.outages import BROKER_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd")


def queue_first_run(sender: object = None, **kwargs: object) -> None:
    """Celery's ``worker_ready`` receiver: queue a run of the checks and a stats gathering,
    and a delivery of the outbox once what a worker killed before this one was delivering
    can be claimed (it would wait for the next scheduled run otherwise)."""
    try:
        run_checks.apply_async(expires=60)
        gather_stats.apply_async(expires=60)
        after = outbox.visibility_timeout() + 1
        deliver_outbox_task.apply_async(countdown=after, expires=after + 60)
    except BROKER_ERRORS as exc:  # the worker must start even if this cannot be queued
        logger.error("could not queue healthd's first run: %s", redact(exc))
