"""The days of the daily rollups: days of the site's ``TIME_ZONE``, each one kept under the
instant it began, so a reader can tell a row of the zone in force from one written under
another (which a rebuild makes again)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.utils import timezone


def zone() -> dt.tzinfo:
    return timezone.get_default_timezone()


def day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """Midnight of ``day`` in ``tz`` (a day across a change of clocks is 23 or 25 h)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), tz)


def start_of(instant: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """When the day of ``instant`` (in ``tz``) began."""
    return day_start(instant.astimezone(tz).date(), tz)


def daily_rows(hourly: Iterable[Sequence[Any]], tz: dt.tzinfo | None = None) -> list[tuple]:
    """Hourly rollup rows (name, hour, runs, failures, warnings, duration_sum,
    duration_max, …) added up per (name, day): rows of the daily rollup's columns
    (name, day, first_hour, runs, failures, warnings, duration_sum, duration_max), sorted."""
    tz = tz or zone()
    totals: dict[tuple[str, dt.datetime], list[Any]] = {}
    for name, hour, runs, failures, warnings, duration_sum, duration_max, *_ in hourly:
        if not runs:
            continue
        key = (name, start_of(hour, tz))
        total = totals.get(key)
        if total is None:
            totals[key] = [hour, runs, failures, warnings, duration_sum, duration_max]
            continue
        total[0] = min(total[0], hour)
        total[1] += runs
        total[2] += failures
        total[3] += warnings
        total[4] += duration_sum
        total[5] = max(total[5], duration_max)
    return [(name, day, *total) for (name, day), total in sorted(totals.items())]
