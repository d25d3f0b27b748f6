"""``migrations``: unapplied migrations on each database (a warning by default)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.checks import INFO
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from healthd import conf
from healthd.checks.base import Observation, Status
from healthd.checks.legacy import INFO_CANT_CHECK_MIGRATIONS, WARNING_UNAPPLIED_MIGRATION
from healthd.checks.probe import as_names
from healthd.util.redact import redact

# dockerflow's text for its Info dockerflow.health.I001.
CANT_CHECK_MIGRATIONS_TEXT = "Can't connect to database to check migrations"


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
        last = ""
        for alias in self.aliases or tuple(connections):
            try:
                executor = MigrationExecutor(connections[alias])
            except (ImproperlyConfigured, DatabaseError) as exc:
                # dockerflow's Info, which fails nothing: when the database cannot be read,
                # the database check fails and says why; pulling every node from a load
                # balancer for it as well would turn one outage into two.
                text = redact(f"cannot read the migration state of {alias}: "
                              f"{type(exc).__name__}: {exc}")
                return Observation(text, details={
                    "messages": {INFO_CANT_CHECK_MIGRATIONS: CANT_CHECK_MIGRATIONS_TEXT},
                    "level": INFO})
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            pending = [f"{m.app_label}.{m.name}" for m, _backwards in plan]
            pending_total += len(pending)
            last = pending[-1] if pending else last
            details[alias] = {"ok": not pending, "unapplied": pending[:20]}
        if pending_total:
            text = f"{pending_total} unapplied migration(s)"
            # dockerflow's message: one per migration under one id, so the last one shows
            details["messages"] = {WARNING_UNAPPLIED_MIGRATION: f"Unapplied migration {last}"}
            return Observation(text, status, pending_total, "migrations", details)
        return Observation("all migrations applied", value=0, unit="migrations", details=details)
