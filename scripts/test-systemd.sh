#!/usr/bin/env bash
# Boots a Debian 12 root with systemd as PID 1 and our packages installed, and
# checks the units there as an admin would (docs/packaging.md, "Tests under
# systemd"). Run as root:
#
#   BIN_DIR=target/debug ./scripts/test-systemd.sh  # package prebuilt binaries (the cargo test)
#   DEBS=DIR ./scripts/test-systemd.sh              # test prebuilt .debs
#
# The root comes from scripts/pkg/root.sh's cache; apt installs systemd, dbus and our
# three packages in it (as a chroot: nothing starts), then systemd-nspawn boots it:
#   --boot                     the root's /lib/systemd/systemd is PID 1 of a new PID
#                              namespace, with its own journald and dbus.service;
#   --network-namespace-path   a network namespace this script made: the container
#                              never sees the host's interfaces, and what the daemons
#                              leave in it can be checked after the container is gone;
#   --capability=CAP_NET_ADMIN nspawn grants it only with --private-network; the
#                              daemons need it, in the namespace that is the container's;
#   --register=no --keep-unit  no machined and no host systemd are asked (this host's
#                              PID 1 may not be systemd); the container's cgroup goes
#                              under a cgroup this script made and removes;
#   SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1  the container gets the unified cgroup
#                              hierarchy, as a booted Debian 12 has, whatever the host's.
# scripts/pkg/systemd-checks.sh then runs inside the container (nsenter into all its
# namespaces) and drives systemctl, busctl and journalctl; this script powers the
# container off and checks that it left no process, interface, route or rule.
#
# The container runs the host's kernel, which has no Mobile IPv6: mip6d.service must
# fail cleanly here. Its successful start under systemd is checked in the VM
# (scripts/vm/systemd-mip6d.sh, tests/tests/vm_systemd.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
LIB_NAME=test-systemd

[ "$(id -u)" -eq 0 ] || die "needs root (chroot, namespaces, cgroups, systemd-nspawn)"
command -v systemd-nspawn >/dev/null ||
  die "systemd-nspawn not found (package systemd-container; scripts/deps.sh installs it)"
command -v nsenter >/dev/null || die "nsenter not found (package util-linux)"

if [ -z "${DEBS:-}" ]; then
  [ -n "${BIN_DIR:-}" ] || die "set BIN_DIR (binaries to package) or DEBS (prebuilt .debs)"
  DEBS=$top/target/debian/systemd
  rm -rf "$DEBS"
  DEB_OUT=$DEBS LINTIAN=0 ./scripts/build-debs.sh miredo-rs miredo-server-rs mip6d-rs >"$top/target/debian-systemd-build.log" 2>&1 ||
    { tail -30 "$top/target/debian-systemd-build.log" >&2; die "build-debs.sh failed (log above)"; }
fi
ls "$DEBS"/miredo-rs_*.deb "$DEBS"/miredo-server-rs_*.deb "$DEBS"/mip6d-rs_*.deb >/dev/null ||
  die "$DEBS lacks one of miredo-rs, miredo-server-rs, mip6d-rs"

