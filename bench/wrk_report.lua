-- wrk script of bench/http_load.sh and bench/probe_latency_bench.cc: plain
-- GETs of the URL's path, and one machine-readable summary line at the end.
-- Latencies are wrk's (microseconds, from the first byte written to the
-- last byte read, per request); rps counts completed requests.
--
--   wrk -t2 -c16 -d10s -s bench/wrk_report.lua http://127.0.0.1:PORT/health

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p95_us=%d p99_us=%d max_us=%d " ..
    "mean_us=%.1f connect_errors=%d read_errors=%d write_errors=%d status_errors=%d timeouts=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
