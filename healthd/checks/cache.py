"""``cache``: set, get and delete a unique key in every alias of CACHES."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches

from healthd.checks.base import Observation
from healthd.checks.probe import as_names, probe_each


def _round_trip(alias: str) -> None:
    key = f"healthd-check-{uuid.uuid4().hex}"
    value = uuid.uuid4().hex
    cache = caches[alias]
    cache.set(key, value, 30)
    got = cache.get(key)
    cache.delete(key)
    if got != value:
        raise ValueError("value read back differs from the value written")


@dataclass(frozen=True)
class Cache:
    """A write, read and delete on each alias; no aliases means every alias in CACHES."""

    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "aliases", as_names(self.aliases))

    def run(self) -> Observation:
        """Pass with the slowest alias's latency; fail naming every alias that failed."""
        aliases = self.aliases or tuple(settings.CACHES)
        return probe_each(
            ((alias, functools.partial(_round_trip, alias)) for alias in aliases),
            "cache(s) answered",
        )
