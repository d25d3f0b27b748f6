"""The uptime of one span of time, and how a span is coloured.

Time with no fresh result is not uptime, counted as the admin's report queries count it
(:class:`healthd.history.reports.Uptime`): over any span a check should have run once per
interval since it began, and every run that is missing counts as down, like a failure (so
a day on which beat was stopped for an hour is not a green day). One missing run per span
is forgiven (the one due now may not have reported yet); warnings count as up. A check
began with its first hourly rollup: the end of that hour less the time its runs in it
took.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from healthd.history.reports import Uptime, expected_runs, scheduled_period

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
# The uptime windows the page shows and the badges accept as ``?period=``.
PERIODS: dict[str, dt.timedelta] = {
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
    "90d": dt.timedelta(days=90),
}
# A day is down (red) when the check was failing at some time or its uptime is below
# DOWN_BELOW; degraded (amber) when it was warning or its uptime is below DEGRADED_BELOW.
DOWN_BELOW = 0.99
DEGRADED_BELOW = 0.999

UP, DEGRADED, DOWN, NO_DATA = "up", "degraded", "down", "none"
_LEVEL_RANK = {NO_DATA: 0, UP: 1, DEGRADED: 2, DOWN: 3}
# The states a check can be in, worst last (anything else is not known).
STATE_RANK = {"passing": 1, "warning": 2, "failing": 3}

# A check without rollups has not begun: nothing is due from it.
NOT_BEGUN = dt.datetime.max.replace(tzinfo=dt.UTC)


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
    return a if STATE_RANK.get(a, 0) >= STATE_RANK.get(b, 0) else b


def floor_hour(value: dt.datetime) -> dt.datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """Midnight of ``day`` in ``tz`` (a day across a change of clocks is 23 or 25 h)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), tz)
