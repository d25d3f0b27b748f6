"""Uptime seen from outside: 90 daily bars per check, uptime over fixed windows, the
incidents, and the series of the history API — read from the hourly rollups and the
transitions only, never from the results table.

Time with no fresh result is not uptime, counted as the admin's report queries count it
(:class:`healthd.reports.Uptime`): over any span a check should have run once per
interval since it began, and every run that is missing counts as down, like a failure (so
a day on which beat was stopped for an hour is not a green day). One missing run per span
is forgiven (the one due now may not have reported yet); warnings count as up. A check
began with its first hourly rollup: the end of that hour less the time its runs in it
took.

Every query is bounded whatever the size of the tables: the rollups of the checks named,
over a fixed number of days (an index range on ``(name, hour)``, grouped by day in the
database: at most one row per check and day comes back), at most
``TRANSITIONS_PER_CHECK`` transitions per check, and one current-state row per check.
What the status page reads is kept per process for ``REFRESH_SECONDS`` (a page of 90
days does not need to be fresher), and forgotten on a change of settings.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from django.core.signals import setting_changed
from django.db import DatabaseError
from django.db.models import F, Max, Min, Q, Sum, Window
from django.db.models.functions import RowNumber, TruncDate, TruncDay, TruncTime
from django.dispatch import receiver
from django.utils import timezone

from healthd import conf
from healthd.checks import registry
from healthd.checks.base import Check
from healthd.history.reports import Uptime, expected_runs, scheduled_period
from healthd.models import CheckStatus, HourlyRollup, Transition
from healthd.util.redact import redact

DAYS = 90
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
# The uptime windows the page shows and the badges accept as ``?period=``.
PERIODS: dict[str, dt.timedelta] = {
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
    "90d": dt.timedelta(days=90),
}
# A check that changed state more often than this in the 90 days has its older days
# coloured from its rollups alone (failed runs rather than its state).
TRANSITIONS_PER_CHECK = 500
# How long a process keeps what the status page read from the database, in seconds.
REFRESH_SECONDS = 60.0
# A day is down (red) when the check was failing at some time or its uptime is below
# DOWN_BELOW; degraded (amber) when it was warning or its uptime is below DEGRADED_BELOW.
DOWN_BELOW = 0.99
DEGRADED_BELOW = 0.999

# The history API's bounds: the longest window per resolution, and transitions listed.
RESOLUTIONS: dict[str, dt.timedelta] = {"hour": HOUR, "day": DAY}
MAX_WINDOW: dict[str, dt.timedelta] = {"hour": dt.timedelta(days=31),
                                       "day": dt.timedelta(days=366)}
MAX_TRANSITIONS = 1000

UP, DEGRADED, DOWN, NO_DATA = "up", "degraded", "down", "none"
_LEVEL_RANK = {NO_DATA: 0, UP: 1, DEGRADED: 2, DOWN: 3}
_STATE_RANK = {"passing": 1, "warning": 2, "failing": 3}


# --- uptime of one span --------------------------------------------------------------------


def missing_runs(figure: Uptime) -> int:
    """Runs that were due and never reported."""
    return max(0, round(figure.expected - figure.runs))


def began_at(first_hour: dt.datetime, first_runs: int, interval: float) -> dt.datetime:
    """When a check began, from its first hourly rollup: the end of that hour less the time
    its runs in it took (as the admin's uptime reckons it)."""
    began = first_hour + HOUR - first_runs * dt.timedelta(seconds=scheduled_period(interval))
    return max(began, first_hour)


def span_uptime(runs: int, failures: int, interval: float, start: dt.datetime,
                end: dt.datetime, began: dt.datetime | None) -> Uptime:
    """The uptime of a check over ``[start, end)``; nothing is due before it ``began``
    (None: before the rollups looked at)."""
    if began is not None:
        start = max(start, began)
    return Uptime(up=runs - failures, runs=runs,
                  expected=expected_runs(interval, start, end) if end > start else 0.0)


def level(uptime: Uptime, worst_state: str | None) -> str:
    """How a span is coloured: down, degraded, up, or none (nothing to measure)."""
    ratio = uptime.ratio
    if ratio is None:
        return NO_DATA
    if worst_state == "failing" or ratio < DOWN_BELOW:
        return DOWN
    if worst_state == "warning" or ratio < DEGRADED_BELOW:
        return DEGRADED
    return UP


def worse_level(a: str, b: str) -> str:
    return a if _LEVEL_RANK[a] >= _LEVEL_RANK[b] else b


def worse_state(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if _STATE_RANK.get(a, 0) >= _STATE_RANK.get(b, 0) else b


# --- what the status page shows ------------------------------------------------------------


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


def _floor_hour(value: dt.datetime) -> dt.datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """Midnight of ``day`` in ``tz`` (a day across a change of clocks is 23 or 25 h)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), tz)


# A check without rollups has not begun: nothing is due from it.
NOT_BEGUN = dt.datetime.max.replace(tzinfo=dt.UTC)


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
    return [s if s.state in _STATE_RANK else _Segment(s.start, s.end, None)
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


def read_history(checks: Sequence[Check], now: dt.datetime, tz: dt.tzinfo,
                 days: int = DAYS) -> History:
    """Each check's last ``days`` daily bars (today last, in ``tz``), its uptime over each
    of PERIODS, and the incidents, in three queries (four when a check began in them)."""
    intervals = {check.name: check.interval for check in checks}
    names = list(intervals)
    today = now.astimezone(tz).date()
    dates = [today - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
    starts = [day_start(d, tz) for d in dates] + [day_start(today + DAY, tz)]
    epoch_starts = [start.timestamp() for start in starts]
    # Each window begins at this hour's local time of day, a whole number of days ago, so
    # one sum per day of the hours from that time on gives every window's first day.
    hour_now = _floor_hour(now.astimezone(dt.UTC)).astimezone(tz)
    window_dates = {period: hour_now.date() - dt.timedelta(days=span.days)
                    for period, span in PERIODS.items()}
    window_starts = {period: timezone.make_aware(dt.datetime.combine(date, hour_now.time()),
                                                 tz)
                     for period, date in window_dates.items()}
    # One day more than shown: a check with rollups in it was there before.
    lookback = min(starts[0], *window_starts.values()) - DAY
    late = Q(local_time__gte=hour_now.time())
    rollups = (
        HourlyRollup.objects.filter(name__in=names, hour__gte=lookback, hour__lte=now)
        .annotate(day=TruncDate("hour", tzinfo=tz), local_time=TruncTime("hour", tzinfo=tz))
        .order_by().values("name", "day")
        .annotate(day_runs=Sum("runs"), day_failures=Sum("failures"),
                  day_warnings=Sum("warnings"), first_hour=Min("hour"),
                  late_runs=Sum("runs", filter=late), late_failures=Sum("failures", filter=late))
    )
    by_day: dict[str, dict[dt.date, dict[str, Any]]] = defaultdict(dict)
    first_hour: dict[str, dt.datetime] = {}
    for found in rollups:
        name = found["name"]
        by_day[name][found["day"]] = dict(found)
        if name not in first_hour or found["first_hour"] < first_hour[name]:
            first_hour[name] = found["first_hour"]

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


def _least(uptimes: list[tuple[str, Uptime]]) -> tuple[str, Uptime] | None:
    """The (name, uptime) with the lowest ratio; None when none can be measured."""
    measured = [(name, u) for name, u in uptimes if u.ratio is not None]
    if not measured:
        return None
    return min(measured, key=lambda item: item[1].ratio or 0.0)


def group_row(label: str, members: Sequence[Row]) -> Row:
    """A group's row: each day as bad as its worst member, each uptime its least
    available member's (a group of services is as available as its weakest part)."""
    names = tuple(name for row in members for name in row.members)
    days = []
    for index, first in enumerate(members[0].days):
        member_days = [(row.label, row.days[index]) for row in members]
        least = _least([(name, day.uptime) for name, day in member_days])
        worst_level, worst_state = NO_DATA, None
        for _, day in member_days:
            worst_level = worse_level(worst_level, day.level)
            worst_state = worse_state(worst_state, day.worst_state)
        days.append(Day(
            date=first.date,
            runs=sum(day.runs for _, day in member_days),
            failures=sum(day.failures for _, day in member_days),
            warnings=sum(day.warnings for _, day in member_days),
            uptime=least[1] if least else first.uptime,
            worst_state=worst_state, level=worst_level,
            weakest=least[0] if least else None,
        ))
    windows, weakest = {}, {}
    for period in PERIODS:
        least = _least([(row.label, row.windows[period]) for row in members])
        windows[period] = least[1] if least else members[0].windows[period]
        if least:
            weakest[period] = least[0]
    return Row(label, names, tuple(days), windows, weakest)


def page_rows(history: History, groups: Mapping[str, Sequence[str]] | None) -> list[Row]:
    """The page's rows: each group (in the order given) with the members that are
    configured, then every check in no group, in the configured order."""
    rows: list[Row] = []
    grouped: set[str] = set()
    for label, members in (groups or {}).items():
        present = [history.rows[name] for name in members if name in history.rows]
        if present:
            rows.append(group_row(str(label), present))
            grouped.update(row.label for row in present)
    rows += [row for name, row in history.rows.items() if name not in grouped]
    return rows


def groups() -> dict[str, list[str]]:
    """``HEALTHD["GROUPS"]``: ``{label: [check names]}`` (empty when not set)."""
    return dict(conf.get().raw.get("GROUPS") or {})


def public_status_page() -> bool:
    """``HEALTHD["PUBLIC_STATUS_PAGE"]``: the page and badges are open to anyone."""
    return bool(conf.get().raw.get("PUBLIC_STATUS_PAGE"))


# --- the per-process copy ------------------------------------------------------------------


@dataclass(frozen=True)
class _Held:
    source: tuple[Any, ...]
    history: History
    expires: float


_lock = threading.Lock()
_held: list[_Held | None] = [None]


def _source(checks: Sequence[Check], tz: dt.tzinfo) -> tuple[Any, ...]:
    return tuple((c.name, c.interval) for c in checks), str(tz)


def history() -> History:
    """What the status page shows, read at most once per REFRESH_SECONDS in this process
    (a failure to read is kept for CACHE_SECONDS, so requests answer at once meanwhile)."""
    checks = registry.configured_checks()
    tz = timezone.get_default_timezone()
    source = _source(checks, tz)
    held = _held[0]
    if held is not None and held.source == source and time.monotonic() < held.expires:
        return held.history
    with _lock:
        held = _held[0]
        if held is not None and held.source == source and time.monotonic() < held.expires:
            return held.history
        fetched_at = time.monotonic()
        now = timezone.now()
        try:
            value = read_history(checks, now, tz)
            keep = REFRESH_SECONDS
        except DatabaseError as exc:
            value = History({}, (), now, error=f"the history could not be read: "
                                               f"{type(exc).__name__}: {redact(exc)}")
            keep = conf.get().cache_seconds
        _held[0] = _Held(source, value, fetched_at + keep)
        return value


def forget() -> None:
    """Drop this process's copy: the next page reads the database again."""
    with _lock:
        _held[0] = None


@receiver(setting_changed)
def _forget_on_setting_change(**kwargs: Any) -> None:
    # The checks, their intervals, the groups or the time zone may have changed.
    forget()


# --- the history API -------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One hour or day of one check in the history API."""

    start: dt.datetime
    runs: int
    failures: int
    warnings: int
    duration_sum: float
    duration_max: float | None
    uptime: Uptime

    @property
    def mean_duration(self) -> float | None:
        return self.duration_sum / self.runs if self.runs else None


@dataclass(frozen=True)
class Series:
    points: tuple[Point, ...]
    transitions: tuple[tuple[dt.datetime, str, str, str], ...]  # (at, previous, status, message)
    transitions_truncated: bool


def bucket_starts(since: dt.datetime, until: dt.datetime, resolution: str,
                  tz: dt.tzinfo) -> list[dt.datetime]:
    """The start of every hour (or day, in ``tz``) that overlaps ``[since, until)``."""
    if resolution == "hour":
        first = _floor_hour(since.astimezone(dt.UTC))
        count = -(-(until - first) // HOUR)
        return [first + n * HOUR for n in range(count)]
    first_day = since.astimezone(tz).date()
    last_day = (until - dt.timedelta(microseconds=1)).astimezone(tz).date()
    return [day_start(first_day + dt.timedelta(days=n), tz)
            for n in range((last_day - first_day).days + 1)]


def series(check: Check, since: dt.datetime, until: dt.datetime, resolution: str,
           now: dt.datetime, tz: dt.tzinfo) -> Series:
    """One check's rollups over ``[since, until)`` by hour or by day (in ``tz``), and its
    transitions there (at most MAX_TRANSITIONS, oldest first). The caller bounds the
    window (MAX_WINDOW); three index-range queries."""
    starts = bucket_starts(since, until, resolution, tz)
    ends = [*starts[1:], starts[-1] + HOUR if resolution == "hour"
            else day_start(starts[-1].astimezone(tz).date() + DAY, tz)]
    rollups = HourlyRollup.objects.filter(name=check.name, hour__gte=starts[0],
                                          hour__lt=ends[-1]).order_by()
    if resolution == "hour":
        found = {row[0]: row[1:] for row in rollups.values_list(
            "hour", "runs", "failures", "warnings", "duration_sum", "duration_max")}
    else:
        found = {row["day"]: (row["day_runs"], row["day_failures"], row["day_warnings"],
                              row["day_duration_sum"], row["day_duration_max"])
                 for row in rollups.annotate(day=TruncDay("hour", tzinfo=tz)).values("day")
                 .annotate(day_runs=Sum("runs"), day_failures=Sum("failures"),
                           day_warnings=Sum("warnings"), day_duration_sum=Sum("duration_sum"),
                           day_duration_max=Max("duration_max"))}
    first = (HourlyRollup.objects.filter(name=check.name).order_by("hour")
             .values_list("hour", "runs").first())
    began = NOT_BEGUN if first is None else began_at(*first, check.interval)
    points = []
    for start, end in zip(starts, ends, strict=True):
        runs, failures, warnings, duration_sum, duration_max = found.get(
            start, (0, 0, 0, 0.0, None))
        points.append(Point(start, runs, failures, warnings, duration_sum or 0.0,
                            duration_max if runs else None,
                            span_uptime(runs, failures, check.interval, start,
                                        min(end, now), began)))
    listed = list(
        Transition.objects.filter(name=check.name, at__gte=since, at__lt=until)
        .order_by("at", "id").values_list("at", "previous", "status", "message")
        [: MAX_TRANSITIONS + 1]
    )
    return Series(tuple(points), tuple(listed[:MAX_TRANSITIONS]),
                  len(listed) > MAX_TRANSITIONS)
