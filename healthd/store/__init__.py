"""The Redis side: write results, read them all in one round trip, detect transitions.

Every Redis key healthd uses is named here (see :class:`Keys`), under the configured
key prefix made a Redis Cluster hash tag (default ``healthd:``, so ``{healthd:}latest``):
all of them hash to one slot, and the record script and the outbox work on a cluster.

- ``latest``: a hash, one field per check, holding the latest result as JSON plus the
  check's state after hysteresis (``state``, ``since``, ``streak``, ``pending``,
  ``pending_count``), and one field that is not a check (:data:`INTERVALS_FIELD`: each
  check's real run interval, as its beat row says). ``HGETALL`` reads them all at once.
- ``transitions``: a hash of transition counters per check (for /metrics).
- ``history-backlog``: a list of runs whose history the database refused (it was away);
  the next run that finds the database back writes them, oldest first.
- ``history-dead-letter``: a list of parked runs the database refused for their data,
  set aside so they do not block the backlog.
- ``stats``: a string, django-status's gathered stats as JSON.
- ``run-lock:<digest>``: a short-lived string per scheduled run of a set of checks, so a
  doubled beat does not double the runs.

Writing a run's results and deciding which are transitions is one Lua script, called
once per run whatever the number of checks, so when several workers finish at the same
moment each transition is reported exactly once, and a result older than the stored one
is ignored rather than moving state backwards.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from redis.exceptions import WatchError

from healthd import conf
from healthd.checks.base import Check, Result, Status
from healthd.store import client as redis_client
from healthd.util.logs import get_logger
from healthd.util.redact import redact, redact_deep

logger = get_logger("healthd.store")

# One run's results in one call (one round trip, whatever the number of checks).
#
# KEYS[1] latest hash, KEYS[2] transitions hash, KEYS[3] outbox stream, KEYS[4] silences
# hash, KEYS[5] history backlog list: all under one hash tag, so this works on a cluster.
# ARGV[1] seconds between reminders while failing (0: none), ARGV[2] the outbox's MAXLEN,
# ARGV[3] '1': leave alone a result of a check with no stored state and no state known
# elsewhere (answered 'unseen': the caller asks the database, then records it again),
# ARGV[4] the outbox's consumer group, ARGV[5] how many silences follow (-1: keep the
# stored ones), then that many pairs (silence id, its JSON) to store instead, then five
# arguments per result: name, result JSON (an object), failures_before_failing,
# successes_before_passing, state known elsewhere ('' if none).
#
# Returns {runs parked in the backlog, 1 if the outbox holds something to deliver (else 0),
# then per result {outcome, previous, state}} where outcome is 'changed', 'same',
# 'out-of-order', 'unseen' or 'error' (then previous is the error). An error in one result
# (pcall) costs that result only.
#
# The result's own JSON is stored as given, with the state fields spliced on at its end,
# so nothing is re-encoded by cjson (which turns [] into {} and rounds numbers).
# A replay of the same result (redis-py retrying after a lost reply) returns the stored
# outcome instead of counting the result twice (or appending it to the outbox twice).
#
# What is to be told is decided here too, in the same atomic step, and appended to the
# outbox stream: a transition (its id is the id of the result that caused it), marked
# silenced while a silence covers the check; when the silence is over, one transition
# from the state the check had when it began, if it now differs; a reminder while a told
# failure goes on. The record keeps what that needs: ``transition_id``, ``told_id``,
# ``told_status``, ``told_at``, ``reminders``, ``silence_baseline``, ``silence`` (the
# window [from, until] covering or next covering the check) and ``silenced``.
RECORD_SCRIPT = """
local function present(value)
  if value == nil or value == cjson.null then return nil end
  return value
end
local remind_every = tonumber(ARGV[1]) or 0
local maxlen = ARGV[2]
local defer_unseen = ARGV[3] == '1'
local group_name = ARGV[4]
local silence_count = tonumber(ARGV[5])
local first = 6
if silence_count >= 0 then
  redis.call('DEL', KEYS[4])
  for i = 6, 5 + 2 * silence_count, 2 do
    redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  end
  first = 6 + 2 * silence_count
