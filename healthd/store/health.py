"""What the views see: the latest results, a per-process copy at most a second old,
and the status of each check worked out at read time (stale and unknown included).

The copy is what makes a heartbeat cost about a trivial view: one Redis round trip per
process per freshness period, not per request. While the store is down the failure
is remembered for the same period, so requests answer at once instead of each waiting
out the socket timeout. The transition counters /metrics shows are kept the same way.
Both copies, and the evaluation of the latest results, are dropped whenever Django
reports a change of settings.

Under ASGI a view reads the copy with :func:`snapshot_async` (the asyncio client, no
thread hop) and answers inside :func:`reading`, so the synchronous code that formats
the answer sees that snapshot and never blocks the event loop on Redis.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from healthd import conf, store
from healthd.checks import passive, registry
from healthd.checks.base import Check, Status
from healthd.conf import per_process
from healthd.store.client import StoreNotConfigured
from healthd.util.humanize import format_age
from healthd.util.logs import get_logger
from healthd.util.memo import FreshFor
from healthd.util.outages import REDIS_ERRORS
from healthd.util.redact import redact

T = TypeVar("T")
logger = get_logger("healthd.store")


def _read_transition_counts() -> dict[str, int] | None:
    try:
        return store.transition_counts()
    except (StoreNotConfigured, ValueError, *REDIS_ERRORS) as exc:
        # Read at most once per CACHE_SECONDS; the results' own read reports the outage.
        logger.debug("could not read the transition counts: %s", redact(exc))
        return None


_latest = FreshFor(store.read_latest, store.read_latest_async)
_transition_counts = FreshFor(_read_transition_counts)
# The snapshot an asynchronous view read before answering (see reading()).
_read_for_this_answer: ContextVar[store.Snapshot | None] = ContextVar(
    "healthd_read_for_this_answer", default=None)


def snapshot() -> store.Snapshot:
    """The latest results, from Redis at most once per CACHE_SECONDS in this process."""
    already_read = _read_for_this_answer.get()
    if already_read is not None:
        return already_read
    return _latest.get()


async def snapshot_async() -> store.Snapshot:
    """:func:`snapshot` for a coroutine: the same copy, read with the asyncio client."""
    return await _latest.get_async()


@contextlib.contextmanager
def reading(snap: store.Snapshot) -> Iterator[None]:
    """Within this block :func:`snapshot` (and so :func:`health`) answers ``snap``: what a
    coroutine read asynchronously, so the synchronous code it calls reads nothing."""
    token = _read_for_this_answer.set(snap)
    try:
        yield
    finally:
        _read_for_this_answer.reset(token)


def transition_counts() -> dict[str, int] | None:
    """Each check's count of state changes, from Redis at most once per CACHE_SECONDS in
    this process; None when the store cannot be read."""
    return _transition_counts.get()


@dataclass(frozen=True)
class CheckState:
    """One configured check as every view reports it: its stored result, and its status
    worked out at read time (a result too old is stale, a missing one unknown)."""

    check: Check
    status: Status
    message: str
    # Seconds since the result was taken; None when there is no result to read.
    age: float | None
    result: store.StoredResult | None = None

    @property
    def name(self) -> str:
        return self.check.name

    @property
    def critical(self) -> bool:
        return self.check.critical

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASSING, Status.WARNING)

    @property
    def stale(self) -> bool:
        return self.status == Status.STALE

    @property
    def fresh(self) -> bool:
        """True when there is a result recent enough to believe what it says."""
        return self.result is not None and self.status not in (Status.STALE, Status.UNKNOWN)

    @property
    def counts_against(self) -> bool:
        """True when this check makes the site unhealthy (critical and not ok)."""
        return self.check.critical and self.status.is_failure

    @property
    def checked_at(self) -> float | None:
        return None if self.result is None else self.result.checked_at

    @property
    def since(self) -> float | None:
        """When the check's current state began (None when unknown)."""
        return None if self.result is None else self.result.since

    @property
    def duration(self) -> float | None:
        return None if self.result is None else self.result.duration

    @property
    def value(self) -> float | None:
        return None if self.result is None else self.result.value

    @property
    def unit(self) -> str | None:
        return None if self.result is None else self.result.unit

    @property
    def parts(self) -> tuple[store.Part, ...]:
        """The aliases or targets the last run probed (kept even when it is stale)."""
        return () if self.result is None else self.result.parts


@dataclass(frozen=True)
class Health:
    """Every check reported, the site's overall status, and why the store could not be read."""

    status: Status
    checks: tuple[CheckState, ...]
    error: str | None = None
    fetched_at: float = 0.0
    # What views rendered from this evaluation (see rendered()).
    _renderings: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def healthy(self) -> bool:
        return self.status != Status.FAILING

    def by_name(self) -> dict[str, CheckState]:
        return {c.name: c for c in self.checks}

    def rendered(self, key: str, render: Callable[[], T]) -> T:
        """``render()`` once per evaluation: an answer that depends only on this health is
        rendered when the state changes, not on every request that reads it."""
        try:
            return self._renderings[key]
        except KeyError:
            value = self._renderings[key] = render()
            return value


def stale_after(check: Check, real_interval: float | None) -> float:
    """How old the check's result may get: its own limit, stretched when its beat row runs
    it less often than the settings say (an operator slowed the row in the admin)."""
    if real_interval is None or real_interval <= check.interval:
        return check.effective_stale_after
    # As the settings' limit is worked out (healthd.checks.registry): the intervals, plus
    # the timeout a run may take.
    return max(check.effective_stale_after,
               real_interval * float(conf.get().stale_after_intervals) + check.timeout)


