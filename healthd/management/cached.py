"""What the commands that read cached state (``status``, ``watchman``) see of each check.

An operator's command must not answer from a copy another caller left in this process,
so the per-process copies are dropped before reading. This is the one place the
commands read :mod:`healthd.state`; they work from :class:`CachedCheck` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from healthd import state
from healthd import stats as stats_store
from healthd.checks.base import Status


@dataclass(frozen=True)
class CachedCheck:
    """One check as its latest stored result left it, judged now (stale counts as failing)."""

    name: str
    status: str
    ok: bool
    # A result recent enough to believe: its per-part details mean something.
    fresh: bool
    critical: bool
    message: str
    age: float | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def counts_against(self) -> bool:
        """True when this check makes the site unhealthy (critical and not passing)."""
        return self.critical and Status(self.status).is_failure


@dataclass(frozen=True)
class CachedHealth:
    checks: list[CachedCheck]
    # Why nothing could be read (the store is down), else None.
    error: str | None


def read_checks(names: list[str] | None = None) -> CachedHealth:
    """The latest state of the configured checks (or those named), freshly read."""
    state.forget()
    health = state.health(names)
    checks = []
    for check in health.checks:
        record = check.record or {}
        fresh = check.record is not None and check.status not in (Status.STALE, Status.UNKNOWN)
        details = record.get("details")
        checks.append(CachedCheck(
            name=check.name,
            status=str(check.status),
            ok=check.ok,
            fresh=fresh,
            critical=check.check.critical,
            message=check.message,
            age=check.age,
            details=details if isinstance(details, dict) else {},
        ))
    return CachedHealth(checks, health.error)


def read_stats() -> stats_store.StatsSnapshot:
    """The gathered stats, freshly read (``data`` None when never gathered; ``error`` when
    the store cannot be read)."""
    stats_store.forget()
    return stats_store.latest_stats()
