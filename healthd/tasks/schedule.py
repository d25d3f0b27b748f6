"""healthd's own django-celery-beat rows, kept in step with the settings.

Rows healthd owns are named ``healthd: …``; anything else is the operator's and is
never touched. Checks sharing an interval share a row, so their results are written in
one bulk insert per run.

An operator's edits of healthd's rows survive ``migrate``: ``enabled``, another kind of
schedule (crontab…), an absolute expiry, and another interval. healthd notes in each
row's description the interval it gave it; a row whose interval is no longer that one
was changed by hand and keeps it. The checks' staleness follows the rows' real
intervals: after every sync, and whenever a row or an interval schedule is saved or
deleted, each check's interval is written beside the latest results
(:func:`healthd.store.write_intervals`), so a check slowed in the admin is not reported
stale and the views still make no SQL query.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from healthd import conf, passive, store
from healthd.checks import registry
from healthd.checks.passive import is_passive
from healthd.local import watch
from healthd.store.client import StoreNotConfigured
from healthd.util.logs import get_logger
from healthd.util.outages import DATABASE_ERRORS, REDIS_ERRORS

logger = get_logger("healthd.schedule")

PREFIX = "healthd: "
RUN_TASK = "healthd.tasks.run_checks"
PRUNE_TASK = "healthd.tasks.prune_history"
PRUNE_ROW = f"{PREFIX}prune history"
STATS_TASK = "healthd.tasks.gather_stats"
STATS_ROW = f"{PREFIX}gather stats"
SWEEP_TASK = "healthd.tasks.sweep_passive"
SWEEP_ROW = f"{PREFIX}passive checks sweep"
INSTANCES_TASK = "healthd.tasks.watch_instances"
INSTANCES_ROW = f"{PREFIX}instances watch"
MANAGED = "managed by healthd (sync_schedule)"
# The interval healthd gave a row, as its description records it.
_WRITTEN_EVERY = re.compile(r"every (\d+) s\b")
_NAMED_EVERY = re.compile(r"checks every (\d+)s$")
# IntervalSchedule's periods, in seconds.
PERIOD_SECONDS = {"days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0,
                  "microseconds": 1e-6}


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
        rows[STATS_ROW] = (STATS_TASK, max(1, round(settings.stats_interval)), {})
    rows[SWEEP_ROW] = (SWEEP_TASK, max(1, round(settings.passive_sweep_interval)), {})
    rows[INSTANCES_ROW] = (INSTANCES_TASK, watch.watch_interval(), {})
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
                "expire_seconds": every, "description": f"{MANAGED}: every {every} s",
            }
            row = PeriodicTask.objects.filter(name=name).first()
            if row is None:
                enabled = _enabled_before(obsolete, task, kwargs)
                PeriodicTask.objects.create(name=name, enabled=enabled, **fields)
                changes["created"].append(name)
                continue
            if row.crontab_id or row.solar_id or row.clocked_id or _interval_edited(row):
                # The operator put this row on another schedule: theirs to keep, and so
                # is the expiry that goes with it and the note of what healthd gave it.
                for kept in ("interval", "expire_seconds", "description"):
                    fields.pop(kept)
            if row.expires:
                fields.pop("expire_seconds", None)  # the operator set an absolute expiry
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
    publish_intervals()
    return changes


def _seconds(schedule: Any) -> float | None:
    """An IntervalSchedule's period in seconds (None when it is not one)."""
    if schedule is None:
        return None
    return float(schedule.every) * PERIOD_SECONDS.get(schedule.period, 1.0)


def _interval_edited(row: Any) -> bool:
    """True when the row's interval is not the one healthd last gave it (it was changed by
    hand). Rows written before healthd noted it are judged by their name's interval."""
    written = _WRITTEN_EVERY.search(row.description or "") or _NAMED_EVERY.search(row.name)
    if written is None or row.interval is None:
        return False
    return _seconds(row.interval) != float(written[1])


def row_intervals() -> dict[str, float]:
    """Each check's real run interval in seconds, from healthd's rows as they are now (a
    row on a crontab or another kind of schedule gives none: the settings' holds)."""
    from django_celery_beat.models import PeriodicTask

    intervals: dict[str, float] = {}
    rows = PeriodicTask.objects.filter(name__startswith=PREFIX, task=RUN_TASK,
                                       interval__isnull=False).select_related("interval")
    for row in rows:
        seconds = _seconds(row.interval)
        try:
            names = json.loads(row.kwargs or "{}").get("names") or []
        except (ValueError, AttributeError):
            continue
        for name in names:
            if seconds:
                # Two rows running one check: it is as fresh as the faster makes it.
                intervals[str(name)] = min(intervals.get(str(name), seconds), seconds)
    return intervals


def publish_intervals() -> None:
    """Write each check's real run interval beside the latest results (Redis may be away:
    then staleness keeps the settings' intervals until the next sync or edit)."""
    try:
        store.write_intervals(row_intervals())
    except (StoreNotConfigured, *DATABASE_ERRORS, *REDIS_ERRORS) as exc:
        logger.warning("could not publish the checks' run intervals: %s", type(exc).__name__)


_BEAT_MODELS = ("django_celery_beat.periodictask", "django_celery_beat.intervalschedule")


@receiver(post_save, dispatch_uid="healthd.schedule.row_saved")
@receiver(post_delete, dispatch_uid="healthd.schedule.row_deleted")
def _on_beat_row_change(sender: Any, **kwargs: Any) -> None:
    """A beat row or interval saved or deleted (in the admin, by beat, by sync): publish
    the intervals once the change is committed. Connected without a sender so that a site
    without django_celery_beat installed gets no lazy-reference error."""
    if getattr(getattr(sender, "_meta", None), "label_lower", None) in _BEAT_MODELS:
        transaction.on_commit(publish_intervals)


def _forget_unconfigured_results() -> None:
    """Drop the stored results of checks no longer configured (Redis may be away: fine).

    A passive check known from its reports (a decorated job, a watched beat row) counts as
    configured: it is forgotten by :func:`healthd.passive.forget` or when its row goes.
    """
    try:
        store.forget_unconfigured({c.name for c in registry.configured_checks()}
                                  | passive.known_names())
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:
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
