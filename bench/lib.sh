# shellcheck shell=bash
# Shared by the benchmarks that drive the real daemon with the fake tofu from
# a Python driver (load_10k.sh, soak.sh). Sourced, not run.
#
#   run_daemon_bench NAME DRIVER USAGE [BUILD_DIR] [DRIVER_OPTIONS...]
#
# Copies BUILD_DIR/provisioner and BUILD_DIR/fake_tofu (as `tofu`) into a new
# temp dir, so that a rebuild during the run is harmless, and runs
# bench/DRIVER with --bin-dir and --work in it under nice. On exit, stops a
# daemon the driver left behind (its pid in work/daemon.pid: SIGTERM, then
# SIGKILL to its process group after 10 s) and removes the temp dir unless
# KEEP=1. Environment: NICE [10], TMPDIR, KEEP.

run_daemon_bench() {
  local name=$1 driver=$2 usage=$3
  shift 3
  local build=build
  if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
    build=$1
    shift
  fi
  if [ ! -d "$build" ]; then
    echo "usage: $0 [BUILD_DIR] $usage" >&2
    exit 2
  fi
  build=$(cd "$build" && pwd)
  local bench_dir bin
  bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  for bin in provisioner fake_tofu; do
    [ -x "$build/$bin" ] || { echo "missing $build/$bin (build it first)" >&2; exit 2; }
  done
  command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 2; }

  bench_tmp=$(mktemp -d "${TMPDIR:-/tmp}/provisioner-$name-XXXXXX")
  trap _bench_cleanup EXIT
  trap 'exit 130' INT TERM

  mkdir -p "$bench_tmp/bin" "$bench_tmp/work"
  cp "$build/provisioner" "$bench_tmp/bin/provisioner"
  cp "$build/fake_tofu" "$bench_tmp/bin/tofu"

  PYTHONDONTWRITEBYTECODE=1 nice -n "${NICE:-10}" python3 "$bench_dir/$driver" \
    --bin-dir "$bench_tmp/bin" --work "$bench_tmp/work" "$@"
}

# The driver stops the daemon itself; this is for a driver that died.
_bench_cleanup() {
  local pid
  if [ -s "$bench_tmp/work/daemon.pid" ]; then
    pid=$(cat "$bench_tmp/work/daemon.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    echo "# kept $bench_tmp" >&2
  else
    rm -rf "$bench_tmp"
  fi
}