end

-- The silences, read once for the whole run.
local silences = {}
local stored = redis.call('HGETALL', KEYS[4])
for i = 2, #stored, 2 do
  local ok, s = pcall(cjson.decode, stored[i])
  local from, till = nil, nil
  if ok and type(s) == 'table' then
    from, till = tonumber(s.starts_at), tonumber(s.ends_at)
  end
  if from and till and till > from then
    local names = nil
    if type(s.checks) == 'table' and #s.checks > 0 then
      names = {}
      for _, name in ipairs(s.checks) do names[name] = true end
    end
    table.insert(silences, {from = from, till = till, names = names})
  end
end

local function record(name, result_json, need_fail, need_pass, known)
  local current = redis.call('HGET', KEYS[1], name)
  if not current and known == '' and defer_unseen then
    return {'unseen', '', ''}
  end
  local new = cjson.decode(result_json)
  local checked_at = tonumber(new.checked_at)
  local previous = nil
  local since = nil
  local streak = 0
  local pending = nil
  local pending_count = 0
  local old = {}
  if current then
    old = cjson.decode(current)
    local old_at = tonumber(old.checked_at)
    local old_state = old.state or ''
    if old_at > checked_at then
      return {'out-of-order', old_state, old_state}
    end
    if old.id ~= nil and old.id == new.id then
      return {old.outcome or 'same', old.outcome_previous or old_state, old_state}
    end
    previous = old.state
    since = old.since
    streak = tonumber(old.streak or 0)
    if old.pending and old.pending ~= cjson.null then pending = old.pending end
    pending_count = tonumber(old.pending_count or 0)
  elseif known ~= '' then
    previous = known
  end
  local observed = new.status
  local state = previous
  local changed = false
  if previous == nil then
    state = observed
    since = checked_at
    streak = 1
    changed = true
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
      since = checked_at
      streak = pending_count
      pending = nil
      pending_count = 0
      changed = true
    end
  end
  if since == nil then since = checked_at end

  -- The silence covering this check at checked_at (windows that touch are merged), else
  -- the next one to come: the views compare it with the time they answer.
  local window = nil
  local upcoming = nil
  for _, s in ipairs(silences) do
    local covers = s.names == nil or s.names[name] == true
    if covers and s.from <= checked_at and checked_at < s.till then
      if window == nil then
        window = {s.from, s.till}
      else
        window = {math.min(window[1], s.from), math.max(window[2], s.till)}
      end
    elseif covers and s.from > checked_at and (upcoming == nil or s.from < upcoming[1]) then
      upcoming = {s.from, s.till}
    end
  end
  local silenced = window ~= nil

  local before = previous or 'unknown'
  local worth = changed and not (before == 'unknown' and state == 'passing')
  local baseline = present(old.silence_baseline)
  local transition_id = present(old.transition_id)
  local told_id = present(old.told_id)
  local told_status = present(old.told_status)
  local told_at = present(old.told_at)
  if told_at ~= nil then told_at = tonumber(told_at) end
  local reminders = tonumber(present(old.reminders) or 0) or 0
  local entry_previous = nil
  local entry_silenced = false
  if silenced then
    if baseline == nil then baseline = before end
    if worth then
      entry_previous = before
      entry_silenced = true
    end
  elseif baseline ~= nil then
    if state ~= baseline and not (baseline == 'unknown' and state == 'passing') then
      entry_previous = baseline
    elseif worth then
      -- back where it was when the silence began: recorded, but nothing to tell
      entry_previous = before
      entry_silenced = true
    end
    baseline = nil
  elseif worth then
    entry_previous = before
  end
  if entry_previous ~= nil then
    transition_id = new.id
    local flag = '0'
    if entry_silenced then
      flag = '1'
    else
      told_id = new.id
      told_status = state
      told_at = checked_at
      reminders = 0
    end
    redis.call('XADD', KEYS[3], 'MAXLEN', maxlen, '*',
               'id', new.id, 'kind', 'transition', 'check', name,
               'previous', entry_previous, 'status', state, 'silenced', flag,
               'transition', new.id, 'reminder', '0', 'result', result_json)
  elseif remind_every > 0 and not silenced and state == 'failing' and told_status == 'failing'
      and told_id ~= nil and told_at ~= nil and checked_at - told_at >= remind_every then
    reminders = reminders + 1
    told_at = checked_at
    redis.call('XADD', KEYS[3], 'MAXLEN', maxlen, '*',
               'id', told_id .. '-reminder-' .. reminders, 'kind', 'reminder',
               'check', name, 'previous', state, 'status', state, 'silenced', '0',
               'transition', told_id, 'reminder', tostring(reminders), 'result', result_json)
  end

  local outcome = 'same'
  if changed then outcome = 'changed' end
  local extra = {state = state, since = since, streak = streak, pending = pending or cjson.null,
                 pending_count = pending_count, outcome = outcome,
                 outcome_previous = previous or 'unknown',
                 transition_id = transition_id or cjson.null, told_id = told_id or cjson.null,
                 told_status = told_status or cjson.null, told_at = told_at or cjson.null,
                 reminders = reminders, silence_baseline = baseline or cjson.null,
                 silence = window or upcoming or cjson.null, silenced = silenced}
  local tail = cjson.encode(extra)
  local body = string.gsub(result_json, '}%s*$', '')
  redis.call('HSET', KEYS[1], name, body .. ',' .. string.sub(tail, 2))
  if changed then
    redis.call('HINCRBY', KEYS[2], name, 1)
  end
  return {outcome, previous or 'unknown', state}
