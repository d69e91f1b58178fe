-- The report every bench script shares: one JSON line for bench/run.py, marked "BENCH-JSON".
-- setup() runs in wrk's main Lua state once per thread; done() reads what the threads recorded.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local exhausted = 0
  for _, thread in ipairs(threads) do
    if thread:get("exhausted") then
      exhausted = exhausted + 1
    end
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"timeouts": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "exhausted_threads": %d}\n',
    summary.requests, summary.duration, errors.status, errors.connect + errors.read + errors.write,
    errors.timeout, latency:percentile(50), latency:percentile(99), latency.max, exhausted))
end
