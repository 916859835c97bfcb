#!/usr/bin/env bash
# The HA chaos loop: N `provisioner serve` nodes on one throwaway PostgreSQL
# 15, with SIGKILL, SIGSTOP/SIGCONT, SIGTERM and network blackholes while
# schedules fire, then the invariant checker; see scripts/ha_chaos.py and
# docs/ha.md. Exit 0 with no violation, 1 with some, 77 without postgresql-15.
#   scripts/ha-chaos.sh --minutes 10 --seed 1
#   scripts/ha-chaos.sh --minutes 15 --timings default --seed 2 --keep
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/ha_chaos.py "$@"
