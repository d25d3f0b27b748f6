"""A passive check's reports: a run began, or it finished (well, badly, or slowly).

Each is recorded through :mod:`healthd.passive.recording` (the check's bookkeeping and
its result in one transaction); a report never raises: the job goes on regardless.
"""

from __future__ import annotations

from typing import Any

from healthd.checks.base import Check, Result, Status
from healthd.checks.passive import Passive, required_passive
from healthd.passive.declarations import resolve
from healthd.passive.lateness import number
from healthd.passive.recording import Decision, after_record, arm, base_fields, commit
from healthd.util.logs import get_logger
from healthd.util.redact import redact

logger = get_logger("healthd.passive")

# How much of a failure's message the late message repeats.
MESSAGE_KEPT = 500


def report_start(check: Check) -> bool:
    """A run of a passive check began: its duration is measured from now, and if it does
    not finish within ``grace`` it is late. False when it could not be recorded; never
    raises: the job goes on regardless."""
    try:
        check = resolve(check)
        passive = required_passive(check)

        def decide(info: dict[str, str], now: float) -> Decision:
            fields = {**base_fields(check, info, now), "started_at": repr(now)}
            due = arm(passive, {**info, **fields}, now)
            if due is not None:
                fields["armed_for"] = repr(due)
            return Decision(fields, arm_at=due)

        after_record(check, *commit(check, decide, records=False))
        return True
    except Exception as exc:  # broad: a report must never change the site's own job
        logger.error("could not record that %s started: %s", check.name, redact(exc))
        return False


def report_finish(check: Check, ok: bool, message: str = "", duration: float | None = None,
                  details: dict[str, Any] | None = None) -> Result | None:
    """A run of a passive check finished, well or not, and took ``duration`` seconds (None:
    since its reported start, if any). Recorded as its result; returned, or None when it
    could not be recorded. Never raises."""
    try:
        check = resolve(check)
        passive = required_passive(check)

        def decide(info: dict[str, str], now: float) -> Decision:
            took = duration
            started = number(info.get("started_at"))
            if took is None:
                took = now - started if started is not None and now >= started else 0.0
            status, text = _judge(passive, info, ok, message, took)
            fields = {**base_fields(check, info, now), "last_report": repr(now),
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
            due = arm(passive, after, now)
            if due is not None:
                fields["armed_for"] = repr(due)
            return Decision(fields, drop=("started_at",), result=result, arm_at=due)

        decision, changes = commit(check, decide)
        after_record(check, decision, changes)
        return decision.result if decision else None
    except Exception as exc:  # broad: a report must never change the site's own job
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
