"""Recurring windows: a cron expression (or days and hours) in a time zone, each window
lasting a while, as UTC intervals.

The cron expression is parsed by Celery's :class:`celery.schedules.crontab` (already
what periodic tasks use; both day of month and day of week must match, as there). Its
``remaining_delta`` answers only "when next", so the windows of a range are enumerated
here from its parsed fields, day by day, with these rules for daylight saving time:

- times are wall-clock times in the zone: a window starting at 02:00 for 2 h ends at
  04:00 local time, so on the days the clocks change it lasts an hour less or more;
- a window starting at a local time the clocks skip (02:30 when they jump from 02:00 to
  03:00) starts right after the jump (03:00), as cron runs a job whose time was skipped,
  and lasts its duration from there;
- a local time that happens twice (02:30 when they go back from 03:00 to 02:00) is its
  first occurrence, once, as cron runs such a job once.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from celery.schedules import ParseException, crontab

EXAMPLE_CRON = "0 2 * * 0"
FIRINGS_READ = 500
_HOUR = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
# "sun 02:00-04:00", "sat,sun 23:30 to 01:00" (a hyphen, an en or em dash, or "to")
_WINDOW = re.compile(r"^\s*(?P<days>\S+)\s+(?P<start>\d{1,2}:\d\d)\s*(?:-|\u2013|\u2014|to)\s*"
                     r"(?P<end>\d{1,2}:\d\d)\s*$", re.IGNORECASE)


def parse_cron(text: str) -> crontab:
    """The schedule of a five-field cron expression; ValueError saying what is wrong."""
    fields = str(text).split()
    if len(fields) != 5:
        raise ValueError(f"not a cron expression: {str(text)[:100]!r} (five fields: minute "
                         f"hour day-of-month month day-of-week, e.g. {EXAMPLE_CRON!r} for "
                         "Sundays at 02:00)")
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        return crontab(minute=minute, hour=hour, day_of_week=day_of_week,
                       day_of_month=day_of_month, month_of_year=month)
    except (ValueError, ParseException, TypeError) as exc:
        raise ValueError(f"not a cron expression: {str(text)[:100]!r} ({exc})") from None


def normal_cron(text: str) -> str:
    """``text`` checked (ValueError when it is not a cron expression), spaces made single."""
    parse_cron(text)
    return " ".join(str(text).split())


def parse_zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone ``name``; ValueError naming it when there is no such zone."""
    try:
        return zoneinfo.ZoneInfo(str(name).strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"not a time zone: {str(name)[:64]!r} (an IANA name such as "
                         "Europe/Paris, America/New_York or UTC)") from None


def _hour(text: str) -> dt.time:
    match = _HOUR.match(text.strip())
    if not match:
        raise ValueError(f"not a time of day: {text[:20]!r} (HH:MM, e.g. 02:00)")
    return dt.time(int(match[1]), int(match[2]))


def from_days_and_hours(days: str, start: str, end: str) -> tuple[str, dt.timedelta]:
    """The cron expression and duration of "these days, from ``start`` to ``end``"
    (an end at or before the start is the next day: 23:00 to 01:00 crosses midnight).
    ``days`` is cron's day-of-week field: ``sun``, ``mon-fri``, ``sat,sun``, ``*``."""
    begins, ends = _hour(start), _hour(end)
    minutes = (ends.hour * 60 + ends.minute) - (begins.hour * 60 + begins.minute)
    if minutes <= 0:
        minutes += 24 * 60
    cron = f"{begins.minute} {begins.hour} * * {days.strip().lower()}"
    try:
        parse_cron(cron)
    except ValueError:
        raise ValueError(f"not days of the week: {days[:40]!r} (e.g. sun, mon-fri, "
                         "sat,sun or *)") from None
    return cron, dt.timedelta(minutes=minutes)


def parse_window(text: str) -> tuple[str, dt.timedelta] | None:
    """``"sun 02:00-04:00"`` as a cron expression and a duration; None when ``text`` is not
    of that form (ValueError when it is, but its days or hours are wrong)."""
    match = _WINDOW.match(str(text))
    if not match:
        return None
    return from_days_and_hours(match["days"], match["start"], match["end"])


def instant(local: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The UTC instant of the naive wall-clock time ``local`` in ``zone``, by the rules in
    the module's docstring (a skipped time is the first instant after the jump)."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first  # it exists (fold=0: the first of a repeated time)
    # Skipped: fold=1 reads it with the offset after the jump (an instant before it),
    # fold=0 with the one before (an instant after it); find the jump between them.
    before = local.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
    after, offset_after = first, first.astimezone(zone).utcoffset()
    while after - before > dt.timedelta(seconds=1):
        middle = before + (after - before) / 2
        middle = middle.replace(microsecond=0)
        if middle <= before:
            break
        if middle.astimezone(zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return after


@dataclass(frozen=True)
class Recurrence:
    """Windows starting when ``cron`` fires in ``zone`` and lasting ``duration``."""

    cron: str
    duration: dt.timedelta
    zone: dt.tzinfo

    def _starts(self, first_day: dt.date, last_day: dt.date) -> Iterator[dt.datetime]:
        schedule: Any = parse_cron(self.cron)  # its parsed fields are sets of numbers
        hours, minutes = sorted(schedule.hour), sorted(schedule.minute)
        day = first_day
        while day <= last_day:
            cron_weekday = (day.weekday() + 1) % 7  # cron: 0 is Sunday; Python: Monday
            if (day.month in schedule.month_of_year and day.day in schedule.day_of_month
                    and cron_weekday in schedule.day_of_week):
                for hour in hours:
                    for minute in minutes:
                        yield dt.datetime.combine(day, dt.time(hour, minute))
            day += dt.timedelta(days=1)

    def windows(self, since: dt.datetime, until: dt.datetime,
                limit: int = 1000) -> list[tuple[dt.datetime, dt.datetime]]:
        """The windows (UTC start, end) overlapping [since, until), overlapping ones
        merged, in order; at most ``limit`` of them (the earliest), and from at most
        FIRINGS_READ firings of the cron expression from ``since``: a window every minute
        is read for 8 hours ahead, not for all of ``until`` (some 15 ms, not 300)."""
        if self.duration <= dt.timedelta(0):
            return []
        read = 0
        # A start this early (on the wall clock; a margin for any clock change) ends
        # before ``since``: passed over without working out its instant.
        too_early = ((since - self.duration).astimezone(self.zone).replace(tzinfo=None)
                     - dt.timedelta(hours=3))
        first_day = (since - self.duration).astimezone(self.zone).date() - dt.timedelta(days=1)
        last_day = until.astimezone(self.zone).date() + dt.timedelta(days=1)
        found: list[tuple[dt.datetime, dt.datetime]] = []
        for local in self._starts(first_day, last_day):
            if local < too_early:
                continue
            start = instant(local, self.zone)
            if start >= until:
                break  # the starts come in order
            # Wall-clock arithmetic, from the start as the clock shows it (after a jump).
            end = instant(start.astimezone(self.zone).replace(tzinfo=None) + self.duration,
                          self.zone)
            if end <= since or end <= start:
                continue
            read += 1
            if read > FIRINGS_READ:
                break
            if found and start <= found[-1][1]:
                found[-1] = (found[-1][0], max(found[-1][1], end))
                continue
            if len(found) >= limit:
                break
            found.append((start, end))
        return found

    def covers(self, moment: dt.datetime) -> bool:
        """Whether ``moment`` is inside one of the windows."""
        return bool(self.windows(moment, moment + dt.timedelta(microseconds=1), limit=1))
