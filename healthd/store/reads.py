"""Reading the latest results: every one in a single round trip (``HGETALL``), with the
synchronous client or, for views served under ASGI, the asyncio one. A failure to read
is an answer (a :class:`Snapshot` with its error), never an exception."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from healthd.store import client as redis_client
from healthd.store.keyspace import keys
from healthd.store.latest import INTERVALS_FIELD, parse_intervals
from healthd.store.results import StoredResult, decode
from healthd.util.outages import REDIS_ERRORS


@dataclass(frozen=True)
class Snapshot:
    """Every check's latest result as read in one round trip, or why it could not be read."""

    records: dict[str, StoredResult] = field(default_factory=dict)
    fetched_at: float = 0.0
    error: str | None = None
    # Each check's real run interval in seconds, as its beat row says (see write_intervals).
    intervals: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def read_latest() -> Snapshot:
    """Every latest result in one HGETALL, decoded; a failure is returned, never raised."""
    now = time.time()
    try:
        raw = redis_client.reader().hgetall(keys().latest)
    except (redis_client.StoreNotConfigured, ValueError, *REDIS_ERRORS) as exc:
        return _unavailable(exc, now)
    return _snapshot_of(raw, now)


async def read_latest_async() -> Snapshot:
    """:func:`read_latest` with the asyncio client, for views served under ASGI."""
    now = time.time()
    try:
        raw = await redis_client.async_reader().hgetall(keys().latest)
    except (redis_client.StoreNotConfigured, ValueError, *REDIS_ERRORS) as exc:
        return _unavailable(exc, now)
    return _snapshot_of(raw, now)


def read_one(name: str) -> StoredResult | None:
    """One check's latest result (one HGET); None when it has none, or when it cannot be
    read (whoever asks goes on without it)."""
    try:
        stored = redis_client.reader().hget(keys().latest, name)
    except (redis_client.StoreNotConfigured, ValueError, *REDIS_ERRORS):
        return None
    return decode(name, stored) if stored is not None else None


def unseen(names: list[str]) -> list[str]:
    """The names that have no stored result yet (one round trip)."""
    if not names:
        return []
    stored = redis_client.writer().hmget(keys().latest, names)
    return [name for name, value in zip(names, stored, strict=True) if value is None]


def _unavailable(exc: Exception, now: float) -> Snapshot:
    return Snapshot(fetched_at=now, error=f"result store unavailable: {type(exc).__name__}")


def _snapshot_of(raw: dict[Any, Any], now: float) -> Snapshot:
    stored_intervals = raw.pop(INTERVALS_FIELD, None) or raw.pop(INTERVALS_FIELD.encode(), None)
    records = {}
    for name, value in raw.items():
        decoded = decode(str(name), value)
        if decoded is not None:
            records[str(name)] = decoded
    return Snapshot(records=records, fetched_at=now, intervals=parse_intervals(stored_intervals))
