"""``migrations``: unapplied migrations on each database (a warning by default)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from healthd.checks.base import Observation, Status


def make(
    aliases: Sequence[str] | None = None, level: str | None = None
) -> Callable[[], Observation]:
    def check_migrations() -> Observation:
        from healthd import conf

        status = Status(level or conf.get().migrations_level)
        details: dict[str, dict] = {}
        pending_total = 0
        for alias in aliases or list(connections):
            executor = MigrationExecutor(connections[alias])
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            pending = [f"{m.app_label}.{m.name}" for m, _backwards in plan]
            pending_total += len(pending)
            details[alias] = {"ok": not pending, "unapplied": pending[:20]}
        if pending_total:
            return Observation(
                f"{pending_total} unapplied migration(s)",
                status, pending_total, "migrations", details,
            )
        return Observation("all migrations applied", value=0, unit="migrations", details=details)

    return check_migrations
