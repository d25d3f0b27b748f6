"""What the commands that read cached state (``status``, ``watchman``) read, freshly.

An operator's command must not answer from a copy another caller left in this process,
so the per-process copies are dropped before reading. How each dialect reads the state
is :mod:`healthd.compat`, shared with the views.
"""

from __future__ import annotations

from healthd.compat.status import stats as stats_store
from healthd.store import health as state


def read_health(names: list[str] | None = None) -> state.Health:
    """The latest state of the configured checks (or those named), freshly read."""
    state.forget()
    return state.health(names)


def read_stats() -> stats_store.StatsSnapshot:
    """The gathered stats, freshly read (``data`` None when never gathered; ``error`` when
    the store cannot be read)."""
    stats_store.forget()
    return stats_store.latest_stats()