end

local replies = {}
for i = first, #ARGV, 5 do
  local ok, reply = pcall(record, ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]),
                          tonumber(ARGV[i + 3]), ARGV[i + 4])
  if not ok then
    local message = reply
    if type(reply) == 'table' then message = reply.err or cjson.encode(reply) end
    reply = {'error', tostring(message), ''}
  end
  table.insert(replies, reply)
end

-- Whether delivery has anything to do: entries a consumer took and has not acknowledged
-- (it may have died), or entries no consumer has read yet.
local function id_after(a, b)
  local a_ms, a_seq = string.match(a, '^(%d+)-(%d+)$')
  local b_ms, b_seq = string.match(b, '^(%d+)-(%d+)$')
  if a_ms == nil or b_ms == nil then return true end
  a_ms, a_seq, b_ms, b_seq = tonumber(a_ms), tonumber(a_seq), tonumber(b_ms), tonumber(b_seq)
  return a_ms > b_ms or (a_ms == b_ms and a_seq > b_seq)
end
local waiting = 0
if redis.call('EXISTS', KEYS[3]) == 1 then
  local group = nil
  for _, fields in ipairs(redis.call('XINFO', 'GROUPS', KEYS[3])) do
    local info = {}
    for i = 1, #fields, 2 do info[fields[i]] = fields[i + 1] end
    if info['name'] == group_name then group = info end
  end
  if group == nil then
    if redis.call('XLEN', KEYS[3]) > 0 then waiting = 1 end
  elseif tonumber(group['pending']) > 0 then
    waiting = 1
  else
    local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
    if #last > 0 and id_after(last[1][1], group['last-delivered-id']) then waiting = 1 end
  end
end
local answer = {redis.call('LLEN', KEYS[5]), waiting}
for _, reply in ipairs(replies) do table.insert(answer, reply) end
return answer
"""


# The field of the ``latest`` hash that holds each check's real run interval (a check
# name cannot hold a colon, so it is never a check's).
INTERVALS_FIELD = ":intervals"


@dataclass(frozen=True)
class StateChange:
    """A change of a check's state after hysteresis, seen by exactly one writer."""

    name: str
    previous: str
    current: str
    result: Result


