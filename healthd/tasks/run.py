"""One run: the checks, then Redis (state and outbox), then the announcements, then the
database.

What a run costs does not grow with the number of checks: they run on a bounded pool
of threads, Redis is written in one round trip (:func:`healthd.store.record_run`, which
also says whether the outbox or the history backlog needs a look), and the database
in a handful of bulk statements (:func:`healthd.history.write.save`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from healthd import store
from healthd.alerting import silences
from healthd.alerting.crons import checked_in
from healthd.checks import registry
from healthd.checks.base import Check, Result
from healthd.checks.runner import run_concurrently
from healthd.history import write as history
from healthd.store import client as redis_client
from healthd.store.client import StoreNotConfigured
from healthd.tasks import replacing
from healthd.tasks.deliver import deliver_outbox
from healthd.util.logs import get_logger
from healthd.util.outages import REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.tasks")


@dataclass
class RunSummary:
    results: list[Result]
    transitions: list[store.StateChange] = field(default_factory=list)
    stored: bool = False
    saved: bool = False


def claim_run(names: list[str] | None, once_per: float) -> bool:
    """Take the run lock for these checks for half a period; True if this run may go ahead.

    When Redis cannot be asked the run goes ahead: two runs beat none.
    """
    try:
        return bool(redis_client.writer().set(
            store.keys().run_lock(names), "1", nx=True, px=max(100, int(once_per * 500)),
        ))
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:
        logger.warning("could not take the run lock, running anyway: %s", redact(exc))
        return True


def run_and_record(names: list[str] | None = None, once_per: float | None = None) -> RunSummary:
    """Run checks, write Redis (state, transitions) and the database (history)."""
    try:
        checks = registry.checks_named(names)
    except KeyError as exc:
        # A schedule row naming a check that has since been removed: run the rest.
        known = {c.name for c in registry.configured_checks()}
        logger.warning("%s", exc)
        checks = registry.checks_named([n for n in (names or []) if n in known])
    with checked_in(checks, once_per):
        results = replacing.excuse(run_concurrently(checks))
    summary = RunSummary(results)
    recorded = _record(results, checks)
    if recorded is not None:
        summary.stored = True
        summary.transitions = recorded.news  # the record script decided what is news
    # Redis appended them to the outbox with the state: delivered (with whatever a dead
    # worker left there) before the history is written, so a slow database delays no one.
    if recorded is None or recorded.outbox_waiting:
        deliver_outbox()
    summary.saved = history.save(results, summary.transitions,
                                 backlog=None if recorded is None else recorded.backlog)
    return summary


def _record(results: list[Result], checks: list[Check]) -> store.Recorded | None:
    """Write the results and the silences to Redis in one round trip; None if it failed.

    Redis first, and the database only for checks Redis has never seen (after a flush or
    a restart): a database that hangs must not hold up the state.
    """
    mirror = silences.windows()  # the record script judges each result by these
    try:
        recorded = store.record_run(results, checks, silences=mirror, defer_unseen=True)
        if recorded.unseen:
            known = history.known_states([r.name for r in recorded.unseen])
            recorded = recorded.then(store.record_run(recorded.unseen, checks, known))
        return recorded
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:
        logger.error("could not write results to Redis: %s", redact(exc))
        return None
