-- ringnova benchmark: a write load for wrk. Each connection alternates between
-- importing a key pair (POST /v2.1/os-keypairs, one SQLite write transaction with
-- a quota check) and deleting it again (DELETE, one write), so the table stays
-- small and every request is a committed write. Names are unique per wrk thread
-- and counter; the token comes from the first script argument (default
-- admin:admin), so the quota applies to that user.

local counter = 0
local pending = nil
local token
local thread_tag = tostring(math.random(1, 1e9))

local key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHB0iJbMHpTPbDzBXf3XEbvlnMS0eFqO/sV3TY5mODRn bench"

function init(args)
   token = args[1] or "admin:admin"
   thread_tag = tostring(math.random(1, 1e9))
end

function request()
   local headers = { ["X-Auth-Token"] = token, ["Content-Type"] = "application/json" }
   if pending then
      local name = pending
      pending = nil
      return wrk.format("DELETE", "/v2.1/os-keypairs/" .. name, headers, nil)
   end
   counter = counter + 1
   local name = "w" .. thread_tag .. "-" .. counter
   pending = name
   local body = '{"keypair": {"name": "' .. name .. '", "public_key": "' .. key .. '"}}'
   return wrk.format("POST", "/v2.1/os-keypairs", headers, body)
end
