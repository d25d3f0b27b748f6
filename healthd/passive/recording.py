"""Recording what a passive check's report or the sweep decided: its bookkeeping and its
result, in one optimistic transaction, then what follows (history, delivery, a timer).

What lateness needs lives in one Redis hash per check, ``<prefix>passive:<name>``:
its ``definition`` (a :class:`~healthd.checks.passive.Passive` as JSON, with
``critical``), ``first_seen``, ``last_success``, ``last_report``, ``last_status``,
``last_message``, ``started_at`` (a run that began and has not finished), ``late_at``
(the last "late" recorded), ``usual`` and ``runs`` (the usual duration of a run, for
``slow_after="3x"``) and ``armed_for`` (the deadline a one-shot sweep is queued for).
The set ``<prefix>passive-checks`` names every check that has such a hash.

A report and the sweep each read the hash, decide and write it together with the result
in one optimistic transaction (``WATCH`` on the hash): a success that arrives while the
sweep decides makes the sweep start over, so a job that reported in on time is never
recorded late after its success, and a success is never dropped as older than a "late".
Each result goes through the same path as every check's (:func:`healthd.store.queue_record`:
state, hysteresis, silences, the outbox).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import current_app
from redis.exceptions import WatchError

from healthd import conf, store
from healthd.alerting import silences
from healthd.checks.base import Check, Result, Status
from healthd.checks.passive import Passive
from healthd.history import write as history
from healthd.passive.declarations import definition_of
from healthd.passive.lateness import deadline, number
from healthd.store import client as redis_client
from healthd.util.logs import get_logger
from healthd.util.outages import BROKER_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.passive")

SWEEP_TASK = "healthd.tasks.sweep_passive"
DELIVER_TASK = "healthd.tasks.deliver_outbox"
ATTEMPTS = 20


def sweep_interval() -> float:
    return float(conf.get().passive_sweep_interval)


@dataclass
class Decision:
    """What a transaction writes: hash fields to set and to delete, and maybe a result."""

    fields: dict[str, str]
    drop: tuple[str, ...] = ()
    result: Result | None = None
    arm_at: float | None = None


Decide = Callable[[dict[str, str], float], Decision | None]


def commit(check: Check, decide: Decide, records: bool = True
           ) -> tuple[Decision | None, list[store.StateChange]]:
    """Read the check's hash, ``decide``, and write the decision and its result in one
    transaction, started over whenever the hash changed meanwhile. ``records``: the
    decision may carry a result (then the state the database remembers is looked up
    first, for a check Redis has never seen, as a run does)."""
    client = redis_client.writer()
    layout = store.keys()
    key = layout.passive_check(check.name)
    known: dict[str, str] = {}
    if records:
        silences.sync()  # the record script judges each result by the silences in Redis
        known = history.known_states(store.unseen([check.name]))
    for _ in range(ATTEMPTS):
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                info: dict[str, str] = pipe.hgetall(key)  # type: ignore[assignment]
                decision = decide(info, time.time())
                if decision is None:
                    pipe.unwatch()
                    return None, []
                pipe.multi()
                pipe.hset(key, mapping=decision.fields)  # type: ignore[arg-type]
                if decision.drop:
                    pipe.hdel(key, *decision.drop)
                pipe.sadd(layout.passive_names, check.name)
                if decision.result is not None:
                    store.queue_record(pipe, [decision.result], [check], known)
                replies = pipe.execute(raise_on_error=False)
            except WatchError:
                continue
        changes = (store.state_changes([decision.result], replies[-1:])
                   if decision.result is not None else [])
        return decision, changes
    raise RuntimeError(f"could not record a report of {check.name}: too many writers")


def after_record(check: Check, decision: Decision | None,
                 changes: list[store.StateChange]) -> None:
    """The history, the outbox's delivery and the next one-shot sweep, as a run's."""
    if decision is None:
        return
    if decision.result is not None:
        # What is news, the record script decided (as it does for a run).
        history.save([decision.result], [c for c in changes if c.news])
        reminders = bool(conf.get().remind_every)
        if changes or (reminders and decision.result.status == Status.FAILING):
            queue_task(DELIVER_TASK, expires=60)
    if decision.arm_at is not None:
        countdown = max(0.0, decision.arm_at - time.time()) + 0.05
        queue_task(SWEEP_TASK, kwargs={"names": [check.name], "armed_for": decision.arm_at},
                   countdown=countdown, expires=countdown + sweep_interval())


def queue_task(name: str, **options: Any) -> bool:
    """Queue one of healthd's tasks by name; False when this process has no broker (a web
    process without the site's Celery app) or it is away: the scheduled runs catch up."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.conf.broker_url:
        return False
    try:
        app.send_task(name, retry=False, **options)
        return True
    except BROKER_ERRORS as exc:
        logger.warning("could not queue %s: %s", name, redact(exc))
        return False


def arm(passive: Passive, info: dict[str, str], now: float) -> float | None:
    """The deadline to queue a one-shot sweep for (rounded to the millisecond, as it is
    kept in ``armed_for``): when it comes before the next scheduled sweep and no sweep
    still to come is queued for it or sooner (that one queues the next when it runs)."""
    due = deadline(passive, info)
    if due is None or due - now > sweep_interval():
        return None
    due = round(due, 3)
    armed = number(info.get("armed_for"))
    if armed is not None and now < armed <= due:
        return None
    return due


def base_fields(check: Check, info: dict[str, str], now: float) -> dict[str, str]:
    """The fields every decision writes: the definition, and when the check was first seen."""
    fields = {"definition": definition_of(check)}
    if not info.get("first_seen"):
        fields["first_seen"] = repr(now)
    return fields
