-- bench/pop.lua: wrk sends pre-signed proof-of-possession requests, one line
-- of a bench/popgen file per request, never one twice (the gateway accepts
-- each DPoP proof jti and each signature nonce once).
--
--   wrk -t2 -c32 -d5s -s bench/pop.lua http://127.0.0.1:18002/ -- <prefix>
--
-- Thread k reads <prefix>.k (popgen -parts = wrk -t). A line is
-- "<path>\t<Header>: <value>\t…". When a thread's file runs out it stops
-- (its remaining connections send nothing more) and done() prints
-- "popgen: file exhausted", which bench/run.sh treats as a failed
-- measurement: popgen's n was too small for this round.

local threads = {}

function setup(thread)
	table.insert(threads, thread)
	thread:set("part", #threads)
end

local file = nil
exhausted = 0

function init(args)
	local prefix = assert(args[1], "pop.lua: give the popgen file prefix after --")
	file = assert(io.open(prefix .. "." .. part, "r"))
end

function request()
	-- wrk calls request() once in its main Lua state to check the script
	-- (no init() there, no file): that request is parsed, never sent
	if file == nil then
		return wrk.format("GET", "/")
	end
	local line = file:read("*l")
	if line == nil or line == "" then
		exhausted = 1
		wrk.thread:stop()
		return ""
	end
	local fields = {}
	for f in line:gmatch("[^\t]+") do
		fields[#fields + 1] = f
	end
	local headers = {}
	for i = 2, #fields do
		local name, value = fields[i]:match("^([^:]+): (.*)$")
		headers[name] = value
	end
	return wrk.format("GET", fields[1], headers)
end

function done(summary, latency, requests)
	for _, t in ipairs(threads) do
		if tonumber(t:get("exhausted")) ~= 0 then
			io.write("popgen: file exhausted\n")
			return
		end
	end
end
