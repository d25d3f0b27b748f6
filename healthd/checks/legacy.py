"""The replaced packages' checks: their dotted paths, and their call signatures adapted.

dockerflow's checks have Django's system-check signature; watchman's take a request and
return a dict. Both run on the schedule here, where there is no request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.checks import ERROR, WARNING

from healthd.checks.base import Observation, Status

# The replaced packages' dotted paths, so their settings carry over unchanged.
LEGACY_PATHS: dict[str, str] = {
    "dockerflow.django.checks.check_database_connected": "database",
    "dockerflow.django.checks.check_migrations_applied": "migrations",
    "dockerflow.django.checks.check_redis_connected": "redis",
    "watchman.checks.databases": "database",
    "watchman.checks.caches": "cache",
    "watchman.checks.email": "email",
    "watchman.checks.storage": "storage",
}


@dataclass(frozen=True)
class DockerflowCheck:
    """A DOCKERFLOW_CHECKS function: ERROR and above fails, WARNING warns."""

    func: Callable[..., Any]

    def run(self) -> Observation:
        """Call it as Django's system checks would (no app configs), and grade its messages."""
        messages = self.func(None) or []
        worst = max((m.level for m in messages), default=0)
        text = "; ".join(f"{m.id or m.level}: {m.msg}" for m in messages) or "ok"
        details = {"messages": {str(m.id or m.level): str(m.msg) for m in messages},
                   "level": worst}
        if worst >= ERROR:
            return Observation(text, Status.FAILING, details=details)
        if worst >= WARNING:
            return Observation(text, Status.WARNING, details=details)
        return Observation(text, details=details)


def _oks(value: Any) -> Iterable[bool]:
    """Every ``ok`` flag in a watchman answer, however deeply nested."""
    if isinstance(value, dict):
        if "ok" in value:
            yield bool(value["ok"])
        for inner in value.values():
            yield from _oks(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _oks(inner)


@dataclass(frozen=True)
class WatchmanCheck:
    """A WATCHMAN_CHECKS function, run on the schedule with no request."""

    func: Callable[..., Any]

    def run(self) -> Observation:
        """Pass when every ``ok`` in its answer is true; the answer goes in the details."""
        data = self.func(None) or {}
        ok = all(_oks(data))
        return Observation("ok" if ok else "not ok", Status.PASSING if ok else Status.FAILING,
                           details={"watchman": data})
