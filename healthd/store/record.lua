-- The record script: one run's results in one call (one round trip, whatever the number
-- of checks). Loaded by healthd.store.script; the only place that decides, atomically
-- with each result, a check's state after hysteresis, whether a change is news, which
-- silence covers a check, and what the outbox is to tell.
--
-- KEYS[1] latest hash, KEYS[2] transitions hash, KEYS[3] outbox stream, KEYS[4] silences
-- hash, KEYS[5] history backlog list, KEYS[6] the notification groups by when they are due
-- (a sorted set): all under one hash tag, so this works on a cluster.
-- ARGV[1] seconds between reminders while failing (0: none), ARGV[2] the outbox's MAXLEN,
-- ARGV[3] '1': leave alone a result of a check with no stored state and no state known
-- elsewhere (answered 'unseen': the caller asks the database, then records it again),
-- ARGV[4] the outbox's consumer group, ARGV[5] an epoch time to show the silences at
-- ('' when recording; see "Showing the silences" below), ARGV[6] how many silences follow
-- (-1: keep the stored ones), then that many pairs (silence id, its JSON) to store
-- instead, then six arguments per result: name, result JSON (an object),
-- failures_before_failing, successes_before_passing, state known elsewhere ('' if none),
-- the checks it depends on (names joined by commas; '' if none). The caller passes the
-- results dependencies first, so a dependency that fails in this call holds back its
-- dependents' news in the same call.
--
-- Returns {runs parked in the backlog, 1 if the outbox holds something to deliver or a
-- notification group is due (else 0),
-- then per result {outcome, previous, state, news}} where outcome is 'changed', 'same',
-- 'out-of-order', 'unseen' or 'error' (then previous is the error), and news is '1' when
-- the change is worth announcing (see news() below), else '0'. An error in one result
-- (pcall) costs that result only.
--
-- The result's own JSON is stored as given, with the state fields spliced on at its end,
-- so nothing is re-encoded by cjson (which turns [] into {} and rounds numbers).
-- A replay of the same result (redis-py retrying after a lost reply) returns the stored
-- outcome instead of counting the result twice (or appending it to the outbox twice).
--
-- What is to be told is decided here too, in the same atomic step, and appended to the
-- outbox stream: a transition (its id is the id of the result that caused it), marked
-- silenced while a silence covers the check; when the silence is over, one transition
-- from the state the check had when it began, if it now differs; a reminder while a told
-- failure goes on. The record keeps what that needs: transition_id, told_id,
-- told_status, told_at, reminders, silence_baseline, silence (the window [from, until]
-- covering or next covering the check) and silenced.
--
-- Dependencies work like silences: while one of a check's dependencies is failing, its
-- transitions are appended marked suppressed_by=<that dependency> (nobody is told), and
-- when none fails any more a state that differs from the one it had when the first began
-- is told once. silence_baseline is shared (a check is "quiet" while silenced or held
-- back); held_by keeps the dependency that held it back, suppressed_by the one now.
--
-- Showing the silences: called with ARGV[5] set and no results, it writes into every
-- check's record the silence window at that time (only the "silence" field changes), so
-- the views say "silenced" without waiting for the next run, and returns {records changed}.

local function present(value)
  if value == nil or value == cjson.null then return nil end
  return value
end

-- What is worth announcing: any change of state, except a first passing result (a check
-- seen for the first time that passes is not news).
local function news(before, after)
  return not (before == 'unknown' and after == 'passing')
end

local remind_every = tonumber(ARGV[1]) or 0
local maxlen = ARGV[2]
local defer_unseen = ARGV[3] == '1'
local group_name = ARGV[4]
local show_at = tonumber(ARGV[5])
local silence_count = tonumber(ARGV[6])
local first = 7
if silence_count >= 0 then
  redis.call('DEL', KEYS[4])
  for i = 7, 6 + 2 * silence_count, 2 do
    redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  end
  first = 7 + 2 * silence_count
end

-- The silences, read once for the whole call.
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

-- The silence covering a check at a time (windows that touch are merged), and the next
-- one to come: the views compare what is kept with the time they answer.
local function silence_at(name, at)
  local window = nil
  local upcoming = nil
  for _, s in ipairs(silences) do
    local covers = s.names == nil or s.names[name] == true
    if covers and s.from <= at and at < s.till then
      if window == nil then
        window = {s.from, s.till}
      else
        window = {math.min(window[1], s.from), math.max(window[2], s.till)}
      end
    elseif covers and s.from > at and (upcoming == nil or s.from < upcoming[1]) then
      upcoming = {s.from, s.till}
    end
  end
  return window, upcoming
end

