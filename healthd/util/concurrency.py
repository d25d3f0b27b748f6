"""Run calls at once on a bounded set of threads, each call under its own timeout.

The checks and the stats providers both run here. ``ThreadPoolExecutor`` does not fit:
a call that hangs keeps its worker forever, so a few hung checks would starve every
later run, and a timeout cannot be measured from when a queued call starts. So:

- At most ``max_workers`` calls (``HEALTHD["MAX_CONCURRENCY"]``) run at a time; the
  rest wait their turn. Each call's timeout runs from the moment it starts.
- A call past its timeout is given up: it is reported as timed out, its thread stops
  counting against the bound (a fresh thread takes its place for the calls still
  waiting), and that thread ends when the call returns, if ever.
- While a given-up call still hangs, a later call with the same key is not started
  (it would most likely hang beside it, a thread and maybe a connection lost every
  run): it is reported as still hanging. So hung threads number at most one per key.
- Threads live for one run: no idle pool to keep alive or to rebuild after a fork.

Each thread takes the caller's current Celery app (a new thread would otherwise see
Celery's default app) and closes the Django database connections it opened after
each call, so none leaks.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from celery import current_app
from django.db import connections

from healthd import conf

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One callable to run: ``key`` names it across runs, so a hung one is not restarted."""

    key: str
    func: Callable[[], T]
    timeout: float


@dataclass(frozen=True)
class Done(Generic[T]):
    """The call returned ``value`` (or raised ``error``) within its timeout."""

    value: T | None
    error: Exception | None
    started_at: float
    duration: float


@dataclass(frozen=True)
class TimedOut:
    """The call ran past its timeout in this run and was given up."""

    started_at: float
    timeout: float

    @property
    def message(self) -> str:
        return f"TimeoutError: no answer within {self.timeout:g} s"


@dataclass(frozen=True)
class StillHanging:
    """A call with this key, given up in an earlier run, has still not returned."""

    since: float
    noticed_at: float

    @property
    def message(self) -> str:
        return (f"TimeoutError: a run started {self.noticed_at - self.since:.0f} s ago "
                "has still not returned")


Outcome = Done[Any] | TimedOut | StillHanging

# Threads of calls given up and not returned yet, by key, with when the call started.
_hung: dict[str, tuple[threading.Thread, float]] = {}
_hung_lock = threading.Lock()


def _still_hanging(key: str) -> StillHanging | None:
    with _hung_lock:
        entry = _hung.get(key)
        if entry is None:
            return None
        thread, since = entry
        if not thread.is_alive():
            del _hung[key]
            return None
    return StillHanging(since, time.time())


class _Task:
    __slots__ = ("call", "given_up", "outcome", "started", "started_at", "thread")

    def __init__(self, call: Call[Any]):
        self.call = call
        self.outcome: Outcome | None = None
        self.started = 0.0  # monotonic, for the deadline
        self.started_at = 0.0  # wall clock, for the result
        self.thread: threading.Thread | None = None
        self.given_up = False


class _Run:
    """One run's queue, its worker threads and the caller waiting on their deadlines."""

    def __init__(self, tasks: list[_Task], max_workers: int):
        self.changed = threading.Condition()
        self.waiting: deque[_Task] = deque(tasks)
        self.running: set[_Task] = set()
        self.unresolved = len(tasks)
        self.counted = 0  # threads counted against max_workers
        self.threads: list[threading.Thread] = []
        self.max_workers = max(1, int(max_workers))
        # current_app is a proxy to whichever app is current in the calling thread
        self.celery_app = current_app._get_current_object()  # type: ignore[attr-defined]

    def wait(self) -> None:
        with self.changed:
            while self.unresolved:
                now = time.monotonic()
                next_deadline: float | None = None
                for task in list(self.running):
                    deadline = task.started + task.call.timeout
                    if now >= deadline:
                        self._give_up(task)
                    elif next_deadline is None or deadline < next_deadline:
                        next_deadline = deadline
                self._start_threads()
                if self.unresolved:
                    self.changed.wait(None if next_deadline is None else next_deadline - now)
        for thread in self.threads:
            thread.join(1.0)  # they have nothing left to take: they are ending

    def _start_threads(self) -> None:
        wanted = min(self.max_workers, len(self.waiting) + len(self.running))
        while self.counted < wanted:
            thread = threading.Thread(target=self._work, name="healthd:worker", daemon=True)
            self.counted += 1
            self.threads.append(thread)
            thread.start()

    def _give_up(self, task: _Task) -> None:
        if task.thread is None:  # _work gives a task its thread before it runs
            raise RuntimeError(f"{task.call.key} is running on no thread")
        self.running.discard(task)
        task.given_up = True
        task.outcome = TimedOut(task.started_at, task.call.timeout)
        self.unresolved -= 1
        self.counted -= 1  # its thread no longer holds a place
        self.threads.remove(task.thread)
        with _hung_lock:
            _hung[task.call.key] = (task.thread, task.started_at)

    def _work(self) -> None:
        self.celery_app.set_current()
        me = threading.current_thread()
        while True:
            with self.changed:
                if not self.waiting:
                    self.counted -= 1
                    return
                task = self.waiting.popleft()
                task.thread = me
                task.started, task.started_at = time.monotonic(), time.time()
                self.running.add(task)
                self.changed.notify_all()  # the caller now has a deadline to watch
            me.name = f"healthd:{task.call.key}"
            outcome = _call(task)
            with self.changed:
                if task.given_up:
                    return  # already reported and replaced: end here
                self.running.discard(task)
                task.outcome = outcome
                self.unresolved -= 1
                self.changed.notify_all()


def _call(task: _Task) -> Done[Any]:
    try:
        value, error = task.call.func(), None
    except Exception as exc:  # broad: a site's check or stats provider; the caller logs it
        value, error = None, exc
    finally:
        connections.close_all()  # this thread's connections only
    return Done(value, error, task.started_at, time.monotonic() - task.started)


def run_with_timeouts(calls: Sequence[Call[T]], max_workers: int | None = None) -> list[Outcome]:
    """Run every call concurrently; one outcome per call, in the given order.

    Returns when each call has returned or run out of time. ``max_workers`` defaults to
    ``HEALTHD["MAX_CONCURRENCY"]``.
    """
    if max_workers is None:
        max_workers = conf.get().max_concurrency
    outcomes: list[Outcome | None] = [_still_hanging(call.key) for call in calls]
    tasks = {index: _Task(call) for index, call in enumerate(calls) if outcomes[index] is None}
    if tasks:
        _Run(list(tasks.values()), max_workers).wait()
    for index, task in tasks.items():
        outcomes[index] = task.outcome
    return outcomes  # type: ignore[return-value]  # every slot is filled by now
