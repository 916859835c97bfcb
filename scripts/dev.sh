#!/usr/bin/env bash
# Installs the dependencies, builds provisioner and runs the daemon on
# config/dev.yaml in the foreground: state in ./var, the repository's
# templates, the API on http://127.0.0.1:9090. Ctrl-C stops it gracefully.
#
# The dev config pins OpenTofu 1.12.6: when `tofu` is not on PATH the daemon
# downloads that release from GitHub, verifies it against its SHA256SUMS and
# installs it under ./var/tofu/1.12.6/ before it starts.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVISIONER_WERROR=ON >/dev/null
cmake --build build -j "$(nproc)" --target provisioner

build/provisioner validate --config config/dev.yaml
cat <<'TIPS'

provisioner is starting on config/dev.yaml. In another terminal:
  build/provisioner status                      workspaces, desired and actual state
  build/provisioner deploy office-hours --wait  a manual deploy with live progress
  build/provisioner jobs                        recent jobs
  curl -s http://127.0.0.1:9090/health/deep     health checks
  curl -s http://127.0.0.1:9090/metrics         Prometheus metrics

TIPS
exec build/provisioner serve --config config/dev.yaml
