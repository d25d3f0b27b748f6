"""The transition counters the record script keeps per check, read for /metrics."""

from __future__ import annotations

from healthd.store import client as redis_client
from healthd.store.keyspace import keys


def transition_counts() -> dict[str, int]:
    """How many times each check changed state, as the record script counted."""
    raw = redis_client.reader().hgetall(keys().transitions)
    return {str(name): int(value) for name, value in raw.items()}
