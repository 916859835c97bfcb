#!/usr/bin/env bash
# ctest gets one test per doctest case from doctest_discover_tests, which
# keeps the names in a CMake list: a ';' in a name splits it into two ctest
# entries that each match no case, so neither runs anything and both pass.
# Fails on any test case name with a ';', also a name that clang-format
# wrapped onto the next line or split into adjacent string literals.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(find tests -name '*.cc' -print0 | xargs -0 perl -0ne '
  while (/TEST_CASE\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\)/g) {
    my $name = $1;
    print "$ARGV: $name\n" if $name =~ /;/;
  }')
if [ -n "$bad" ]; then
  echo "$bad" >&2
  echo "check-test-names: a ';' in a TEST_CASE name splits it in ctest (use ',' instead)" >&2
  exit 1
fi
echo "check-test-names: ok"
