#!/usr/bin/env bash
# Job throughput with tracing off and on (sampling_ratio 1), side by side in
# interleaved rounds (issue 10: within 2% of off). Modes:
#   off        tracing.enabled: false
#   daemon     on, live receiver; the fake tofu's own export is off
#              (FAKE_TOFU_OTLP=off), so this is the daemon's cost alone
#   live       on, live receiver, and every tofu command posts its own span
#              too, as OpenTofu 1.10+ does when the daemon passes OTEL_*
#   blackhole  on, a receiver that accepts connections and never answers
#
#   bench/job_tracing.sh [BUILD_DIR] [JOBS] [ROUNDS] [MODES]
#     defaults: build 200 5 "off daemon live blackhole"
#
# Each run starts the real daemon with the fake tofu, queues JOBS manual
# deploys through the API (8 run at once), and times them from the first
# request to the last "job finished" line in the daemon's log. The live receiver is
# bench/bare_httplib_server (C++, next to no CPU per export). Prints jobs/s
# and the daemon's CPU per job (utime+stime over the timed part) per run,
# then per mode the median jobs/s, the median of the per-round ratios to
# off (paired, so that drift between rounds cancels) and the median CPU.
set -euo pipefail
build=$(realpath "${1:-build}")
jobs=${2:-200}
rounds=${3:-5}
modes=${4:-off daemon live blackhole}
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

# A live receiver: 200 {} to every POST /v1/traces.
"$build/bare_httplib_server" >"$tmp/live.out" &
pids+=($!)
# A blackhole: listens, never accepts.
"$py" - "$tmp/hole.port" <<'EOF' &
import sys, socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1024)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True: time.sleep(3600)
EOF
pids+=($!)
for f in live.out hole.port; do
  for _ in $(seq 100); do [ -s "$tmp/$f" ] && break; sleep 0.05; done
done
live="http://127.0.0.1:$(awk '/^port / {print $2}' "$tmp/live.out")/v1/traces"
hole="http://127.0.0.1:$(cat "$tmp/hole.port")/v1/traces"

# utime+stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)

run() {  # mode endpoint -> prints "jobs/s cpu_ms_per_job"
  local mode=$1 endpoint=$2 dir="$tmp/$1"
  local tofu_otlp=on
  [ "$mode" = daemon ] && tofu_otlp=off
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
    FAKE_TOFU_LOG=/dev/null FAKE_TOFU_OTLP=$tofu_otlp "$build/provisioner" serve --config "$dir/config.yaml" \
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
  local t0 t1 c0 c1
  c0=$(cpu_ticks "$daemon")
  t0=$(date +%s.%N)
  seq "$jobs" | xargs -P 8 -I@ curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d '{}' "$url/api/v1/workspaces/w@/deploy"
  # Counted in the log, not in /metrics: a scrape per poll would be daemon
  # CPU that every mode pays and that blurs the difference.
  while [ "$(grep -c '"message":"job finished' "$dir/daemon.log")" -lt "$jobs" ]; do
    sleep 0.01
  done
  t1=$(date +%s.%N)
  c1=$(cpu_ticks "$daemon")
  kill -TERM "$daemon"
  wait "$daemon" || true
  awk -v n="$jobs" -v a="$t0" -v b="$t1" -v c="$((c1 - c0))" -v hz="$ticks_per_s" \
    'BEGIN {printf "%.1f %.2f\n", n / (b - a), c / hz * 1000 / n}'
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
declare -A rate cpu ratio
for r in $(seq "$rounds"); do
  off_rate=""
  for mode in $modes; do
    case $mode in
      off) ep="" ;; daemon | live) ep=$live ;; blackhole) ep=$hole ;;
      *) echo "unknown mode $mode" >&2; exit 2 ;;
    esac
    read -r v c < <(run "$mode" "$ep")
    rate[$mode]+="$v "
    cpu[$mode]+="$c "
    [ "$mode" = off ] && off_rate=$v
    if [ -n "$off_rate" ]; then
      ratio[$mode]+="$(awk -v v="$v" -v o="$off_rate" 'BEGIN {printf "%.4f", v / o}') "
    fi
    echo "round $r $mode: $v jobs/s, daemon CPU $c ms/job"
  done
done
for mode in $modes; do
  m=$(echo "${rate[$mode]}" | median)
  c=$(echo "${cpu[$mode]}" | median)
  q=$(echo "${ratio[$mode]:-}" | median)
  awk -v m="$m" -v c="$c" -v q="${q:-0}" -v name="$mode" 'BEGIN {
    printf "median %-9s %7.1f jobs/s, daemon CPU %5.2f ms/job", name, m, c
    if (q > 0) printf ", paired vs off %+.1f%%", (q - 1) * 100
    printf "\n"
  }'
done
