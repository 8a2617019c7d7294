#!/usr/bin/env bash
# Boots a Debian 12 root with systemd as PID 1 and our packages installed, and
# checks the units there as an admin would (docs/packaging.md, "Tests under
# systemd"). Run as root:
#
#   BIN_DIR=target/debug ./scripts/test-systemd.sh       # package prebuilt binaries (the cargo test)
#   DEBS=DIR ./scripts/test-systemd.sh                   # test prebuilt .debs
#   BIN_DIR=target/debug ./scripts/test-systemd.sh --vm  # mip6d.service on a MIPv6 kernel
#
# The root comes from scripts/pkg/root.sh's cache; apt installs systemd, dbus and our
# three packages in it (as a chroot: nothing starts). Then systemd-nspawn boots it
# (scripts/pkg/nspawn.sh says with which options and why) in a network namespace made
# here, and scripts/pkg/systemd-checks.sh runs inside the container, driving
# systemctl, busctl and journalctl: miredo and miredo-server start, reload and stop,
# and mip6d.service must fail cleanly, since this host's kernel has no Mobile IPv6.
# After the power-off this script checks that nothing was left in the namespace.
#
# --vm prepares the same root, then boots it the same way inside the VM of
# scripts/vm.sh, whose Debian kernel has Mobile IPv6: scripts/vm/systemd-mip6d.sh
# starts, reloads and stops mip6d.service there and reports facts.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/pkg/nspawn.sh
. scripts/pkg/nspawn.sh
LIB_NAME=test-systemd
mode=host
[ "${1:-}" = --vm ] && mode=vm

[ "$(id -u)" -eq 0 ] || die "needs root (chroot, namespaces, cgroups, systemd-nspawn)"
command -v systemd-nspawn >/dev/null ||
  die "systemd-nspawn not found (package systemd-container; scripts/deps.sh installs it)"
command -v nsenter >/dev/null || die "nsenter not found (package util-linux)"

if [ -z "${DEBS:-}" ]; then
  [ -n "${BIN_DIR:-}" ] || die "set BIN_DIR (binaries to package) or DEBS (prebuilt .debs)"
  DEBS=$top/target/debian/systemd
  mkdir -p "${DEBS%/*}"
  # The host run and the --vm run package the same files: the second reuses the
  # first's .debs unless a binary or a packaged file changed since (the stamp is
  # taken before the build, so a change during it counts).
  exec 7>"$DEBS.lock"
  flock -w 900 7 || die "timed out waiting for another test-systemd.sh to build $DEBS"
  inputs=(packaging conf scripts/build-debs.sh)
  for b in miredo miredo-checkconf miredo-server mip6d mip6ctl; do
    [ -e "$BIN_DIR/$b" ] && inputs+=("$BIN_DIR/$b")
  done
  if [ ! -e "$DEBS/.stamp" ] || [ -n "$(find "${inputs[@]}" -newer "$DEBS/.stamp" -print -quit)" ]; then
    rm -rf "$DEBS"
    mkdir -p "$DEBS"
    touch "$DEBS.stamp"
    DEB_OUT=$DEBS LINTIAN=0 ./scripts/build-debs.sh miredo-rs miredo-server-rs mip6d-rs >"$DEBS.log" 2>&1 ||
      { tail -30 "$DEBS.log" >&2; die "build-debs.sh failed (log above)"; }
    mv "$DEBS.stamp" "$DEBS/.stamp"
  fi
  exec 7>&-
fi
ls "$DEBS"/miredo-rs_*.deb "$DEBS"/miredo-server-rs_*.deb "$DEBS"/mip6d-rs_*.deb >/dev/null ||
  die "$DEBS lacks one of miredo-rs, miredo-server-rs, mip6d-rs"

