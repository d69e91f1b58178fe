-- Shared by form.lua and bearer.lua: read a pool file (one item per line) and deal its lines
-- out to the threads. Arguments after wrk's `--`: POOL_FILE MODE THREADS, MODE "once" or "cycle".

local pool = {}

function pool.load(args)
  local path, mode, thread_count = args[1], args[2], tonumber(args[3] or "1")
  local id = wrk.thread:get("id") or 0
  local items, n = {}, 0
  for line in io.lines(path) do
    if line ~= "" then
      if n % thread_count == id then
        table.insert(items, line)
      end
      n = n + 1
    end
  end
  assert(#items > 0, "empty pool: " .. path)
  return items, mode == "once"
end

-- An iterator over prepared requests: "cycle" wraps around; "once" uses each request a single
-- time, then stops this thread (wrk divides what completed by the time it actually ran).
function pool.dealer(requests, once)
  local index = 0
  return function()
    index = index + 1
    if index > #requests then
      if once then
        wrk.thread:set("exhausted", true)
        wrk.thread:stop()
        return requests[#requests]
      end
      index = 1
    end
    return requests[index]
  end
end

return pool
