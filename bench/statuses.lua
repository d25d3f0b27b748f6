-- Count responses by status code (200, 500, anything else) and print them when done;
-- optionally pause between requests.
-- Usage: wrk ... -s bench/statuses.lua URL [-- PAUSE_MS]   (0 or absent: no pause)
-- Numbers, not a table: wrk copies only plain values out of each thread.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, failed, other, other_code = 0, 0, 0, 0
  pause = tonumber(args[1]) or 0
end

-- Milliseconds each connection waits before its next request.
function delay()
  return pause
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 500 then
    failed = failed + 1
  else
    other = other + 1
    other_code = status
  end
end

function done(summary, latency, requests)
  local totals = {ok = 0, failed = 0, other = 0}
  local last_other = 0
  for _, thread in ipairs(threads) do
    totals.ok = totals.ok + thread:get("ok")
    totals.failed = totals.failed + thread:get("failed")
    totals.other = totals.other + thread:get("other")
    if thread:get("other_code") ~= 0 then last_other = thread:get("other_code") end
  end
  io.write(string.format("status 200: %d\nstatus 500: %d\n", totals.ok, totals.failed))
  if totals.other > 0 then
    io.write(string.format("status %d: %d (and any other non-200/500)\n", last_other, totals.other))
  end
end
