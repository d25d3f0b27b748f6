"""The Redis side: write results, read them all in one round trip, detect transitions.

Layout, under the configured key prefix (default ``healthd:``):

- ``latest``: a hash, one field per check, holding the latest result as JSON plus the
  check's state after hysteresis (``state``, ``since``, ``streak``, ``pending``,
  ``pending_count``). ``HGETALL`` reads every check at once.
- ``transitions``: a hash of transition counters per check (for /metrics).

Writing a result and deciding whether it is a transition is one Lua script, so when
several workers finish at the same moment each transition is reported exactly once,
and a result older than the stored one is ignored rather than moving state backwards.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from healthd import conf, redis_client
from healthd.checks.base import Check, Result

# KEYS[1] latest hash, KEYS[2] transitions hash
# ARGV[1] name, ARGV[2] result JSON, ARGV[3] failures_before_failing,
# ARGV[4] successes_before_passing, ARGV[5] state known elsewhere ('' if none)
RECORD_SCRIPT = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local new = cjson.decode(ARGV[2])
local need_fail = tonumber(ARGV[3])
local need_pass = tonumber(ARGV[4])
local previous = nil
local since = nil
local streak = 0
local pending = nil
local pending_count = 0
if current then
  local old = cjson.decode(current)
  if tonumber(old.checked_at) > tonumber(new.checked_at) then
    return {'out-of-order', old.state, old.state}
  end
  previous = old.state
  since = old.since
  streak = tonumber(old.streak or 0)
  if old.pending and old.pending ~= cjson.null then pending = old.pending end
  pending_count = tonumber(old.pending_count or 0)
elseif ARGV[5] ~= '' then
  previous = ARGV[5]
end
local observed = new.status
local state = previous
local changed = 0
if previous == nil then
  state = observed
  since = new.checked_at
  streak = 1
  changed = 1
elseif observed == previous then
  streak = streak + 1
  pending = nil
  pending_count = 0
else
  if pending == observed then
    pending_count = pending_count + 1
  else
    pending = observed
    pending_count = 1
  end
  local need = 1
  if observed == 'failing' then
    need = need_fail
  elseif previous == 'failing' then
    need = need_pass
  end
  if pending_count >= need then
    state = observed
    since = new.checked_at
    streak = pending_count
    pending = nil
    pending_count = 0
    changed = 1
  end
end
if since == nil then since = new.checked_at end
new.state = state
new.since = since
new.streak = streak
new.pending = pending
new.pending_count = pending_count
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(new))
if changed == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  return {'changed', previous or 'unknown', state}
end
return {'same', previous or 'unknown', state}
"""


@dataclass(frozen=True)
class Transition:
    """A change of a check's state after hysteresis, seen by exactly one writer."""

    name: str
    previous: str
    current: str
    result: Result


@dataclass
class Snapshot:
    """Every check's latest record as read in one round trip, or why it could not be read."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def key(suffix: str) -> str:
    return f"{conf.get().key_prefix}{suffix}"


def record(results: list[Result], checks: list[Check],
           known_states: dict[str, str] | None = None) -> list[Transition]:
    """Store results and return the transitions they caused (each seen by one writer only)."""
    if not results:
        return []
    by_name = {c.name: c for c in checks}
    client = redis_client.writer()
    script = client.register_script(RECORD_SCRIPT)
    pipe = client.pipeline(transaction=False)
    for result in results:
        check = by_name.get(result.name)
        payload = result.to_dict()
        if check is not None:
            payload["stale_after"] = check.effective_stale_after
            payload["interval"] = check.interval
        script(
            keys=[key("latest"), key("transitions")],
            args=[
                result.name, json.dumps(payload),
                check.failures_before_failing if check else 1,
                check.successes_before_passing if check else 1,
                (known_states or {}).get(result.name, ""),
            ],
            client=pipe,
        )
    replies = pipe.execute()
    transitions = []
    for result, (outcome, previous, current) in zip(results, replies, strict=True):
        if outcome == "changed":
            transitions.append(Transition(result.name, previous, current, result))
    return transitions


def read_latest() -> Snapshot:
    """Every latest record in one HGETALL; a failure is returned, never raised."""
    now = time.time()
    try:
        raw = redis_client.reader().hgetall(key("latest"))
    except Exception as exc:
        return Snapshot(fetched_at=now, error=f"result store unavailable: {type(exc).__name__}")
    records = {}
    for name, value in raw.items():
        try:
            records[name] = json.loads(value)
        except ValueError:
            continue
    return Snapshot(records=records, fetched_at=now)


def transition_counts() -> dict[str, int]:
    raw = redis_client.reader().hgetall(key("transitions"))
    return {name: int(value) for name, value in raw.items()}


def forget(names: list[str]) -> None:
    """Drop the stored state of checks no longer configured."""
    if names:
        redis_client.writer().hdel(key("latest"), *names)
