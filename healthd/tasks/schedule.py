"""healthd's own django-celery-beat rows, kept in step with the settings.

Rows healthd owns are named ``healthd: …``; anything else is the operator's and is
never touched. An operator's ``enabled`` is never overwritten. Checks sharing an
interval share a row, so their results are written in one bulk insert per run.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction

from healthd import conf, passive, store
from healthd.checks import registry
from healthd.checks.passive import is_passive

logger = logging.getLogger("healthd.schedule")

PREFIX = "healthd: "
RUN_TASK = "healthd.tasks.run_checks"
PRUNE_TASK = "healthd.tasks.prune_history"
PRUNE_ROW = f"{PREFIX}prune history"
STATS_TASK = "healthd.tasks.gather_stats"
STATS_ROW = f"{PREFIX}gather stats"
SWEEP_TASK = "healthd.tasks.sweep_passive"
SWEEP_ROW = f"{PREFIX}passive checks sweep"


def row_name(interval: int) -> str:
    return f"{PREFIX}checks every {interval}s"


def wanted_rows() -> dict[str, tuple[str, int, dict]]:
    """{row name: (task, interval seconds, kwargs)} from the settings in force."""
    groups: dict[int, list[str]] = defaultdict(list)
    for check in registry.configured_checks():
        if is_passive(check):
            continue  # it reports in; the sweep notices when it does not
        groups[max(1, round(check.interval))].append(check.name)
    rows = {
        row_name(interval): (RUN_TASK, interval, {"names": sorted(names), "once_per": interval})
        for interval, names in groups.items()
    }
    rows[PRUNE_ROW] = (PRUNE_TASK, 3600, {})
    settings = conf.get()
    if settings.stats:
        rows[STATS_ROW] = (STATS_TASK, max(1, round(settings.raw["STATS_INTERVAL"])), {})
    rows[SWEEP_ROW] = (SWEEP_TASK, max(1, round(settings.raw["PASSIVE_SWEEP_INTERVAL"])), {})
    return rows


def sync_schedule() -> dict[str, list[str]]:
    """Create, update and remove healthd's PeriodicTasks; idempotent. Returns what changed."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    changes: dict[str, list[str]] = {"created": [], "updated": [], "removed": []}
    wanted = wanted_rows()
    with transaction.atomic():
        obsolete = list(
            PeriodicTask.objects.filter(name__startswith=PREFIX).exclude(name__in=wanted))
        for name, (task, every, kwargs) in wanted.items():
            schedule, _ = IntervalSchedule.objects.get_or_create(
                every=every, period=IntervalSchedule.SECONDS
            )
            fields = {
                "task": task, "interval": schedule, "kwargs": json.dumps(kwargs),
                "expire_seconds": every, "description": "managed by healthd (sync_schedule)",
            }
            row = PeriodicTask.objects.filter(name=name).first()
            if row is None:
                enabled = _enabled_before(obsolete, task, kwargs)
                PeriodicTask.objects.create(name=name, enabled=enabled, **fields)
                changes["created"].append(name)
                continue
            if row.crontab_id or row.solar_id or row.clocked_id:
                # The operator put this row on another kind of schedule: theirs to keep.
                fields = {k: v for k, v in fields.items() if k not in ("interval",)}
            if row.expires:
                fields.pop("expire_seconds")  # the operator set an absolute expiry
            stale = {k: v for k, v in fields.items() if getattr(row, k) != v}
            if stale:
                for field_name, value in stale.items():
                    setattr(row, field_name, value)
                try:
                    row.save(update_fields=list(stale))
                except ValidationError as exc:
                    logger.error("healthd schedule: left %r as it is: %s", name, exc)
                    continue
                changes["updated"].append(name)
        changes["removed"] = sorted(row.name for row in obsolete)
        PeriodicTask.objects.filter(pk__in=[row.pk for row in obsolete]).delete()
        PeriodicTasks.update_changed()
    if any(changes.values()):
        logger.info("healthd schedule: %s", changes)
    _forget_unconfigured_results()
    return changes


def _forget_unconfigured_results() -> None:
    """Drop the stored results of checks no longer configured (Redis may be away: fine).

    A passive check known from its reports (a decorated job, a watched beat row) counts as
    configured: it is forgotten by :func:`healthd.passive.forget` or when its row goes.
    """
    try:
        store.forget_unconfigured({c.name for c in registry.configured_checks()}
                                  | passive.known_names())
    except Exception as exc:
        logger.warning("could not drop results of removed checks: %s", type(exc).__name__)


def _enabled_before(obsolete: list, task: str, kwargs: dict) -> bool:
    """A row renamed by a change of interval keeps the operator's "disabled"."""
    names = set(kwargs.get("names", []))
    for row in obsolete:
        if row.task != task:
            continue
        before = set(json.loads(row.kwargs or "{}").get("names", []))
        if (names & before or not names) and not row.enabled:
            return False
    return True


def on_post_migrate(**kwargs) -> None:
    """post_migrate receiver: keep the schedule in step after every migrate."""
    if not apps.is_installed("django_celery_beat"):
        logger.warning("django_celery_beat is not installed: healthd's schedule was not written")
        return
    sync_schedule()
