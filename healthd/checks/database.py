"""``database``: one round trip to every alias in DATABASES, with its latency."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import connections

from healthd.checks.base import Observation
from healthd.checks.probe import probe_each


def _select_one(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def make(aliases: Sequence[str] | None = None) -> Callable[[], Observation]:
    def check_databases() -> Observation:
        return probe_each(
            ((alias, lambda a=alias: _select_one(a)) for alias in aliases or list(connections)),
            "database(s) answered",
        )

    return check_databases
