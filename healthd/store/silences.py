"""The silences in Redis: the mirror of the database's rows that the record script judges
each result by, and showing them in the latest records before the next run.

Which silence covers a check, and when, is the record script's decision alone
(``record.lua``): :func:`show_silences` asks it too, rather than deciding again here.
"""

from __future__ import annotations

import json
import time
from typing import Any

from healthd.store import client as redis_client
from healthd.store.keyspace import keys
from healthd.store.script import leading_args, record_script, script_keys


def replace_silences(silences: dict[str, dict[str, Any]]) -> None:
    """Make the stored silences exactly these ({id: {"checks", "starts_at", "ends_at"}})."""
    pipe = redis_client.writer().pipeline(transaction=True)
    pipe.delete(keys().silences)
    if silences:
        pipe.hset(keys().silences,
                  mapping={key: json.dumps(value) for key, value in silences.items()})
    pipe.execute()


def put_silence(key: str, silence: dict[str, Any]) -> None:
    """Store one silence ({"checks", "starts_at", "ends_at"}) under its id."""
    redis_client.writer().hset(keys().silences, key, json.dumps(silence))


def drop_silence(key: str) -> None:
    """Forget one silence by its id (and each window of a repeating one)."""
    put_silence_windows(key, {})


def put_silence_windows(key: str, windows: dict[str, dict[str, Any]]) -> None:
    """Make the stored windows of silence ``key`` exactly these: the fields ``key`` and
    ``key@…`` (a repeating silence has a field per window) are replaced."""
    writer = redis_client.writer()
    stale = [field for field in writer.hkeys(keys().silences)
             if (field.decode() if isinstance(field, bytes) else field).split("@")[0] == key]
    pipe = writer.pipeline(transaction=True)
    if stale:
        pipe.hdel(keys().silences, *stale)
    if windows:
        pipe.hset(keys().silences,
                  mapping={field: json.dumps(value) for field, value in windows.items()})
    pipe.execute()


def show_silences() -> int:
    """Write the stored silences into every check's latest record at once, so the views
    say "silenced" without waiting for the next run; returns how many records changed.

    Only ``silence`` (the window covering the check now, or the next one) changes; whether
    a result was taken while silenced (and what is told) stays the business of each run.
    One atomic call of the record script, so no run's write is lost meanwhile.
    """
    reply = record_script()(keys=script_keys(), args=leading_args(show_at=time.time()))
    return int(reply[0])
