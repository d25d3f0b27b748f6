"""A value read from the store at most once per ``CACHE_SECONDS`` in this process.

What lets a view cost about a trivial view: one Redis round trip per freshness period,
not per request. A failure is kept for the same period (the fetch returns it rather than
raising), so requests answer at once while the store is down. The copy is tied to the
store it came from: pointing healthd at another Redis or prefix starts afresh.

Under ASGI the same copy is fetched with the store's asyncio client when it is due
(:meth:`FreshFor.get_async`), so a coroutine never blocks its event loop on Redis.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from healthd import conf
from healthd.conf import per_process

T = TypeVar("T")


class FreshFor(Generic[T]):
    """``fetch()``'s value, fetched again once it is older than CACHE_SECONDS or when the
    store's URL or key prefix changes; forgotten on a setting change. Made once per process
    (a module's global): it lives as long as the process."""

    def __init__(self, fetch: Callable[[], T],
                 fetch_async: Callable[[], Awaitable[T]] | None = None):
        self._fetch = fetch
        self._fetch_async = fetch_async
        self._lock = threading.Lock()
        # One lock per event loop: an asyncio lock belongs to the loop it is first used in.
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary())
        # (the store it came from, the value), replaced as one so readers need no lock.
        self._held: tuple[tuple[Any, ...], T] | None = None
        self._expires = 0.0
        per_process.on_setting_change(self.forget)

    def _held_copy(self, source: tuple[Any, ...]) -> tuple[tuple[Any, ...], T] | None:
        """The held pair while it came from ``source`` and is fresh, else None."""
        held = self._held
        if held is not None and held[0] == source and time.monotonic() < self._expires:
            return held
        return None

    def _keep(self, source: tuple[Any, ...], value: T, fetched_at: float) -> None:
        self._held = (source, value)
        self._expires = fetched_at + conf.get().cache_seconds

    def get(self) -> T:
        config = conf.get()
        source = (config.redis_url, config.key_prefix)
        held = self._held_copy(source)
        if held is not None:
            return held[1]
        with self._lock:
            held = self._held_copy(source)
            if held is not None:
                return held[1]
            fetched_at = time.monotonic()  # before the read: freshness is never overstated
            value = self._fetch()
            self._keep(source, value, fetched_at)
            return value

    async def get_async(self) -> T:
        """:meth:`get` for a coroutine: the same copy, fetched with ``fetch_async`` when it
        is due (one fetch at a time per event loop), so the loop never blocks on the store."""
        if self._fetch_async is None:
            raise TypeError("this copy was made without an asynchronous fetch")
        config = conf.get()
        source = (config.redis_url, config.key_prefix)
        held = self._held_copy(source)
        if held is not None:
            return held[1]
        loop = asyncio.get_running_loop()
        lock = self._loop_locks.get(loop) or self._loop_locks.setdefault(loop, asyncio.Lock())
        async with lock:
            held = self._held_copy(source)
            if held is not None:
                return held[1]
            fetched_at = time.monotonic()
            value = await self._fetch_async()
            self._keep(source, value, fetched_at)
            return value

    def forget(self) -> None:
        with self._lock:
            self._held, self._expires = None, 0.0
