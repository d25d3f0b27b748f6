"""The lateness sweep: a passive check whose success did not arrive in time is recorded
failing ("late: …"), through the same transaction as a report
(:mod:`healthd.passive.recording`), so a success that arrives meanwhile wins."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable

from healthd import store
from healthd.checks.base import Check, Result, Status
from healthd.checks.passive import required_passive
from healthd.passive.declarations import (
    check_from_hash,
    definition_of,
    forget,
    known_names,
    source_of,
)
from healthd.passive.lateness import deadline, late_message, number
from healthd.passive.recording import (
    Decision,
    after_record,
    arm,
    base_fields,
    commit,
    sweep_interval,
)
from healthd.store import client as redis_client
from healthd.store.client import StoreNotConfigured
from healthd.util.logs import get_logger
from healthd.util.outages import DATABASE_ERRORS, REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.passive")


def sweep(names: Iterable[str] | None = None, armed_for: float | None = None) -> list[str]:
    """Record a failing "late" result for each passive check (these, or all) whose
    success did not arrive in time; return their names.

    A late check is recorded again each sweep interval, as a failing check is each run,
    so reminders and staleness work as for any check. A check due before the next
    scheduled sweep gets a one-shot sweep queued for its deadline; ``armed_for`` is the
    deadline such a one-shot sweep was queued for: only the latest one queued for a check
    queues the next, so they never multiply.
    """
    client = redis_client.writer()
    layout = store.keys()
    wanted = sorted(known_names() if names is None else set(names))
    pipe = client.pipeline(transaction=False)
    for name in wanted:
        pipe.hgetall(layout.passive_check(name))
    infos: list[dict[str, str]] = pipe.execute()
    now = time.time()
    late = []
    for name, info in zip(wanted, infos, strict=True):
        check = check_from_hash(name, info)
        if check is None:
            if source_of(info.get("definition")) == "settings":
                forget(name)  # its declaration was removed from the settings
            continue
        passive = required_passive(check)
        if not info.get("first_seen"):
            # Declared but never heard of: late once a period and grace pass from now.
            commit(check, functools.partial(_decide_first_seen, check), records=False)
            continue
        due = deadline(passive, info)
        if due is not None and now >= due:
            try:
                decision, changes = commit(check, functools.partial(_decide_late, check))
            except (StoreNotConfigured, *REDIS_ERRORS, *DATABASE_ERRORS) as exc:
                logger.error("could not record %s late: %s", name, redact(exc))
                continue
            after_record(check, decision, changes)
            if decision is not None and decision.result is not None:
                late.append(name)
        else:
            if armed_for is not None and number(info.get("armed_for")) == armed_for:
                info = {**info, "armed_for": ""}  # this one-shot sweep is it: it has run
            due_at = arm(passive, info, now)
            if due_at is not None:
                client.hset(layout.passive_check(name), "armed_for", repr(due_at))
                after_record(check, Decision({}, arm_at=due_at), [])
    return late


def _decide_first_seen(check: Check, info: dict[str, str], now: float) -> Decision:
    return Decision(base_fields(check, info, now))


def _decide_late(check: Check, info: dict[str, str], now: float) -> Decision | None:
    passive = required_passive(check)
    due = deadline(passive, info)
    if due is None or now < due:
        return None  # a report arrived meanwhile
    late_at = number(info.get("late_at"))
    if late_at is not None and late_at >= due and now - late_at < min(passive.window,
                                                                     sweep_interval()):
        return None  # recorded late a moment ago
    last_success = number(info.get("last_success"))
    result = Result(
        check.name, Status.FAILING, late_message(passive, info, now), now, 0.0,
        critical=check.critical,
        details={"passive": passive.as_details(), "last_success": last_success, "late": True},
    )
    return Decision({"late_at": repr(now), "definition": definition_of(check)}, result=result)
