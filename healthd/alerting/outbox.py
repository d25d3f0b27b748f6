"""The outbox: what is to be told about transitions, delivered at least once.

The record script (``healthd/store/record.lua``) decides a transition and appends it to
the stream ``<prefix>outbox`` in the same atomic step, so no crash can fall between the
two. Each entry has the fields:

- ``id``: the transition id (the id of the result that caused it), or
  ``<transition id>-reminder-<n>`` for a reminder; receivers deduplicate on it;
- ``kind``: ``transition`` or ``reminder``;
- ``check``, ``previous``, ``status``; ``silenced`` (``1`` while a silence covers it);
- ``suppressed_by``: the dependency whose failure holds it back ('' when none);
- ``transition`` (the transition a reminder is about), ``reminder`` (its number, or 0);
- ``result``: the result that caused it, as JSON (already redacted).

Delivery reads the stream through the consumer group ``delivery``: each run on any
worker first claims (``XAUTOCLAIM``) the entries another consumer has left idle for
more than ``OUTBOX_VISIBILITY_TIMEOUT`` seconds without acknowledging them, then reads
the new ones (``XREADGROUP >``). While a consumer delivers, a :class:`Lease` renews its
claim (``XCLAIM … JUSTID``) every third of that timeout, so a slow receiver in a live
worker is not delivered twice, and only a consumer that died lets its entries go idle.
Each step of a delivery is marked done in ``<prefix>outbox-progress`` as it completes,
so an entry taken again repeats only what was not done; the entry is acknowledged (and
its marks dropped) when every step is.
After each batch the stream is trimmed (``XTRIM MINID``) below the oldest entry not
yet acknowledged; ``XADD … MAXLEN OUTBOX_MAXLEN`` caps it even if nothing is ever
delivered.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import redis

from healthd import conf
from healthd.checks.base import Result
from healthd.store import Keys, Transition, keys
from healthd.store import client as redis_client
from healthd.util.logs import get_logger
from healthd.util.outages import REDIS_ERRORS
from healthd.util.redact import redact
from healthd.util.redis_connect import Client

logger = get_logger("healthd.outbox")

GROUP = Keys.outbox_group
# The steps of one delivery, each marked done as it completes.
STEPS = ("signals", "sentry", "row", "notify")
# A consumer (a worker process) with nothing pending, idle this long, is forgotten.
FORGET_CONSUMERS_AFTER_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Entry:
    """One thing to tell: a transition, or a reminder of a failure still going on."""

    stream_id: str
    id: str
    kind: str
    check: str
    previous: str
    status: str
    silenced: bool
    transition_id: str
    reminder: int
    result: Result
    suppressed_by: str = ""

    @property
    def is_reminder(self) -> bool:
        return self.kind == "reminder"

    @property
    def transition(self) -> Transition:
        return Transition(self.check, self.previous, self.status, self.result)

    @classmethod
    def from_stream(cls, stream_id: str, fields: dict[str, str]) -> Entry:
        return cls(
            stream_id=stream_id,
            id=fields["id"],
            kind=fields.get("kind", "transition"),
            check=fields["check"],
            previous=fields.get("previous", "unknown"),
            status=fields["status"],
            silenced=fields.get("silenced") == "1",
            transition_id=fields.get("transition") or fields["id"],
            reminder=int(fields.get("reminder") or 0),
            result=Result.from_dict(json.loads(fields["result"])),
            suppressed_by=fields.get("suppressed_by", ""),
        )


def consumer_name() -> str:
    """This process's name in the consumer group."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _ensure_group(client: Client) -> None:
    try:
        # From the start of the stream: entries appended before the group existed count.
        client.xgroup_create(keys().outbox, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _parse(raw: list[tuple[str, dict[str, str] | None]]) -> list[Entry]:
    entries = []
    for stream_id, fields in raw:
        if not fields:
            continue
        try:
            entries.append(Entry.from_stream(stream_id, fields))
        except (KeyError, ValueError, TypeError) as exc:
            logger.error("outbox entry %s cannot be read, set aside: %s", stream_id, redact(exc))
            acknowledge_id(stream_id)
    return entries


def visibility_timeout() -> float:
    """Seconds an entry may sit unrenewed with a consumer before another takes it."""
    return float(conf.get().outbox_visibility_timeout)


# Where this process's next XAUTOCLAIM resumes, per (stream, group). One call looks at
# no more than 10 times COUNT pending entries (Redis's bound): started from 0-0 every time, a
# scan never got past the first thousand or so live entries to one abandoned behind them.
# Following the cursor Redis returns (0-0 once the scan has reached the end) reaches every
# pending entry within a few runs, at no extra round trip. Kept in the process: each
# worker walks the list on its own, and a fresh process starts from the beginning.
_claim_cursors: dict[tuple[str, str], str] = {}


def take(consumer: str | None = None, count: int = 100) -> list[Entry]:
    """Entries abandoned by a consumer that died, then new ones; at most ``count`` of each."""
    client = redis_client.writer()
    consumer = consumer or consumer_name()
    key = keys().outbox
    idle_ms = int(visibility_timeout() * 1000)
    cursor = _claim_cursors.get((key, GROUP), "0-0")
    try:
        reply = client.xautoclaim(key, GROUP, consumer, idle_ms, cursor, count=count)
    except redis.ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        _ensure_group(client)
        reply = ["0-0", [], []]
    _claim_cursors[(key, GROUP)] = reply[0] or "0-0"
    claimed, deleted = reply[1], (reply[2] if len(reply) > 2 else [])
    if deleted:
        # Trimmed away by MAXLEN before anyone delivered them: say so, forget them.
        logger.error("outbox: %d undelivered entries were trimmed (OUTBOX_MAXLEN): %s",
                     len(deleted), ", ".join(deleted[:10]))
        client.hdel(keys().outbox_progress,
                    *[f"{i}:{step}" for i in deleted for step in STEPS])
    entries = _parse(claimed)
    if entries:
        logger.warning("outbox: took again %d entries a worker did not finish: %s",
                       len(entries), ", ".join(e.id for e in entries))
    fresh: Any = client.xreadgroup(GROUP, consumer, {key: ">"}, count=count)
    for _stream, raw in fresh or []:
        entries.extend(_parse(raw))
    return entries


class Lease:
    """Keeps the entries a live consumer is delivering its own: a thread renews the claim
    on them every third of the visibility timeout until each is released (or the block
    ends). A consumer that dies renews nothing, and its entries go to the next run."""

    def __init__(self, entries: Iterable[Entry], consumer: str | None = None):
        self.consumer = consumer or consumer_name()
        self._ids = {entry.stream_id for entry in entries}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._every = max(0.05, visibility_timeout() / 3)
        self._thread = threading.Thread(target=self._renew, name="healthd:outbox-lease",
                                        daemon=True)

    def release(self, entry: Entry) -> None:
        with self._lock:
            self._ids.discard(entry.stream_id)

    def __enter__(self) -> Lease:
        if self._ids:
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _renew(self) -> None:
        client = redis_client.writer()
        key = keys().outbox
        while not self._stop.wait(self._every):
            with self._lock:
                ids: list[Any] = sorted(self._ids)
            if not ids:
                continue
            try:
                client.xclaim(key, GROUP, self.consumer, 0, ids, justid=True)
            except REDIS_ERRORS as exc:  # the next renewal may do better
                logger.warning("outbox: could not renew the claim on %s: %s", ids, redact(exc))


def done_steps(entry: Entry) -> set[str]:
    """The steps of this entry's delivery already done (by this or an earlier consumer)."""
    marks = redis_client.writer().hmget(keys().outbox_progress,
                                        [f"{entry.stream_id}:{step}" for step in STEPS])
    return {step for step, mark in zip(STEPS, marks, strict=True) if mark}


def mark_done(entry: Entry, step: str) -> None:
    redis_client.writer().hset(keys().outbox_progress, f"{entry.stream_id}:{step}", "1")


def acknowledge(entry: Entry) -> None:
    """The entry is delivered: nobody takes it again."""
    acknowledge_id(entry.stream_id)


def acknowledge_id(stream_id: str) -> None:
    pipe = redis_client.writer().pipeline(transaction=True)
    pipe.xack(keys().outbox, GROUP, stream_id)
    pipe.hdel(keys().outbox_progress, *[f"{stream_id}:{step}" for step in STEPS])
    pipe.execute()


def _id_tuple(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def trim() -> int:
    """Drop the entries every consumer is done with; returns how many went.

    Below the oldest entry still pending, and up to the group's last delivered entry,
    everything is acknowledged, so nothing undelivered is ever trimmed here.
    """
    client = redis_client.writer()
    key = keys().outbox
    try:
        groups = {g["name"]: g for g in client.xinfo_groups(key)}
    except redis.ResponseError:
        return 0  # no stream yet
    group = groups.get(GROUP)
    if group is None:
        return 0
    ms, seq = _id_tuple(str(group["last-delivered-id"]))
    if (ms, seq) == (0, 0):
        return 0
    bound = f"{ms}-{seq + 1}"  # just past the last delivered entry
    pending = client.xpending(key, GROUP)
    if pending["pending"] and pending["min"]:
        bound = min(str(pending["min"]), bound, key=_id_tuple)
    for consumer in client.xinfo_consumers(key, GROUP):
        if not consumer["pending"] and consumer["idle"] > FORGET_CONSUMERS_AFTER_MS:
            client.xgroup_delconsumer(key, GROUP, consumer["name"])
    return int(client.xtrim(key, minid=bound, approximate=False))


def stats() -> dict[str, Any]:
    """The stream's length, entries pending and consumers (for operators and tests)."""
    client = redis_client.writer()
    key = keys().outbox
    try:
        length = client.xlen(key)
        pending = client.xpending(key, GROUP)
    except redis.ResponseError:
        return {"length": 0, "pending": 0, "consumers": []}
    return {"length": length, "pending": pending["pending"],
            "consumers": [c["name"] for c in pending["consumers"]]}
