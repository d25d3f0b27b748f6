"""Make a transition visible: Django signals and a Sentry event, once per transition.

A receiver that raises is logged and does not stop the other receivers; Sentry is
used only when sentry-sdk has been initialised with a DSN, and an event carries the
check's (already redacted) message, never a settings value.
"""

from __future__ import annotations

import logging

from healthd import conf, signals
from healthd.redact import redact
from healthd.store import StateChange

logger = logging.getLogger("healthd.alerts")


def _send(signal, transition: StateChange) -> None:
    replies = signal.send_robust(
        sender=StateChange, check=transition.name, previous=transition.previous,
        result=transition.result,
    )
    for receiver, reply in replies:
        if isinstance(reply, Exception):
            logger.error(
                "receiver %s of a healthd signal raised %s: %s",
                getattr(receiver, "__qualname__", receiver), type(reply).__name__, redact(reply),
            )


def _sentry(transition: StateChange) -> None:
    try:
        import sentry_sdk
    except ImportError:  # pragma: no cover - sentry-sdk is a dependency
        return
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
            "duration": transition.result.duration,
        })
        sentry_sdk.capture_message(
            f"healthd: {transition.name} is {transition.current}: "
            f"{redact(transition.result.message)}",
            level="error" if failing else "info",
        )


def announce(transition: StateChange) -> None:
    """Send the signals and the Sentry event for one transition."""
    logger.warning("check %s: %s -> %s: %s", transition.name, transition.previous,
                   transition.current, redact(transition.result.message))
    _send(signals.check_changed, transition)
    if transition.current == "failing":
        _send(signals.check_failed, transition)
    elif transition.previous == "failing":
        _send(signals.check_recovered, transition)
    if conf.get().sentry:
        try:
            _sentry(transition)
        except Exception as exc:
            logger.error("could not send the Sentry event: %s", redact(exc))
