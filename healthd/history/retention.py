"""Delete old history in small batches, so no long lock blocks the admin or the workers;
on PostgreSQL drop the results' whole days instead (:mod:`healthd.history.partitions`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import models, transaction

from healthd import conf
from healthd.history import partitions
from healthd.models import CheckResult, Delivery, HourlyRollup, Transition

# The current-state page reads a week of rollups (and a day before it, to tell a new
# check from one that was down): rollups are never pruned younger than that.
MIN_ROLLUP_DAYS = 8


def _delete_before(model: type[models.Model], field: str, cutoff: datetime, batch: int) -> int:
    total = 0
    while True:
        ids = list(
            model._default_manager.filter(**{f"{field}__lt": cutoff})
            .order_by(field).values_list("id", flat=True)[:batch]
        )
        if not ids:
            return total
        with transaction.atomic():
            manager = model._default_manager
            manager.filter(id__in=ids)._raw_delete(manager.db)
        total += len(ids)


def prune(now: datetime | None = None, batch: int = 5000) -> dict[str, int]:
    """Delete results past RETENTION_DAYS, and transitions, their deliveries and hourly
    rollups past TRANSITION_RETENTION_DAYS.

    Where results are partitioned (PostgreSQL) their expired days are dropped whole: a
    day only partly past the retention is kept until all of it is.

    Rollups are the long-range uptime, so they live as long as the transitions (no
    setting of their own), but never less than the week the current-state page reads.
    """
    settings = conf.get()
    now = now or datetime.now(tz=UTC)
    long_range = timedelta(days=settings.transition_retention_days)
    results_cutoff = now - timedelta(days=settings.retention_days)
    if partitions.enabled():
        results = partitions.drop_expired(results_cutoff)
    else:
        results = _delete_before(CheckResult, "checked_at", results_cutoff, batch)
    return {
        "results": results,
        "transitions": _delete_before(Transition, "at", now - long_range, batch),
        "deliveries": _delete_before(Delivery, "created_at", now - long_range, batch),
        "rollups": _delete_before(
            HourlyRollup, "hour", now - max(long_range, timedelta(days=MIN_ROLLUP_DAYS)), batch),
    }
