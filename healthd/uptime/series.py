"""The history API's series: one check's rollups by hour or by day over a bounded window,
and its transitions there."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Max, Sum
from django.db.models.functions import TruncDay

from healthd.checks.base import Check
from healthd.history.reports import Uptime
from healthd.models import DailyRollup, HourlyRollup, Transition
from healthd.uptime.spans import (
    DAY,
    HOUR,
    NOT_BEGUN,
    began_at,
    day_start,
    floor_hour,
    span_uptime,
)

# The longest window per resolution, and the transitions listed.
RESOLUTIONS: dict[str, dt.timedelta] = {"hour": HOUR, "day": DAY}
MAX_WINDOW: dict[str, dt.timedelta] = {"hour": dt.timedelta(days=31),
                                       "day": dt.timedelta(days=366)}
MAX_TRANSITIONS = 1000


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
        first = floor_hour(since.astimezone(dt.UTC))
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
    window (MAX_WINDOW); three index-range queries, by day over the daily rollups (one
    row a day)."""
    starts = bucket_starts(since, until, resolution, tz)
    ends = [*starts[1:], starts[-1] + HOUR if resolution == "hour"
            else day_start(starts[-1].astimezone(tz).date() + DAY, tz)]
    rollups = HourlyRollup.objects.filter(name=check.name, hour__gte=starts[0],
                                          hour__lt=ends[-1]).order_by()
    if resolution == "hour":
        found = {row[0]: row[1:] for row in rollups.values_list(
            "hour", "runs", "failures", "warnings", "duration_sum", "duration_max")}
    else:
        found = {row[0]: row[1:] for row in DailyRollup.objects.filter(
            name=check.name, day__gte=starts[0], day__lt=ends[-1]).order_by().values_list(
            "day", "runs", "failures", "warnings", "duration_sum", "duration_max")}
        if set(found) - set(starts):  # days of another time zone: the hours, by day
            found = {row["day"]: (row["day_runs"], row["day_failures"], row["day_warnings"],
                                  row["day_duration_sum"], row["day_duration_max"])
                     for row in rollups.annotate(day=TruncDay("hour", tzinfo=tz))
                     .values("day").annotate(
                         day_runs=Sum("runs"), day_failures=Sum("failures"),
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
