#!/usr/bin/env bash
# Runs one libFuzzer target on its committed corpus, then for RUNS more
# inputs (a fixed seed, so a CI failure reproduces). New inputs go to a
# scratch directory, never into tests/fuzz/corpus. A crash leaves the input
# in the scratch directory and is printed; the exit code is libFuzzer's.
#   tests/fuzz/run.sh BINARY NAME [RUNS] [extra libFuzzer flags...]
set -euo pipefail
binary=${1:?usage: run.sh BINARY NAME [RUNS]}
name=${2:?usage: run.sh BINARY NAME [RUNS]}
runs=${3:-20000}
shift $(( $# < 3 ? $# : 3 ))
here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/corpus/$name
[ -d "$corpus" ] || { echo "run.sh: no corpus at $corpus" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
flags=(-runs="$runs" -seed=1 -max_len=65536 -timeout=10 -rss_limit_mb=2048
       -artifact_prefix="$scratch/" -print_final_stats=1)
# Whole documents parse three times per input (ui_stream) or go through the
# YAML parser and the validator: 8 KiB is far more than the grammar needs
# and keeps them at hundreds of inputs per second instead of tens.
case $name in
  cron) flags+=(-dict="$here/cron.dict") ;;
  config | web_config) flags+=(-dict="$here/yaml.dict" -max_len=8192) ;;
  ui_stream) flags+=(-max_len=8192) ;;
esac
if ! "$binary" "${flags[@]}" "$@" "$scratch" "$corpus"; then
  for crash in "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-* "$scratch"/oom-*; do
    [ -e "$crash" ] || continue
    echo "run.sh: $name failed on $(basename "$crash"):" >&2
    od -c "$crash" | head -20 >&2
  done
  exit 1
fi
