"""Report queries over the history tables: uptime, p95 duration, the latest results.

Each report answers for every check at once, in one query whatever the number of checks
(window functions: ``ROW_NUMBER() OVER (PARTITION BY name ...)`` bounded per check), so
a page showing them costs the same number of queries for 3 checks or for 300. Kept
apart from the admin, as django-celery-beat keeps its querysets apart from its admin.
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any, NamedTuple

from django.db import connections
from django.db.models import F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber

from healthd.history import sql
from healthd.models import CheckResult, HourlyRollup

STRIP_LENGTH = 50
# The p95 of a check is taken over at most this many of its latest results in 24 h.
P95_SAMPLE_LIMIT = 5000
# The latest results are first looked for within this many intervals of each check, an
# index range of a few hundred rows; a check that ran too rarely to fill its strip
# there (new, or stopped a while) is looked up again without that bound.
STRIP_LOOKBACK_INTERVALS = 2 * STRIP_LENGTH
# Uptime reads the rollups of the week and of a day before it, which tells a check that
# was added during the week from one that was there all along.
UPTIME_LOOKBACK = datetime.timedelta(days=8)
HOUR = datetime.timedelta(hours=1)


def p95(values: Iterable[float]) -> float | None:
    """The 95th percentile by nearest rank (None for no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _newest_first(where: Q, limit: int) -> QuerySet:
    """The results matching ``where``, at most ``limit`` per check, in one query.

    ``recency`` is 1 for each check's newest result. The window follows the index
    (name, -checked_at, ...), so the database reads it in order and sorts nothing.
    """
    return (
        CheckResult.objects.filter(where).order_by()
        .annotate(recency=Window(RowNumber(), partition_by=F("name"),
                                 order_by=F("checked_at").desc()))
        .filter(recency__lte=limit)
    )


# --- the latest results (the history strip) --------------------------------------------


class LatestResult(NamedTuple):
    status: str
    checked_at: datetime.datetime
    duration: float


def latest_results(intervals: Mapping[str, float], now: datetime.datetime,
                   length: int = STRIP_LENGTH) -> dict[str, list[LatestResult]]:
    """The last ``length`` results of each check named in ``intervals``, oldest first.

    ``intervals`` maps each check to its run interval in seconds, which bounds the first
    query to the last STRIP_LOOKBACK_INTERVALS runs' time; only the checks that did not
    fill their strip there cost a second query, the same one without the time bound.
    """
    if not intervals:
        return {}
    names_by_start: dict[datetime.datetime, list[str]] = defaultdict(list)
    for name, interval in intervals.items():
        start = now - datetime.timedelta(seconds=interval * STRIP_LOOKBACK_INTERVALS)
        names_by_start[start].append(name)
    recent = reduce(or_, (Q(name__in=names, checked_at__gte=start)
                          for start, names in names_by_start.items()))
    found = _latest_by_name(recent, length)
    short = [name for name in intervals if len(found.get(name, ())) < length]
    if short:
        found.update(_latest_by_name(Q(name__in=short), length))
    return {name: found.get(name, []) for name in intervals}


def _latest_by_name(where: Q, length: int) -> dict[str, list[LatestResult]]:
    rows = _newest_first(where, length).values_list(
        "name", "recency", "status", "checked_at", "duration")
    found: dict[str, list[tuple[int, LatestResult]]] = defaultdict(list)
    for name, recency, status, checked_at, duration in rows:
        found[name].append((recency, LatestResult(status, checked_at, duration)))
    return {name: [result for _, result in sorted(ranked, key=lambda r: -r[0])]
            for name, ranked in found.items()}


# --- p95 duration ------------------------------------------------------------------------


def p95_durations(names: list[str], since: datetime.datetime,
                  limit: int = P95_SAMPLE_LIMIT) -> dict[str, float]:
    """Each check's p95 duration in seconds over its latest ``limit`` results since
    ``since`` (checks without results are left out), in one query.

    PostgreSQL ranks them itself (percentile_disc is the nearest rank), check by check,
    each check's latest results one index range under a LIMIT: about twice as fast as
    a ROW_NUMBER() window, which counts every result of the day, and no sort of them
    all by name. SQLite finds each check's oldest result to count, then reads each
    check's range above it (a third of the window's time); MySQL / MariaDB read each
    check's range under a LIMIT (a third of the window's time too); they are ranked
    here. Elsewhere the window picks them.
    """
    if not names:
        return {}
    connection = connections[CheckResult.objects.db]
    if connection.vendor == "postgresql":
        return sql.p95_on_postgresql(connection, names, since, limit)
    if connection.vendor == "sqlite":
        latest: Iterable[tuple[str, float]] = sql.latest_durations_on_sqlite(
            connection, names, since, limit)
    elif connection.vendor == "mysql":
        latest = sql.latest_durations_on_mysql(connection, names, since, limit)
    else:
        latest = _newest_first(Q(name__in=names, checked_at__gte=since), limit).values_list(
            "name", "duration")
    durations: dict[str, list[float]] = defaultdict(list)
    for name, duration in latest:
        durations[name].append(duration)
    found = {name: p95(values) for name, values in durations.items()}
    return {name: value for name, value in found.items() if value is not None}


# --- uptime ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uptime:
    """Runs that did not fail, out of the runs the check should have had.

    Time with no fresh result is not uptime: over a window the check should have run
    once per interval since the window began (or since it first reported, when that was
    later), and every run that is missing counts as down, like a failure. So a site
    stopped for 4.5 minutes shows less than 100 % for the day. One missing run is
    forgiven (the one due now may not have reported yet); when a check ran more often
    than that (runs queued by hand) its runs are the measure. Warnings count as up.
    """

    up: int
    runs: int
    expected: float

    @property
    def ratio(self) -> float | None:
        """Between 0 and 1; None when there is nothing to measure."""
        out_of = max(self.runs, self.expected)
        return self.up / out_of if out_of > 0 else None

    def __str__(self) -> str:
        ratio = self.ratio
        return "-" if ratio is None else f"{100.0 * ratio:.2f} %"


def scheduled_period(interval: float) -> float:
    """Seconds between scheduled runs: django-celery-beat rows take whole seconds."""
    return float(max(1, round(interval)))


def expected_runs(interval: float | None, start: datetime.datetime,
                  now: datetime.datetime) -> float:
    """Runs due from ``start`` to ``now``, less the one that may be under way (0 when the
    interval is not known)."""
    if not interval:
        return 0.0
    return max(0.0, (now - start).total_seconds() / scheduled_period(interval) - 1)


def hour_uptime(runs: int, failures: int, hour: datetime.datetime, interval: float | None,
                now: datetime.datetime) -> Uptime:
    """The uptime of one hourly rollup (the current hour counts up to now)."""
    return Uptime(up=runs - failures, runs=runs,
                  expected=expected_runs(interval, hour, min(now, hour + HOUR)))


@dataclass(frozen=True)
class CheckUptime:
    day: Uptime
    week: Uptime


def _floor_hour(value: datetime.datetime) -> datetime.datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def uptimes(intervals: Mapping[str, float], now: datetime.datetime) -> dict[str, CheckUptime]:
    """Uptime over 24 h and 7 d of each check named in ``intervals`` (seconds between
    its runs), from the hourly rollups in one query; checks without rollups are left out.

    A window covers whole hours: from the start of the hour 24 h (7 d) ago to now. A
    check first seen during the window counts from when it began: the end of its first
    hour less the time its runs in that hour took.
    """
    if not intervals:
        return {}
    day_start, week_start = _floor_hour(now - 24 * HOUR), _floor_hour(now - 7 * 24 * HOUR)
    by_name: dict[str, Any] = {"partition_by": F("name")}
    rows = (
        HourlyRollup.objects.filter(name__in=list(intervals),
                                    hour__gte=_floor_hour(now - UPTIME_LOOKBACK))
        .order_by()
        .annotate(
            first=Window(RowNumber(), order_by=F("hour").asc(), **by_name),
            runs_week=Window(Sum("runs", filter=Q(hour__gte=week_start)), **by_name),
            failures_week=Window(Sum("failures", filter=Q(hour__gte=week_start)), **by_name),
            runs_day=Window(Sum("runs", filter=Q(hour__gte=day_start)), **by_name),
            failures_day=Window(Sum("failures", filter=Q(hour__gte=day_start)), **by_name),
        )
        .filter(first=1)
        .values_list("name", "hour", "runs", "runs_week", "failures_week", "runs_day",
                     "failures_day")
    )
    found = {}
    for name, first_hour, first_runs, runs_week, failures_week, runs_day, failures_day in rows:
        interval = intervals[name]
        began = first_hour + HOUR - first_runs * datetime.timedelta(
            seconds=scheduled_period(interval))
        began = max(began, first_hour)

        def window(start: datetime.datetime, runs: int | None, failures: int | None,
                   began: datetime.datetime = began, interval: float = interval) -> Uptime:
            runs, failures = runs or 0, failures or 0
            return Uptime(up=runs - failures, runs=runs,
                          expected=expected_runs(interval, max(start, began), now))

        found[name] = CheckUptime(day=window(day_start, runs_day, failures_day),
                                  week=window(week_start, runs_week, failures_week))
    return found
