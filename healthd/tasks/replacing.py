"""Celery workers being replaced on schedule (:mod:`healthd.tasks.recycle`): not missing.

A worker replacing its main process stops answering for a few seconds (its warm
shutdown, then a boot). A ``celery`` check that names its workers (STATUS_CELERY_WORKERS)
and is run by another worker in that moment would report it "not answering": a
transition, its notifications and a recovery, for a replacement healthd itself made.
So a worker about to go writes its name to Redis with a deadline, and the fresh process
removes it once ready; a run in between reads the failure "workers not answering: X",
where every X is being replaced, as the verdict the check had before (passing, saying
so, when it passed), so a replacement makes no transition either way. A worker whose
fresh process never answers is missing again once its deadline (``DEADLINE`` seconds)
has passed.
"""

from __future__ import annotations

import dataclasses
import time

from healthd.checks.base import Result, Status
from healthd.checks.celery import matches_worker
from healthd.store import client as redis_client
from healthd.store import keys
from healthd.store.reads import read_one
from healthd.store.results import StoredResult
from healthd.util.logs import get_logger
from healthd.util.outages import REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.tasks")

DEADLINE = 60.0  # seconds a worker may take from its warm shutdown to ready again
REPLACING_NOTE = " (being replaced: "  # after a verdict kept from the run before


def mark(hostname: str) -> None:
    """This worker is about to be replaced (best effort: a failure is logged). Marks past
    their deadline (a worker that never came back, under a name no pod uses any more)
    are removed meanwhile, so the hash holds only replacements under way."""
    try:
        client = redis_client.writer()
        key = keys().workers_replacing
        client.hset(key, hostname, str(time.time() + DEADLINE))
        expired = [name for name, until in client.hgetall(key).items()
                   if not _live(until, time.time())]
        if expired:
            client.hdel(key, *expired)
    except (redis_client.StoreNotConfigured, ValueError, *REDIS_ERRORS) as exc:
        logger.warning("could not note that worker %s is being replaced: %s", hostname,
                       redact(exc))


def _live(until: bytes | str, now: float) -> bool:
    try:
        return float(until) > now
    except ValueError:
        return False


def unmark(hostname: str) -> None:
    """This worker is up again (its fresh process is ready)."""
    try:
        redis_client.writer().hdel(keys().workers_replacing, hostname)
    except (redis_client.StoreNotConfigured, ValueError, *REDIS_ERRORS) as exc:
        logger.warning("could not note that worker %s is back: %s", hostname, redact(exc))


def being_replaced() -> list[str]:
    """The workers whose replacement is under way (deadline not passed)."""
    raw = redis_client.reader().hgetall(keys().workers_replacing)
    now = time.time()
    found = []
    for name, until in raw.items():
        if _live(until, now):
            found.append(name.decode() if isinstance(name, bytes) else str(name))
    return sorted(found)


def excuse(results: list[Result]) -> list[Result]:
    """``results`` with a celery check's "not answering", when every worker it misses is
    being replaced, read as the verdict the check had before: passing (saying so) when
    it passed or never ran, else what it was (the minimum of workers and the queues
    cannot be judged while a worker is away, and a replacement must not turn a failing
    check green for a few seconds either). Reads Redis only for such a failure."""
    out = []
    for result in results:
        failing_workers = result.status is Status.FAILING and result.unit == "workers"
        missing = result.details.get("missing") if failing_workers else None
        if missing and isinstance(missing, list):
            try:
                replacing = being_replaced()
            except (redis_client.StoreNotConfigured, ValueError, *REDIS_ERRORS):
                replacing = []
            covered = [m for m in missing if any(matches_worker(m, h) for h in replacing)]
            if replacing and len(covered) == len(missing):
                # The check's stored result is still the run before this one's.
                result = _as_before(result, covered, read_one(result.name))
        out.append(result)
    return out


def _as_before(result: Result, covered: list[str], previous: StoredResult | None) -> Result:
    details = {**result.details, "replacing": covered}
    names = ", ".join(covered)
    if previous is None or previous.status is Status.PASSING:
        return dataclasses.replace(
            result, status=Status.PASSING, details=details,
            message=f"{result.value or 0} worker(s) answered; being replaced: {names}")
    before = previous.message.partition(REPLACING_NOTE)[0]
    return dataclasses.replace(result, status=previous.status, details=details,
                               message=f"{before}{REPLACING_NOTE}{names})")