# The old name. It stays because the change signals are sent with this class as their
# sender, and a site's receiver may be connected with ``sender=healthd.store.Transition``.
Transition = StateChange


@dataclass(frozen=True)
class Part:
    """One thing a check probed (a database or cache alias, a Redis target), as its run
    recorded it in its details: whether it answered, how fast, or what went wrong."""

    label: str
    ok: bool
    error: str | None = None
    latency_ms: float | None = None
    # Whatever else the check recorded for it (e.g. migrations' "unapplied").
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredResult:
    """One check's latest stored result, decoded once when it is read.

    Its message and details are redacted on the way in, so whatever wrote the record, no
    reader can carry a secret out of it.
    """

    name: str
    status: Status  # as the run reported it
    state: Status | None  # after hysteresis (None in a record written before it existed)
    since: float | None  # when ``state`` began
    checked_at: float
    duration: float | None
    message: str
    value: float | None
    unit: str | None
    critical: bool
    host: str
    details: dict[str, Any]
    # The details entries that say whether they are ok: one per alias or target probed.
    parts: tuple[Part, ...] = ()
    # The Celery check's details: the workers that answered, and those expected but silent.
    workers: tuple[str, ...] = ()
    missing_workers: tuple[str, ...] = ()
    # What a WATCHMAN_CHECKS callable returned on its last run (a dict), if anything.
    watchman: dict[str, Any] | None = None
    # Hysteresis bookkeeping: runs in the current state, and the state a change waits on.
    streak: int = 0
    pending: str | None = None
    pending_count: int = 0
    # The silence window [from, until] covering (or next covering) the check, if any.
    silence: tuple[float, float] | None = None

    @property
    def current(self) -> Status:
        """The check's state after hysteresis (its last status for an older record)."""
        return self.state or self.status

    @property
    def produced_at(self) -> float:
        """When the result was produced: its start plus its duration. Staleness counts from
        here, so a check that takes seconds (the celery ping) is not old on arrival."""
        return self.checked_at + (self.duration or 0.0)


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


def hash_tagged(prefix: str) -> str:
    """The key prefix as one Redis Cluster hash tag: ``healthd:`` becomes ``{healthd:}``.

    Every key healthd writes starts with it, so all of them live in one slot: the record
    script touches several keys at once, and a cluster runs a script only on keys of one
    slot. A prefix that carries a hash tag already (``{site}:healthd:``) is kept as it is.
    """
    opening = prefix.find("{")
    if opening >= 0 and prefix.find("}", opening + 1) > opening + 1:  # Redis's own rule
        return prefix
    return "{" + (prefix or "healthd") + "}"


