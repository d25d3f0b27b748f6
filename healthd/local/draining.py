"""Whether this web process has been told to stop and is draining."""

from __future__ import annotations

import time

_draining_since: float | None = None


def begin() -> None:
    """Mark this process as draining: ``/readyz`` answers 503 from now on."""
    global _draining_since
    if _draining_since is None:
        _draining_since = time.monotonic()


def is_draining() -> bool:
    """True once :func:`begin` was called in this process."""
    return _draining_since is not None
