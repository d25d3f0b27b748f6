"""One incident, one page: the transitions decided close together reach a channel as one
notification.

The first event a channel is to be told opens a group for that channel, due
``GROUP_WAIT`` seconds later; the events that follow join it until it is flushed. Events
within ``GROUP_INTERVAL`` seconds of a flush open a follow-up, due at the end of that
interval. A group is sent (one :func:`healthd.tasks.deliver_notification` task, with its
retries) listing root causes first, then the dependents their failure held back
("database failing; 2 checks that depend on it suppressed"); a group holding only
suppressed transitions is not sent at all.

Its state lives in Redis, never in a process (keys in :class:`healthd.store.Keys`): a
worker killed while a group is open loses nothing. Opening a group queues a flush task
for when it is due; every run also flushes the groups due (the record script says when
one is), so a flush task lost with its worker is done by the next run anywhere. A
flusher takes a group with a lease (``OUTBOX_VISIBILITY_TIMEOUT``) and drops it once its
notification is queued: a flusher killed in between leaves it to be taken again —
at least once, under the same group id, which is the notification's ``Idempotency-Key``.
Joining is idempotent on the event id, so an outbox entry delivered twice is listed once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from redis.commands.core import Script

from healthd import conf
from healthd.store import client as redis_client
from healthd.store import keys
from healthd.util.redis_connect import Client

SEPARATOR = "\t"

# KEYS: groups, group-members, group-events, group-due, group-last.
# ARGV: channel, event id, event JSON, now, GROUP_WAIT, GROUP_INTERVAL, a new group's id.
# Returns {group id, due, 1 when this call opened it}.
_JOIN = """
local channel, event_id, event, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local wait, interval, new_id = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local open = redis.call('HGET', KEYS[1], channel)
local gid, due, opened = nil, nil, 0
if open then
  local state = cjson.decode(open)
  gid, due = state.id, tonumber(state.due)
else
  local last = tonumber(redis.call('HGET', KEYS[5], channel) or '0')
  local follow_up = now < last + interval
  if follow_up then due = last + interval else due = now + wait end
  gid = new_id
  opened = 1
  redis.call('HSET', KEYS[1], channel, cjson.encode({id = gid, due = due}))
  redis.call('ZADD', KEYS[4], due, gid .. '\\t' .. channel)
  redis.call('HSETNX', KEYS[2], gid .. '\\t' .. channel,
             cjson.encode({follow_up = follow_up, opened = now}) .. '\\n')
end
if redis.call('HSETNX', KEYS[3], gid .. '\\t' .. channel .. '\\t' .. event_id, event) == 1 then
  redis.call('HSET', KEYS[2], gid .. '\\t' .. channel,
             (redis.call('HGET', KEYS[2], gid .. '\\t' .. channel) or '\\n') .. event_id .. '\\n')
end
return {gid, tostring(due), opened}
"""

# KEYS: groups, group-due, group-last. ARGV: now, lease end, how many at most.
# Takes the groups due (closing each to new events) and leases them; returns their members.
_CLAIM = """
local now, lease, count = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, count)
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[2], lease, member)
  local gid, channel = string.match(member, '^([^\\t]*)\\t(.*)$')
  local open = redis.call('HGET', KEYS[1], channel)
  if open and cjson.decode(open).id == gid then
    redis.call('HDEL', KEYS[1], channel)
    redis.call('HSET', KEYS[3], channel, tostring(now))
  end
