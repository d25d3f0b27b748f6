"""The status page's history: each check's daily bars, its uptime over each window, and
the incidents — read from the daily and hourly rollups and the transitions only, never
from the results table.

Every query is bounded whatever the size of the tables: the daily rollups of the checks
named over a fixed number of days (one row per check and day), the hourly ones of each
window's first day only, at most ``TRANSITIONS_PER_CHECK`` transitions per check, and
one current-state row per check. Daily rows of another time zone than the site's (it
was changed, and no rebuild has run since) are not used: the hours are grouped by day
instead, as before there were daily rollups.
How a span's uptime is counted and coloured is :mod:`healthd.uptime.spans`'s.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import F, Min, Q, Sum, Window
from django.db.models.functions import RowNumber, TruncDate, TruncTime
from django.utils import timezone

from healthd.checks.base import Check
from healthd.history.reports import Uptime
from healthd.models import CheckStatus, DailyRollup, HourlyRollup, Transition
from healthd.uptime.spans import (
    DAY,
    NOT_BEGUN,
    PERIODS,
    STATE_RANK,
    began_at,
    day_start,
    floor_hour,
    level,
    span_uptime,
    worse_state,
)

DAYS = 90
# A check that changed state more often than this in the 90 days has its older days
# coloured from its rollups alone (failed runs rather than its state).
TRANSITIONS_PER_CHECK = 500


@dataclass(frozen=True)
class Day:
    """One daily bar: the day's figures, the worst state the check was in, its colour.

    For a group, the figures are its members' sums, ``uptime`` and ``weakest`` are those
    of its least available member, and the colour is the worst of its members'.
    """

    date: dt.date
    runs: int
    failures: int
    warnings: int
    uptime: Uptime
    worst_state: str | None
    level: str
    weakest: str | None = None


@dataclass(frozen=True)
class Incident:
    """A span during which a check was not passing, from one transition to the next."""

    name: str
    status: str
    start: dt.datetime
    end: dt.datetime | None  # None: still going on
    # Nobody was told of the transition that began it (a silence): recorded all the same.
    silenced: bool = False

    def duration(self, now: dt.datetime) -> dt.timedelta:
        return (self.end or now) - self.start


@dataclass(frozen=True)
class Row:
    """One row of the status page: a check, or a group of checks (``HEALTHD["GROUPS"]``)."""

    label: str
    members: tuple[str, ...]
    days: tuple[Day, ...]
    windows: dict[str, Uptime]
    # For a group: the member with the lowest uptime over each window.
    weakest: dict[str, str]

    @property
    def is_group(self) -> bool:
        return self.members != (self.label,)


@dataclass(frozen=True)
class History:
    """Every configured check's row (by name), the incidents, when it was read, or why
    it could not be."""

    rows: dict[str, Row]
    incidents: tuple[Incident, ...]
    read_at: dt.datetime
    error: str | None = None


def _first_runs(first_hour: Mapping[str, dt.datetime], lookback: dt.datetime
                ) -> dict[str, int]:
    """The runs in the first hour of each check that began after the first day looked at
    (one more query, only when some check is that new)."""
    new = [Q(name=name, hour=hour) for name, hour in first_hour.items()
           if hour >= lookback + DAY]
    if not new:
        return {}
    return dict(HourlyRollup.objects.filter(reduce(or_, new)).values_list("name", "runs"))


@dataclass(frozen=True)
class _Segment:
    start: dt.datetime
    end: dt.datetime
    state: str | None  # None: not known
    silenced: bool = False


def _segments(transitions: list[tuple[str, str, dt.datetime, bool]], truncated: bool,
              carried: str | None, since: dt.datetime, now: dt.datetime) -> list[_Segment]:
    """The states a check was in from ``since`` to ``now``, from its transitions (oldest
    first). Before the first one, its ``previous`` (unknown when the list was cut short);
    with none, ``carried`` (the state the database holds now) throughout."""
    if not transitions:
        return [_Segment(since, now, carried)]
    first_previous = None if truncated else transitions[0][0]
    segments = [_Segment(since, transitions[0][2], first_previous)]
    for index, (_, status, at, silenced) in enumerate(transitions):
        end = transitions[index + 1][2] if index + 1 < len(transitions) else now
        segments.append(_Segment(at, end, status, silenced))
    return [s if s.state in STATE_RANK else _Segment(s.start, s.end, None)
            for s in segments]


def _worst_per_span(segments: list[_Segment], starts: list[float]
                    ) -> list[tuple[str | None, bool]]:
    """For each span ``[starts[i], starts[i + 1])`` (epoch seconds): the worst known state,
    and whether part of it is not known. One pass: each segment visits only the spans it
    overlaps."""
    spans = len(starts) - 1
    worst: list[str | None] = [None] * spans
    unknown = [False] * spans
    for segment in segments:
        start, end = segment.start.timestamp(), segment.end.timestamp()
        first = max(0, bisect.bisect_right(starts, start) - 1)
        last = min(spans, bisect.bisect_left(starts, end))
        for index in range(first, last):
            if end <= starts[index] or start >= starts[index + 1]:
                continue
            if segment.state is None:
                unknown[index] = True
            else:
                worst[index] = worse_state(worst[index], segment.state)
    return list(zip(worst, unknown, strict=True))


def _raw_state(failures: int, warnings: int, runs: int) -> str | None:
    """The worst status the runs themselves reported (when the state is not known)."""
    if failures:
        return "failing"
    if warnings:
        return "warning"
    return "passing" if runs else None


def _window_sums(day_rows: Mapping[dt.date, Mapping[str, Any]], first: dt.date
                 ) -> tuple[int, int]:
    """Runs and failures from the window's first day's ``late`` hours on."""
    runs = failures = 0
    for date, row in day_rows.items():
        if date > first:
            runs += row["day_runs"] or 0
            failures += row["day_failures"] or 0
        elif date == first:
            runs += row["late_runs"] or 0
            failures += row["late_failures"] or 0
    return runs, failures


_DayRows = dict[str, dict[dt.date, dict[str, Any]]]


def _from_daily(names: list[str], lookback: dt.datetime, now: dt.datetime, tz: dt.tzinfo,
                window_starts: Mapping[str, dt.datetime]
                ) -> tuple[_DayRows | None, dict[str, dt.datetime]]:
    """Each check's figures per day from the daily rollups (one row per check and day),
    and from the hourly ones only the hours of each window's first day from the window's
    start on (the ``late`` sums): two queries, a bounded read at any history size. None
    when a daily row began at another instant than a day of ``tz`` (the zone changed)."""
    by_day: _DayRows = defaultdict(dict)
    first_hour: dict[str, dt.datetime] = {}
    rows = (DailyRollup.objects.filter(name__in=names, day__gte=day_start(
                lookback.astimezone(tz).date(), tz), day__lte=now)
            .order_by().values_list("name", "day", "runs", "failures", "warnings",
                                    "first_hour"))
    for name, day, runs, failures, warnings, first in rows:
        date = day.astimezone(tz).date()
        if day != day_start(date, tz):
            return None, {}
        by_day[name][date] = {"day_runs": runs, "day_failures": failures,
                              "day_warnings": warnings, "late_runs": 0, "late_failures": 0}
        if name not in first_hour or first < first_hour[name]:
            first_hour[name] = first
    late = reduce(or_, (Q(hour__gte=start, hour__lt=day_start(
        start.astimezone(tz).date() + DAY, tz)) for start in set(window_starts.values())))
    for name, hour, runs, failures in (
            HourlyRollup.objects.filter(late, name__in=names).order_by()
            .values_list("name", "hour", "runs", "failures")):
        found = by_day[name].get(hour.astimezone(tz).date())
        if found is not None:
            found["late_runs"] += runs
            found["late_failures"] += failures
    return by_day, first_hour


def _from_hourly(names: list[str], lookback: dt.datetime, now: dt.datetime, tz: dt.tzinfo,
                 hour_now: dt.datetime) -> tuple[_DayRows, dict[str, dt.datetime]]:
    """The same figures from the hourly rollups, grouped by day in the database."""
    late = Q(local_time__gte=hour_now.time())
    rollups = (
        HourlyRollup.objects.filter(name__in=names, hour__gte=lookback, hour__lte=now)
        .annotate(day=TruncDate("hour", tzinfo=tz), local_time=TruncTime("hour", tzinfo=tz))
        .order_by().values("name", "day")
        .annotate(day_runs=Sum("runs"), day_failures=Sum("failures"),
                  day_warnings=Sum("warnings"), first_hour=Min("hour"),
                  late_runs=Sum("runs", filter=late), late_failures=Sum("failures", filter=late))
    )
    by_day: _DayRows = defaultdict(dict)
    first_hour: dict[str, dt.datetime] = {}
    for found in rollups:
        name = found["name"]
        by_day[name][found["day"]] = dict(found)
        if name not in first_hour or found["first_hour"] < first_hour[name]:
            first_hour[name] = found["first_hour"]
    return by_day, first_hour


def read_history(checks: Sequence[Check], now: dt.datetime, tz: dt.tzinfo,
                 days: int = DAYS) -> History:
    """Each check's last ``days`` daily bars (today last, in ``tz``), its uptime over each
    of PERIODS, and the incidents, in four queries (five when a check began in them)."""
    intervals = {check.name: check.interval for check in checks}
    names = list(intervals)
    today = now.astimezone(tz).date()
    dates = [today - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
    starts = [day_start(d, tz) for d in dates] + [day_start(today + DAY, tz)]
    epoch_starts = [start.timestamp() for start in starts]
    # Each window begins at this hour's local time of day, a whole number of days ago, so
    # one sum per day of the hours from that time on gives every window's first day.
    hour_now = floor_hour(now.astimezone(dt.UTC)).astimezone(tz)
    window_dates = {period: hour_now.date() - dt.timedelta(days=span.days)
                    for period, span in PERIODS.items()}
    window_starts = {period: timezone.make_aware(dt.datetime.combine(date, hour_now.time()),
                                                 tz)
                     for period, date in window_dates.items()}
    # One day more than shown: a check with rollups in it was there before.
    lookback = min(starts[0], *window_starts.values()) - DAY
    by_day, first_hour = _from_daily(names, lookback, now, tz, window_starts)
    if by_day is None:  # daily rows of another time zone: until a rebuild, the hours
        by_day, first_hour = _from_hourly(names, lookback, now, tz, hour_now)

    held = (
        Transition.objects.filter(name__in=names, at__gte=lookback, at__lte=now).order_by()
        .annotate(recency=Window(RowNumber(), partition_by=F("name"),
                                 order_by=[F("at").desc(), F("id").desc()]))
        .filter(recency__lte=TRANSITIONS_PER_CHECK)
        .values_list("name", "previous", "status", "at", "silenced")
    )
    transitions: dict[str, list[tuple[str, str, dt.datetime, bool]]] = defaultdict(list)
    for name, previous, status, at, silenced in held:
        transitions[name].append((previous, status, at, silenced))
    carried = dict(CheckStatus.objects.filter(name__in=names).values_list("name", "status"))
    first_runs = _first_runs(first_hour, lookback)

    rows: dict[str, Row] = {}
    incidents: list[Incident] = []
    for name in names:
        interval = intervals[name]
        if name not in first_hour:
            began: dt.datetime | None = NOT_BEGUN
        elif name in first_runs:
            began = began_at(first_hour[name], first_runs[name], interval)
        else:
            began = None  # it had rollups in the first day looked at: it was there before
        own = sorted(transitions.get(name, []), key=lambda t: t[2])
        truncated = len(own) >= TRANSITIONS_PER_CHECK
        segments = _segments(own, truncated, carried.get(name), lookback, now)
        # Each span begun by a transition (the first one began before what was read).
        incidents += [Incident(name, s.state, s.start, None if s is segments[-1] else s.end,
                               s.silenced)
                      for s in segments[1:] if s.state in ("failing", "warning")]
        day_rows = by_day.get(name, {})
        states = _worst_per_span(segments, epoch_starts)
        bars = []
        for index, date in enumerate(dates):
            row: Mapping[str, Any] = day_rows.get(date, {})
            runs, failures = row.get("day_runs") or 0, row.get("day_failures") or 0
            warnings = row.get("day_warnings") or 0
            start, end = starts[index], min(starts[index + 1], now)
            uptime = span_uptime(runs, failures, interval, start, end, began)
            worst, unknown = states[index]
            if unknown:
                worst = worse_state(worst, _raw_state(failures, warnings, runs))
            bars.append(Day(date, runs, failures, warnings, uptime, worst,
                            level(uptime, worst)))
        windows = {}
        for period in PERIODS:
            runs, failures = _window_sums(day_rows, window_dates[period])
            windows[period] = span_uptime(runs, failures, interval, window_starts[period],
                                          now, began)
        rows[name] = Row(name, (name,), tuple(bars), windows, {})
    incidents.sort(key=lambda i: i.start, reverse=True)
    return History(rows, tuple(incidents), now)
