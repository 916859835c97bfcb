#!/usr/bin/env bash
# HTTP load: the real daemon against a bare cpp-httplib server, with wrk.
#
#   bench/http_load.sh BUILD_DIR
#
# Builds nothing: BUILD_DIR must hold provisioner, fake_tofu and
# bare_httplib_server (make provisioner fake_tofu bare_httplib_server).
# Settings, from the environment (defaults in brackets):
#   THREADS [2] CONNECTIONS [16] DURATION [10s]  wrk's -t -c -d, the same for every run
#   REPEAT [3]      rounds; each round loads every target and endpoint once, in
#                   alternating order, and the table shows the median of the rounds
#   WARMUP [2s]     one discarded wrk run per target and endpoint before the rounds
#   WORKSPACES [100]
#   WRK [wrk]
#
# The daemon runs on a config of WORKSPACES office-hours workspaces in a temp
# dir (loopback, port 0), with the fake tofu as opentofu.binary; its start-up
# catch-up jobs (fake tofu, fast) are waited out before measuring, so that
# /metrics holds their series. The bare server then serves the very bodies the
# daemon answered on /health and /metrics, with the daemon's thread count and
# timeouts (bench/bare_httplib_server.cc), so the difference between the two is
# what provisioner adds on top of httplib: the guard, routing, the request
# conversion, the handler (the health checks and their JSON, or the metrics
# exposition), the request metrics and the post-routing headers.
#
# Per target and endpoint: wrk's req/s and latency percentiles (the median of
# the rounds), and the server's CPU time per request (user + system of the
# server process over the wrk run, from /proc/PID/stat, divided by requests).
# wrk and both servers share the machine's cores.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
bench_dir=$(cd "$(dirname "$0")" && pwd)
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-10s}
REPEAT=${REPEAT:-3}
WARMUP=${WARMUP:-2s}
WORKSPACES=${WORKSPACES:-100}
WRK=${WRK:-wrk}
lua="$bench_dir/wrk_report.lua"

for bin in provisioner fake_tofu bare_httplib_server; do
  [ -x "$build/$bin" ] || { echo "missing $build/$bin (build it first)" >&2; exit 2; }
done
command -v "$WRK" >/dev/null || { echo "wrk not found" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 2; }

