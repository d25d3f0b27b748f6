"""Report queries over the history tables: uptime, p95 duration, the latest results.

Each report answers for every check at once, in one or two queries whatever the number
of checks, and each reads a bounded amount whatever the size of the history or the age
of a check's latest result: uptime and the p95 from the hourly rollups (the p95 from
their duration buckets), the latest results check by check under a LIMIT. Kept apart
from the admin, as django-celery-beat keeps its querysets apart from its admin.
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import connections
from django.db.models import F, Max, Q, Sum, Window
from django.db.models.functions import RowNumber

from healthd.history import buckets, sql
from healthd.models import BUCKET_COLUMNS, CheckResult, HourlyRollup

STRIP_LENGTH = 50
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


# --- the latest results (the history strip) --------------------------------------------


class LatestResult(NamedTuple):
    status: str
    checked_at: datetime.datetime
    duration: float


def latest_results(intervals: Mapping[str, float], now: datetime.datetime,
                   length: int = STRIP_LENGTH) -> dict[str, list[LatestResult]]:
    """The last ``length`` results of each check named in ``intervals``, oldest first.

    One query, check by check under a LIMIT (:func:`healthd.history.sql.latest_results`):
    a check stopped a month ago costs what a running one does. ``intervals`` and
    ``now`` are kept for the callers; the read needs neither.
    """
    if not intervals:
        return {}
    connection = connections[CheckResult.objects.db]
    found: dict[str, list[LatestResult]] = defaultdict(list)
    for name, status, checked_at, duration in sql.latest_results(
            connection, list(intervals), length):
        found[name].append(LatestResult(status, checked_at, duration))
    # Each check's come newest first: turned round, not sorted again.
    return {name: found[name][length - 1::-1] if name in found else []
            for name in intervals}


# --- p95 duration ------------------------------------------------------------------------


def p95_durations(names: list[str], since: datetime.datetime) -> dict[str, float]:
    """Each check's p95 duration in seconds since the hour of ``since`` (checks without
    runs there are left out), in one query: the sum of its hourly rollups' duration
    buckets (within buckets.RELATIVE_ERROR of the exact nearest rank), never the results.
    """
    if not names:
        return {}
    hour = since.replace(minute=0, second=0, microsecond=0)
    rows = (HourlyRollup.objects.filter(name__in=names, hour__gte=hour).order_by()
            .values("name").annotate(largest=Max("duration_max"),
                                     **{f"sum_{c}": Sum(c) for c in BUCKET_COLUMNS}))
    found = {}
    for row in rows:
        summed: dict[str, Any] = dict(row)
        value = buckets.percentile([summed[f"sum_{c}"] or 0 for c in BUCKET_COLUMNS],
                                   summed["largest"])
        if value is not None:
            found[row["name"]] = value
    return found


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
