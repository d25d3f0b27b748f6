-- The soak's wrk script: count responses by status, and optionally pause between requests.
-- Usage: wrk ... -s bench/soak.lua URL -- PAUSE_MS   (0 or absent: no pause)
-- Numbers, not a table: wrk copies only plain values out of each thread.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, failed, other = 0, 0, 0
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
  end
end

function done(summary, latency, requests)
  local ok_total, failed_total, other_total = 0, 0, 0
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    failed_total = failed_total + thread:get("failed")
    other_total = other_total + thread:get("other")
  end
  io.write(string.format("status 200: %d\nstatus 500: %d\nstatus other: %d\n",
                         ok_total, failed_total, other_total))
end