end
return due
"""


def enabled() -> bool:
    """Whether notifications are grouped (GROUP_WAIT above 0)."""
    return float(conf.get().group_wait or 0) > 0


def _script(source: str, client: Client) -> Script:
    return client.register_script(source)


@dataclass(frozen=True)
class Joined:
    group: str
    due: float
    opened: bool


def join(channel_id: str, event: dict[str, Any], now: float | None = None) -> Joined:
    """Add ``event`` to the open group of the channel (opening one when none is)."""
    settings = conf.get()
    layout = keys()
    client = redis_client.writer()
    now = time.time() if now is None else now
    gid, due, opened = _script(_JOIN, client)(
        keys=[layout.groups, layout.group_members, layout.group_events, layout.group_due,
              layout.group_last],
        args=[channel_id, event["id"], json.dumps(event, separators=(",", ":")), now,
              float(settings.group_wait), float(settings.group_interval),
              f"group-{event['id']}"])
    return Joined(str(gid), float(due), bool(int(opened)))


def claim_due(now: float | None = None, count: int = 50) -> list[tuple[str, str]]:
    """The groups due, as (group id, channel id), leased to this caller for
    ``OUTBOX_VISIBILITY_TIMEOUT`` seconds and closed to new events."""
    layout = keys()
    client = redis_client.writer()
    now = time.time() if now is None else now
    lease = now + float(conf.get().outbox_visibility_timeout)
    members = _script(_CLAIM, client)(
        keys=[layout.groups, layout.group_due, layout.group_last], args=[now, lease, count])
    claimed = []
    for member in members:
        gid, _, channel = str(member).partition(SEPARATOR)
        claimed.append((gid, channel))
    return claimed


def members(gid: str, channel_id: str) -> tuple[bool, list[dict[str, Any]]]:
    """Whether the group is a follow-up, and its events in the order they joined."""
    layout = keys()
    client = redis_client.writer()
    raw = client.hget(layout.group_members, f"{gid}{SEPARATOR}{channel_id}") or ""
    meta, _, ids = str(raw).partition("\n")
    follow_up = bool(json.loads(meta).get("follow_up")) if meta.strip() else False
    names = [i for i in ids.split("\n") if i]
    if not names:
        return follow_up, []
    fields = [f"{gid}{SEPARATOR}{channel_id}{SEPARATOR}{i}" for i in names]
    events = client.hmget(layout.group_events, fields)
    return follow_up, [json.loads(e) for e in events if e]


def forget(gid: str, channel_id: str, event_ids: list[str]) -> None:
    """The group is sent (or had nothing to send): nobody takes it again."""
    layout = keys()
    member = f"{gid}{SEPARATOR}{channel_id}"
    pipe = redis_client.writer().pipeline(transaction=True)
    pipe.zrem(layout.group_due, member)
    pipe.hdel(layout.group_members, member)
    if event_ids:
        pipe.hdel(layout.group_events, *[f"{member}{SEPARATOR}{i}" for i in event_ids])
    pipe.execute()


def ordered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Root causes first (in the order they were decided), then the suppressed ones."""
    return ([e for e in events if not e.get("suppressed_by")]
            + [e for e in events if e.get("suppressed_by")])


def _checks(count: int) -> str:
    return "1 check" if count == 1 else f"{count} checks"


def summary(events: list[dict[str, Any]]) -> str:
    """One line for the whole group: each root and how many of its dependents it held back
    ("database failing; 2 checks that depend on it suppressed")."""
    roots = [e for e in events if not e.get("suppressed_by")]
    held: dict[str, int] = {}
    for event in events:
        if event.get("suppressed_by"):
            held[event["suppressed_by"]] = held.get(event["suppressed_by"], 0) + 1
    parts = []
    for root in roots:
        what = "recovered" if root["status"] == "passing" and root["previous"] == "failing" \
            else root["status"]
        if root.get("reminder"):
            what = f"still {root['status']}"
        parts.append(f"{root['check']} {what}")
        count = held.pop(root["check"], 0)
        if count:
            verb = "depends" if count == 1 else "depend"
            parts.append(f"{_checks(count)} that {verb} on it suppressed")
    for dependency, count in held.items():
        parts.append(f"{_checks(count)} suppressed while {dependency} fails")
    return "; ".join(parts)


def group_event(gid: str, events: list[dict[str, Any]], follow_up: bool) -> dict[str, Any]:
    """What the delivery task is told about a group: the first root's fields (for the
    Delivery row and a channel that shows one line), and every event, roots first."""
    listed = ordered(events)
    first = listed[0]
    return {**first, "id": gid, "group": gid, "follow_up": follow_up,
            "summary": summary(listed), "events": listed,
            "transition": first.get("transition") or first["id"], "reminder": 0}
