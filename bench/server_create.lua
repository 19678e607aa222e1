-- ringnova benchmark: POST /v2.1/servers as fast as wrk can, one server per request
-- (flavor 1, the seeded default image, no network), as admin at microversion 2.60.
-- Names are unique per wrk thread and counter.

local counter = 0
local tag = "0"
local headers = {
   ["X-Auth-Token"] = "admin:admin",
   ["Content-Type"] = "application/json",
   ["OpenStack-API-Version"] = "compute 2.60",
}

function init(args)
   math.randomseed(os.time() + math.floor(os.clock() * 1e6))
   tag = tostring(math.random(1, 1e9))
end

function request()
   counter = counter + 1
   local body = '{"server": {"name": "b' .. tag .. "-" .. counter ..
      '", "imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "flavorRef": "1", "networks": "none"}}'
   return wrk.format("POST", "/v2.1/servers", headers, body)
end
