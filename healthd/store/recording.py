"""Recording a run's results: one call of the record script (``record.lua``) per run,
whatever the number of checks, which also decides the transitions.

When several workers finish at the same moment each transition is reported exactly once,
a result older than the stored one is ignored rather than moving state backwards, and
what is to be told is appended to the outbox in the same atomic step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from healthd.checks import dependencies
from healthd.checks.base import Check, Result
from healthd.store.results import as_json
from healthd.store.script import leading_args, record_script, script_keys
from healthd.util.logs import get_logger
from healthd.util.redact import redact

logger = get_logger("healthd.store")


@dataclass(frozen=True)
class StateChange:
    """A change of a check's state after hysteresis, seen by exactly one writer."""

    name: str
    previous: str
    current: str
    result: Result
    # Worth announcing, as the record script decided (a first passing result is not news).
    news: bool = True


# The old name. It stays because the change signals are sent with this class as their
# sender, and a site's receiver may be connected with ``sender=healthd.store.Transition``.
Transition = StateChange


@dataclass(frozen=True)
class Recorded:
    """What writing a run's results to Redis found, besides the results themselves."""

    transitions: list[StateChange] = field(default_factory=list)
    # Results left unwritten: Redis has no state for their check and none was given (after
    # a flush or a restart). Ask the database, then record them with what it knows.
    unseen: list[Result] = field(default_factory=list)
    backlog: int = 0  # runs parked in Redis while the database was away
    outbox_waiting: bool = False  # the outbox holds something to deliver

    @property
    def news(self) -> list[StateChange]:
        """The transitions worth announcing (the record script decided which)."""
        return [t for t in self.transitions if t.news]

    def then(self, later: Recorded) -> Recorded:
        """This write followed by ``later`` (which recorded what this one left unseen)."""
        return Recorded(self.transitions + later.transitions, later.unseen, later.backlog,
                        self.outbox_waiting or later.outbox_waiting)


def record(results: list[Result], checks: list[Check],
           known_states: dict[str, str] | None = None) -> list[StateChange]:
    """Store results and return the transitions they caused (each seen by one writer only).

    What is to be told about them is appended to the outbox in the same step (see
    ``record.lua``), so a worker that dies right after cannot lose it.
    """
    return record_run(results, checks, known_states).transitions


def record_run(results: list[Result], checks: list[Check],
               known_states: dict[str, str] | None = None,
               silences: dict[str, dict[str, Any]] | None = None,
               defer_unseen: bool = False) -> Recorded:
    """Store a run's results in one call of the record script (one round trip).

    ``silences`` ({id: {"checks", "starts_at", "ends_at"}}), when given, replace the
    stored ones in the same atomic step, before the results are judged by them. With
    ``defer_unseen`` a result of a check Redis has no state for (and ``known_states`` does
    not name) is left for the caller, who may ask the database for its state only then.
    Also answers whether the history backlog or the outbox has anything waiting, so a
    run that finds both empty needs no further round trip for them.
    """
    if not results and silences is None:
        return Recorded()
    results = dependencies.in_order(results, checks)
    args = _args(results, checks, known_states, silences, defer_unseen)
    return _recorded(results, record_script()(keys=script_keys(), args=args))


def queue_record(pipe: Any, results: list[Result], checks: list[Check],
                 known_states: dict[str, str] | None = None) -> None:
    """Queue the record script for these results on ``pipe``, a pipeline of the writer
    client: for a caller whose writes must go in one transaction with its own (a passive
    check's report, in :mod:`healthd.passive`). Read its reply with :func:`state_changes`.
    """
    args = _args(results, checks, known_states, None, False)  # one passive check's result
    record_script()(keys=script_keys(), args=args, client=pipe)


def state_changes(results: list[Result], replies: list[Any]) -> list[StateChange]:
    """The transitions in the reply of :func:`queue_record` (``replies``: its one reply)."""
    (reply,) = replies
    if isinstance(reply, Exception):
        logger.error("could not store the results of %s: %s",
                     ", ".join(r.name for r in results), redact(reply))
        return []
    return _recorded(results, reply).transitions


def _args(results: list[Result], checks: list[Check], known_states: dict[str, str] | None,
          silences: dict[str, dict[str, Any]] | None, defer_unseen: bool) -> list[Any]:
    """The arguments of one call of the record script: six per result, dependencies first."""
    by_name = {c.name: c for c in checks}
    args = leading_args(silences, defer_unseen=defer_unseen)
    known = known_states or {}
    for result in results:
        check = by_name.get(result.name)
        args += [result.name, as_json(result),
                 check.failures_before_failing if check else 1,
                 check.successes_before_passing if check else 1,
                 known.get(result.name, ""),
                 ",".join(check.depends_on) if check else ""]
    return args


def _recorded(results: list[Result], reply: list[Any]) -> Recorded:
    backlog, waiting, *replies = reply
    transitions, unseen = [], []
    for result, (outcome, previous, current, news) in zip(results, replies, strict=True):
        if outcome == "error":  # one bad result must not cost the others
            logger.error("could not store the result of %s: %s", result.name, redact(previous))
        elif outcome == "unseen":
            unseen.append(result)
        elif outcome == "changed":
            transitions.append(StateChange(result.name, previous, current, result,
                                           news=news == "1"))
    return Recorded(transitions, unseen, int(backlog), bool(waiting))
