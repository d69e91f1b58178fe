-- GET with `Authorization: DPoP <token>` and its `DPoP` proof (RFC 9449 §7.1): one pool line
-- per request, "<token> <proof>", each proof used a single time (its jti is remembered).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
local pool = dofile(dir .. "pool.lua")
local next_request

function init(args)
  local lines, once = pool.load(args)
  local requests = {}
  for i, line in ipairs(lines) do
    local token, proof = line:match("^(%S+) (%S+)$")
    wrk.headers["Authorization"] = "DPoP " .. token
    wrk.headers["DPoP"] = proof
    requests[i] = wrk.format("GET")
  end
  next_request = pool.dealer(requests, once)
end

function request()
  return next_request()
end
