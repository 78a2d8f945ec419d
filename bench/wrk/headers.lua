-- The peers' wrk request script (../shared/bench/peers/wrk/request.lua) plus extra request
-- headers, for endpoints that read more than Authorization (the gateway's /gateway/check):
--   WRK_METHOD (GET|POST, default GET), WRK_BODY, WRK_CTYPE, WRK_AUTH as there, and
--   WRK_HEADERS: one "Name: value" a line (e.g. "X-Original-URI: /orders/1").
-- done() prints the same machine-readable line: "WRKJSON {...}" (latencies in microseconds).
local method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
local ctype = os.getenv("WRK_CTYPE")
local auth = os.getenv("WRK_AUTH")
local extra = os.getenv("WRK_HEADERS") or ""

wrk.method = method
wrk.headers["Accept"] = "application/json"
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = ctype or "application/x-www-form-urlencoded"
end
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
for line in string.gmatch(extra, "[^\r\n]+") do
  local name, value = string.match(line, "^%s*([^:%s]+)%s*:%s*(.-)%s*$")
  if name then
    wrk.headers[name] = value
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"lat_mean_us":%.1f,"lat_max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
