-- GET with `Authorization: Bearer <token>`, rotating through one access token per pool line.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
local pool = dofile(dir .. "pool.lua")
local next_request

function init(args)
  local tokens, once = pool.load(args)
  local requests = {}
  for i, token in ipairs(tokens) do
    wrk.headers["Authorization"] = "Bearer " .. token
    requests[i] = wrk.format("GET")
  end
  next_request = pool.dealer(requests, once)
end

function request()
  return next_request()
end