@dataclass(frozen=True)
class Keys:
    """The name of every Redis key healthd uses, under one prefix made a hash tag
    (:func:`hash_tagged`), so that all of them live in one Redis Cluster slot.

    The results:

    - ``latest``: a hash, one field per check holding its latest result (JSON), plus
      ``:intervals`` (each check's real run interval, from its beat row);
    - ``transitions``: a hash of transition counts per check, for /metrics;
    - ``history-backlog`` / ``history-dead-letter``: lists of results the database did
      not take yet, and of those it refused;
    - ``stats``: the JSON the ``gather_stats`` task stores;
    - ``run-lock:<digest>``: a run of one selection of checks in progress.

    Alerting:

    - ``outbox``: a stream, one entry per thing to tell (a transition or a reminder),
      appended by :data:`RECORD_SCRIPT`; read through the consumer group
      :attr:`outbox_group` (see :mod:`healthd.outbox`) and trimmed to what is not yet
      delivered;
    - ``outbox-progress``: a hash, ``<entry>:<step>`` for each step of a delivery done,
      so an entry taken again after a crash repeats only what was not done;
    - ``silences``: a hash, one field per :class:`healthd.models.Silence` (its id) holding
      ``{"checks", "starts_at", "ends_at"}``, read by :data:`RECORD_SCRIPT`;
    - ``deliveries``: a hash of notification counters, ``<channel>\t<outcome>``, for /metrics.

    Passive checks (:mod:`healthd.passive`):

    - ``passive:<name>``: a hash, one check's bookkeeping (its definition, last success,
      a run started, the one-shot sweep armed for it);
    - ``passive-checks``: a set, the names of every passive check that has reported.
    """

    prefix: str
    # The outbox's consumer group: the record script asks it whether anything waits.
    outbox_group: ClassVar[str] = "delivery"

    @property
    def tagged(self) -> str:
        return hash_tagged(self.prefix)

    @property
    def latest(self) -> str:
        return f"{self.tagged}latest"

    @property
    def transitions(self) -> str:
        return f"{self.tagged}transitions"

    @property
    def history_backlog(self) -> str:
        return f"{self.tagged}history-backlog"

    @property
    def history_dead_letter(self) -> str:
        return f"{self.tagged}history-dead-letter"

    @property
    def stats(self) -> str:
        return f"{self.tagged}stats"

    def run_lock(self, digest: str) -> str:
        return f"{self.tagged}run-lock:{digest}"

    @property
    def run_lock_pattern(self) -> str:
        return f"{self.tagged}run-lock:*"

    @property
    def outbox(self) -> str:
        return f"{self.tagged}outbox"

    @property
    def outbox_progress(self) -> str:
        return f"{self.tagged}outbox-progress"

    @property
    def silences(self) -> str:
        return f"{self.tagged}silences"

    @property
    def deliveries(self) -> str:
        return f"{self.tagged}deliveries"

    def passive_check(self, name: str) -> str:
        """The hash of one passive check's bookkeeping."""
        return f"{self.tagged}passive:{name}"

    @property
    def passive_names(self) -> str:
        return f"{self.tagged}passive-checks"

    @property
    def pattern(self) -> str:
        """A SCAN pattern matching every key healthd writes under this prefix."""
        return f"{self.tagged}*"

    def all_fixed(self) -> tuple[str, ...]:
        """Every key that is not per run or per passive check (for cleaning up after a
        test)."""
        return (self.latest, self.transitions, self.history_backlog,
                self.history_dead_letter, self.stats, self.outbox, self.outbox_progress,
                self.silences, self.deliveries, self.passive_names)


def keys() -> Keys:
    """The key layout under the configured prefix, read at call time."""
    return Keys(conf.get().key_prefix)


@dataclass(frozen=True)
class Recorded:
    """What writing a run's results to Redis found, besides the results themselves."""

    transitions: list[StateChange] = field(default_factory=list)
    # Results left unwritten: Redis has no state for their check and none was given (after
    # a flush or a restart). Ask the database, then record them with what it knows.
    unseen: list[Result] = field(default_factory=list)
    backlog: int = 0  # runs parked in Redis while the database was away
    outbox_waiting: bool = False  # the outbox holds something to deliver

    def then(self, later: Recorded) -> Recorded:
        """This write followed by ``later`` (which recorded what this one left unseen)."""
        return Recorded(self.transitions + later.transitions, later.unseen, later.backlog,
                        self.outbox_waiting or later.outbox_waiting)


def record(results: list[Result], checks: list[Check],
           known_states: dict[str, str] | None = None) -> list[StateChange]:
    """Store results and return the transitions they caused (each seen by one writer only).

    What is to be told about them is appended to the outbox in the same step (see
    :data:`RECORD_SCRIPT`), so a worker that dies right after cannot lose it.
    """
    return record_run(results, checks, known_states).transitions


