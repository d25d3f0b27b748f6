"""Celery task runs reported as passive checks, from the task signals.

Two kinds of task are watched here: a Celery task object given to
``healthd.monitored`` (the decorator cannot wrap what the worker calls, so it registers
the task by name), and a run that django-celery-beat sent for a watched row (see
:mod:`healthd.passive.beat`). ``task_prerun`` reports the start, ``task_success`` and
``task_failure`` the end, with the run's duration. A retry reports nothing: the run
stays begun, and is late if no attempt succeeds in time.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from celery.signals import task_failure, task_postrun, task_prerun, task_success
from django.core.exceptions import ImproperlyConfigured

from healthd.checks.base import Check
from healthd.passive import beat, reports
from healthd.util.logs import get_logger
from healthd.util.outages import DATABASE_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.passive")

# Task objects given to healthd.monitored, with their checks (names are read at run time:
# a shared_task is a proxy until the app is finalised).
_monitored_tasks: list[tuple[Any, Check]] = []
# Runs in progress in this process: task id -> (start, the checks it reports to).
_runs: dict[str, tuple[float, list[Check]]] = {}
_lock = threading.Lock()


def register_task(task: Any, check: Check) -> None:
    """Report each run of this Celery task object as ``check``."""
    with _lock:
        _monitored_tasks.append((task, check))


def checks_of(task: Any) -> list[Check]:
    """The passive checks a run of this task reports to."""
    name = getattr(task, "name", None)
    found = [check for candidate, check in list(_monitored_tasks)
             if getattr(candidate, "name", None) == name]
    row = getattr(getattr(task, "request", None), "periodic_task_name", None)
    if row and not str(name).startswith("healthd."):
        try:
            watched = beat.check_for_run(str(row))
        except (*DATABASE_ERRORS, ImproperlyConfigured, ValueError) as exc:
            # the database away, a bad watch setting, a row's schedule that makes no sense
            logger.warning("could not tell whether beat row %r is watched: %s", row,
                           redact(exc))
            watched = None
        if watched is not None:
            found.append(watched)
    return found


@task_prerun.connect(dispatch_uid="healthd.passive.prerun", weak=False)
def _run_began(sender: Any = None, task_id: str | None = None, task: Any = None,
               **kwargs: Any) -> None:
    if task_id is None:
        return
    checks = checks_of(task or sender)
    if not checks:
        return
    _runs[task_id] = (time.perf_counter(), checks)
    for check in checks:
        reports.report_start(check)


def _run_of(sender: Any, task_id: str | None) -> tuple[float, list[Check]] | None:
    if task_id is None:
        task_id = getattr(getattr(sender, "request", None), "id", None)
    return _runs.pop(task_id, None) if task_id else None


@task_success.connect(dispatch_uid="healthd.passive.success", weak=False)
def _run_succeeded(sender: Any = None, **kwargs: Any) -> None:
    run = _run_of(sender, None)
    if run is None:
        return
    started, checks = run
    for check in checks:
        reports.report_finish(check, True, duration=time.perf_counter() - started)


@task_failure.connect(dispatch_uid="healthd.passive.failure", weak=False)
def _run_failed(sender: Any = None, task_id: str | None = None, exception: Any = None,
                **kwargs: Any) -> None:
    run = _run_of(sender, task_id)
    if run is None:
        return
    started, checks = run
    for check in checks:
        reports.report_finish(check, False, f"{type(exception).__name__}: {exception}",
                              duration=time.perf_counter() - started)


@task_postrun.connect(dispatch_uid="healthd.passive.postrun", weak=False)
def _run_over(sender: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    # A retry or a revocation reports nothing; the run is simply no longer ours to time.
    if task_id is not None:
        _runs.pop(task_id, None)
