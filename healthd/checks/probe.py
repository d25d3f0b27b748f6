"""One round trip to each of several targets (database aliases, caches, Redis servers),
timed, with a failure naming its target: the shape the per-backend checks share."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from healthd.checks.base import Observation, Status
from healthd.checks.legacy import message_text
from healthd.util.logs import get_logger
from healthd.util.redact import redact

# The runner's logger: a failing check is news for Sentry as a transition, not every run.
logger = get_logger("healthd.runner")


def as_names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """A check option naming targets, as a tuple: settings give lists, and one bare name
    must not be read as its letters."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def probe_each(targets: Iterable[tuple[str, Callable[[], object]]], answered: str,
               extra: dict[str, dict] | None = None,
               message_id: Callable[[Exception], str] | None = None) -> Observation:
    """Run each probe; pass with the worst latency, or fail naming every target that failed.

    ``answered`` completes the passing message ("3 database(s) answered"); ``extra`` adds
    fields (already safe to show) to a target's details. With ``message_id``, a failure
    also lists its targets' errors under the id that function gives each exception, in
    ``details["messages"]``, in dockerflow's words (the heartbeat shows them as
    dockerflow's messages): one target's alone, as dockerflow's single connection read,
    several each after its name.
    """
    details: dict[str, dict] = {}
    messages: dict[str, list[tuple[str, str]]] = {}
    worst = 0.0
    for label, probe in targets:
        started = time.perf_counter()
        try:
            probe()
        except Exception as exc:  # broad: a site's cache backend or driver may raise anything
            # The class is kept apart too: watchman showed the message alone.
            details[label] = {"ok": False, "error": redact(f"{type(exc).__name__}: {exc}"),
                              "exception": type(exc).__name__}
            logger.warning("%s did not answer: %s", label, details[label]["error"])
            if message_id is not None:
                key = message_id(exc)
                messages.setdefault(key, []).append((label, message_text(key, exc)))
        else:
            latency = (time.perf_counter() - started) * 1000
            worst = max(worst, latency)
            details[label] = {"ok": True, "latency_ms": round(latency, 2)}
        details[label].update((extra or {}).get(label, {}))
    failed = [label for label, d in details.items() if not d["ok"]]
    if failed:
        message = "; ".join(f"{label}: {details[label]['error']}" for label in failed)
        if messages:
            details["messages"] = {
                key: texts[0][1] if len(texts) == 1 else "; ".join(
                    f"{label}: {text}" for label, text in texts)
                for key, texts in messages.items()}
        return Observation(message, Status.FAILING, details=details)
    return Observation(f"{len(details)} {answered}", value=round(worst, 2), unit="ms",
                       details=details)
