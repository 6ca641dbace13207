-- The cncfdemo benchmark: wrk writes real Countly events through the write API (/i), one
-- device id after another, and done() pushes the run's summary to the Prometheus Pushgateway.
--
-- Settings come from the environment:
--   COUNTLY_APP_KEY_FILE   file holding the app key of the Countly application the events
--                          are written to (a mounted Secret), or COUNTLY_APP_KEY, the key itself
--   PUSHGATEWAY_URL        http://host:port of the Pushgateway
--   BENCHMARK_STACK, BENCHMARK_PROVIDER, RUN_ID
--                          grouping labels of the pushed metrics ([A-Za-z0-9._-]+)
--   BENCHMARK_CONNECTIONS  reported as a metric; wrk does not tell scripts its -c value
--   BENCHMARK_DEVICES      distinct device ids a run cycles through (default 10000)
--
-- The metric names are the contract in components/workloads/benchmark_metrics.py.
--
-- wrk's Lua has no HTTP client and the wrk image need not ship curl, so the push speaks
-- HTTP/1.0 over a socket opened through LuaJIT's FFI (wrk always embeds LuaJIT).

local JOB = "cncfdemo_benchmark"
local PUSH_TIMEOUT_SECONDS = 10

local function fail(message)
  io.stderr:write("cncfdemo benchmark: " .. message .. "\n")
  io.stderr:flush()
  os.exit(1)
end

local function required(name)
  local value = os.getenv(name)
  if value == nil or value == "" then
    fail(name .. " is not set")
  end
  return value
end

-- A secret from the file NAME_FILE names, else from NAME itself.
local function secret(name)
  local path = os.getenv(name .. "_FILE")
  if path == nil or path == "" then
    return required(name)
  end
  local file, problem = io.open(path, "r")
  if file == nil then
    fail(name .. "_FILE: " .. problem)
  end
  local value = file:read("*a"):gsub("%s+$", "")
  file:close()
  if value == "" then
    fail(name .. "_FILE: " .. path .. " is empty")
  end
  return value
end

local function label(name)
  local value = required(name)
  if not value:match("^[A-Za-z0-9._-]+$") then
    fail(name .. "=" .. value .. " may only hold letters, digits, '.', '_' and '-'")
  end
  return value
end

local function url_encode(text)
  return (text:gsub("[^A-Za-z0-9._~-]", function(char)
    return string.format("%%%02X", string.byte(char))
  end))
end

local function number(value)
  return string.format("%.17g", value)
end

-- request generation, in every thread -------------------------------------------------------

local app_key = url_encode(secret("COUNTLY_APP_KEY"))
local run_id = label("RUN_ID")
local devices = tonumber(os.getenv("BENCHMARK_DEVICES") or "10000")
local events = url_encode(string.format(
  '[{"key":"cncfdemo_benchmark","count":1,"segmentation":{"stack":"%s","run_id":"%s"}}]',
  label("BENCHMARK_STACK"), run_id))

local threads = {}
local sent = 0
non_2xx = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function request()
  sent = sent + 1
  -- thread_number is set by setup() in this thread's own Lua state before the first request
  local device = string.format("%s-%d-%d", run_id, thread_number, sent % devices)
  return wrk.format("GET", "/i?app_key=" .. app_key .. "&device_id=" .. device
                    .. "&events=" .. events)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  end
end

-- the push, from done() in the main thread --------------------------------------------------

local function parse_http_url(url)
  local host, port, path = url:match("^http://([^/:]+):?(%d*)(/?.*)$")
  if not host then
    fail("PUSHGATEWAY_URL=" .. url .. " is not an http://host[:port] URL")
  end
  return host, (port ~= "" and port or "80"), (path:gsub("/+$", ""))
end

