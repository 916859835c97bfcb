#!/usr/bin/env bash
# Job throughput with tracing off, on at sampling_ratio 1 against a live OTLP
# receiver, and on against a blackholed one (it accepts connections and never
# answers), side by side in interleaved rounds (issue 10: within 2%).
#
#   bench/job_tracing.sh [BUILD_DIR] [JOBS] [ROUNDS]     defaults: build 200 5
#
# Each round starts the real daemon three times with the fake tofu, queues
# JOBS manual deploys through the API (8 run at once), and times them from
# the first request to the last job counted in /metrics. Prints jobs/s per
# round and the median per mode.
set -euo pipefail
build=$(realpath "${1:-build}")
jobs=${2:-200}
rounds=${3:-5}
py=/usr/bin/python3

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/bin" "$tmp/templates/t"
ln -s "$build/fake_tofu" "$tmp/bin/tofu"
echo '# the fake tofu ignores HCL' >"$tmp/templates/t/main.tf"
echo '{"resources": 1}' >"$tmp/control.json"

# A live receiver: 200 {} to every POST.
"$py" - "$tmp/live.port" <<'EOF' &
import sys, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF
pids+=($!)
# A blackhole: listens, never accepts.
"$py" - "$tmp/hole.port" <<'EOF' &
import sys, socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1024)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True: time.sleep(3600)
EOF
pids+=($!)
for f in live.port hole.port; do
  for _ in $(seq 100); do [ -s "$tmp/$f" ] && break; sleep 0.05; done
done
live="http://127.0.0.1:$(cat "$tmp/live.port")/v1/traces"
hole="http://127.0.0.1:$(cat "$tmp/hole.port")/v1/traces"

run() {  # mode endpoint -> prints jobs/s
  local mode=$1 endpoint=$2 dir="$tmp/$1"
  rm -rf "$dir" && mkdir -p "$dir"
  {
    echo 'server: {listen: "127.0.0.1:0"}'
    echo 'scheduler: {timezone: UTC, max_concurrent_jobs: 8}'
    echo "opentofu: {binary: $tmp/bin/tofu, plugin_cache_dir: $dir/cache, pass_env: [\"FAKE_TOFU_*\"]}"
    echo "state: {dir: $dir/state}"
    echo 'logging: {level: info}'
    if [ "$mode" = off ]; then
      echo 'tracing: {enabled: false}'
    else
      echo "tracing: {enabled: true, endpoint: \"$endpoint\", sampling_ratio: 1}"
    fi
    echo "templates_dir: $tmp/templates"
    echo 'workspaces:'
    for i in $(seq "$jobs"); do echo "  - {name: w$i, template: t}"; done
  } >"$dir/config.yaml"
  env -i PATH="$tmp/bin:/usr/bin:/bin" HOME="$dir" FAKE_TOFU_CONTROL="$tmp/control.json" \
    FAKE_TOFU_LOG=/dev/null "$build/provisioner" serve --config "$dir/config.yaml" \
    2>"$dir/daemon.log" &
  local daemon=$!
  local port=""
  for _ in $(seq 200); do
    port=$(grep -o 'listening on port [0-9]*' "$dir/daemon.log" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$dir/daemon.log" >&2; exit 1; }
  local url="http://127.0.0.1:$port"
  local t0 t1
  t0=$(date +%s.%N)
  seq "$jobs" | xargs -P 8 -I@ curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d '{}' "$url/api/v1/workspaces/w@/deploy"
  while true; do
    done_jobs=$(curl -sf "$url/metrics" |
      awk '/^provisioner_jobs_completed_total/ {s += $2} END {print s + 0}')
    [ "$done_jobs" -ge "$jobs" ] && break
    sleep 0.02
  done
  t1=$(date +%s.%N)
  kill -TERM "$daemon"
  wait "$daemon" || true
  awk -v n="$jobs" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f\n", n / (b - a)}'
}

declare -A results
for r in $(seq "$rounds"); do
  for mode in off live blackhole; do
    case $mode in off) ep="" ;; live) ep=$live ;; blackhole) ep=$hole ;; esac
    v=$(run "$mode" "$ep")
    results[$mode]+="$v "
    echo "round $r $mode: $v jobs/s"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
off=$(echo "${results[off]}" | median)
for mode in off live blackhole; do
  m=$(echo "${results[$mode]}" | median)
  awk -v m="$m" -v o="$off" -v name="$mode" \
    'BEGIN {printf "median %-9s %7.1f jobs/s (%+.1f%% vs off)\n", name, m, (m - o) / o * 100}'
done