if show_at ~= nil then
  -- Where the value of a record's own "silence" field is: its last one (a check's details
  -- come before the state fields); nil when it has none.
  local function silence_value(raw)
    local at, from = nil, 1
    while true do
      local _, e = string.find(raw, '"silence":', from, true)
      if e == nil then break end
      at, from = e, e + 1
    end
    if at == nil then return nil end
    local s, e = string.find(raw, '^%s*null', at + 1)
    if s == nil then s, e = string.find(raw, '^%s*%b[]', at + 1) end
    if s == nil then return nil end
    return at, e
  end
  local changed = 0
  local records = redis.call('HGETALL', KEYS[1])
  for i = 1, #records, 2 do
    local name, raw = records[i], records[i + 1]
    local ok, record = pcall(cjson.decode, raw)
    -- A field whose name starts with ':' is not a check's (a check name holds no colon).
    if string.sub(name, 1, 1) ~= ':' and ok and type(record) == 'table' then
      local window, upcoming = silence_at(name, show_at)
      -- Compared as encoded, so a window stored rounded by cjson is the same window.
      local encoded = cjson.encode(window or upcoming or cjson.null)
      local old = present(record.silence)
      if type(old) ~= 'table' then old = nil end
      if cjson.encode(old or cjson.null) ~= encoded then
        local updated = nil
        if record.silence == nil then  -- a record older than silences
          updated = string.gsub(raw, '}%s*$', ',"silence":' .. encoded .. '}')
        else
          local value_at, value_end = silence_value(raw)
          if value_at ~= nil then
            updated = string.sub(raw, 1, value_at) .. encoded .. string.sub(raw, value_end + 1)
          end
        end
        if updated ~= nil then
          redis.call('HSET', KEYS[1], name, updated)
          changed = changed + 1
        end
      end
    end
  end
  return {changed}
end

-- The first of a check's dependencies (names joined by commas) now failing, or nil.
local function failing_dependency(deps)
  if deps == nil or deps == '' then return nil end
  for dep in string.gmatch(deps, '[^,]+') do
    local raw = redis.call('HGET', KEYS[1], dep)
    if raw then
      local ok, rec = pcall(cjson.decode, raw)
      if ok and type(rec) == 'table' and rec.state == 'failing' then return dep end
    end
  end
  return nil
end

local function record(name, result_json, need_fail, need_pass, known, deps)
  local current = redis.call('HGET', KEYS[1], name)
  if not current and known == '' and defer_unseen then
    return {'unseen', '', '', '0'}
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
      return {'out-of-order', old_state, old_state, '0'}
    end
    if old.id ~= nil and old.id == new.id then
      local old_outcome = old.outcome or 'same'
      local old_previous = old.outcome_previous or old_state
      local was_news = old_outcome == 'changed' and news(old_previous, old_state)
      return {old_outcome, old_previous, old_state, was_news and '1' or '0'}
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

  local window, upcoming = silence_at(name, checked_at)
  local silenced = window ~= nil
  local suppressor = failing_dependency(deps)
  local quiet = silenced or suppressor ~= nil
  local held_by = present(old.held_by)

  local before = previous or 'unknown'
  local worth = changed and news(before, state)
  local baseline = present(old.silence_baseline)
  local transition_id = present(old.transition_id)
  local told_id = present(old.told_id)
  local told_status = present(old.told_status)
  local told_at = present(old.told_at)
  if told_at ~= nil then told_at = tonumber(told_at) end
  local reminders = tonumber(present(old.reminders) or 0) or 0
  local entry_previous = nil
  local entry_silenced = false
  local entry_suppressed_by = ''
  if quiet then
    if baseline == nil then baseline = before end
    if suppressor ~= nil then held_by = suppressor end
    if worth then
      entry_previous = before
      entry_silenced = true
      entry_suppressed_by = suppressor or ''
    end
  elseif baseline ~= nil then
    if state ~= baseline and news(baseline, state) then
      entry_previous = baseline
    elseif worth then
      -- back where it was when the silence (or the dependency's failure) began: recorded,
      -- but nothing to tell
      entry_previous = before
      entry_silenced = true
      entry_suppressed_by = held_by or ''
    end
    baseline = nil
    held_by = nil
  elseif worth then
    entry_previous = before
  end
  if entry_previous ~= nil then
    transition_id = new.id
    local flag = '0'
    if entry_silenced then
      -- held back by a dependency alone: marked so rather than silenced
      if silenced or entry_suppressed_by == '' then flag = '1' end
    else
      told_id = new.id
      told_status = state
      told_at = checked_at
      reminders = 0
    end
    redis.call('XADD', KEYS[3], 'MAXLEN', maxlen, '*',
               'id', new.id, 'kind', 'transition', 'check', name,
               'previous', entry_previous, 'status', state, 'silenced', flag,
               'suppressed_by', entry_suppressed_by,
               'transition', new.id, 'reminder', '0', 'result', result_json)
  elseif remind_every > 0 and not quiet and state == 'failing' and told_status == 'failing'
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
                 silence = window or upcoming or cjson.null, silenced = silenced,
                 held_by = held_by or cjson.null, suppressed_by = suppressor or cjson.null}
  local tail = cjson.encode(extra)
  local body = string.gsub(result_json, '}%s*$', '')
  redis.call('HSET', KEYS[1], name, body .. ',' .. string.sub(tail, 2))
  if changed then
    redis.call('HINCRBY', KEYS[2], name, 1)
  end
  return {outcome, previous or 'unknown', state, worth and '1' or '0'}
end

local replies = {}
for i = first, #ARGV, 6 do
  local ok, reply = pcall(record, ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]),
                          tonumber(ARGV[i + 3]), ARGV[i + 4], ARGV[i + 5])
  if not ok then
    local message = reply
    if type(reply) == 'table' then message = reply.err or cjson.encode(reply) end
    reply = {'error', tostring(message), '', '0'}
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
if waiting == 0 and KEYS[6] ~= nil then
  -- a group due (its flush task may have died with its worker): the run flushes it
  local now = redis.call('TIME')
  local due = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', tonumber(now[1]), 'LIMIT', 0, 1)
  if #due > 0 then waiting = 1 end
end
local answer = {redis.call('LLEN', KEYS[5]), waiting}
for _, reply in ipairs(replies) do table.insert(answer, reply) end
return answer
