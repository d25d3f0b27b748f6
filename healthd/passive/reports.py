"""A passive check's reports (a run began, it succeeded, it failed) and the lateness sweep.

Each report and each "late" is recorded as a result through the same path as every
check's (:func:`healthd.store.queue_record`: state, hysteresis, silences, the outbox),
then written to the history, and the outbox's delivery is queued when there is news.

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
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import WatchError

from healthd import conf, store
from healthd.alerting import silences
from healthd.checks import registry
from healthd.checks.base import Check, Result, Status
from healthd.checks.passive import (
    Passive,
    check_for,
    is_passive,
    make_passive,
    passive_of,
    valid_name,
)
from healthd.history import write as history
from healthd.passive.lateness import deadline, late_message, number
from healthd.store import client as redis_client
from healthd.util.logs import get_logger
from healthd.util.redact import redact

logger = get_logger("healthd.passive")

SWEEP_TASK = "healthd.tasks.sweep_passive"
DELIVER_TASK = "healthd.tasks.deliver_outbox"
ATTEMPTS = 20
# How much of a failure's message the late message repeats.
MESSAGE_KEPT = 500


def keys() -> store.Keys:
    """The key layout under the configured prefix, read at call time."""
    return store.keys()


def sweep_interval() -> float:
    return float(conf.get().raw.get("PASSIVE_SWEEP_INTERVAL") or 60.0)


def declared() -> dict[str, Check]:
    """The passive checks ``HEALTHD["CHECKS"]`` declares, by name."""
    return {c.name: c for c in registry.configured_checks() if is_passive(c)}


def definition_of(check: Check) -> str:
    passive = passive_of(check)
    assert passive is not None
    return json.dumps({**passive.as_details(), "critical": check.critical})


def check_from_hash(name: str, info: dict[str, str]) -> Check | None:
    """The check a hash describes: as the settings declare it, else as its last report did."""
    known = declared().get(name)
    if known is not None:
        return known
    try:
        data = json.loads(info.get("definition") or "null")
    except ValueError:
        return None
    passive = Passive.from_details(data)
    if passive is None or passive.source == "settings":
        return None  # a declaration since removed from the settings
    return check_for(name, passive, bool(data.get("critical", False)))


def resolve(check: Check) -> Check:
    """The settings' declaration of a check wins over what a decorator or row says."""
    return declared().get(check.name, check)


# -- recording ---------------------------------------------------------------------------


@dataclass
class Decision:
    """What a transaction writes: hash fields to set and to delete, and maybe a result."""

    fields: dict[str, str]
    drop: tuple[str, ...] = ()
    result: Result | None = None
    arm_at: float | None = None


def _commit(check: Check, decide: Callable[[dict[str, str], float], Decision | None],
            records: bool = True) -> tuple[Decision | None, list[store.StateChange]]:
    """Read the check's hash, ``decide``, and write the decision and its result in one
    transaction, started over whenever the hash changed meanwhile. ``records``: the
    decision may carry a result (then the state the database remembers is looked up
    first, for a check Redis has never seen, as a run does)."""
    client = redis_client.writer()
    key, layout = keys().passive_check(check.name), keys()
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


def _after_record(check: Check, decision: Decision | None,
                  changes: list[store.StateChange]) -> None:
    """The history, the outbox's delivery and the next one-shot sweep, as a run's."""
    if decision is None:
        return
    if decision.result is not None:
        news = [c for c in changes if not (c.previous == "unknown" and c.current == "passing")]
        history.save([decision.result], news)
        reminders = bool(conf.get().raw.get("REMIND_EVERY"))
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
    except Exception as exc:
        logger.warning("could not queue %s: %s", name, redact(exc))
        return False


def _arm(passive: Passive, info: dict[str, str], now: float) -> float | None:
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


def _base_fields(check: Check, info: dict[str, str], now: float) -> dict[str, str]:
    fields = {"definition": definition_of(check)}
    if not info.get("first_seen"):
        fields["first_seen"] = repr(now)
    return fields


def report_start(check: Check) -> bool:
    """A run of a passive check began: its duration is measured from now, and if it does
    not finish within ``grace`` it is late. False when it could not be recorded; never
    raises: the job goes on regardless."""
    try:
        check = resolve(check)
        passive = passive_of(check)
        assert passive is not None

        def decide(info: dict[str, str], now: float) -> Decision:
            fields = {**_base_fields(check, info, now), "started_at": repr(now)}
            due = _arm(passive, {**info, **fields}, now)
            if due is not None:
                fields["armed_for"] = repr(due)
            return Decision(fields, arm_at=due)

        _after_record(check, *_commit(check, decide, records=False))
        return True
    except Exception as exc:
        logger.error("could not record that %s started: %s", check.name, redact(exc))
        return False


