"""``migrations``: unapplied migrations on each database (a warning by default)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from healthd import conf
from healthd.checks.base import Observation, Status
from healthd.checks.probe import as_names


@dataclass(frozen=True)
class Migrations:
    """Unapplied migrations on each alias (every alias in DATABASES when none are named).

    ``level`` is the status they give (``warning``, ``failing``); None reads
    ``HEALTHD["MIGRATIONS_LEVEL"]`` at run time.
    """

    aliases: tuple[str, ...] = ()
    level: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "aliases", as_names(self.aliases))

    def run(self) -> Observation:
        """Count the migrations each alias still lacks, listing the first twenty per alias."""
        status = Status(self.level or conf.get().migrations_level)
        details: dict[str, dict] = {}
        pending_total = 0
        for alias in self.aliases or tuple(connections):
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
