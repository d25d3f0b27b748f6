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
from typing import Generic, TypeVar

from healthd import conf

T = TypeVar("T")


class FreshFor(Generic[T]):
    def __init__(self, fetch: Callable[[], T]):
        self._fetch = fetch
        self._lock = threading.Lock()
        self._source: tuple | None = None
        self._value: T | None = None
        self._expires = 0.0

    def get(self) -> T:
        settings = conf.get()
        source = (settings.redis_url, settings.key_prefix)
        if self._source == source and time.monotonic() < self._expires:
            return self._value
        with self._lock:
            if self._source == source and time.monotonic() < self._expires:
                return self._value
            fetched_at = time.monotonic()  # before the read: freshness is never overstated
            value = self._fetch()
            self._value, self._source = value, source
            self._expires = fetched_at + settings.cache_seconds
            return value

    def forget(self) -> None:
        with self._lock:
            self._source, self._value, self._expires = None, None, 0.0
