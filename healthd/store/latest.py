"""What the latest hash holds besides a run's results: each check's real run interval, in
a field that is no check's, and the forgetting of checks no longer configured."""

from __future__ import annotations

import json

from healthd.store import client as redis_client
from healthd.store.keyspace import keys

# The field of the ``latest`` hash that holds each check's real run interval (a check
# name cannot hold a colon, so it is never a check's; the record script skips it too).
INTERVALS_FIELD = ":intervals"
# The fields of the web pods' results, which the instance watch records and forgets
# (healthd.local.watch): no setting configures them.
INSTANCE_FIELDS = "instance:"


def write_intervals(intervals: dict[str, float]) -> None:
    """Keep each check's real run interval (its beat row's, in seconds) beside the latest
    results, so staleness follows an operator's edit of the row and a view still reads
    everything in one round trip, with no SQL."""
    redis_client.writer().hset(keys().latest, INTERVALS_FIELD, json.dumps(intervals))


def parse_intervals(stored: str | bytes | None) -> dict[str, float]:
    """The intervals as :func:`write_intervals` stored them; {} when garbled or absent."""
    try:
        data = json.loads(stored) if stored else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(name): float(seconds) for name, seconds in data.items()
            if isinstance(seconds, int | float) and not isinstance(seconds, bool)
            and seconds > 0}


def forget_unconfigured(configured: set[str]) -> list[str]:
    """Drop the stored state of checks no longer configured; return their names (the web
    pods' results are the instance watch's to forget)."""
    client = redis_client.writer()
    gone = [str(name) for name in client.hkeys(keys().latest)
            if name not in configured and name != INTERVALS_FIELD
            and not str(name).startswith(INSTANCE_FIELDS)]
    if gone:
        client.hdel(keys().latest, *gone)
    return gone
