#!/usr/bin/env bash
# Installs the dependencies, builds provisioner and runs it on config/dev.yaml.
#
# The daemon (`provisioner serve`) arrives with issue 5. Until then this runs
# the furthest thing that exists: the cron engine on the dev schedules.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target provisioner

bin=build/provisioner
"$bin" version
echo
echo "dev.sh: 'provisioner serve' does not exist yet; showing the cron engine instead."
echo "Next office-hours deploys (0 8 * * MON-FRI, Europe/Berlin):"
"$bin" cron next "0 8 * * MON-FRI" --tz Europe/Berlin --count 5
echo "Next spring-forward fire of 30 2 * * * in Europe/Berlin (02:30 does not exist on DST day):"
"$bin" cron next "30 2 * * *" --tz Europe/Berlin --from 2027-03-27T12:00:00+01:00 --count 2
