"""Make a transition visible: Django signals and a Sentry event, once per transition.

A receiver that raises is logged and does not stop the other receivers; Sentry is
used only when sentry-sdk has been initialised with a DSN, and an event carries the
check's (already redacted) message, never a settings value. Both are steps of the
outbox's delivery (``healthd.tasks.deliver``), which gives each transition its id.

A check's own exception or timeout during a run is logged by ``healthd.runner``, a
logger sentry-sdk's LoggingIntegration is told to ignore (:func:`keep_runs_out_of_sentry`,
called when the app starts): a failing check makes one Sentry event per transition,
never one per run.
"""

from __future__ import annotations

import sentry_sdk
from django.dispatch import Signal
from sentry_sdk.integrations.logging import ignore_logger

from healthd import conf, signals
from healthd.store import Transition
from healthd.util.logs import get_logger
from healthd.util.redact import redact

logger = get_logger("healthd.alerts")

# Loggers whose errors are not news for Sentry by themselves: a check's failed run
# (news only as a transition) and Apprise's account of one failed notification attempt
# (kept on the Delivery row; healthd logs the final failure itself).
QUIET_LOGGERS = ("healthd.runner", "apprise")


def keep_runs_out_of_sentry() -> None:
    """Tell sentry-sdk's logging integration to make no event of a check's failed run."""
    for name in QUIET_LOGGERS:
        ignore_logger(name)


def _send(signal: Signal, transition: Transition, transition_id: str, silenced: bool,
          suppressed_by: str) -> None:
    replies = signal.send_robust(
        sender=Transition, check=transition.name, previous=transition.previous,
        result=transition.result, transition_id=transition_id, silenced=silenced,
        suppressed_by=suppressed_by,
    )
    for receiver, reply in replies:
        if isinstance(reply, Exception):
            logger.error(
                "receiver %s of a healthd signal raised %s: %s",
                getattr(receiver, "__qualname__", receiver), type(reply).__name__, redact(reply),
            )


def send_signals(transition: Transition, transition_id: str = "",
                 silenced: bool = False, suppressed_by: str = "") -> None:
    """``check_changed``, then ``check_failed`` or ``check_recovered``, for one transition
    (``suppressed_by``: the failing dependency that holds its notifications back, or '')."""
    held = f" (suppressed: {suppressed_by} failing)" if suppressed_by else ""
    logger.warning("check %s: %s -> %s%s%s: %s", transition.name, transition.previous,
                   transition.current, " (silenced)" if silenced else "", held,
                   redact(transition.result.message))
    _send(signals.check_changed, transition, transition_id, silenced, suppressed_by)
    if transition.current == "failing":
        _send(signals.check_failed, transition, transition_id, silenced, suppressed_by)
    elif transition.previous == "failing":
        _send(signals.check_recovered, transition, transition_id, silenced, suppressed_by)


def _sentry(transition: Transition, transition_id: str) -> None:
    client = sentry_sdk.get_client()
    if not client.is_active() or not client.dsn:
        return
    failing = transition.current == "failing"
    kind = "failed" if failing else ("recovered" if transition.previous == "failing" else "changed")
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("healthd.check", transition.name)
        scope.set_tag("healthd.transition", kind)
        scope.fingerprint = ["healthd", transition.name]
        scope.set_context("healthd", {
            "check": transition.name, "previous": transition.previous,
            "status": transition.current, "host": transition.result.host,
            "duration": transition.result.duration, "transition_id": transition_id,
        })
        sentry_sdk.capture_message(
            f"healthd: {transition.name} is {transition.current}: "
            f"{redact(transition.result.message)}",
            level="error" if failing else "info",
        )


def sentry_event(transition: Transition, transition_id: str = "") -> None:
    """One Sentry event for one transition (when HEALTHD["SENTRY"] and a DSN); never raises."""
    if not conf.get().sentry:
        return
    try:
        _sentry(transition, transition_id)
    except Exception as exc:  # broad: sentry-sdk is not ours; whatever it raises, delivery goes on
        logger.error("could not send the Sentry event: %s", redact(exc))


def announce(transition: Transition, transition_id: str = "", silenced: bool = False) -> None:
    """Send the signals and, unless silenced, the Sentry event for one transition."""
    send_signals(transition, transition_id, silenced)
    if not silenced:
        sentry_event(transition, transition_id)
