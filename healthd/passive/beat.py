"""``HEALTHD["WATCH_PERIODIC_TASKS"]``: every enabled django-celery-beat row watched as a
passive check, with no code.

Each enabled :class:`~django_celery_beat.models.PeriodicTask` on an interval or crontab
schedule (healthd's own rows aside) becomes a passive check named after the row (each
character a check name cannot hold becomes ``-``). Its expected period comes from the
row; its runs are reported by Celery's task signals (:mod:`healthd.passive.celery_runs`),
which know the row by the ``periodic_task_name`` header django-celery-beat sends. The
sweep keeps the watched set in step with the rows: a row disabled or deleted stops
being watched, and its check is forgotten.

``True`` watches with the default grace (half the period, from a minute to an hour);
a dict sets ``grace`` (seconds or a duration string) and ``critical`` for every row.
"""

from __future__ import annotations

import datetime
import re
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from healthd import conf, store
from healthd.checks.base import Check
from healthd.checks.passive import NAME_MAX, Passive, check_for, make_passive
from healthd.passive import declarations, lateness
from healthd.store import client as redis_client
from healthd.util.logs import get_logger

logger = get_logger("healthd.passive")

SOURCE = "beat"
# The longest gap of a crontab is looked for over its next fires, up to a year ahead.
CRONTAB_SAMPLES = 400
_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


def options() -> dict[str, Any] | None:
    """The watch's options, or None when rows are not watched."""
    value = conf.get().watch_periodic_tasks
    if not value:
        return None
    if value is True:
        return {}
    if isinstance(value, dict):
        return value
    raise ImproperlyConfigured('HEALTHD["WATCH_PERIODIC_TASKS"] must be True, False or a dict')


def check_name(row_name: str) -> str:
    """The passive check a row becomes: the row's name, spelled as a check name can be."""
    return _NOT_IN_A_NAME.sub("-", row_name).strip("-")[:NAME_MAX] or "row"


def watchable(row: Any) -> bool:
    """An enabled row on an interval or crontab schedule that is not healthd's own."""
    return bool(row.enabled and not row.one_off and (row.interval_id or row.crontab_id)
                and not str(row.task).startswith("healthd."))


def crontab_of(row: Any) -> tuple[str, ...]:
    cron = row.crontab
    return (cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week,
            str(cron.timezone))


def longest_gap(crontab: tuple[str, ...], now: float) -> float:
    """The longest wait between two fires of a crontab, over its next fires."""
    gap, at = 0.0, now
    for _ in range(CRONTAB_SAMPLES):
        fire = lateness.next_fire(crontab, at)
        if at != now:
            gap = max(gap, fire - at)
        if fire - now > 366 * 86400:
            break
        at = fire
    return gap or 86400.0


def passive_for(row: Any, watch: dict[str, Any]) -> Passive:
    """A row's expected period (from its interval or its crontab) and the watch's grace."""
    if row.crontab_id:
        crontab = crontab_of(row)
        every = longest_gap(crontab, time.time())
    else:
        interval = row.interval
        every = datetime.timedelta(**{interval.period: interval.every}).total_seconds()
        crontab = None
    return make_passive(every, watch.get("grace"), source=SOURCE, crontab=crontab)


def check_for_row(row: Any, watch: dict[str, Any]) -> Check:
    return check_for(check_name(row.name), passive_for(row, watch),
                     bool(watch.get("critical", False)))


def check_for_run(row_name: str) -> Check | None:
    """The check a run sent by beat for this row reports to; None when it is not watched.

    Read from the row itself, so a new row is watched from its first run on.
    """
    from django_celery_beat.models import PeriodicTask

    watch = options()
    if watch is None:
        return None
    row = (PeriodicTask.objects.select_related("interval", "crontab")
           .filter(name=row_name).first())
    if row is None or not watchable(row):
        return None
    return check_for_row(row, watch)


def sync_watched() -> dict[str, list[str]]:
    """Declare each watched row's check, forget the checks of rows no longer watched.

    Called by the sweep, so a row enabled or changed is watched (and late) on schedule
    even before its first run, and a row disabled or deleted stops being watched.
    """
    from django_celery_beat.models import PeriodicTask

    watch = options()
    wanted: dict[str, Check] = {}
    if watch is not None:
        rows = PeriodicTask.objects.select_related("interval", "crontab").filter(enabled=True)
        for row in rows:
            if watchable(row):
                check = check_for_row(row, watch)
                wanted.setdefault(check.name, check)
    client = redis_client.writer()
    layout = store.keys()
    known = sorted(str(n) for n in client.smembers(layout.passive_names))
    pipe = client.pipeline(transaction=False)
    for name in known:
        pipe.hget(layout.passive_check(name), "definition")
    watched_before = {name for name, definition in zip(known, pipe.execute(), strict=True)
                      if declarations.source_of(definition) == SOURCE}
    declared = declarations.declared()
    gone = sorted(watched_before - set(wanted))
    for name in gone:
        declarations.forget(name)
    pipe = client.pipeline(transaction=False)
    for name, check in wanted.items():
        if name in declared:
            continue  # the settings declare it: theirs wins
        key = layout.passive_check(name)
        pipe.hset(key, "definition", declarations.definition_of(check))
        pipe.hsetnx(key, "first_seen", repr(time.time()))
        pipe.sadd(layout.passive_names, name)
    pipe.execute()
    if gone:
        logger.info("no longer watching beat rows: %s", ", ".join(gone))
    return {"watched": sorted(wanted), "forgotten": gone}
