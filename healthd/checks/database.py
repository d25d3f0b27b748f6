"""``database``: one round trip to every alias in DATABASES, with its latency, and the
connection's own word that it is usable (as dockerflow's check asked it)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import connections

from healthd.checks.base import Observation
from healthd.checks.legacy import UnusableDatabase, database_message_id
from healthd.checks.probe import as_names, probe_each


def _select_one(alias: str) -> None:
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    if not connection.is_usable():
        raise UnusableDatabase("the connection reports itself unusable")


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
            message_id=database_message_id,
        )
