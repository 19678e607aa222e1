-- ringnova benchmark: HTTP/1.1 pipelining for wrk.
--
-- Sends DEPTH requests for the URL's path in one write, then waits for all
-- DEPTH responses before the next write (wrk counts the requests in the batch
-- itself). DEPTH is the first script argument (`wrk ... -s pipeline.lua URL
-- -- 16`), else the environment variable PIPELINE_DEPTH, else 16.

local batch

function init(args)
   local depth = tonumber(args[1]) or tonumber(os.getenv("PIPELINE_DEPTH")) or 16
   if depth < 1 then
      depth = 1
   end
   -- wrk.format with no method or path uses wrk.method (GET) and the path
   -- from the URL, plus wrk's Host header.
   local one = wrk.format(nil, wrk.path)
   batch = string.rep(one, math.floor(depth))
end

function request()
   return batch
end
