"""The check contract: what a check is, what it returns, and what a result records.

This module knows nothing of Redis or Celery, and of Django only the settings (through
:mod:`healthd.conf`), so that it can be reasoned about (and tested) on its own.
"""

from __future__ import annotations

import enum
import socket
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from healthd import conf


class Status(enum.StrEnum):
    PASSING = "passing"
    WARNING = "warning"
    FAILING = "failing"
    # Worked out when a result is read, never stored by a run.
    STALE = "stale"
    UNKNOWN = "unknown"

    @property
    def is_failure(self) -> bool:
        return self in (Status.FAILING, Status.STALE, Status.UNKNOWN)


class CheckWarning(Exception):
    """Raise from a check to report a warning rather than a failure."""


@dataclass(frozen=True)
class Observation:
    """What a check may return to say more than "it passed".

    ``status`` may be ``passing``, ``warning`` or ``failing``; ``value`` and ``unit``
    are an observed measurement (``12.5`` / ``"ms"``, ``2`` / ``"workers"``).
    """

    message: str = "ok"
    status: Status = Status.PASSING
    value: float | int | None = None
    unit: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One named check: a callable plus how and how often to run it."""

    name: str
    func: Callable[[], Any]
    timeout: float = 10.0
    critical: bool = True
    interval: float = 30.0
    failures_before_failing: int = 1
    successes_before_passing: int = 1
    stale_after: float | None = None
    description: str = ""
    # A failure of this scheduled check makes every web process unready (/readyz 503);
    # off by default, since every pod would fail together (see healthd.probes.answers).
    readiness: bool = False
    # Checks this one needs: while one of them fails, this one's transitions are recorded
    # but told to nobody (see healthd.checks.dependencies).
    depends_on: tuple[str, ...] = ()

    @property
    def effective_stale_after(self) -> float:
        """How old a result may get before it counts as failing: by default
        STALE_AFTER_INTERVALS intervals plus the check's own timeout, so a run that takes
        its whole timeout is still fresh (as the registry reckons it)."""
        if self.stale_after is not None:
            return self.stale_after
        return self.interval * float(conf.get().stale_after_intervals) + self.timeout


HOSTNAME = socket.gethostname()


@dataclass
class Result:
    """The outcome of one run of one check."""

    name: str
    status: Status
    message: str
    checked_at: float
    duration: float
    value: float | int | None = None
    unit: str | None = None
    host: str = HOSTNAME
    critical: bool = True
    details: dict[str, Any] = field(default_factory=dict)
    # Tells a replay of this result (a retried write) from another result.
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["status"] = Status(kwargs["status"])
        return cls(**kwargs)
