#!/usr/bin/env bash
# ctest gets one test per doctest case from doctest_discover_tests, which
# keeps the names in a CMake list: a ';' in a name splits it into two ctest
# entries that each match no case, so neither runs anything and both pass.
# Fails on any test case name with a ';'.
set -euo pipefail
cd "$(dirname "$0")/.."
if grep -rnE 'TEST_CASE\("[^"]*;' tests; then
  echo "check-test-names: a ';' in a TEST_CASE name splits it in ctest (use ',' instead)" >&2
  exit 1
fi
echo "check-test-names: ok"