def report_finish(check: Check, ok: bool, message: str = "", duration: float | None = None,
                  details: dict[str, Any] | None = None) -> Result | None:
    """A run of a passive check finished, well or not, and took ``duration`` seconds (None:
    since its reported start, if any). Recorded as its result; returned, or None when it
    could not be recorded. Never raises."""
    try:
        check = resolve(check)
        passive = passive_of(check)
        assert passive is not None

        def decide(info: dict[str, str], now: float) -> Decision:
            took = duration
            started = number(info.get("started_at"))
            if took is None:
                took = now - started if started is not None and now >= started else 0.0
            status, text = _judge(passive, info, ok, message, took)
            fields = {**_base_fields(check, info, now), "last_report": repr(now),
                      "last_status": str(status), "last_message": text[:MESSAGE_KEPT]}
            if ok:
                fields["last_success"] = repr(now)
                runs = int(number(info.get("runs")) or 0)
                usual = number(info.get("usual"))
                # The usual run: a moving average that a single odd run barely moves.
                fields["usual"] = repr(took if usual is None else usual + (took - usual) / 8)
                fields["runs"] = str(runs + 1)
            last_success = fields.get("last_success") or info.get("last_success")
            result = Result(
                check.name, status, text, now, took, value=round(took, 3), unit="s",
                critical=check.critical,
                details={"passive": passive.as_details(),
                         "last_success": number(last_success), **(details or {})},
            )
            after = {**info, **fields}
            after.pop("started_at", None)
            due = _arm(passive, after, now)
            if due is not None:
                fields["armed_for"] = repr(due)
            return Decision(fields, drop=("started_at",), result=result, arm_at=due)

        decision, changes = _commit(check, decide)
        _after_record(check, decision, changes)
        return decision.result if decision else None
    except Exception as exc:
        logger.error("could not record a report of %s: %s", check.name, redact(exc))
        return None


def _judge(passive: Passive, info: dict[str, str], ok: bool, message: str, took: float
           ) -> tuple[Status, str]:
    """A run's status and message: failing with its message, or passing, or a warning
    when it ran far slower than ``slow_after`` allows."""
    if not ok:
        return Status.FAILING, _redacted(message or "the run failed", passive)
    limit = passive.slow_after
    usual = number(info.get("usual"))
    if passive.slow_factor is not None and usual is not None and int(
            number(info.get("runs")) or 0) >= 3:
        limit = max(usual * passive.slow_factor, 0.001)
    text = _redacted(message, passive) if message else f"succeeded in {_duration(took)}"
    if limit is not None and took > limit:
        return Status.WARNING, (f"slow: took {_duration(took)} (slow after {_duration(limit)}); "
                                f"{text}")
    return Status.PASSING, text


def _redacted(text: str, passive: Passive) -> str:
    """The site's secrets masked: every check's ping tokens among them (a job's output may
    print the command that pings)."""
    return redact(text)


def _duration(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


# -- the sweep ---------------------------------------------------------------------------


def known_names() -> set[str]:
    """Every passive check: declared in the settings, or known from its reports (one a
    declaration since removed from the settings is not)."""
    names = set(declared())
    client = redis_client.writer()
    reported = sorted(str(n) for n in client.smembers(keys().passive_names))
    pipe = client.pipeline(transaction=False)
    for name in reported:
        pipe.hget(keys().passive_check(name), "definition")
    for name, definition in zip(reported, pipe.execute(), strict=True):
        if source_of(definition) != "settings":
            names.add(name)
    return names


def source_of(definition: str | None) -> str | None:
    """Who declared a check, from the definition in its hash."""
    try:
        data = json.loads(definition or "null")
    except ValueError:
        return None
    return data.get("source") if isinstance(data, dict) else None


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
    wanted = sorted(known_names() if names is None else set(names))
    pipe = client.pipeline(transaction=False)
    for name in wanted:
        pipe.hgetall(keys().passive_check(name))
    infos: list[dict[str, str]] = pipe.execute()
    now = time.time()
    late = []
    for name, info in zip(wanted, infos, strict=True):
        check = check_from_hash(name, info)
        if check is None:
            if source_of(info.get("definition")) == "settings":
                forget(name)  # its declaration was removed from the settings
            continue
        passive = passive_of(check)
        assert passive is not None
        if not info.get("first_seen"):
            # Declared but never heard of: late once a period and grace pass from now.
            _commit(check, functools.partial(_decide_first_seen, check), records=False)
            continue
        due = deadline(passive, info)
        if due is not None and now >= due:
            try:
                decision, changes = _commit(check, functools.partial(_decide_late, check))
            except Exception as exc:
                logger.error("could not record %s late: %s", name, redact(exc))
                continue
            _after_record(check, decision, changes)
            if decision is not None and decision.result is not None:
                late.append(name)
        else:
            if armed_for is not None and number(info.get("armed_for")) == armed_for:
                info = {**info, "armed_for": ""}  # this one-shot sweep is it: it has run
            arm = _arm(passive, info, now)
            if arm is not None:
                client.hset(keys().passive_check(name), "armed_for", repr(arm))
                _after_record(check, Decision({}, arm_at=arm), [])
    return late


def _decide_first_seen(check: Check, info: dict[str, str], now: float) -> Decision:
    return Decision(_base_fields(check, info, now))


def _decide_late(check: Check, info: dict[str, str], now: float) -> Decision | None:
    passive = passive_of(check)
    assert passive is not None
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


def forget(name: str) -> bool:
    """Forget a passive check no longer wanted (its job is gone): its bookkeeping and its
    latest result. True when there was something to forget."""
    client = redis_client.writer()
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys().passive_check(name))
    pipe.srem(keys().passive_names, name)
    pipe.hdel(store.keys().latest, name)
    removed = pipe.execute()
    return any(removed)


def check_named(name: str) -> Check | None:
    """A passive check by name, as declared or as last reported; None if unknown."""
    known = declared().get(name)
    if known is not None:
        return known
    info: dict[str, str] = redis_client.writer().hgetall(keys().passive_check(name))  # type: ignore[assignment]
    return check_from_hash(name, info) if info else None


def monitor(name: str, every: Any, grace: Any = None, critical: bool = False,
            slow_after: Any = None, source: str = "task") -> Check:
    """The check a job declares in code; ImproperlyConfigured when it is malformed."""
    if not isinstance(critical, bool):
        raise ImproperlyConfigured(f"critical must be True or False, not {critical!r}")
    return check_for(valid_name(name), make_passive(every, grace, slow_after, source=source),
                     critical)
