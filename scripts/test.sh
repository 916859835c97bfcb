#!/usr/bin/env bash
# Installs the dependencies, builds everything and runs the whole test suite.
#   scripts/test.sh           RelWithDebInfo build in build/
#   scripts/test.sh --asan    AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#   scripts/test.sh --tsan    ThreadSanitizer build in build-tsan/
#   scripts/test.sh --clang   clang (libstdc++) build with -Wthread-safety in build-clang/
#   scripts/test.sh --clang-asan
#                             both: clang with -Wthread-safety, under AddressSanitizer +
#                             UndefinedBehaviorSanitizer, in build-clang-asan/ (CI's second stage),
#                             with the libFuzzer targets, each run briefly on its corpus
# Warnings are errors here (PROVISIONER_WERROR), unlike a plain CMake build.
# Exits non-zero when a build step or a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case "$mode" in
  "") dir=build; flags=() ;;
  --asan) dir=build-asan; flags=(-DPROVISIONER_ASAN=ON -DPROVISIONER_BUILD_BENCH=OFF) ;;
  --tsan) dir=build-tsan; flags=(-DPROVISIONER_TSAN=ON -DPROVISIONER_BUILD_BENCH=OFF) ;;
  --clang)
    dir=build-clang
    flags=(-DCMAKE_CXX_COMPILER=clang++ -DPROVISIONER_BUILD_BENCH=OFF)
    export CC=clang CXX=clang++
    ;;
  --clang-asan)
    dir=build-clang-asan
    flags=(-DCMAKE_CXX_COMPILER=clang++ -DPROVISIONER_ASAN=ON -DPROVISIONER_FUZZ=ON
           -DPROVISIONER_BUILD_BENCH=OFF)
    export CC=clang CXX=clang++
    ;;
  *) echo "usage: scripts/test.sh [--asan|--tsan|--clang|--clang-asan]" >&2; exit 2 ;;
esac

scripts/install-deps.sh
jobs=$(nproc)
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVISIONER_WERROR=ON "${flags[@]}" \
  >/dev/null
cmake --build "$dir" -j "$jobs"
if [ "$mode" = "--asan" ] || [ "$mode" = "--clang-asan" ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
if [ "$mode" = "--tsan" ]; then
  # Debian's libraries are not instrumented: their own loads and stores are
  # invisible to TSan, and ignore_noninstrumented_modules makes the libc calls
  # they make (memcmp, operator new, ...) invisible too, while their locks and
  # socket I/O still order threads. Without it, the function-local statics of
  # libcpp-httplib give false reports. Why not a suppression file:
  # docs/reliability.md, "ThreadSanitizer".
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1
fi
ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 300
