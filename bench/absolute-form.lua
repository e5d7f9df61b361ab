-- bench/absolute-form.lua: wrk as a client configured with a forward proxy.
-- wrk connects to the URL on its command line, the proxy, and asks it for
-- the URL after "--" in absolute form (RFC 9112 3.2.2), with that URL's
-- host in Host:
--
--   wrk -s bench/absolute-form.lua http://PROXYHOST:PORT -- http://ORIGINHOST:PORT/1k.bin
--
-- It defines no request() on purpose: wrk then formats the request once
-- per thread and sends the same bytes every time, exactly as it does for
-- an origin-form row, so the load generator costs the same per request
-- either way.
function init(args)
	local target = args[1]
	local host = target and target:match("^http://([^/]+)/")
	if not host then
		error("absolute-form.lua needs the target URL after '--', as http://HOST:PORT/PATH; got " .. tostring(target))
	end
	wrk.path = target
	wrk.headers["Host"] = host
end
