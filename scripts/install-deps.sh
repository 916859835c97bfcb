#!/usr/bin/env bash
# Installs the Debian 12 packages that build and test provisioner (DESIGN.md §10).
# Idempotent: when everything is installed it prints nothing and exits 0.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  # toolchain; clang 14 for the -Wthread-safety build (scripts/test.sh --clang)
  # and, with its runtime libraries, for the libFuzzer targets
  g++ make cmake pkg-config git ca-certificates clang libclang-rt-14-dev
  # libraries (DESIGN.md §10)
  libcpp-httplib-dev prometheus-cpp-dev nlohmann-json3-dev libcli11-dev doctest-dev
  libyaml-cpp-dev libhowardhinnant-date-dev libsystemd-dev libssl-dev libcrypt-dev
  libarchive-dev libbenchmark-dev tzdata libpq-dev
  # real tools the tests run against: openssl (test certificates), promtool and a
  # Prometheus server, amtool, systemd-analyze, zip (fake tofu releases)
  openssl prometheus prometheus-alertmanager systemd zip
  # HA mode's tests start a real PostgreSQL server (tests/support/postgres_server.h)
  postgresql-15
  # the OTLP/JSON trace validator (tests/support/otlp_validate.py): protoc
  # compiles the schema in shared/fixtures/otlp for Debian's /usr/bin/python3
  protobuf-compiler python3-protobuf
  # the operations kit's checks (monitoring/tests/): curl and jq drive a real
  # Alertmanager; python3-yaml reads the rule files for the runbook check
  curl jq python3-yaml
  # the package (DESIGN.md §12): cpack's shlibdeps, lintian, and the install
  # test's clean Debian root; libseccomp for the unit's sandbox harness
  dpkg-dev lintian debootstrap libseccomp-dev
  # load generator for bench/http_load.sh
  wrk
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
  sudo="sudo"
fi

echo "install-deps: installing ${missing[*]}"
# Packages such as prometheus would start their services on install (and take
# port 9090). Forbid service starts for the duration, unless the machine
# already has its own policy.
policy=/usr/sbin/policy-rc.d
cleanup() { :; }
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  cleanup() { $sudo rm -f "$policy"; }
fi
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
