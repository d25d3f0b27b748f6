"""Run a set of checks at once, each under its own timeout.

Each check runs in a daemon thread of its own, so a check that hangs costs its own
timeout and nothing more: the run returns when every check has answered or run out
of time, and a hung thread never holds up the process's exit. Each thread closes the
database connections it opened, so no connection leaks.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from django.db import connections

from healthd.checks.base import Check, CheckWarning, Observation, Result, Status
from healthd.redact import redact

logger = logging.getLogger("healthd.runner")


def _outcome_to_result(check: Check, outcome: object, started: float, checked_at: float) -> Result:
    duration = time.perf_counter() - started
    base = {"name": check.name, "checked_at": checked_at, "duration": duration,
            "critical": check.critical}
    if isinstance(outcome, Observation):
        return Result(
            status=Status(outcome.status), message=redact(outcome.message),
            value=outcome.value, unit=outcome.unit,
            details=_redact_details(outcome.details), **base,
        )
    if outcome is False:
        return Result(status=Status.FAILING, message="the check returned False", **base)
    message = redact(outcome) if isinstance(outcome, str) and outcome else "ok"
    return Result(status=Status.PASSING, message=message, **base)


def _redact_details(details: object) -> dict:
    if isinstance(details, dict):
        return {str(k): _redact_details(v) if isinstance(v, dict | list) else _clean(v)
                for k, v in details.items()}
    if isinstance(details, list):
        return [_redact_details(v) if isinstance(v, dict | list) else _clean(v) for v in details]
    return {}


def _clean(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


def run_one(check: Check) -> Result:
    """Run one check in the calling thread; never raises."""
    checked_at = time.time()
    started = time.perf_counter()
    try:
        outcome = check.func()
    except CheckWarning as exc:
        return Result(check.name, Status.WARNING, redact(exc) or "warning", checked_at,
                      time.perf_counter() - started, critical=check.critical)
    except Exception as exc:
        logger.error(
            "check %s raised %s\n%s", check.name, type(exc).__name__,
            redact("".join(traceback.format_exception(exc))),
        )
        return Result(check.name, Status.FAILING, redact(f"{type(exc).__name__}: {exc}"),
                      checked_at, time.perf_counter() - started, critical=check.critical)
    return _outcome_to_result(check, outcome, started, checked_at)


def _thread_body(check: Check, future: Future, celery_app: object) -> None:
    # A new thread would otherwise see Celery's default app, not the caller's.
    if celery_app is not None:
        celery_app.set_current()
    try:
        future.set_result(run_one(check))
    finally:
        connections.close_all()  # this thread's connections only


def _current_celery_app() -> object:
    try:
        from celery import current_app
    except ImportError:  # pragma: no cover - celery is a dependency
        return None
    return current_app._get_current_object()


# Threads of checks that ran past their timeout and have not returned, by check name:
# while one hangs, later runs report it instead of starting another thread that would
# hang too (a thread, and maybe a connection, leaked every run).
_hung: dict[str, tuple[threading.Thread, float]] = {}
_hung_lock = threading.Lock()


def _still_hanging(check: Check) -> Result | None:
    with _hung_lock:
        entry = _hung.get(check.name)
        if entry is None:
            return None
        thread, since = entry
        if not thread.is_alive():
            del _hung[check.name]
            return None
    return Result(
        check.name, Status.FAILING,
        f"TimeoutError: a run started {time.time() - since:.0f} s ago has still not returned",
        time.time(), 0.0, critical=check.critical,
    )


def run_checks(checks: Iterable[Check]) -> list[Result]:
    """Run every check concurrently; return one result per check, in the given order."""
    started = time.monotonic()
    celery_app = _current_celery_app()
    pending: list[tuple[Check, Future | Result, threading.Thread | None, float]] = []
    for check in checks:
        hanging = _still_hanging(check)
        if hanging is not None:
            pending.append((check, hanging, None, hanging.checked_at))
            continue
        future: Future = Future()
        thread = threading.Thread(
            target=_thread_body, args=(check, future, celery_app),
            name=f"healthd:{check.name}", daemon=True,
        )
        pending.append((check, future, thread, time.time()))
        thread.start()
    results = []
    for check, future, thread, checked_at in pending:
        if isinstance(future, Result):
            results.append(future)
            continue
        remaining = max(0.0, started + check.timeout - time.monotonic())
        try:
            results.append(future.result(timeout=remaining))
        except FutureTimeout:
            logger.error("check %s timed out after %.1f s", check.name, check.timeout)
            with _hung_lock:
                _hung[check.name] = (thread, checked_at)
            results.append(Result(
                check.name, Status.FAILING, f"TimeoutError: no answer within {check.timeout:g} s",
                checked_at, check.timeout, critical=check.critical,
            ))
    return results
