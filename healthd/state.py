"""What the views see: the latest results, a per-process copy at most a second old,
and the status of each check worked out at read time (stale and unknown included).

The copy is what makes a heartbeat cost about a trivial view: one Redis round trip per
process per freshness period, not per request. While the store is down the failure
is remembered for the same period, so requests answer at once instead of each waiting
out the socket timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from healthd import store
from healthd.checks import registry
from healthd.checks.base import Check, Status
from healthd.memo import FreshFor
from healthd.redact import redact_deep


def _read_redacted() -> store.Snapshot:
    """The runner stores redacted text; mask again what the views show (message, details),
    so a record written by anything else cannot carry a secret into a response."""
    snap = store.read_latest()
    for record in snap.records.values():
        if isinstance(record, dict):
            for name in ("message", "details"):
                if name in record:
                    record[name] = redact_deep(record[name])
    return snap


_latest = FreshFor(_read_redacted)
# The evaluation of the latest snapshot: (snapshot, valid until, Health).
_evaluated: list = [None]


def snapshot() -> store.Snapshot:
    """The latest results, from Redis at most once per CACHE_SECONDS in this process."""
    return _latest.get()


def forget() -> None:
    """Drop this process's copy (tests, and after the settings change)."""
    _latest.forget()
    _evaluated[0] = None


@dataclass(frozen=True)
class CheckState:
    """One check as a view reports it."""

    check: Check
    status: Status
    message: str
    record: dict[str, Any] | None
    age: float | None

    @property
    def name(self) -> str:
        return self.check.name

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASSING, Status.WARNING)

    @property
    def counts_against(self) -> bool:
        """True when this check makes the site unhealthy (critical and not ok)."""
        return self.check.critical and self.status.is_failure


@dataclass(frozen=True)
class Health:
    status: Status
    checks: list[CheckState]
    error: str | None = None
    fetched_at: float = 0.0

    @property
    def healthy(self) -> bool:
        return self.status != Status.FAILING

    def by_name(self) -> dict[str, CheckState]:
        return {c.name: c for c in self.checks}


def _check_state(check: Check, record: dict[str, Any] | None, error: str | None,
                 now: float) -> CheckState:
    if error is not None:
        return CheckState(check, Status.UNKNOWN, error, None, None)
    if record is None:
        return CheckState(check, Status.UNKNOWN, "no result yet: the check has never run", None,
                          None)
    age = max(0.0, now - float(record.get("checked_at", 0)))
    stale_after = check.effective_stale_after
    if age > stale_after:
        return CheckState(check, Status.STALE,
                          f"last result is {age:.0f} s old (stale after {stale_after:g} s)",
                          record, age)
    status = Status(record.get("state") or record.get("status", "failing"))
    message = str(record.get("message", ""))
    until = silenced_until(record, now)
    if until is not None:
        # A silence changes who is told, never what is true: a failure under a silence
        # is a warning, so nobody watching the heartbeat is paged, and it says so.
        if status == Status.FAILING:
            status = Status.WARNING
        stamp = datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds")
        message = f"silenced until {stamp.replace('+00:00', 'Z')}: {message}"
    return CheckState(check, status, message, record, age)


def silenced_until(record: dict[str, Any], now: float) -> float | None:
    """When the silence covering this check now ends, or None when none does."""
    window = record.get("silence")
    if not isinstance(window, list) or len(window) != 2:
        return None
    try:
        start, end = float(window[0]), float(window[1])
    except (TypeError, ValueError):
        return None
    return end if start <= now < end else None


def overall(states: list[CheckState]) -> Status:
    if any(s.counts_against for s in states):
        return Status.FAILING
    if any(s.status != Status.PASSING for s in states):
        return Status.WARNING
    return Status.PASSING


def _next_expiry(states: list[CheckState], now: float) -> float:
    """When the first result that is fresh now turns stale: the evaluation holds until then."""
    deadlines = [
        float(s.record["checked_at"]) + s.check.effective_stale_after
        for s in states
        if s.record is not None and s.status != Status.STALE
    ]
    # A silence that starts or ends changes the evaluation too.
    deadlines += [
        float(edge)
        for s in states
        if s.record is not None and isinstance(s.record.get("silence"), list)
        for edge in s.record["silence"][:2]
        if isinstance(edge, int | float) and edge > now
    ]
    return min(deadlines, default=float("inf"))


def health(names: list[str] | None = None, exclude: list[str] | None = None) -> Health:
    """The status of the configured checks (or those named) from the cached state.

    The evaluation of every check is kept until the snapshot changes or a result turns
    stale, whichever comes first, so the heartbeat does no per-check work per request.
    """
    snap = snapshot()
    if names is None and not exclude:
        now = time.time()
        memo = _evaluated[0]
        if memo is not None and memo[0] is snap and now < memo[1]:
            return memo[2]
        result = _evaluate(snap, None, None, now)
        _evaluated[0] = (snap, _next_expiry(result.checks, now), result)
        return result
    return _evaluate(snap, names, exclude, time.time())


def _evaluate(snap: store.Snapshot, names: list[str] | None, exclude: list[str] | None,
              now: float) -> Health:
    checks = registry.configured_checks()
    if names is not None:
        wanted = set(names)
        checks = tuple(c for c in checks if c.name in wanted)
    if exclude:
        skipped = set(exclude)
        checks = tuple(c for c in checks if c.name not in skipped)
    states = [_check_state(c, snap.records.get(c.name), snap.error, now) for c in checks]
    status = Status.FAILING if snap.error else overall(states)
    return Health(status, states, snap.error, snap.fetched_at)
