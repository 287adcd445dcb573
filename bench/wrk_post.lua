-- wrk script for bench/http_throughput.py: POSTs Livebase-style JSON bodies
-- ({"path": ..., "args": {...}, "format": "json"}) to the URL's path, varying
-- the owner (and, for inserts, the body) on every request, and counts every
-- answer that is not HTTP 200 with "status":"success" as a failure.
--
-- Settings come from the environment (the main Lua state, which runs done(),
-- gets no script arguments):
--   BENCH_KIND    "add", "byOwner", or "byOwnerUnique" (byOwner with a unique
--                 "nonce" argument, so no query cache can answer it)
--   BENCH_OWNERS  number of distinct owners (default 50)
--   BENCH_OUT     file to write the results to, as JSON
--   BENCH_BASE    first value of the per-request counter n (inserts' "n",
--                 unique nonces): the caller gives every run its own range

local kind = os.getenv("BENCH_KIND") or "byOwner"
local owners = tonumber(os.getenv("BENCH_OWNERS") or "50")
local headers = { ["Content-Type"] = "application/json" }

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- per-thread state (each wrk thread has its own Lua state)
local n = 0
failures = 0
failure_sample = ""

function init(args)
  -- distinct n (and so nonce) per thread and per run
  n = tonumber(os.getenv("BENCH_BASE") or "0") + (tid or 0) * 100000000
  math.randomseed(os.time() + (tid or 0) * 7919)
end

function request()
  n = n + 1
  local owner = math.random(0, owners - 1)
  local body
  if kind == "add" then
    body = string.format(
      '{"path":"items:add","args":{"owner":"o%d","n":%d,"body":"item %d %s"},"format":"json"}',
      owner, n, n, string.rep("x", math.random(0, 40)))
  elseif kind == "byOwnerUnique" then
    body = string.format(
      '{"path":"items:byOwner","args":{"owner":"o%d","nonce":%d},"format":"json"}', owner, n)
  else
    body = string.format('{"path":"items:byOwner","args":{"owner":"o%d"},"format":"json"}', owner)
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, body)
  if status ~= 200 or not string.find(body, '"status":"success"', 1, true) then
    failures = failures + 1
    if failure_sample == "" then
      failure_sample = tostring(status) .. " " .. string.sub(body, 1, 300)
    end
  end
end

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local failed, sample = 0, ""
  for _, t in ipairs(threads) do
    failed = failed + (t:get("failures") or 0)
    local s = t:get("failure_sample") or ""
    if sample == "" then sample = s end
  end
  local e = summary.errors
  local out = string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"failures":%d,"failure_sample":%s,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"min":%d,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}',
    summary.requests, summary.duration, summary.bytes, failed, json_string(sample),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.min, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9))
  local path = os.getenv("BENCH_OUT")
  if path then
    local f = assert(io.open(path, "w"))
    f:write(out)
    f:close()
  else
    io.write(out, "\n")
  end
end
