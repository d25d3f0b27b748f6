"""Make every summary again from the results kept: the hourly rollups with their duration
buckets, the daily rollups, each check's current state.

For after a restore, an import, a bulk load, or a fix to how summaries are counted (or a
change of the site's time zone, which moves the days). Memory stays bounded whatever the
table's size: the results are counted in SQL one time slice at a time (a row per check,
hour and duration bucket comes back), the daily rollups are added up from the hourly
ones a month at a time, and the states are read check by check under a LIMIT.

Hourly rollups older than the oldest result kept are left as they are (retention keeps
rollups longer than results: they are all there is of those hours), and so are their
empty buckets; the daily rollups are made again from every hourly one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from healthd.history import buckets, days, sql
from healthd.models import (
    CheckResult,
    CheckStatus,
    DailyRollup,
    HourlyRollup,
    Transition,
)

HOUR = dt.timedelta(hours=1)
# Results counted per statement: a day of a 300-check site at 10 s is 2.6 M rows, which
# come back as at most 300 checks, 24 hours and 64 buckets of grouped rows.
RESULT_SLICE = dt.timedelta(hours=24)
DAILY_SLICE = dt.timedelta(days=31)
# A check's state is made from at most this many of its latest results.
STATE_SCAN = 1000
STATE_CHUNK = 100


def _floor_hour(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def rebuild(since: dt.date | None = None, now: dt.datetime | None = None,
            say: Callable[[str], Any] = lambda _: None) -> dict[str, int]:
    """Rebuild the summaries from ``since`` (a day of the site's time zone; None: from the
    oldest result), and return how many rows of each were written."""
    tz = days.zone()
    now = now or timezone.now()
    results = CheckResult.objects.order_by()
    newest = results.aggregate(newest=Max("checked_at"))["newest"]
    if since is not None:
        start = days.day_start(since, tz)
    else:
        oldest = (results.order_by("checked_at").values_list("checked_at", flat=True)
                  .first())
        start = _floor_hour(oldest) if oldest is not None else _floor_hour(now)
    end = _floor_hour(max(now, newest or now)) + HOUR
    written = {"hourly": _rebuild_hourly(start, end, say)}
    if since is None:
        first = HourlyRollup.objects.order_by("hour").values_list("hour", flat=True).first()
        daily_from = days.start_of(min(first or start, start), tz)
    else:
        daily_from = start
    written["daily"] = _rebuild_daily(daily_from, end, tz, say)
    written["states"] = _rebuild_states(start)
    return written


def _rebuild_hourly(start: dt.datetime, end: dt.datetime,
                    say: Callable[[str], Any]) -> int:
    connection = connections[router.db_for_write(HourlyRollup)]
    written = 0
    slice_start = start
    while slice_start < end:
        slice_end = min(end, slice_start + RESULT_SLICE)
        totals: dict[tuple[str, dt.datetime], list[Any]] = {}
        for name, hour, bucket, runs, failures, warnings, duration_sum, duration_max in (
                sql.hour_buckets(connection, slice_start, slice_end, buckets.BOUNDS)):
            total = totals.setdefault((name, hour), [0, 0, 0, 0.0, 0.0, *buckets.empty()])
            total[0] += runs
            total[1] += failures or 0
            total[2] += warnings or 0
            total[3] += duration_sum or 0.0
            total[4] = max(total[4], duration_max or 0.0)
            total[5 + int(bucket)] += runs
        rows = [(name, hour, *total) for (name, hour), total in sorted(totals.items())]
        with transaction.atomic(using=connection.alias):
            _delete(HourlyRollup.objects.filter(hour__gte=slice_start, hour__lt=slice_end))
            sql.insert_rows(HourlyRollup, sql.ROLLUP_COLUMNS, rows)
        written += len(rows)
        say(f"hourly rollups {slice_start:%Y-%m-%d %H:%M} to {slice_end:%Y-%m-%d %H:%M}: "
            f"{len(rows)}")
        slice_start = slice_end
    return written


def rebuild_daily(since: dt.datetime | None = None, until: dt.datetime | None = None) -> int:
    """Make the daily rollups of the days from ``since`` to ``until`` again from the hourly
    ones (None: from the first, to the last hourly rollup)."""
    tz = days.zone()
    hours = HourlyRollup.objects.order_by()
    first = since or hours.order_by("hour").values_list("hour", flat=True).first()
    last = until or hours.order_by("-hour").values_list("hour", flat=True).first()
    if first is None or last is None:
        return 0
    return _rebuild_daily(days.start_of(first, tz), last + HOUR, tz, lambda _: None)


def _rebuild_daily(start: dt.datetime, end: dt.datetime, tz: dt.tzinfo,
                   say: Callable[[str], Any]) -> int:
    connection = connections[router.db_for_write(DailyRollup)]
    written = 0
    slice_start = start
    while slice_start < end:
        slice_end = days.start_of(slice_start + DAILY_SLICE, tz)
        hourly = (HourlyRollup.objects.filter(hour__gte=slice_start, hour__lt=slice_end)
                  .order_by().values_list("name", "hour", "runs", "failures", "warnings",
                                          "duration_sum", "duration_max"))
        rows = days.daily_rows(hourly.iterator(chunk_size=10_000), tz)
        with transaction.atomic(using=connection.alias):
            _delete(DailyRollup.objects.filter(day__gte=slice_start, day__lt=slice_end))
            sql.insert_rows(DailyRollup, sql.DAILY_COLUMNS, rows)
        written += len(rows)
        say(f"daily rollups {slice_start:%Y-%m-%d} to {slice_end:%Y-%m-%d}: {len(rows)}")
        slice_start = slice_end
    return written


def _rebuild_states(start: dt.datetime) -> int:
    """Each check with results since ``start`` (or a state already): its state from its
    latest transition (the state decided in Redis, with its hysteresis), else from its
    latest result; the latest result's time, message and duration; the streak counted
    over its latest STATE_SCAN results."""
    names = sorted(set(HourlyRollup.objects.filter(hour__gte=start)
                       .values_list("name", flat=True).distinct())
                   | set(CheckStatus.objects.values_list("name", flat=True)))
    connection = connections[router.db_for_write(CheckResult)]
    rebuilt = 0
    for index in range(0, len(names), STATE_CHUNK):
        chunk = names[index:index + STATE_CHUNK]
        latest: dict[str, list[tuple[str, dt.datetime, float]]] = {}
        for name, status, at, duration in sql.latest_results(connection, chunk, STATE_SCAN):
            latest.setdefault(name, []).append((status, at, duration))
        last_moves = dict(Transition.objects.filter(name__in=chunk).order_by()
                          .values("name").annotate(at=Max("at")).values_list("name", "at"))
        moved = {name: (status, at) for name, status, at in
                 Transition.objects.filter(name__in=chunk, at__in=set(last_moves.values()))
                 .order_by("at", "id").values_list("name", "status", "at")
                 if last_moves.get(name) == at}
        for name in chunk:
            own = sorted(latest.get(name, []), key=lambda r: r[1], reverse=True)
            if not own:
                continue
            message = (CheckResult.objects.filter(name=name, checked_at=own[0][1])
                       .values_list("message", flat=True).first()) or ""
            status, since = moved.get(name, (own[0][0], None))
            if since is None:
                since = own[0][1]
                for result_status, at, _ in own:
                    if result_status != status:
                        break
                    since = at
            streak = sum(1 for result_status, at, _ in own
                         if result_status == status and at >= since)
            CheckStatus.objects.update_or_create(name=name, defaults={
                "status": status, "since": since, "streak": max(1, streak),
                "last_checked_at": own[0][1], "last_message": message,
                "last_duration": own[0][2]})
            rebuilt += 1
    return rebuilt


def _delete(rows: QuerySet) -> None:
    """One DELETE, as retention does: nothing refers to a rollup, so Django's collecting
    of what would cascade (a SELECT of every row first) is skipped."""
    rows._raw_delete(rows.db)
