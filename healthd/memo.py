"""A value read from the store at most once per ``CACHE_SECONDS`` in this process.

What lets a view cost about a trivial view: one Redis round trip per freshness period,
not per request. A failure is kept for the same period (the fetch returns it rather than
raising), so requests answer at once while the store is down. The copy is tied to the
store it came from: pointing healthd at another Redis or prefix starts afresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from healthd import conf

T = TypeVar("T")


class FreshFor(Generic[T]):
    """``fetch()``'s value, fetched again once it is older than CACHE_SECONDS or when the
    store's URL or key prefix changes. Whoever holds one forgets it on a settings change."""

    def __init__(self, fetch: Callable[[], T]):
        self._fetch = fetch
        self._lock = threading.Lock()
        # (the store it came from, the value), replaced as one so readers need no lock.
        self._held: tuple[tuple[Any, ...], T] | None = None
        self._expires = 0.0

    def get(self) -> T:
        config = conf.get()
        source = (config.redis_url, config.key_prefix)
        held = self._held
        if held is not None and held[0] == source and time.monotonic() < self._expires:
            return held[1]
        with self._lock:
            held = self._held
            if held is not None and held[0] == source and time.monotonic() < self._expires:
                return held[1]
            fetched_at = time.monotonic()  # before the read: freshness is never overstated
            value = self._fetch()
            self._held = (source, value)
            self._expires = fetched_at + config.cache_seconds
            return value

    def forget(self) -> None:
        with self._lock:
            self._held, self._expires = None, 0.0
