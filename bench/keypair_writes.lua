-- ringnova benchmark: a write load for wrk. Every request is a committed write:
-- either a key pair import (POST /v2.1/os-keypairs: one SQLite transaction with
-- a quota check) or the deletion of a key pair whose import has been answered
-- (DELETE), so the table stays small. wrk shares this script's state among the
-- connections of a thread and calls request() before their answers arrive, so
-- names to delete are taken from the import responses. The token is the first
-- script argument (default admin:admin); the quota applies to that user.

local counter = 0
local created = {}
local token = "admin:admin"
local thread_tag = "0"

local key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHB0iJbMHpTPbDzBXf3XEbvlnMS0eFqO/sV3TY5mODRn bench"

function init(args)
   token = args[1] or token
   math.randomseed(os.time() + math.floor(os.clock() * 1e6))
   thread_tag = tostring(math.random(1, 1e9))
end

function request()
   local headers = { ["X-Auth-Token"] = token, ["Content-Type"] = "application/json" }
   local name = table.remove(created)
   if name then
      return wrk.format("DELETE", "/v2.1/os-keypairs/" .. name, headers, nil)
   end
   counter = counter + 1
   name = "w" .. thread_tag .. "-" .. counter
   local body = '{"keypair": {"name": "' .. name .. '", "public_key": "' .. key .. '"}}'
   return wrk.format("POST", "/v2.1/os-keypairs", headers, body)
end

function response(status, headers, body)
   if status == 200 then
      local name = body:match('"name": "([^"]+)"')
      if name then
         table.insert(created, name)
      end
   end
end
