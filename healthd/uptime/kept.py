"""This process's copy of what the status page shows: read from the database at most once
per ``REFRESH_SECONDS`` (a page of 90 days does not need to be fresher), and dropped when
a setting changes (the checks, their intervals, the groups or the time zone may have)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from healthd import conf
from healthd.checks import registry
from healthd.checks.base import Check
from healthd.conf import per_process
from healthd.uptime.daily import History, read_history
from healthd.util.redact import redact

# How long a process keeps what the status page read from the database, in seconds.
REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class _Held:
    source: tuple[Any, ...]
    history: History
    expires: float


_lock = threading.Lock()
_held: per_process.Kept[_Held] = per_process.Kept()


def _source(checks: Sequence[Check], tz: dt.tzinfo) -> tuple[Any, ...]:
    return tuple((c.name, c.interval) for c in checks), str(tz)


def _fresh(source: tuple[Any, ...]) -> History | None:
    held = _held.value
    if held is not None and held.source == source and time.monotonic() < held.expires:
        return held.history
    return None


def history() -> History:
    """What the status page shows, read at most once per REFRESH_SECONDS in this process
    (a failure to read is kept for CACHE_SECONDS, so requests answer at once meanwhile)."""
    since = per_process.generation()  # before the settings are read
    checks = registry.configured_checks()
    tz = timezone.get_default_timezone()
    source = _source(checks, tz)
    found = _fresh(source)
    if found is not None:
        return found
    with _lock:
        found = _fresh(source)
        if found is not None:
            return found
        fetched_at = time.monotonic()
        now = timezone.now()
        try:
            value = read_history(checks, now, tz)
            keep = REFRESH_SECONDS
        except DatabaseError as exc:
            value = History({}, (), now, error=f"the history could not be read: "
                                               f"{type(exc).__name__}: {redact(exc)}")
            keep = conf.get().cache_seconds
        _held.keep(_Held(source, value, fetched_at + keep), since)
        return value


def forget() -> None:
    """Drop this process's copy: the next page reads the database again."""
    with _lock:
        _held.clear()
