#!/usr/bin/env bash
# A kill -9 (or SIGSTOP) crash campaign against the real daemon and the fake
# tofu; see scripts/crash_campaign.py and docs/reliability.md.
#   scripts/crash-campaign.sh --kills 20
#   scripts/crash-campaign.sh --kills 50 --mode stop --seed 7 --workspaces 12 --build build --keep
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/crash_campaign.py "$@"