./scripts/pkg/root.sh cache
R=$(mktemp -d /var/tmp/miredo-rs-systemd.XXXXXX)
name=${R##*.}
netns=miredo-rs-sd-$name
cgroup_name=miredo-rs-systemd-$name
log=$R.console
nspawn_pid=
leader=
cgroup_dirs=()
made_nspawn_run_dir=
[ -e /run/systemd/nspawn ] || made_nspawn_run_dir=1

cleanup() {
  local d
  # The container's PID 1 first: SIGKILL to it ends the whole PID namespace.
  [ -n "$leader" ] && kill -KILL "$leader" 2>/dev/null
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -KILL "$nspawn_pid" 2>/dev/null
    wait "$nspawn_pid" 2>/dev/null
  fi
  ip netns del "$netns" 2>/dev/null
  for d in "${cgroup_dirs[@]}"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  [ -n "$made_nspawn_run_dir" ] && rm -rf --one-file-system /run/systemd/nspawn
  rm -rf --one-file-system "$R"
  rm -f "$log"
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
  rm -f "$R.apt.log"
  die "apt install in the root failed (log above)"
fi
rm -f "$R.apt.log" "$R/usr/sbin/policy-rc.d"
rm -rf "$R/tmp/debs"

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

# A cgroup of our own on every hierarchy nspawn uses: it puts itself and the
# container under the cgroup it is started in.
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  cgroup_dirs=(/sys/fs/cgroup/"$cgroup_name")
else
  [ -d /sys/fs/cgroup/unified ] && cgroup_dirs+=(/sys/fs/cgroup/unified/"$cgroup_name")
  [ -d /sys/fs/cgroup/systemd ] && cgroup_dirs+=(/sys/fs/cgroup/systemd/"$cgroup_name")
fi
[ ${#cgroup_dirs[@]} -gt 0 ] || die "no cgroup hierarchy for the container under /sys/fs/cgroup"

echo "== boot"
started=$(date +%s%N)
(
  for d in "${cgroup_dirs[@]}"; do
    mkdir "$d"
    echo "$BASHPID" >"$d/cgroup.procs"
  done
  exec env SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn --quiet --boot --directory="$R" \
    --machine="$netns" --register=no --keep-unit --network-namespace-path="/run/netns/$netns" \
    --capability=CAP_NET_ADMIN --console=pipe
) </dev/null >"$log" 2>&1 &
nspawn_pid=$!
# PID 1 of the container: nspawn's child that is PID 1 of its own PID namespace (an
# intermediate child comes and goes first).
find_leader() {
  local p
  for p in $(cat "/proc/$nspawn_pid/task/$nspawn_pid/children" 2>/dev/null); do
    if [ "$(awk '$1 == "NSpid:" { print $NF }' "/proc/$p/status" 2>/dev/null)" = 1 ]; then
      leader=$p
      return 0
    fi
  done
  return 1
}
wait_for 100 find_leader || { cat "$log"; die "systemd-nspawn started no container"; }
in_ct() { nsenter --target "$leader" --all env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# systemctl needs PID 1's private socket before it can wait for the boot to end.
wait_for 300 nsenter --target "$leader" --all test -S /run/systemd/private ||
  { cat "$log"; die "the container's systemd never opened /run/systemd/private"; }
state=$(timeout 60 nsenter --target "$leader" --all systemctl is-system-running --wait 2>&1) || true
booted=$(date +%s%N)
echo "boot: systemd reports '$state' after $(((booted - started) / 1000000)) ms"

status=0
in_ct bash /usr/local/lib/systemd-checks/systemd-checks.sh "$state" || status=$?

echo "== power off"
host_checks_passed=0
host_checks_failed=0
ok_host() { echo "ok: $*"; host_checks_passed=$((host_checks_passed + 1)); }
bad_host() { echo "FAIL: $*"; host_checks_failed=$((host_checks_failed + 1)); }
# SIGTERM to nspawn asks the container's systemd to power off (SIGRTMIN+3).
kill -TERM "$nspawn_pid"
if wait_for 300 bash -c "! kill -0 $nspawn_pid"; then
  nspawn_status=0
  wait "$nspawn_pid" || nspawn_status=$?
  nspawn_pid=
  [ "$nspawn_status" = 0 ] && ok_host "the container powered off cleanly" ||
    bad_host "systemd-nspawn exited $nspawn_status: $(tail -20 "$log")"
else
  bad_host "the container did not power off within 30 s: $(tail -20 "$log")"
fi
leftover=$(for d in "${cgroup_dirs[@]}"; do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done)
[ -z "$leftover" ] && ok_host "no process left in the container's cgroup" || bad_host "processes left: $leftover"
leader=
links=$(ip -n "$netns" -o link show | awk -F': ' '$2 != "lo" { print $2 }')
[ -z "$links" ] && ok_host "no interface left in the container's network namespace" || bad_host "interfaces left: $links"
routes=$(ip -n "$netns" -6 route show table all | grep -v ' dev lo ' || true)
[ -z "$routes" ] && ok_host "no IPv6 route left" || bad_host "IPv6 routes left: $routes"
rules=$(ip -n "$netns" -6 rule show | grep -v -E '^(0|32766):' || true)
[ -z "$rules" ] && ok_host "no IPv6 rule left" || bad_host "IPv6 rules left: $rules"
echo "host: $host_checks_passed passed, $host_checks_failed failed"
[ "$host_checks_failed" = 0 ] || status=1
exit "$status"
