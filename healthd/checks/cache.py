"""``cache``: set, get and delete a unique key in every alias of CACHES."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from django.core.cache import caches

from healthd.checks.base import Observation
from healthd.checks.probe import probe_each


def _round_trip(alias: str) -> None:
    key = f"healthd-check-{uuid.uuid4().hex}"
    value = uuid.uuid4().hex
    cache = caches[alias]
    cache.set(key, value, 30)
    got = cache.get(key)
    cache.delete(key)
    if got != value:
        raise ValueError("value read back differs from the value written")


def make(aliases: Sequence[str] | None = None) -> Callable[[], Observation]:
    def check_caches() -> Observation:
        from django.conf import settings

        return probe_each(
            ((alias, lambda a=alias: _round_trip(a)) for alias in aliases or list(settings.CACHES)),
            "cache(s) answered",
        )

    return check_caches