tmp=$(mktemp -d /tmp/provisioner-http-load-XXXXXX)
daemon_pid=""
bare_pid=""
cleanup() {
  for pid in $bare_pid $daemon_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the daemon ----
mkdir -p "$tmp/templates/t"
echo '# the fake tofu ignores HCL' >"$tmp/templates/t/main.tf"
{
  echo 'server: {listen: "127.0.0.1:0"}'
  echo 'scheduler: {timezone: UTC, max_concurrent_jobs: 4, kill_grace: 5s}'
  echo "opentofu: {binary: $build/fake_tofu, plugin_cache_dir: cache, lock_timeout: 20s," \
       'pass_env: ["FAKE_TOFU_*"]}'
  echo 'state: {dir: state}'
  echo 'logging: {level: info, format: text}'
  echo 'templates_dir: templates'
  echo 'workspaces:'
  zones=(Europe/Berlin America/New_York UTC Asia/Kolkata Australia/Lord_Howe)
  for ((i = 0; i < WORKSPACES; i++)); do
    printf '  - {name: ws-%04d, template: t, cost_per_hour: 0.5, labels: {team: t%d},' "$i" $((i % 10))
    printf ' schedule: {deploy: "0 8 * * MON-FRI", destroy: "0 19 * * MON-FRI", timezone: %s}}\n' \
      "${zones[$((i % 5))]}"
  done
} >"$tmp/config.yaml"

env -i PATH=/usr/bin:/bin HOME="$tmp" LANG=C.UTF-8 FAKE_TOFU_TIME_SCALE=0.01 \
  "$build/provisioner" serve --config "$tmp/config.yaml" 2>"$tmp/daemon.log" &
daemon_pid=$!

wait_for() {  # wait_for SECONDS COMMAND...: retries COMMAND every 0.1 s
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.1
  done
}
daemon_port() { sed -n 's/.*listening on port \([0-9][0-9]*\).*/\1/p' "$tmp/daemon.log" | head -1; }
has_port() { [ -n "$(daemon_port)" ]; }
if ! wait_for 30 has_port; then
  echo "the daemon did not start:" >&2
  cat "$tmp/daemon.log" >&2
  exit 1
fi
dport=$(daemon_port)
daemon_url="http://127.0.0.1:$dport"

# Start-up catch-up: every workspace converges to what its schedule wants now.
idle() {
  local m
  m=$(curl -sf "$daemon_url/metrics") || return 1
  grep -q '^provisioner_jobs_running_total 0$' <<<"$m" &&
    ! grep -q '^provisioner_jobs_queued[a-z_]* [1-9]' <<<"$m"
}
if ! wait_for 300 idle; then
  echo "the daemon did not become idle" >&2
  exit 1
fi
sleep 1
curl -sf -o "$tmp/health.body" "$daemon_url/health"
curl -sf -o "$tmp/metrics.body" "$daemon_url/metrics"

# ---- the bare server, serving the same bytes ----
"$build/bare_httplib_server" --health-body "$tmp/health.body" \
  --metrics-body "$tmp/metrics.body" >"$tmp/bare.out" 2>"$tmp/bare.err" &
bare_pid=$!
bare_ready() { grep -q '^port ' "$tmp/bare.out"; }
if ! wait_for 10 bare_ready; then
  echo "the bare server did not start:" >&2
  cat "$tmp/bare.err" >&2
  exit 1
fi
bport=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$tmp/bare.out")
bare_url="http://127.0.0.1:$bport"

echo "# $(date -u +%FT%TZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# wrk -t$THREADS -c$CONNECTIONS -d$DURATION --timeout 5s -s bench/wrk_report.lua," \
     "$REPEAT rounds, median shown"
echo "# daemon: port $dport, $WORKSPACES workspaces; bare: port $bport"
for path in /health /metrics; do
  d=$(curl -s -o /dev/null -w '%{size_download}' "$daemon_url$path")
  b=$(curl -s -o /dev/null -w '%{size_download}' "$bare_url$path")
  echo "# body of $path: daemon $d bytes, bare $b bytes"
done

# CPU time (user + system, all threads) of a process, in clock ticks.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# run_wrk TARGET PATH DURATION: prints "TARGET PATH key=value..." (wrk_report.lua),
# plus the server's CPU time per request.
run_wrk() {
  local url=$daemon_url pid=$daemon_pid out line before after requests
  if [ "$1" = bare ]; then url=$bare_url; pid=$bare_pid; fi
  before=$(cpu_ticks $pid)
  out=$("$WRK" -t"$THREADS" -c"$CONNECTIONS" -d"$3" --timeout 5s -s "$lua" "$url$2")
  after=$(cpu_ticks $pid)
  line=$(grep '^WRK_RESULT ' <<<"$out") || { echo "wrk printed no result:" >&2; echo "$out" >&2; exit 1; }
  line=${line#WRK_RESULT }
  requests=${line#requests=}
  requests=${requests%% *}
  echo "$1 $2 $line cpu_us_per_req=$(echo "($after - $before) * 1000000 / $ticks_per_second / $requests" | bc -l | xargs printf '%.2f')"
}

for target in daemon bare; do
  for path in /health /metrics; do run_wrk "$target" "$path" "$WARMUP" >/dev/null; done
done

results="$tmp/results"
: >"$results"
for ((round = 1; round <= REPEAT; round++)); do
  if ((round % 2)); then order="daemon bare"; paths="/health /metrics"; else
    order="bare daemon"; paths="/metrics /health"; fi
  for target in $order; do
    for path in $paths; do
      r=$(run_wrk "$target" "$path" "$DURATION")
      echo "round $round: $r"
      echo "$r" >>"$results"
    done
  done
done

# field TARGET PATH KEY: the values of KEY over the rounds, one per line
field() { awk -v t="$1" -v p="$2" -v k="$3" '$1 == t && $2 == p {
  for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$results"; }
median() { sort -g | awk '{ v[NR] = $1 } END {
  if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
sum() { awk '{ s += $1 } END { print s + 0 }'; }

echo
printf '%-7s %-9s %10s %9s %9s %9s %9s %11s %7s\n' target endpoint req/s p50_ms p95_ms p99_ms \
  max_ms cpu_us/req errors
for target in daemon bare; do
  for path in /health /metrics; do
    rps=$(field $target $path rps | median)
    p50=$(field $target $path p50_us | median)
    p95=$(field $target $path p95_us | median)
    p99=$(field $target $path p99_us | median)
    max=$(field $target $path max_us | median)
    cpu=$(field $target $path cpu_us_per_req | median)
    errors=0
    for k in connect_errors read_errors write_errors status_errors timeouts; do
      errors=$((errors + $(field $target $path $k | sum)))
    done
    printf '%-7s %-9s %10.0f %9.3f %9.3f %9.3f %9.3f %11.1f %7d\n' $target $path "$rps" \
      "$(echo "$p50 / 1000" | bc -l)" "$(echo "$p95 / 1000" | bc -l)" \
      "$(echo "$p99 / 1000" | bc -l)" "$(echo "$max / 1000" | bc -l)" "$cpu" $errors
  done
done

echo
for path in /health /metrics; do
  d=$(field daemon $path p95_us | median)
  b=$(field bare $path p95_us | median)
  dr=$(field daemon $path rps | median)
  br=$(field bare $path rps | median)
  dc=$(field daemon $path cpu_us_per_req | median)
  bc_=$(field bare $path cpu_us_per_req | median)
  printf 'daemon vs bare %-8s p95 %+.0f us (%+.1f%%), req/s %+.1f%%, server CPU per request %+.1f us\n' \
    "$path" "$(echo "$d - $b" | bc -l)" "$(echo "($d - $b) * 100 / $b" | bc -l)" \
    "$(echo "($dr - $br) * 100 / $br" | bc -l)" "$(echo "$dc - $bc_" | bc -l)"
done
echo "(the whole of provisioner's layer over httplib, handler work included; the part that is"
echo " request instrumentation is measured by probe_latency_bench --benchmark_filter=Instrument)"
