#!/usr/bin/env bash
# Packs the build in $1 into a .deb (cpack, into a temporary directory) and
# runs lintian on it. Passes when lintian reports no error and no warning;
# the tags the package overrides are in packaging/lintian-overrides, each
# with its reason. Exit 77 (a skip) when lintian or cpack is missing, a
# failure instead under PROVISIONER_REQUIRE_TOOLS=1.
set -euo pipefail
build=${1:?usage: lintian.sh BUILD_DIR}
for tool in lintian cpack dpkg-shlibdeps; do
  if ! command -v "$tool" >/dev/null; then
    echo "lintian.sh: $tool is not installed (scripts/install-deps.sh installs it)" >&2
    [ "${PROVISIONER_REQUIRE_TOOLS:-}" = 1 ] && exit 1
    exit 77
  fi
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$build" && cpack -G DEB -B "$out" >"$out/cpack.log" 2>&1) || {
  cat "$out/cpack.log" >&2
  exit 1
}
deb=$(ls "$out"/provisioner_*.deb)
echo "package: $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
# --pedantic shows every tag; only errors and warnings fail.
lintian --info --display-info --pedantic --fail-on error,warning "$deb"
echo "lintian: no errors and no warnings"
