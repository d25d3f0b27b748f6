"""``celery``: workers answer, and every configured queue has a consumer.

One broadcast asks the workers which queues they consume (``active_queues``: an answer
is as good as a ping, and says more), and the check stops listening as soon as it has
heard enough: with STATUS_CELERY_WORKERS (or ``workers``) only those workers are asked,
and it stops once each has answered; otherwise it stops once ``min_workers`` have
answered. A missing worker costs the whole timeout, and only then.

A verdict against a worker or a queue is drawn only from a complete answer: when the
first answers do not settle it (a queue none of them consumes, a bare host name that
runs several workers), everyone is asked again and the check waits out the timeout.
It works inside a worker: replies come from each worker's consumer, not from the pool
slot running this check.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
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


def matches_worker(expected: str, hostname: str) -> bool:
    # STATUS_CELERY_WORKERS may name "celery@host" or just "host".
    return hostname == expected or hostname.split("@", 1)[-1] == expected


def _addressed_to(expected: tuple[str, ...]) -> dict[str, Any]:
    """Broadcast arguments that reach only the expected workers.

    Full names (``celery@host``) are a destination list; a bare host name needs a pattern
    (kombu's ``pcre`` matcher, checked by each worker) to reach every worker on that host.
    """
    if all("@" in name for name in expected):
        return {"destination": list(expected)}
    alternatives = "|".join(
        re.escape(name) if "@" in name else rf"(?:[^@]*@)?{re.escape(name)}"
        for name in expected
    )
    return {"pattern": rf"(?:{alternatives})\Z", "matcher": "pcre"}


def _queues_by_worker(connection: Any, timeout: float, limit: int | None = None,
                      **addressed: Any) -> dict[str, Any]:
    """{worker: the queues it consumes}; ``limit`` stops listening after that many answers."""
    replies = current_app.control.inspect(
        connection=connection, timeout=timeout, limit=limit, **addressed).active_queues()
    return dict(replies or {})


def _consumed(answers: Mapping[str, Any]) -> set[str]:
    return {
        queue["name"]
        for worker_queues in answers.values() if isinstance(worker_queues, list)
        for queue in worker_queues if isinstance(queue, dict) and "name" in queue
    }


def _verdict(answers: Mapping[str, Any], expected: tuple[str, ...], minimum: int,
             queues: set[str], details: dict[str, Any]) -> Observation:
    answered = sorted(answers)
    count = len(answered)
    details["workers"] = answered
    missing = [e for e in expected if not any(matches_worker(e, h) for h in answered)]
    if missing:
        details["missing"] = missing
        return Observation(f"workers not answering: {', '.join(missing)}",
                           Status.FAILING, count, "workers", details)
    if count < minimum:
        return Observation(f"{count} worker(s) answered, expected at least {minimum}",
                           Status.FAILING, count, "workers", details)
    consumed = _consumed(answers)
    details["queues"] = {q: q in consumed for q in sorted(queues)}
    orphaned = sorted(queues - consumed)
    if orphaned:
        return Observation(f"no worker consumes queue(s): {', '.join(orphaned)}",
                           Status.FAILING, count, "workers", details)
    return Observation(f"{count} worker(s) answered; {len(queues)} queue(s) consumed",
                       value=count, unit="workers", details=details)


def _ask(connection: Any, expected: tuple[str, ...], minimum: int, wait: float,
         queues: set[str]) -> Observation:
    """Ask the workers which queues they consume, listening only until enough have answered."""
    limit = len(expected) if expected else minimum
    addressed = _addressed_to(expected) if expected else {}
    started = time.perf_counter()
    answers = _queues_by_worker(connection, wait, limit, **addressed)
    elapsed = time.perf_counter() - started
    # Listening stopped at the limit, not at the timeout: others may not have answered.
    stopped_early = len(answers) >= limit or elapsed < wait
    details: dict[str, Any] = {"workers": [], "ping_ms": round(elapsed * 1000, 2),
                               "stopped_early": stopped_early}
    observation = _verdict(answers, expected, minimum, queues, details)
    if observation.status is Status.PASSING or not stopped_early:
        return observation
    # Not settled by the first answers: hear everyone out before blaming anything.
    details = {"workers": [], "ping_ms": details["ping_ms"], "stopped_early": False}
    return _verdict(_queues_by_worker(connection, wait), expected, minimum, queues, details)


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
        expected = self.workers if self.workers is not None else config.celery_workers
        minimum = max(
            self.min_workers if self.min_workers is not None else config.celery_min_workers, 1)
        wait = self.timeout if self.timeout is not None else config.celery_timeout
        # A connection of its own, closed after the run: each broadcast that waits for
        # replies binds a reply queue under a new name, and kombu's virtual transports
        # (Redis) remember every binding for the connection's life; on the pooled
        # connection, which lives as long as the process, that grew without end.
        with current_app.connection_for_write() as connection:
            return _ask(connection, expected, minimum, wait, _configured_queues(current_app))
