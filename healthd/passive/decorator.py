"""``healthd.monitored``: a job reports each of its runs as a passive check."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task
from celery.exceptions import Retry
from celery.local import Proxy
from django.core.exceptions import ImproperlyConfigured

from healthd.passive import celery_runs, declarations, reports

F = TypeVar("F", bound=Callable[..., Any])


def _is_celery_task(target: object) -> bool:
    # type(), not isinstance(): isinstance() would evaluate a shared_task's proxy, and
    # with it the Celery app, at import time.
    return issubclass(type(target), Task | Proxy)


def monitored(name: str, every: Any, grace: Any = None, *, critical: bool = False,
              slow_after: Any = None) -> Callable[[F], F]:
    """Report each run of the decorated function (or Celery task) as the passive check
    ``name``: passing with its duration, failing with its exception (redacted); the sweep
    records it failing ("late: …") when no success arrives within ``every + grace``.

    ``every`` and ``grace`` are seconds (numbers) or durations such as ``"24h"``; grace
    is also how long a run may take once begun. ``critical`` as for any check (default:
    not, so a late job does not pull a load balancer). ``slow_after`` (seconds, or a factor
    of the usual run such as ``"3x"``) makes a slower run a warning.

    Put it under ``@shared_task`` (it wraps the function the task runs) or above it (it
    watches the task's runs through Celery's signals). A report that cannot be recorded
    is logged; it never changes what the job does or returns.
    """
    check = declarations.monitor(name, every, grace, critical, slow_after)

    def decorate(target: F) -> F:
        if _is_celery_task(target):
            celery_runs.register_task(target, check)
            return target
        if inspect.iscoroutinefunction(target):
            raise ImproperlyConfigured(
                f"healthd.monitored({name!r}) cannot watch a coroutine function")

        @functools.wraps(target)
        def monitored_run(*args: Any, **kwargs: Any) -> Any:
            reports.report_start(check)
            started = time.perf_counter()
            try:
                value = target(*args, **kwargs)
            except Retry:
                raise  # the run goes on in its next attempt
            except Exception as exc:  # broad: the site's job failed; reported, then raised
                reports.report_finish(check, False, f"{type(exc).__name__}: {exc}",
                                      duration=time.perf_counter() - started)
                raise
            reports.report_finish(check, True, duration=time.perf_counter() - started)
            return value

        monitored_run.healthd_check = check  # type: ignore[attr-defined]
        return monitored_run  # type: ignore[return-value]

    return decorate
