"""What ``healthd run`` tells its user while it runs, read from the result store.

First, how far the first run is ("waiting for the first run… 5/7 checks in"), until
every configured check has a result newer than the start; then one line per change of
a check's status, with the heartbeat's status after it. It polls the latest results the
way the views read them (one round trip, stale results counted as such): nothing is
added to Redis for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from healthd.checks.base import Status
from healthd.store import health as state

# While nothing changes, say again what it waits for this often (seconds).
REMIND_EVERY = 10.0


def _summary(health: state.Health) -> str:
    """``all passing`` or ``5 passing, 1 warning, 1 failing (celery)``."""
    if health.error:
        return health.error
    counts: dict[str, int] = {}
    for check in health.checks:
        counts[str(check.status)] = counts.get(str(check.status), 0) + 1
    if set(counts) == {str(Status.PASSING)}:
        return "all passing"
    parts = [f"{n} {status}" for status, n in counts.items()]
    against = [c.name for c in health.checks if c.counts_against]
    return ", ".join(parts) + (f" ({', '.join(against)})" if against else "")


def _heartbeat(health: state.Health) -> str:
    return f"heartbeat {health.status}"


class Progress:
    """Polled by ``healthd run``'s loop; calls ``say`` with each line worth telling."""

    def __init__(self, say: Callable[[str], None], started_at: float | None = None,
                 read: Callable[[], state.Health] = state.health) -> None:
        self.say = say
        self.read = read
        self.started_at = time.time() if started_at is None else started_at
        self.first_run_done = False
        self.last_said = 0.0
        self.count_said: int | None = None
        self.statuses: dict[str, Status] = {}
        self.store_error: str | None = None

    def poll(self) -> None:
        """Read the latest results once and tell what changed."""
        state.forget()  # this process reads the store itself, not a copy a second old
        health = self.read()
        if self.first_run_done:
            self._transitions(health)
        else:
            self._first_run(health)

    def _first_run(self, health: state.Health) -> None:
        now = time.time()
        total = len(health.checks)
        fresh = [c for c in health.checks
                 if c.checked_at is not None and c.checked_at >= self.started_at]
        elapsed = now - self.started_at
        if total and len(fresh) == total:
            self.first_run_done = True
            self.statuses = {c.name: c.status for c in health.checks}
            self.say(f"first run done: {total}/{total} checks in, {_summary(health)}, "
                     f"{elapsed:.1f} s; {_heartbeat(health)}. From now on, one line per change.")
            return
        if len(fresh) != self.count_said or now - self.last_said >= REMIND_EVERY:
            waiting_for = "the worker to run them" if not fresh else "the rest"
            if health.error:
                waiting_for = f"the result store ({health.error})"
            self.say(f"waiting for the first run… {len(fresh)}/{total} checks in, "
                     f"{elapsed:.0f} s (waiting for {waiting_for})")
            self.count_said = len(fresh)
            self.last_said = now

    def _transitions(self, health: state.Health) -> None:
        if health.error:
            if self.store_error is None:
                self.say(f"{health.error}; {_heartbeat(health)}")
            self.store_error = health.error
            return
        if self.store_error is not None:
            self.store_error = None
            self.say(f"the result store answers again; {_heartbeat(health)}")
        for check in health.checks:
            before = self.statuses.get(check.name)
            if before is not None and before != check.status:
                self.say(f"{check.name}: {before} → {check.status}: {check.message}; "
                         f"{_heartbeat(health)}")
            self.statuses[check.name] = check.status
