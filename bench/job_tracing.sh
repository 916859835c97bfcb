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
# bench/bare_httplib_server (C++, next to no CPU per export). Prints per
# run the jobs/s and the CPU per job over the timed part: the daemon's own
# (utime+stime) and with the tofu processes it ran (plus cutime+cstime).
# With 8 jobs at once on a small machine the run is CPU-bound, so CPU per job
# is what sets throughput, and unlike jobs/s it hardly moves with scheduling
# noise. Then per mode: the medians, and the median of the per-round ratios
# to off (paired, so that drift between rounds cancels; the mode order
# rotates from round to round).
set -euo pipefail
build=$(realpath "${1:-build}")
jobs=${2:-200}
rounds=${3:-5}
modes=${4:-off daemon live blackhole}
py=/usr/bin/python3

# On tmpfs when there is one: every job saves the state with fsync, and the
# disk's latency (which drifts as a run goes on) would bury a 2% effect.
tmp=$(mktemp -d -p "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")")
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

# CPU of a process in clock ticks: "self children", where self is its own
# utime+stime and children the cutime+cstime of the children it reaped (every
# tofu the daemon ran and waited for).
cpu_ticks() { awk '{print $14 + $15, $16 + $17}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)

run() {  # mode endpoint -> prints "jobs/s daemon_cpu_ms_per_job all_cpu_ms_per_job"
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
  local t0 t1 s0 k0 s1 k1
  read -r s0 k0 < <(cpu_ticks "$daemon")
  t0=$(date +%s.%N)
  seq "$jobs" | xargs -P 8 -I@ curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d '{}' "$url/api/v1/workspaces/w@/deploy"
  # Counted in the log, not in /metrics: a scrape per poll would be daemon
  # CPU that every mode pays and that blurs the difference.
  while [ "$(grep -c '"message":"job finished' "$dir/daemon.log")" -lt "$jobs" ]; do
    sleep 0.01
  done
  t1=$(date +%s.%N)
  read -r s1 k1 < <(cpu_ticks "$daemon")
  kill -TERM "$daemon"
  wait "$daemon" || true
  awk -v n="$jobs" -v a="$t0" -v b="$t1" -v s="$((s1 - s0))" -v k="$((k1 - k0))" \
    -v hz="$ticks_per_s" \
    'BEGIN {printf "%.1f %.2f %.2f\n", n / (b - a), s / hz * 1000 / n, (s + k) / hz * 1000 / n}'
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
declare -A rate cpu all ratio all_ratio
read -r -a mode_list <<<"$modes"
for r in $(seq "$rounds"); do
  # Each round starts with another mode, so that no mode always runs first
  # (a slow drift of the machine would otherwise favour it).
  order=()
  for i in "${!mode_list[@]}"; do
    order+=("${mode_list[$(((i + r - 1) % ${#mode_list[@]}))]}")
  done
  declare -A round_rate=() round_all=()
  for mode in "${order[@]}"; do
    case $mode in
      off) ep="" ;; daemon | live) ep=$live ;; blackhole) ep=$hole ;;
      *) echo "unknown mode $mode" >&2; exit 2 ;;
    esac
    read -r v c a < <(run "$mode" "$ep")
    rate[$mode]+="$v "
    cpu[$mode]+="$c "
    all[$mode]+="$a "
    round_rate[$mode]=$v
    round_all[$mode]=$a
    echo "round $r $mode: $v jobs/s, CPU per job: daemon $c ms, with tofu $a ms"
  done
  if [ -n "${round_rate[off]:-}" ]; then
    for mode in "${order[@]}"; do
      ratio[$mode]+="$(awk -v v="${round_rate[$mode]}" -v o="${round_rate[off]}" \
        'BEGIN {printf "%.4f", v / o}') "
      all_ratio[$mode]+="$(awk -v v="${round_all[$mode]}" -v o="${round_all[off]}" \
        'BEGIN {printf "%.4f", v / o}') "
    done
  fi
done
for mode in $modes; do
  m=$(echo "${rate[$mode]}" | median)
  c=$(echo "${cpu[$mode]}" | median)
  q=$(echo "${ratio[$mode]:-}" | median)
  a=$(echo "${all[$mode]}" | median)
  qa=$(echo "${all_ratio[$mode]:-}" | median)
  awk -v m="$m" -v c="$c" -v a="$a" -v q="${q:-0}" -v qa="${qa:-0}" -v name="$mode" 'BEGIN {
    printf "median %-9s %6.1f jobs/s", name, m
    if (q > 0) printf " (paired vs off %+5.1f%%)", (q - 1) * 100
    printf ", CPU per job: daemon %5.2f ms, with tofu %6.2f ms", c, a
    if (qa > 0) printf " (paired vs off %+5.1f%%)", (qa - 1) * 100
    printf "\n"
  }'
done