./scripts/pkg/root.sh cache
R=$(mktemp -d /var/tmp/miredo-rs-systemd.XXXXXX)
netns=miredo-rs-sd-${R##*.}
cleanup() {
  # Every step runs, whatever fails before it.
  set +e
  ct_cleanup
  ip netns del "$netns" 2>/dev/null || true
  rm -rf --one-file-system "$R"
  rm -f "$R.console" "$R.apt.log"
}
trap cleanup EXIT

./scripts/pkg/root.sh new "$R"
mkdir -p "$R/tmp/debs"
cp "$DEBS"/miredo-rs_*.deb "$DEBS"/miredo-server-rs_*.deb "$DEBS"/mip6d-rs_*.deb "$R/tmp/debs/"
mapfile -t debs < <(cd "$R" && ls tmp/debs/*.deb)
echo "== install systemd, dbus and ${debs[*]##*/} in the root"
if ! in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 \
  --no-install-recommends systemd dbus iproute2 procps "${debs[@]/#//}" </dev/null >"$R.apt.log" 2>&1; then
  cat "$R.apt.log"
  die "apt install in the root failed (log above)"
fi
# A booted system has no policy-rc.d: systemctl and invoke-rc.d act as on a machine.
rm -rf "$R/usr/sbin/policy-rc.d" "$R/tmp/debs"

if [ "$mode" = vm ]; then
  # The guest sees this root through its tmpfs overlay: what the VM writes vanishes.
  status=0
  VM_TIMEOUT=${VM_TIMEOUT:-600} ./scripts/vm.sh run scripts/vm/systemd-mip6d.sh "$R" || status=$?
  exit "$status"
fi

# The admin's set-up: a Teredo server on two documentation addresses and a client of
# it in the same machine (the client's source address is its own, so the server sees
# a global mapping), and the routing table the client hook fills when it exists.
sed -i -E -e 's/^ServerAddress[[:space:]].*/ServerAddress 192.0.2.1\nBindAddress 203.0.113.10/' "$R/etc/miredo.conf"
sed -i -E -e 's/^ServerBindAddress[[:space:]].*/ServerBindAddress 192.0.2.1/' "$R/etc/miredo-server.conf"
printf '200\tteredo\n' >>"$R/etc/iproute2/rt_tables"
grep -q '^ServerAddress 192.0.2.1$' "$R/etc/miredo.conf" || die "could not set ServerAddress in the root's /etc/miredo.conf"
grep -q '^ServerBindAddress 192.0.2.1$' "$R/etc/miredo-server.conf" || die "could not set ServerBindAddress in the root's /etc/miredo-server.conf"
mkdir -p "$R/usr/local/lib/systemd-checks"
cp scripts/pkg/systemd-checks.sh scripts/lib.sh "$R/usr/local/lib/systemd-checks/"

ip netns add "$netns"
ip -n "$netns" link set lo up
for a in 192.0.2.1/32 192.0.2.2/32 203.0.113.10/32; do ip -n "$netns" addr add "$a" dev lo; done

echo "== boot"
ct_boot "$R" "$netns"
echo "boot: systemd reports '$ct_state' after $ct_boot_ms ms"
status=0
in_ct bash /usr/local/lib/systemd-checks/systemd-checks.sh "$ct_state" || status=$?

echo "== power off"
# The container's own view ends here; what follows is seen from outside it.
test_passed=0
test_failed=0
off=0
ct_poweroff || off=$?
[ "$off" = 0 ] && ok "the container powered off cleanly" ||
  bad "systemd-nspawn exited $off (124: still running after 30 s): $(tail -20 "$R.console")"
leftover=$(ct_leftover_pids)
check "no process left in the container's cgroup${leftover:+: $leftover}" test -z "$leftover"
links=$(ip -n "$netns" -o link show | awk -F': ' '$2 != "lo" { print $2 }')
check "no interface left in the container's network namespace${links:+: $links}" test -z "$links"
routes=$(ip -n "$netns" -6 route show table all | grep -v ' dev lo ' || true)
check "no IPv6 route left${routes:+: $routes}" test -z "$routes"
rules=$(ip -n "$netns" -6 rule show | grep -v -E '^(0|32766):' || true)
check "no IPv6 rule left${rules:+: $rules}" test -z "$rules"
test_summary host || status=1
exit "$status"
