#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/*_fuzz.cc) with clang 14 under
# AddressSanitizer and UndefinedBehaviorSanitizer in build-fuzz/, and runs
# them on their committed corpora.
#   scripts/fuzz.sh                      every target, 20000 runs each
#   scripts/fuzz.sh cron --runs 10000000 one target, ten million runs
#   scripts/fuzz.sh config --time 600    one target for ten minutes
# Targets: cron config web_config ui_stream guard state history api_body
# traceparent. Findings stay in a scratch directory and are printed; turn
# each into a unit test (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."

target=""
runs=20000
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --time) runs=-1; extra+=(-max_total_time="$2"); shift 2 ;;
    -*) echo "usage: scripts/fuzz.sh [TARGET] [--runs N | --time S]" >&2; exit 2 ;;
    *) target=$1; shift ;;
  esac
done

scripts/install-deps.sh
export CC=clang CXX=clang++
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVISIONER_ASAN=ON \
  -DPROVISIONER_FUZZ=ON -DPROVISIONER_FUZZ_COVERAGE=ON -DPROVISIONER_BUILD_TESTS=OFF -DPROVISIONER_BUILD_BENCH=OFF >/dev/null
if [ -n "$target" ]; then
  cmake --build build-fuzz -j "$(nproc)" --target "${target}_fuzz"
  targets=("$target")
else
  cmake --build build-fuzz -j "$(nproc)"
  targets=()
  for f in tests/fuzz/*_fuzz.cc; do
    name=$(basename "$f" _fuzz.cc)
    targets+=("$name")
  done
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  echo "== $t"
  tests/fuzz/run.sh "build-fuzz/${t}_fuzz" "$t" "$runs" "${extra[@]}"
done