local function http_put(url, path, body)
  local ffi = require("ffi")
  ffi.cdef([[
    typedef unsigned int socklen_t;
    struct sockaddr;
    struct addrinfo {
      int ai_flags; int ai_family; int ai_socktype; int ai_protocol;
      socklen_t ai_addrlen; struct sockaddr *ai_addr; char *ai_canonname;
      struct addrinfo *ai_next;
    };
    struct timeval { long tv_sec; long tv_usec; };
    int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                    struct addrinfo **res);
    void freeaddrinfo(struct addrinfo *res);
    const char *gai_strerror(int errcode);
    int socket(int domain, int type, int protocol);
    int setsockopt(int fd, int level, int name, const void *value, socklen_t length);
    int connect(int fd, const struct sockaddr *address, socklen_t length);
    long write(int fd, const void *buffer, size_t count);
    long read(int fd, void *buffer, size_t count);
    int close(int fd);
    char *strerror(int errnum);
  ]])
  local C = ffi.C
  local SOCK_STREAM, SOL_SOCKET, SO_RCVTIMEO, SO_SNDTIMEO = 1, 1, 20, 21

  local host, port, base = parse_http_url(url)
  local hints = ffi.new("struct addrinfo")
  hints.ai_socktype = SOCK_STREAM
  local found = ffi.new("struct addrinfo *[1]")
  local rc = C.getaddrinfo(host, port, hints, found)
  if rc ~= 0 then
    return nil, "cannot resolve " .. host .. ": " .. ffi.string(C.gai_strerror(rc))
  end

  local fd, last_error = -1, "no address"
  local address = found[0]
  while address ~= nil do
    fd = C.socket(address.ai_family, address.ai_socktype, address.ai_protocol)
    if fd >= 0 then
      local timeout = ffi.new("struct timeval", {PUSH_TIMEOUT_SECONDS, 0})
      C.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, ffi.sizeof(timeout))
      C.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, timeout, ffi.sizeof(timeout))
      if C.connect(fd, address.ai_addr, address.ai_addrlen) == 0 then
        break
      end
      last_error = ffi.string(C.strerror(ffi.errno()))
      C.close(fd)
      fd = -1
    end
    address = address.ai_next
  end
  C.freeaddrinfo(found[0])
  if fd < 0 then
    return nil, "cannot connect to " .. host .. ":" .. port .. ": " .. last_error
  end

  local message = table.concat({
    "PUT " .. base .. path .. " HTTP/1.0",
    "Host: " .. host .. ":" .. port,
    "Content-Type: text/plain; version=0.0.4",
    "Content-Length: " .. #body,
    "", body}, "\r\n")
  local offset = 0
  while offset < #message do
    local written = C.write(fd, ffi.cast("const char *", message) + offset, #message - offset)
    if written <= 0 then
      C.close(fd)
      return nil, "cannot send to " .. host .. ": " .. ffi.string(C.strerror(ffi.errno()))
    end
    offset = offset + tonumber(written)
  end

  local chunks, buffer = {}, ffi.new("char[4096]")
  while true do
    local count = tonumber(C.read(fd, buffer, 4096))
    if count <= 0 then break end
    table.insert(chunks, ffi.string(buffer, count))
  end
  C.close(fd)
  local answer = table.concat(chunks)
  local status = tonumber(answer:match("^HTTP/%d%.%d (%d%d%d)"))
  if status == nil or status < 200 or status > 299 then
    return nil, "the Pushgateway answered: " .. (answer:match("^[^\r\n]*") or "nothing")
  end
  return status
end

local function exposition(result)
  local lines = {}
  local function metric(name, kind, help, value, labels)
    table.insert(lines, "# HELP " .. name .. " " .. help)
    table.insert(lines, "# TYPE " .. name .. " " .. kind)
    table.insert(lines, name .. (labels or "") .. " " .. number(value))
  end
  metric("cncfdemo_benchmark_requests_total", "counter", "Responses wrk received.",
         result.requests)
  metric("cncfdemo_benchmark_errors_total", "counter",
         "Non-2xx responses plus connect, read, write and timeout errors.", result.errors)
  metric("cncfdemo_benchmark_duration_seconds", "gauge", "Length of the run.", result.duration)
  metric("cncfdemo_benchmark_throughput_requests_per_second", "gauge",
         "Responses per second over the run.", result.throughput)
  table.insert(lines, "# HELP cncfdemo_benchmark_latency_seconds Latency percentiles of the run.")
  table.insert(lines, "# TYPE cncfdemo_benchmark_latency_seconds gauge")
  for _, q in ipairs({"0.5", "0.9", "0.99"}) do
    table.insert(lines, 'cncfdemo_benchmark_latency_seconds{quantile="' .. q .. '"} '
                        .. number(result.latency[q]))
  end
  metric("cncfdemo_benchmark_latency_max_seconds", "gauge", "Slowest response of the run.",
         result.latency_max)
  metric("cncfdemo_benchmark_connections", "gauge", "Open connections of the run.",
         result.connections)
  metric("cncfdemo_benchmark_threads", "gauge", "wrk threads of the run.", result.threads)
  metric("cncfdemo_benchmark_completed_timestamp_seconds", "gauge",
         "When the run ended, in seconds since the epoch.", result.completed)
  return table.concat(lines, "\n") .. "\n"
end

local function json(result, stack, provider)
  return string.format(
    '{"stack":"%s","provider":"%s","run_id":"%s","requests":%s,"non_2xx":%s,'
    .. '"socket_errors":{"connect":%s,"read":%s,"write":%s,"timeout":%s},"errors":%s,'
    .. '"duration_seconds":%s,"throughput":%s,"latency_seconds":{"0.5":%s,"0.9":%s,"0.99":%s},'
    .. '"latency_max_seconds":%s,"connections":%s,"threads":%s,"completed":%s}',
    stack, provider, run_id, number(result.requests), number(result.non_2xx),
    number(result.socket.connect), number(result.socket.read), number(result.socket.write),
    number(result.socket.timeout), number(result.errors), number(result.duration),
    number(result.throughput), number(result.latency["0.5"]), number(result.latency["0.9"]),
    number(result.latency["0.99"]), number(result.latency_max), number(result.connections),
    number(result.threads), number(result.completed))
end

function done(summary, latency, requests)
  local stack, provider = label("BENCHMARK_STACK"), label("BENCHMARK_PROVIDER")
  local pushgateway = required("PUSHGATEWAY_URL")

  local bad_status = 0
  for _, thread in ipairs(threads) do
    bad_status = bad_status + thread:get("non_2xx")
  end
  local socket = summary.errors
  local seconds = summary.duration / 1e6
  local result = {
    requests = summary.requests,
    non_2xx = bad_status,
    socket = socket,
    errors = bad_status + socket.connect + socket.read + socket.write + socket.timeout,
    duration = seconds,
    throughput = summary.requests / seconds,
    -- wrk keeps latencies in microseconds
    latency = {["0.5"] = latency:percentile(50) / 1e6, ["0.9"] = latency:percentile(90) / 1e6,
               ["0.99"] = latency:percentile(99) / 1e6},
    latency_max = latency.max / 1e6,
    connections = tonumber(os.getenv("BENCHMARK_CONNECTIONS") or "0"),
    threads = #threads,
    completed = os.time(),
  }
  io.write("cncfdemo-benchmark-result " .. json(result, stack, provider) .. "\n")

  local path = "/metrics/job/" .. JOB .. "/stack/" .. stack .. "/provider/" .. provider
               .. "/run_id/" .. run_id
  local ok, problem = http_put(pushgateway, path, exposition(result))
  if not ok then
    fail("pushing the results to " .. pushgateway .. " failed: " .. problem)
  end
  io.write("cncfdemo-benchmark-pushed " .. pushgateway .. path .. "\n")
  io.stdout:flush()
end
