"""Values a process works out from the settings once, dropped when a setting changes.

Django sends ``setting_changed`` when a setting changes while the process runs
(``override_settings`` in tests). The one receiver here drops every value kept with
:func:`memoised` or :class:`Kept` and calls what :func:`on_setting_change` was given (an
``lru_cache``'s ``cache_clear``, a copy's ``forget``), so no cache holds a receiver of its
own and none is left out. A value worked out while a setting changed is not kept: it may
have read the old settings.

Meant for module-level caches: what is registered here lives as long as the process.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, cast

from django.core.signals import setting_changed
from django.dispatch import receiver

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Clearable = TypeVar("Clearable", bound="_HasCacheClear")

_lock = threading.Lock()
# How many setting changes this process has seen; a value is kept only when none
# happened while it was worked out.
_generation = 0
_kept: list[Kept[Any]] = []
_callbacks: list[Callable[[], None]] = []


class _HasCacheClear(Protocol):
    def cache_clear(self) -> None: ...


class Memoised(Protocol[T_co]):
    """A function without arguments whose value is kept until a setting changes."""

    def __call__(self) -> T_co: ...

    def cache_clear(self) -> None: ...


def generation() -> int:
    """The count of setting changes so far: take it before reading the settings, and give it
    to :meth:`Kept.keep` with what was worked out from them."""
    return _generation


class Kept(Generic[T]):
    """One value this process keeps until a setting changes (None: nothing kept)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: T | None = None
        with _lock:
            _kept.append(self)

    def keep(self, value: T, since: int) -> bool:
        """Keep ``value``, worked out from the settings as they were at ``since``
        (:func:`generation`), unless a setting changed since then; says whether it did."""
        with _lock:
            if since != _generation:
                return False
            self.value = value
            return True

    def clear(self) -> None:
        self.value = None


def memoised(compute: Callable[[], T]) -> Memoised[T]:
    """``compute()``'s value, worked out on the first call and kept until a setting changes.

    As cheap as ``functools.lru_cache`` on a hit (the heartbeat calls ``conf.get()`` on
    every request); ``cache_clear()`` drops it by hand."""
    kept: Kept[tuple[T]] = Kept()  # in a tuple, so that None can be kept too

    def get() -> T:
        held = kept.value
        if held is None:
            since = _generation
            held = (compute(),)
            kept.keep(held, since)
        return held[0]

    functools.update_wrapper(get, compute)
    get.cache_clear = kept.clear  # type: ignore[attr-defined]
    return cast(Memoised[T], get)


def on_setting_change(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (no arguments) on every setting change; returns it."""
    with _lock:
        _callbacks.append(callback)
    return callback


def clears_on_setting_change(cache: Clearable) -> Clearable:
    """Decorate an ``functools.lru_cache`` function (one keyed by its arguments) so that it
    is cleared on every setting change."""
    on_setting_change(cache.cache_clear)
    return cache


@receiver(setting_changed)
def _drop_everything(**kwargs: Any) -> None:
    """Any setting may matter: healthd's, a replaced package's, or Django's own (the
    URLconf, the middleware, the time zone, the databases)."""
    global _generation
    with _lock:
        _generation += 1
        for kept in _kept:
            kept.value = None
        callbacks = list(_callbacks)
    # Outside the lock: a callback may wait for a reader that is working out a value.
    for callback in callbacks:
        callback()
