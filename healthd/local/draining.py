"""Whether this web process has been told to stop and is draining.

A process drains when :func:`begin` is called in it, or when the process it was forked
from (gunicorn's arbiter) raises the shared flag: one byte of anonymous shared memory,
mapped when this module is first imported. gunicorn's arbiter imports it with the
site's gunicorn config, before it forks its workers, so the flag it raises on SIGTERM
is seen at once by every worker, including one forked during the drain; no signal has to
reach a worker between its fork and the moment it installs a handler. The same memory
carries the drain window a worker read from the settings, so the arbiter, which never
loads Django's settings, waits for the length the site configured.
"""

from __future__ import annotations

import mmap
import struct
import time

from healthd import conf
from healthd.conf.defaults import DEFAULTS

_draining_since: float | None = None
# Byte 0: the shared drain flag; byte 1: 1 once a worker wrote the drain window, in
# seconds (a double) in bytes 8-16. MAP_SHARED and anonymous: what a fork inherits stays shared.
_shared = mmap.mmap(-1, 16)
_WINDOW = struct.Struct("d")


def begin() -> None:
    """Mark this process as draining: ``/readyz`` answers 503 from now on, and so does
    every process forked from it that still shares the flag."""
    global _draining_since
    if _draining_since is None:
        _draining_since = time.monotonic()
    _shared[0] = 1


def is_draining() -> bool:
    """True once :func:`begin` was called in this process or in the one it was forked from."""
    return _draining_since is not None or _shared[0] == 1


def drain_seconds() -> float:
    """``HEALTHD["DRAIN_SECONDS"]``: how long ``/readyz`` answers 503 before the server stops."""
    return max(0.0, float(conf.get().drain_seconds))


def share_window() -> None:
    """Write this process's drain window where the process it was forked from reads it
    (a gunicorn worker, after loading the site's settings, for its arbiter)."""
    _shared[8:16] = _WINDOW.pack(drain_seconds())
    _shared[1] = 1


def shared_window() -> float:
    """The drain window a forked process shared, else the default (the arbiter's view)."""
    if _shared[1] != 1:
        return float(DEFAULTS["DRAIN_SECONDS"])
    (seconds,) = _WINDOW.unpack(_shared[8:16])
    return float(seconds)


def reset() -> None:
    """Not draining any more (tests, and a process that forks a fresh server)."""
    global _draining_since
    _draining_since = None
    _shared[0] = 0
