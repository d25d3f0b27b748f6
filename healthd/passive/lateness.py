"""When a passive check is late, and how to say so: pure functions of its
:class:`~healthd.checks.passive.Passive` and its bookkeeping (see
:mod:`healthd.passive.recording`)."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from celery.schedules import crontab as celery_crontab

from healthd.checks.base import Status
from healthd.checks.passive import Passive
from healthd.util.humanize import format_age


def number(value: Any) -> float | None:
    """A stored number, or None when the field is empty or not a number."""
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def next_run(passive: Passive, after: float) -> float:
    """When the job is next expected to run after ``after`` (epoch seconds)."""
    if passive.crontab is None:
        return after + passive.every
    return next_fire(passive.crontab, after)


def next_fire(crontab: tuple[str, ...], after: float) -> float:
    """The first time a crontab (minute, hour, day of month, month, day of week, tz)
    fires after ``after``; ``after + every`` is not the answer for "weekdays at 9"."""
    minute, hour, day_of_month, month_of_year, day_of_week, tz = (*crontab, "UTC")[:6]
    try:
        zone: datetime.tzinfo = zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = datetime.UTC
    schedule = celery_crontab(minute=minute, hour=hour, day_of_month=day_of_month,
                              month_of_year=month_of_year, day_of_week=day_of_week)
    last = datetime.datetime.fromtimestamp(after, zone)
    start, delta, _now = schedule.remaining_delta(last)
    return float((start + delta).timestamp())


def deadline(passive: Passive, info: dict[str, str]) -> float | None:
    """When the check turns late unless a success arrives: the next expected run after
    the last success (or after it was first seen) plus grace, or sooner, ``grace`` after
    a run began and did not finish. None when nothing is known of it yet."""
    base = number(info.get("last_success")) or number(info.get("first_seen"))
    if base is None:
        return None
    due = next_run(passive, base) + passive.grace
    started = number(info.get("started_at"))
    if started is not None:
        due = min(due, started + passive.grace)
    return due


def late_message(passive: Passive, info: dict[str, str], now: float) -> str:
    """Why the check is late, in words: "late: last success 25.0 h ago" and what else
    is known (a run still going, the last failure)."""
    last_success = number(info.get("last_success"))
    first_seen = number(info.get("first_seen"))
    started = number(info.get("started_at"))
    if last_success is not None:
        message = f"late: last success {format_age(now - last_success)}"
    else:
        message = (f"late: no success yet (expected every {passive.every:g} s, "
                   f"first seen {format_age(now - (first_seen or now))})")
    if started is not None and now - started >= passive.grace:
        message += f"; a run started {format_age(now - started)} has not finished"
    if info.get("last_status") == str(Status.FAILING) and info.get("last_message"):
        message += f"; last run failed: {info['last_message']}"
    return message