def record_run(results: list[Result], checks: list[Check],
               known_states: dict[str, str] | None = None,
               silences: dict[str, dict[str, Any]] | None = None,
               defer_unseen: bool = False) -> Recorded:
    """Store a run's results in one call of :data:`RECORD_SCRIPT` (one round trip).

    ``silences`` ({id: {"checks", "starts_at", "ends_at"}}), when given, replace the
    stored ones in the same atomic step, before the results are judged by them. With
    ``defer_unseen`` a result of a check Redis has no state for (and ``known_states`` does
    not name) is left for the caller, who may ask the database for its state only then.
    Also answers whether the history backlog or the outbox has anything waiting, so a
    run that finds both empty needs no further round trip for them.
    """
    if not results and silences is None:
        return Recorded()
    script_keys, args = _script_call(results, checks, known_states, silences, defer_unseen)
    script = redis_client.writer().register_script(RECORD_SCRIPT)
    return _recorded(results, script(keys=script_keys, args=args))


def queue_record(pipe: Any, results: list[Result], checks: list[Check],
                 known_states: dict[str, str] | None = None) -> None:
    """Queue :data:`RECORD_SCRIPT` for these results on ``pipe``, a pipeline of the writer
    client: for a caller whose writes must go in one transaction with its own (a passive
    check's report, in :mod:`healthd.passive`). Read its reply with :func:`state_changes`.
    """
    script_keys, args = _script_call(results, checks, known_states, None, False)
    script = redis_client.writer().register_script(RECORD_SCRIPT)
    script(keys=script_keys, args=args, client=pipe)


def state_changes(results: list[Result], replies: list[Any]) -> list[StateChange]:
    """The transitions in the reply of :func:`queue_record` (``replies``: its one reply)."""
    (reply,) = replies
    if isinstance(reply, Exception):
        logger.error("could not store the results of %s: %s",
                     ", ".join(r.name for r in results), redact(reply))
        return []
    return _recorded(results, reply).transitions


def _script_call(results: list[Result], checks: list[Check],
                 known_states: dict[str, str] | None,
                 silences: dict[str, dict[str, Any]] | None,
                 defer_unseen: bool) -> tuple[list[str], list[Any]]:
    """The keys and arguments of one call of :data:`RECORD_SCRIPT`."""
    by_name = {c.name: c for c in checks}
    layout = alerting = keys()
    settings = conf.get().raw
    args: list[Any] = [float(settings.get("REMIND_EVERY") or 0),
                       int(settings.get("OUTBOX_MAXLEN") or 100_000),
                       "1" if defer_unseen else "0", Keys.outbox_group,
                       -1 if silences is None else len(silences)]
    for key, silence in (silences or {}).items():
        args += [key, json.dumps(silence)]
    known = known_states or {}
    for result in results:
        check = by_name.get(result.name)
        args += [result.name, _as_json(result),
                 check.failures_before_failing if check else 1,
                 check.successes_before_passing if check else 1,
                 known.get(result.name, "")]
    script_keys = [layout.latest, layout.transitions, alerting.outbox, alerting.silences,
                   layout.history_backlog]
    return script_keys, args


def _recorded(results: list[Result], reply: list[Any]) -> Recorded:
    backlog, waiting, *replies = reply
    transitions, unseen = [], []
    for result, (outcome, previous, current) in zip(results, replies, strict=True):
        if outcome == "error":  # one bad result must not cost the others
            logger.error("could not store the result of %s: %s", result.name, redact(previous))
        elif outcome == "unseen":
            unseen.append(result)
        elif outcome == "changed":
            transitions.append(StateChange(result.name, previous, current, result))
    return Recorded(transitions, unseen, int(backlog), bool(waiting))


def _as_json(result: Result) -> str:
    """The result as stored: ``Result.to_dict()`` as JSON, without its deep copy (which
    costs more than the rest of a run's write when there are a thousand checks)."""
    data = {f.name: getattr(result, f.name) for f in RESULT_FIELDS}
    data["status"] = str(result.status)
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:  # an infinity or a NaN somewhere: rare, so looked for only then
        return json.dumps(_finite(data), allow_nan=False)


