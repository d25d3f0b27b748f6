"""A result as the latest hash stores it: encoded once when a run writes it, decoded once
(and redacted) when a view reads it."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from healthd.checks.base import Result, Status
from healthd.util.redact import redact, redact_deep

RESULT_FIELDS = dataclasses.fields(Result)


@dataclass(frozen=True)
class Part:
    """One thing a check probed (a database or cache alias, a Redis target), as its run
    recorded it in its details: whether it answered, how fast, or what went wrong."""

    label: str
    ok: bool
    error: str | None = None
    latency_ms: float | None = None
    # Whatever else the check recorded for it (e.g. migrations' "unapplied").
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredResult:
    """One check's latest stored result, decoded once when it is read.

    Its message and details are redacted on the way in, so whatever wrote the record, no
    reader can carry a secret out of it.
    """

    name: str
    status: Status  # as the run reported it
    state: Status | None  # after hysteresis (None in a record written before it existed)
    since: float | None  # when ``state`` began
    checked_at: float
    duration: float | None
    message: str
    value: float | None
    unit: str | None
    critical: bool
    host: str
    details: dict[str, Any]
    # The details entries that say whether they are ok: one per alias or target probed.
    parts: tuple[Part, ...] = ()
    # The Celery check's details: the workers that answered, and those expected but silent.
    workers: tuple[str, ...] = ()
    missing_workers: tuple[str, ...] = ()
    # What a WATCHMAN_CHECKS callable returned on its last run (a dict), if anything.
    watchman: dict[str, Any] | None = None
    # Hysteresis bookkeeping: runs in the current state, and the state a change waits on.
    streak: int = 0
    pending: str | None = None
    pending_count: int = 0
    # The silence window [from, until] covering (or next covering) the check, if any.
    silence: tuple[float, float] | None = None

    @property
    def current(self) -> Status:
        """The check's state after hysteresis (its last status for an older record)."""
        return self.state or self.status

    @property
    def produced_at(self) -> float:
        """When the result was produced: its start plus its duration. Staleness counts from
        here, so a check that takes seconds (the celery ping) is not old on arrival."""
        return self.checked_at + (self.duration or 0.0)


def as_json(result: Result) -> str:
    """The result as stored: ``Result.to_dict()`` as JSON, without its deep copy (which
    costs more than the rest of a run's write when there are a thousand checks)."""
    data = {f.name: getattr(result, f.name) for f in RESULT_FIELDS}
    data["status"] = str(result.status)
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:  # an infinity or a NaN somewhere: rare, so looked for only then
        return json.dumps(_finite(data), allow_nan=False)


def _finite(value: Any) -> Any:
    """JSON has no infinity or NaN: an observed value that is one is stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def decode(name: str, stored: str | bytes) -> StoredResult | None:
    """One stored record as a :class:`StoredResult`; None when it cannot be understood
    (then the check reads as never run, rather than failing every view that shows it)."""
    try:
        data = json.loads(stored)
        if not isinstance(data, dict):
            return None
        details = redact_deep(data.get("details") or {})
        if not isinstance(details, dict):
            details = {}
        state = data.get("state")
        return StoredResult(
            name=name,
            status=Status(data.get("status", "failing")),
            state=Status(state) if state else None,
            since=_number(data.get("since")),
            checked_at=float(data.get("checked_at", 0)),
            duration=_number(data.get("duration")),
            message=redact(data.get("message", "")),
            value=_number(data.get("value")),
            unit=data.get("unit"),
            critical=bool(data.get("critical", True)),
            host=str(data.get("host", "")),
            details=details,
            parts=_parts(details),
            workers=_names(details.get("workers")),
            missing_workers=_names(details.get("missing")),
            watchman=details["watchman"] if isinstance(details.get("watchman"), dict) else None,
            streak=int(data.get("streak") or 0),
            pending=data.get("pending"),
            pending_count=int(data.get("pending_count") or 0),
            silence=_window(data.get("silence")),
        )
    except (ValueError, TypeError):
        return None


def _window(value: Any) -> tuple[float, float] | None:
    """A stored silence window [from, until], or None when there is none (or it is garbled)."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    start, end = _number(value[0]), _number(value[1])
    if start is None or end is None:
        return None
    return (float(start), float(end))


def _number(value: Any) -> float | None:
    """A stored number as it was (an int stays an int), or None when it is not one."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _parts(details: dict[str, Any]) -> tuple[Part, ...]:
    parts = []
    for label, info in details.items():
        if not (isinstance(info, dict) and "ok" in info):
            continue
        error = info.get("error")
        parts.append(Part(
            label=str(label),
            ok=bool(info["ok"]),
            error=str(error) if error else None,
            latency_ms=_number(info.get("latency_ms")),
            extra={k: v for k, v in info.items() if k not in ("ok", "error", "latency_ms")},
        ))
    return tuple(parts)


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()
