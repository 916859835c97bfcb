#!/usr/bin/env bash
# The package on a clean Debian 12: installs, upgrades, removes and purges
# provisioner_*.deb inside a debootstrapped bookworm (minbase) through
# chroot, and checks what an operator relies on at each step.
#   packaging/tests/install-test.sh [DEB]     (as root; DEB: scripts/package.sh's)
# The pristine root is cached in $PROVISIONER_DEBOOTSTRAP_CACHE (default
# ~/.cache/provisioner/debootstrap-bookworm); each run works on a copy.
# apt inside the chroot needs the Debian mirror. .ci/run runs this only
# with PROVISIONER_PACKAGE_TEST=1: it takes minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

[ "$(id -u)" -eq 0 ] || { echo "install-test: run as root (chroot, mount)" >&2; exit 1; }
for tool in debootstrap dpkg-deb chroot mount; do
  command -v "$tool" >/dev/null || { echo "install-test: $tool is missing" >&2; exit 1; }
done

deb=${1:-$(scripts/package.sh)}
[ -f "$deb" ] || { echo "install-test: no package at $deb" >&2; exit 1; }
mirror=${PROVISIONER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${PROVISIONER_DEBOOTSTRAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/provisioner/debootstrap-bookworm}

if [ ! -x "$cache/usr/bin/apt-get" ]; then
  echo "install-test: debootstrapping bookworm into $cache (once)"
  rm -rf "$cache.tmp"
  mkdir -p "$(dirname "$cache")"
  debootstrap --variant=minbase bookworm "$cache.tmp" "$mirror" >/dev/null
  rm -rf "$cache"
  mv "$cache.tmp" "$cache"
fi

work=$(mktemp -d /var/tmp/provisioner-install-test.XXXXXX)
root=$work/root
cleanup() {
  for m in "$root/proc" "$root/dev/pts" "$root/dev"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m"
  done
  rm -rf "$work"
}
trap cleanup EXIT
cp -a "$cache" "$root"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No /run/systemd/system in the chroot: the maintainer scripts must see no
# running systemd, and start nothing.
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
apt_get() {
  in_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

failures=0
check() {  # check DESCRIPTION COMMAND...: runs the command, counts a failure
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
  else
    echo "FAIL: $what" >&2
    failures=$((failures + 1))
  fi
}
owner_mode() {  # owner_mode PATH EXPECTED ("user:group mode")
  local got
  got=$(in_root stat -c '%U:%G %a' "$1" 2>&1) || true
  [ "$got" = "$2" ] || { echo "  $1: $got, expected $2" >&2; return 1; }
}
unit_verifies() {
  local err
  err=$(in_root systemd-analyze verify --man=no /usr/lib/systemd/system/provisioner.service 2>&1) ||
    { echo "  $err" >&2; return 1; }
  ! grep -q "Unknown key\|Unknown section\|Failed to parse" <<<"$err" || { echo "  $err" >&2; return 1; }
}

echo "== install $(basename "$deb")"
cp "$deb" "$root/tmp/provisioner.deb"
apt_get update >/dev/null
apt_get install /tmp/provisioner.deb >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; exit 1; }
version=$(in_root dpkg-query -W -f='${Version}' provisioner)
echo "installed provisioner $version"
check "dpkg says installed" test "$(in_root dpkg-query -W -f='${db:Status-Status}' provisioner)" = installed
check "Depends from shlibdeps (libc6) and sysusers" \
  grep -q "libc6.*systemd | systemd-standalone-sysusers\|systemd | systemd-standalone-sysusers.*libc6" \
  <<<"$(in_root dpkg-query -W -f='${Depends}' provisioner)"
check "every library of the binary is there" \
  bash -c "! chroot '$root' ldd /usr/bin/provisioner | grep -q 'not found'"
check "provisioner user, home /var/lib/provisioner, no login" \
  grep -q '^provisioner:x:[0-9]*:[0-9]*:[^:]*:/var/lib/provisioner:/usr/sbin/nologin$' "$root/etc/passwd"
check "provisioner group" grep -q '^provisioner:' "$root/etc/group"
check "/var/lib/provisioner" owner_mode /var/lib/provisioner "provisioner:provisioner 750"
check "/var/cache/provisioner" owner_mode /var/cache/provisioner "provisioner:provisioner 750"
check "/var/cache/provisioner/plugin-cache" \
  owner_mode /var/cache/provisioner/plugin-cache "provisioner:provisioner 750"
check "/etc/provisioner/templates" owner_mode /etc/provisioner/templates "root:root 755"
check "/etc/provisioner/config.yaml" owner_mode /etc/provisioner/config.yaml "root:root 644"
check "config.yaml is a conffile" \
  grep -q "/etc/provisioner/config.yaml" <<<"$(in_root dpkg-query -W -f='${Conffiles}' provisioner)"
check "provisioner validate passes on the installed config" \
  in_root provisioner validate --config /etc/provisioner/config.yaml
check "provisioner version runs" in_root provisioner version
check "systemd-analyze verify passes on the installed unit" unit_verifies
check "the unit is enabled" test -L "$root/etc/systemd/system/multi-user.target.wants/provisioner.service"
check "nothing was started (no systemd in a chroot)" \
  bash -c "! pgrep -f '^/usr/bin/provisioner serve' >/dev/null"
check "monitoring kit and runbooks installed" \
  test -f "$root/usr/share/provisioner/monitoring/prometheus/rules/provisioner-alerts.yml" -a \
  -f "$root/usr/share/provisioner/runbooks/SchedulerDown.md"

echo "== upgrade, with a config the operator changed"
sed -i 's/^  history_limit: 50$/  history_limit: 70  # raised by the operator/' \
  "$root/etc/provisioner/config.yaml"
grep -q "raised by the operator" "$root/etc/provisioner/config.yaml"
edited=$(sha256sum <"$root/etc/provisioner/config.yaml")
echo '{"version": 1}' >"$root/var/lib/provisioner/marker.json"
# The rebuilt package: one Debian revision up, and a default config that
# changed too, so that dpkg has to choose.
repack=$work/repack
dpkg-deb -R "$deb" "$repack"
sed -i "s/^Version: .*/Version: ${version%-*}-$(( ${version##*-} + 1 ))/" "$repack/DEBIAN/control"
echo "# a new default line, from the upgrade" >>"$repack/etc/provisioner/config.yaml"
(cd "$repack" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
  xargs md5sum >DEBIAN/md5sums)
dpkg-deb --root-owner-group -b "$repack" "$root/tmp/provisioner-next.deb" >/dev/null
apt_get install /tmp/provisioner-next.deb >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log" >&2; exit 1; }
check "upgraded to the next revision" \
  test "$(in_root dpkg-query -W -f='${Version}' provisioner)" = "${version%-*}-$(( ${version##*-} + 1 ))"
check "the operator's config survived the upgrade" \
  test "$(sha256sum <"$root/etc/provisioner/config.yaml")" = "$edited"
check "the new default is beside it (config.yaml.dpkg-dist)" \
  grep -q "a new default line" "$root/etc/provisioner/config.yaml.dpkg-dist"
check "provisioner validate passes after the upgrade" \
  in_root provisioner validate --config /etc/provisioner/config.yaml
check "still enabled after the upgrade" \
  test -L "$root/etc/systemd/system/multi-user.target.wants/provisioner.service"

echo "== remove"
apt_get remove provisioner >/dev/null 2>&1
check "the binary is gone" test ! -e "$root/usr/bin/provisioner"
check "remove keeps the config" test -f "$root/etc/provisioner/config.yaml"
check "remove keeps the state" test -f "$root/var/lib/provisioner/marker.json"

echo "== purge"
in_root dpkg --purge provisioner >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; exit 1; }
check "purge removes the config" test ! -e "$root/etc/provisioner/config.yaml"
check "purge removes the cache" test ! -e "$root/var/cache/provisioner"
check "purge keeps the state unless told" test -f "$root/var/lib/provisioner/marker.json"
check "purge says where the state is" grep -q "kept /var/lib/provisioner" "$work/purge.log"
check "purge removes the enablement" \
  test ! -e "$root/etc/systemd/system/multi-user.target.wants/provisioner.service"
apt_get install /tmp/provisioner.deb >/dev/null 2>&1
in_root env PROVISIONER_PURGE_STATE=yes dpkg --purge provisioner >/dev/null 2>&1
check "PROVISIONER_PURGE_STATE=yes purge removes the state" test ! -e "$root/var/lib/provisioner"

if [ "$failures" -gt 0 ]; then
  echo "install-test: $failures check(s) failed" >&2
  exit 1
fi
echo "install-test: all checks passed"
