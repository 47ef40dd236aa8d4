-- wrk script of benches/load.sh: rotates pre-signed deliveries read from a manifest, gives
-- every request a new X-Webhook-Id as Stream does, and prints one machine-readable line.
--
--   wrk ... -s benches/load.lua http://127.0.0.1:PORT/api/webhooks -- MANIFEST [RUN_ID]
--
-- MANIFEST has one delivery a line: `<body file> <x-signature> <gzip|identity>`; the body
-- file holds the bytes as sent (gzip already applied).

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_number", counter)
  table.insert(threads, thread)
end

local heads = {}
local bodies = {}
local next_index = 0
local sent = 0
local prefix = ""

local function read_file(path)
  local file = assert(io.open(path, "rb"))
  local bytes = file:read("*a")
  file:close()
  return bytes
end

function init(args)
  local manifest = assert(args[1], "usage: -- MANIFEST")
  local host = wrk.host .. ":" .. tostring(wrk.port)
  for line in io.lines(manifest) do
    local path, signature, encoding = line:match("^(%S+)%s+(%S+)%s+(%S+)$")
    if path then
      local body = read_file(path)
      local head = "POST " .. wrk.path .. " HTTP/1.1\r\n"
        .. "Host: " .. host .. "\r\n"
        .. "Content-Type: application/json\r\n"
        .. "X-Signature: " .. signature .. "\r\n"
        .. "X-Webhook-Attempt: 1\r\n"
        .. "Content-Length: " .. #body .. "\r\n"
      if encoding == "gzip" then
        head = head .. "Content-Encoding: gzip\r\n"
      end
      table.insert(heads, head)
      table.insert(bodies, body)
    end
  end
  assert(#heads > 0, "empty manifest " .. manifest)
  -- Ids are unique across threads, and across runs when each run passes its own RUN_ID.
  prefix = string.format("%s-%d-", args[2] or tostring(os.time()), thread_number or 0)
  next_index = (thread_number or 0) % #heads
end

function request()
  next_index = next_index % #heads + 1
  sent = sent + 1
  return heads[next_index] .. "X-Webhook-Id: " .. prefix .. sent .. "\r\n\r\n" .. bodies[next_index]
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d "
      .. "non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end
