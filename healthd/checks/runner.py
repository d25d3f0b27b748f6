"""Run a set of checks at once, each under its own timeout.

The checks run on :mod:`healthd.util.concurrency`'s bounded threads, so a check that hangs
costs its own timeout and nothing more: the run returns when every check has answered
or run out of time, and while it still hangs later runs report it rather than start it
again. Whatever a check says is redacted before it becomes a :class:`Result`.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Iterable
from typing import Any

from healthd.checks.base import Check, CheckWarning, Observation, Result, Status
from healthd.util.concurrency import Call, Done, Outcome, StillHanging, run_with_timeouts
from healthd.util.logs import get_logger
from healthd.util.redact import redact, redact_deep

logger = get_logger("healthd.runner")


def _outcome_to_result(check: Check, outcome: object, started: float, checked_at: float) -> Result:
    duration = time.perf_counter() - started
    base: dict[str, Any] = {"name": check.name, "checked_at": checked_at, "duration": duration,
            "critical": check.critical}
    if isinstance(outcome, Observation):
        details = redact_deep(outcome.details)
        return Result(
            status=Status(outcome.status), message=redact(outcome.message),
            value=outcome.value, unit=outcome.unit,
            details=details if isinstance(details, dict) else {}, **base,
        )
    if outcome is False:
        return Result(status=Status.FAILING, message="the check returned False", **base)
    message = redact(outcome) if isinstance(outcome, str) and outcome else "ok"
    return Result(status=Status.PASSING, message=message, **base)


def run_one(check: Check) -> Result:
    """Run one check in the calling thread; never raises."""
    checked_at = time.time()
    started = time.perf_counter()
    try:
        outcome = check.func()
    except CheckWarning as exc:
        return Result(check.name, Status.WARNING, redact(exc) or "warning", checked_at,
                      time.perf_counter() - started, critical=check.critical)
    except Exception as exc:  # broad: a site's check raising anything is a failing result
        logger.error(
            "check %s raised %s\n%s", check.name, type(exc).__name__,
            redact("".join(traceback.format_exception(exc))),
        )
        # The class is kept apart too: watchman showed the message alone.
        return Result(check.name, Status.FAILING, redact(f"{type(exc).__name__}: {exc}"),
                      checked_at, time.perf_counter() - started, critical=check.critical,
                      details={"exception": type(exc).__name__})
    return _outcome_to_result(check, outcome, started, checked_at)


def _result_of(check: Check, outcome: Outcome) -> Result:
    if isinstance(outcome, Done):
        if isinstance(outcome.value, Result):
            return outcome.value
        # run_one catches every Exception; this is what slipped past it anyway.
        logger.error("check %s raised past its runner: %s: %s", check.name,
                     type(outcome.error).__name__, redact(outcome.error))
        return Result(check.name, Status.FAILING,
                      redact(f"{type(outcome.error).__name__}: {outcome.error}"),
                      outcome.started_at, outcome.duration, critical=check.critical)
    if isinstance(outcome, StillHanging):
        return Result(check.name, Status.FAILING, outcome.message, outcome.noticed_at, 0.0,
                      critical=check.critical)
    logger.error("check %s timed out after %.1f s", check.name, check.timeout)
    return Result(check.name, Status.FAILING, outcome.message, outcome.started_at,
                  check.timeout, critical=check.critical)


def run_concurrently(checks: Iterable[Check], key_prefix: str = "check:") -> list[Result]:
    """Run every check concurrently; return one result per check, in the given order.

    Named apart from the Celery task ``healthd.tasks.run_checks``, which calls this and
    then stores what it found. ``key_prefix`` keeps apart checks of the same name run for
    another purpose (a web process's local checks), so one's hang does not stop the other.
    """
    checks = list(checks)
    outcomes = run_with_timeouts(
        [Call(f"{key_prefix}{c.name}", functools.partial(run_one, c), c.timeout)
         for c in checks])
    return [_result_of(check, outcome) for check, outcome in zip(checks, outcomes, strict=True)]
