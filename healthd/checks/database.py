"""``database``: one round trip to every alias in DATABASES, with its latency."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import connections

from healthd.checks.base import Observation
from healthd.checks.probe import as_names, probe_each


def _select_one(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


@dataclass(frozen=True)
class Database:
    """``SELECT 1`` on each alias; no aliases means every alias in DATABASES at run time."""

    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "aliases", as_names(self.aliases))

    def run(self) -> Observation:
        """Pass with the slowest alias's latency; fail naming every alias that did not answer."""
        aliases = self.aliases or tuple(connections)
        return probe_each(
            ((alias, functools.partial(_select_one, alias)) for alias in aliases),
            "database(s) answered",
        )
