"""The gathered stats in Redis, and this process's copy of them for the views."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from healthd import conf, store
from healthd.store import client as redis_client
from healthd.store.client import StoreNotConfigured
from healthd.util.logs import get_logger
from healthd.util.memo import FreshFor
from healthd.util.outages import REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.stats")


def store_stats(data: dict[str, Any]) -> None:
    """Keep the gathered stats in Redis (the writer client: a few quick retries)."""
    redis_client.writer().set(store.keys().stats, json.dumps(data, default=str))


def read_stats() -> dict[str, Any] | None:
    """The stored stats, or None when none were gathered yet; raises when Redis fails."""
    raw = redis_client.reader().get(store.keys().stats)
    if raw is None:
        return None
    data = json.loads(raw)
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class StatsSnapshot:
    """The stored stats as a view sees them, or why they cannot be seen."""

    data: dict[str, Any] | None
    error: str | None = None

    @property
    def age(self) -> float | None:
        if not self.data:
            return None
        return max(0.0, time.time() - float(self.data.get("gathered_at", 0)))

    @property
    def stale(self) -> bool:
        config = conf.get()
        limit = float(config.stats_interval) * config.stale_after_intervals
        return self.age is None or self.age > limit


def _read_snapshot() -> StatsSnapshot:
    try:
        return StatsSnapshot(read_stats())
    except (StoreNotConfigured, ValueError, *REDIS_ERRORS) as exc:  # ValueError: not JSON
        logger.warning("could not read the stats: %s", redact(exc))
        return StatsSnapshot(None, f"result store unavailable: {type(exc).__name__}")


# Forgotten on a setting change: it was read under the old settings (store, prefix,
# freshness period).
_latest = FreshFor(_read_snapshot)


def latest_stats() -> StatsSnapshot:
    """The stored stats, from Redis at most once per CACHE_SECONDS; failures are returned."""
    return _latest.get()


def forget() -> None:
    """Drop this process's copy of the stats (tests, and after the settings change)."""
    _latest.forget()
