"""``celery``: workers answer a ping, and every configured queue has a consumer.

When STATUS_CELERY_WORKERS names full worker names (``celery@host``), ``control.ping``
asks only those, with ``limit``, so it returns as soon as they answer; otherwise it
waits out ``CELERY_TIMEOUT`` to hear from every worker. It works inside a worker: the
reply comes from each worker's consumer, not from the pool slot running this check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from celery import current_app

from healthd import conf
from healthd.checks.base import Observation, Status
from healthd.checks.probe import as_names


def _configured_queues(app: Any) -> set[str]:
    queues = app.conf.task_queues
    if queues:
        return {q.name for q in queues}
    return {app.conf.task_default_queue or "celery"}


def _matches(expected: str, hostname: str) -> bool:
    # STATUS_CELERY_WORKERS may name "celery@host" or just "host".
    return hostname == expected or hostname.split("@", 1)[-1] == expected


@dataclass(frozen=True)
class Celery:
    """Workers answer and every configured queue has a consumer.

    ``workers`` (None: STATUS_CELERY_WORKERS), ``min_workers`` (None:
    ``HEALTHD["CELERY_MIN_WORKERS"]``) and ``timeout`` (None: ``HEALTHD["CELERY_TIMEOUT"]``)
    are read at run time when not given.
    """

    workers: tuple[str, ...] | None = None
    min_workers: int | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.workers is not None:
            object.__setattr__(self, "workers", as_names(self.workers))

    def run(self) -> Observation:
        """Pass with the number of workers that answered; fail naming what is missing."""
        config = conf.get()
        expected = list(self.workers if self.workers is not None else config.celery_workers)
        minimum = max(
            self.min_workers if self.min_workers is not None else config.celery_min_workers, 1)
        wait = self.timeout if self.timeout is not None else config.celery_timeout
        started = time.perf_counter()
        if expected and all("@" in name for name in expected):
            # Asked only of the named workers, and done as soon as all of them answer.
            replies = current_app.control.ping(
                destination=expected, timeout=wait, limit=len(expected)) or []
        else:
            # Everyone who answers within the timeout: a limit would stop at the first
            # replies, which may not be the expected workers or every queue's consumer.
            replies = current_app.control.ping(timeout=wait) or []
        answered = sorted(name for reply in replies for name in reply)
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        details: dict = {"workers": answered, "ping_ms": elapsed}

        missing = [e for e in expected if not any(_matches(e, h) for h in answered)]
        if missing:
            details["missing"] = missing
            return Observation(
                f"workers not answering: {', '.join(missing)}",
                Status.FAILING, len(answered), "workers", details,
            )
        if len(answered) < minimum:
            return Observation(
                f"{len(answered)} worker(s) answered, expected at least {minimum}",
                Status.FAILING, len(answered), "workers", details,
            )

        queues = _configured_queues(current_app)
        active = current_app.control.inspect(
            destination=answered, timeout=wait, limit=len(answered)
        ).active_queues() or {}
        consumed = {q["name"] for worker_queues in active.values() for q in worker_queues}
        details["queues"] = {q: q in consumed for q in sorted(queues)}
        orphaned = sorted(queues - consumed)
        if orphaned:
            return Observation(
                f"no worker consumes queue(s): {', '.join(orphaned)}",
                Status.FAILING, len(answered), "workers", details,
            )
        return Observation(
            f"{len(answered)} worker(s) answered; {len(queues)} queue(s) consumed",
            value=len(answered), unit="workers", details=details,
        )
