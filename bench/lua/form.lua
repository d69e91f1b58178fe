-- POST one urlencoded body per pool line (token requests, introspection); headers such as the
-- client's Basic credentials come from wrk's -H.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
local pool = dofile(dir .. "pool.lua")
local next_request

function init(args)
  local bodies, once = pool.load(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  local requests = {}
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format(nil, nil, nil, body)
  end
  next_request = pool.dealer(requests, once)
end

function request()
  return next_request()
end
