#!/usr/bin/env bash
# Builds the Debian package: a Release build in build-release/ (no tests, no
# benchmarks), then `cpack -G DEB`. Prints the path of the .deb on stdout.
#   scripts/package.sh
#   sudo apt install ./build-release/provisioner_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh >&2
dir=${PROVISIONER_PACKAGE_BUILD_DIR:-build-release}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DPROVISIONER_BUILD_TESTS=OFF -DPROVISIONER_BUILD_BENCH=OFF >&2
cmake --build "$dir" -j "$(nproc)" >&2
(cd "$dir" && cpack -G DEB >&2)
deb=$(ls -t "$dir"/provisioner_*.deb | head -n 1)
echo "$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
