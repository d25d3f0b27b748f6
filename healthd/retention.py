"""Delete old history in small batches, so no long lock blocks the admin or the workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction

from healthd import conf
from healthd.models import CheckResult, Delivery, Transition


def _delete_before(model, field: str, cutoff: datetime, batch: int) -> int:
    total = 0
    while True:
        ids = list(
            model.objects.filter(**{f"{field}__lt": cutoff})
            .order_by(field).values_list("id", flat=True)[:batch]
        )
        if not ids:
            return total
        with transaction.atomic():
            model.objects.filter(id__in=ids)._raw_delete(model.objects.db)
        total += len(ids)


def prune(now: datetime | None = None, batch: int = 5000) -> dict[str, int]:
    """Delete results past RETENTION_DAYS, and transitions and their deliveries past
    TRANSITION_RETENTION_DAYS."""
    settings = conf.get()
    now = now or datetime.now(tz=UTC)
    return {
        "results": _delete_before(
            CheckResult, "checked_at", now - timedelta(days=settings.retention_days), batch),
        "transitions": _delete_before(
            Transition, "at", now - timedelta(days=settings.transition_retention_days), batch),
        "deliveries": _delete_before(
            Delivery, "created_at", now - timedelta(days=settings.transition_retention_days),
            batch),
    }
