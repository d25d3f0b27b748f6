"""This process's own verdict: its local checks and whether it is draining.

The local checks (:mod:`healthd.local.checks`) run at most once per
``HEALTHD["LOCAL_CHECK_SECONDS"]`` in each process, when a probe asks for the verdict
and the last answer is due: never once per request. One evaluation runs at a time; the
probes that arrive meanwhile get the last answer (only the very first answer of a
process is waited for). Each check runs on a thread of its own under its timeout
(:func:`healthd.checks.runner.run_concurrently`), so a check that hangs costs the probe
that started the evaluation its timeout once; later evaluations report it as still
hanging at once rather than start it again. Those threads close the database
connections they open after each call: none is left behind by a thread that ends.

Under ASGI :func:`current_async` runs a due evaluation in a worker thread
(``sync_to_async``), so the event loop never waits on a check, and the view answers
inside :func:`reading`, where :func:`current` gives what was read.

A failing check that most live pods share (the database down for everyone) does not make
this process unready: see :mod:`healthd.local.shared`, which an evaluation asks only
when something fails.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured

from healthd import conf
from healthd.checks.base import Status
from healthd.checks.runner import run_concurrently
from healthd.conf import per_process
from healthd.local.answer import LocalVerdict
from healthd.util.logs import get_logger
from healthd.util.redact import redact

# isort: split
# After LocalVerdict is bound here: healthd.local.instances imports it from this module.
from healthd.local import checks as local_checks
from healthd.local import draining, instances
from healthd.local import shared as sharing

__all__ = ["LocalVerdict", "current", "current_async", "forget", "reading"]

logger = get_logger("healthd.local")


@dataclass(frozen=True)
class _Evaluated:
    checks: tuple[str, ...]
    failures: Mapping[str, str]
    checked_at: float  # wall clock, when the evaluation started
    due: float  # monotonic: when the next evaluation may run
    # The failing checks most live pods share (healthd.local.shared): not this pod's.
    shared: Mapping[str, str]


_lock = threading.Lock()
_held: per_process.Kept[_Evaluated] = per_process.Kept()
# The verdict last built, with what it was built from: the same object while neither
# the evaluation nor the drain flag changes, so an answer rendered from it can be reused.
_built: tuple[_Evaluated, bool, LocalVerdict] | None = None
_read_for_this_answer: ContextVar[LocalVerdict | None] = ContextVar(
    "healthd_local_verdict_for_this_answer", default=None)


def _evaluate() -> _Evaluated:
    started, checked_at = time.monotonic(), time.time()
    due = started + float(conf.get().local_check_seconds)
    try:
        checks = local_checks.configured()
    except ImproperlyConfigured as exc:
        # The system check names it at start-up; at run time it is this process's failure.
        return _Evaluated(("settings",), MappingProxyType(
            {"settings": f'HEALTHD["LOCAL_CHECKS"]: {redact(exc)}'}), checked_at, due,
            MappingProxyType({}))
    results = run_concurrently(checks, key_prefix="local:")
    failures = {r.name: r.message for r in results if r.status == Status.FAILING}
    return _Evaluated(tuple(c.name for c in checks), MappingProxyType(failures), checked_at,
                      due, sharing.shared(failures))


def _verdict(evaluated: _Evaluated) -> LocalVerdict:
    global _built
    is_draining = draining.is_draining()
    built = _built
    if built is not None and built[0] is evaluated and built[1] == is_draining:
        return built[2]
    own = any(name not in evaluated.shared for name in evaluated.failures)
    verdict = LocalVerdict(ready=not own and not is_draining,
                           draining=is_draining, failures=evaluated.failures,
                           checked_at=evaluated.checked_at, checks=evaluated.checks,
                           shared=evaluated.shared)
    _built = (evaluated, is_draining, verdict)
    return verdict


def _publish(verdict: LocalVerdict) -> None:
    try:
        instances.publish(verdict)
    except Exception as exc:  # broad: a probe must never fail on publishing
        logger.warning("could not publish this process's verdict: %s", redact(exc))


def _refresh(last: _Evaluated | None) -> _Evaluated:
    """Evaluate when due, unless another thread is at it (then the last answer)."""
    if not _lock.acquire(blocking=last is None):  # the first answer is waited for
        return last  # type: ignore[return-value]  # acquire() only fails when last is set
    try:
        held = _held.value
        if held is not None and time.monotonic() < held.due:
            return held  # evaluated while this thread waited
        since = per_process.generation()
        evaluated = _evaluate()
        _held.keep(evaluated, since)
    finally:
        _lock.release()
    _publish(_verdict(evaluated))
    return evaluated


def current() -> LocalVerdict:
    """This process's verdict now (the local checks' cached answers and the drain flag)."""
    read = _read_for_this_answer.get()
    if read is not None:
        return read
    evaluated = _held.value
    if evaluated is None or time.monotonic() >= evaluated.due:
        evaluated = _refresh(evaluated)
    return _verdict(evaluated)


async def current_async() -> LocalVerdict:
    """:func:`current` for a coroutine: a due evaluation runs in a worker thread."""
    evaluated = _held.value
    if evaluated is not None and (time.monotonic() < evaluated.due or _lock.locked()):
        return _verdict(evaluated)
    return await sync_to_async(current, thread_sensitive=False)()


@contextlib.contextmanager
def reading(verdict: LocalVerdict) -> Iterator[None]:
    """Within this block :func:`current` answers ``verdict`` (what a coroutine read)."""
    token = _read_for_this_answer.set(verdict)
    try:
        yield
    finally:
        _read_for_this_answer.reset(token)


def forget() -> None:
    """Drop this process's answer: the next probe evaluates the local checks again."""
    _held.clear()