RESULT_FIELDS = dataclasses.fields(Result)


def _finite(value: Any) -> Any:
    """JSON has no infinity or NaN: an observed value that is one is stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def unseen(names: list[str]) -> list[str]:
    """The names that have no stored result yet (one round trip)."""
    if not names:
        return []
    stored = redis_client.writer().hmget(keys().latest, names)
    return [name for name, value in zip(names, stored, strict=True) if value is None]


def read_latest() -> Snapshot:
    """Every latest result in one HGETALL, decoded; a failure is returned, never raised."""
    now = time.time()
    try:
        raw = redis_client.reader().hgetall(keys().latest)
    except Exception as exc:
        return _unavailable(exc, now)
    return _snapshot_of(raw, now)


async def read_latest_async() -> Snapshot:
    """:func:`read_latest` with the asyncio client, for views served under ASGI."""
    now = time.time()
    try:
        raw = await redis_client.async_reader().hgetall(keys().latest)
    except Exception as exc:
        return _unavailable(exc, now)
    return _snapshot_of(raw, now)


def _unavailable(exc: Exception, now: float) -> Snapshot:
    return Snapshot(fetched_at=now, error=f"result store unavailable: {type(exc).__name__}")


def _snapshot_of(raw: dict[Any, Any], now: float) -> Snapshot:
    stored_intervals = raw.pop(INTERVALS_FIELD, None) or raw.pop(INTERVALS_FIELD.encode(), None)
    intervals = _intervals(stored_intervals)
    records = {}
    for name, value in raw.items():
        decoded = decode(str(name), value)
        if decoded is not None:
            records[str(name)] = decoded
    return Snapshot(records=records, fetched_at=now, intervals=intervals)


def write_intervals(intervals: dict[str, float]) -> None:
    """Keep each check's real run interval (its beat row's, in seconds) beside the latest
    results, so staleness follows an operator's edit of the row and a view still reads
    everything in one round trip, with no SQL."""
    redis_client.writer().hset(keys().latest, INTERVALS_FIELD, json.dumps(intervals))


def _intervals(stored: str | bytes | None) -> dict[str, float]:
    try:
        data = json.loads(stored) if stored else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(name): float(seconds) for name, seconds in data.items()
            if isinstance(seconds, int | float) and not isinstance(seconds, bool)
            and seconds > 0}


def decode(name: str, stored: str | bytes) -> StoredResult | None:
    """One stored record as a :class:`StoredResult`; None when it cannot be understood
    (then the check reads as never run, rather than failing every view that shows it)."""
    try:
        data = json.loads(stored)
        if not isinstance(data, dict):
            return None
        details = redact_deep(data.get("details") or {})
        if not isinstance(details, dict):
            details = {}
        state = data.get("state")
        return StoredResult(
            name=name,
            status=Status(data.get("status", "failing")),
            state=Status(state) if state else None,
            since=_number(data.get("since")),
            checked_at=float(data.get("checked_at", 0)),
            duration=_number(data.get("duration")),
            message=redact(data.get("message", "")),
            value=_number(data.get("value")),
            unit=data.get("unit"),
            critical=bool(data.get("critical", True)),
            host=str(data.get("host", "")),
            details=details,
            parts=_parts(details),
            workers=_names(details.get("workers")),
            missing_workers=_names(details.get("missing")),
            watchman=details["watchman"] if isinstance(details.get("watchman"), dict) else None,
            streak=int(data.get("streak") or 0),
            pending=data.get("pending"),
            pending_count=int(data.get("pending_count") or 0),
            silence=_window(data.get("silence")),
        )
    except (ValueError, TypeError):
        return None


def _window(value: Any) -> tuple[float, float] | None:
    """A stored silence window [from, until], or None when there is none (or it is garbled)."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    start, end = _number(value[0]), _number(value[1])
    if start is None or end is None:
        return None
    return (float(start), float(end))