def _check_state(check: Check, result: store.StoredResult | None, error: str | None,
                 now: float, real_interval: float | None = None) -> CheckState:
    if error is not None:
        return CheckState(check, Status.UNKNOWN, error, None)
    if result is None:
        return CheckState(check, Status.UNKNOWN, "no result yet: the check has never run", None)
    age = max(0.0, now - _fresh_from(check, result))
    limit = stale_after(check, real_interval)
    if age > limit:
        return CheckState(check, Status.STALE, _stale_message(check, result, age, limit, now),
                          age, result)
    status = result.current
    message = result.message
    until = silenced_until(result, now)
    if until is not None:
        # A silence changes who is told, never what is true: a failure under a silence
        # is a warning, so nobody watching the heartbeat is paged, and it says so.
        if status == Status.FAILING:
            status = Status.WARNING
        stamp = datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds")
        message = f"silenced until {stamp.replace('+00:00', 'Z')}: {message}"
    return CheckState(check, status, message, age, result)


def _fresh_from(check: Check, result: store.StoredResult) -> float:
    """When the result's news was fresh: when it was produced (its start plus its
    duration); a passive check's report is taken when its run ends, so its own time."""
    return result.checked_at if passive.is_passive(check) else result.produced_at


def _stale_message(check: Check, result: store.StoredResult, age: float, limit: float,
                   now: float) -> str:
    if passive.is_passive(check):
        # A job that stopped reporting in is late, whether or not the sweep said so yet.
        last_success = result.details.get("last_success")
        if isinstance(last_success, int | float):
            return f"late: last success {format_age(now - last_success)}"
        return f"late: last report {format_age(age)} (expected within {limit:g} s)"
    return f"last result is {age:.0f} s old (stale after {limit:g} s)"


def silenced_until(result: store.StoredResult, now: float) -> float | None:
    """When the silence covering this check now ends, or None when none does."""
    if result.silence is None:
        return None
    start, end = result.silence
    return end if start <= now < end else None


def overall(states: Sequence[CheckState]) -> Status:
    if any(s.counts_against for s in states):
        return Status.FAILING
    if any(s.status != Status.PASSING for s in states):
        return Status.WARNING
    return Status.PASSING


def _next_expiry(states: tuple[CheckState, ...], intervals: dict[str, float],
                 now: float) -> float:
    """When the first result that is fresh now turns stale: the evaluation holds until then."""
    deadlines = [
        _fresh_from(s.check, s.result) + stale_after(s.check, intervals.get(s.name))
        for s in states
        if s.result is not None and s.status != Status.STALE
    ]
    # A silence that starts or ends changes the evaluation too.
    deadlines += [
        edge
        for s in states
        if s.result is not None and s.result.silence is not None
        for edge in s.result.silence
        if edge > now
    ]
    return min(deadlines, default=float("inf"))


@dataclass(frozen=True)
class _Evaluation:
    snapshot: store.Snapshot
    valid_until: float
    health: Health


# The evaluation of the latest snapshot, per selection of checks (None: every one).
Selection = tuple[tuple[str, ...] | None, tuple[str, ...]]
_evaluated: dict[Selection, _Evaluation] = {}
# A caller choosing checks (watchman's ?check=) picks from a bounded set of names; this
# bounds the memo all the same.
MAX_SELECTIONS = 64


def health(names: list[str] | None = None, exclude: list[str] | None = None) -> Health:
    """The status of the configured checks (or those named, less those excluded) from
    the cached state.

    Each selection's evaluation is kept until the snapshot changes or a result turns
    stale, whichever comes first, so a view does no per-check work per request.
    """
    snap = snapshot()
    selection = (None if names is None else tuple(names), tuple(exclude or ()))
    now = time.time()
    memo = _evaluated.get(selection)
    if memo is not None and memo.snapshot is snap and now < memo.valid_until:
        return memo.health
    result = _evaluate(snap, names, exclude, now)
    if len(_evaluated) >= MAX_SELECTIONS:
        _evaluated.clear()
    valid_until = _next_expiry(result.checks, snap.intervals, now)
    _evaluated[selection] = _Evaluation(snap, valid_until, result)
    return result


def _evaluate(snap: store.Snapshot, names: list[str] | None, exclude: list[str] | None,
              now: float) -> Health:
    checks = registry.configured_checks()
    checks += _reported_passive_checks(snap, {c.name for c in checks})
    if names is not None:
        wanted = set(names)
        checks = tuple(c for c in checks if c.name in wanted)
    if exclude:
        skipped = set(exclude)
        checks = tuple(c for c in checks if c.name not in skipped)
    states = tuple(_check_state(c, snap.records.get(c.name), snap.error, now,
                                snap.intervals.get(c.name)) for c in checks)
    status = Status.FAILING if snap.error else overall(states)
    return Health(status, states, snap.error, snap.fetched_at)


def _reported_passive_checks(snap: store.Snapshot, configured: set[str]
                             ) -> tuple[Check, ...]:
    """The passive checks the settings do not declare (a decorated job, a watched beat
    row), read from their latest results, which carry what the check expects."""
    found = []
    for name, result in snap.records.items():
        if name not in configured and "passive" in result.details:
            check = passive.from_result(name, result.details, result.critical)
            if check is not None:
                found.append(check)
    return tuple(sorted(found, key=lambda c: c.name))


def forget() -> None:
    """Drop this process's copies and evaluation: the next read asks Redis again."""
    _latest.forget()
    _transition_counts.forget()
    _evaluated.clear()


# The store, the checks or their staleness may have changed with the settings.
per_process.on_setting_change(_evaluated.clear)