def _number(value: Any) -> float | None:
    """A stored number as it was (an int stays an int), or None when it is not one."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _parts(details: dict[str, Any]) -> tuple[Part, ...]:
    parts = []
    for label, info in details.items():
        if not (isinstance(info, dict) and "ok" in info):
            continue
        error = info.get("error")
        parts.append(Part(
            label=str(label),
            ok=bool(info["ok"]),
            error=str(error) if error else None,
            latency_ms=_number(info.get("latency_ms")),
            extra={k: v for k, v in info.items() if k not in ("ok", "error", "latency_ms")},
        ))
    return tuple(parts)


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def transition_counts() -> dict[str, int]:
    raw = redis_client.reader().hgetall(keys().transitions)
    return {str(name): int(value) for name, value in raw.items()}


def forget_unconfigured(configured: set[str]) -> list[str]:
    """Drop the stored state of checks no longer configured; return their names."""
    client = redis_client.writer()
    gone = [str(name) for name in client.hkeys(keys().latest)
            if name not in configured and name != INTERVALS_FIELD]
    if gone:
        client.hdel(keys().latest, *gone)
    return gone


def replace_silences(silences: dict[str, dict[str, Any]]) -> None:
    """Make the stored silences exactly these ({id: {"checks", "starts_at", "ends_at"}})."""
    pipe = redis_client.writer().pipeline(transaction=True)
    pipe.delete(keys().silences)
    if silences:
        pipe.hset(keys().silences,
                  mapping={key: json.dumps(value) for key, value in silences.items()})
    pipe.execute()


def put_silence(key: str, silence: dict[str, Any]) -> None:
    redis_client.writer().hset(keys().silences, key, json.dumps(silence))


def drop_silence(key: str) -> None:
    redis_client.writer().hdel(keys().silences, key)


def silence_window(silences: list[dict[str, Any]], name: str,
                   at: float) -> list[float] | None:
    """What :data:`RECORD_SCRIPT` keeps as ``silence`` for one check: the window covering
    ``at`` (touching windows merged), else the next one; None when there is neither."""
    window: list[float] | None = None
    upcoming: list[float] | None = None
    for silence in silences:
        start, end = float(silence["starts_at"]), float(silence["ends_at"])
        if end <= start or (silence.get("checks") and name not in silence["checks"]):
            continue
        if start <= at < end:
            window = [start, end] if window is None else [min(window[0], start),
                                                          max(window[1], end)]
        elif start > at and (upcoming is None or start < upcoming[0]):
            upcoming = [start, end]
    return window or upcoming


def show_silences(attempts: int = 5) -> int:
    """Write the stored silences into every check's latest record at once, so the views
    say "silenced" without waiting for the next run; returns how many records changed.

    Only ``silence`` changes; whether a result was taken while silenced (and what is
    told) stays the business of :data:`RECORD_SCRIPT`. Optimistic: retried when a run
    writes meanwhile.
    """
    client = redis_client.writer()
    layout = alerting = keys()
    for _ in range(attempts):
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(layout.latest, alerting.silences)
                records: dict[str, str] = pipe.hgetall(  # type: ignore[assignment]
                    layout.latest)  # the writer decodes responses
                silences = [json.loads(v) for v in pipe.hvals(alerting.silences)]
                now = time.time()
                changed: dict[Any, str] = {}  # redis-py wants its own key types
                for name, raw in records.items():
                    if name == INTERVALS_FIELD:
                        continue  # not a check
                    try:
                        record = json.loads(raw)
                    except ValueError:
                        continue
                    window = silence_window(silences, name, now)
                    if record.get("silence") != window:
                        record["silence"] = window
                        changed[name] = json.dumps(record)
                pipe.multi()
                if changed:
                    pipe.hset(layout.latest, mapping=changed)
                pipe.execute()
                return len(changed)
            except WatchError:
                continue
    logger.warning("could not show the silences in the latest records: too many writers")
    return 0
