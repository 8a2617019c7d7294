#!/usr/bin/env bash
# Installs the .debs in a throw-away Debian 12 root and exercises them as an admin
# would (docs/packaging.md, "Tests"). Run as root:
#
#   ./scripts/test-debs.sh                # build (scripts/build-debs.sh) then test
#   BIN_DIR=target/debug ./scripts/test-debs.sh  # package prebuilt binaries (the cargo test)
#   DEBS=DIR DEBS2=DIR ./scripts/test-debs.sh   # test prebuilt .debs (two versions)
#
# What it checks, in a fresh root unpacked from scripts/pkg/root.sh's cache:
#   Debian's miredo (and miredo-server) installed first, then ours over them: clean
#   replacement, edited /etc/miredo.conf kept; files, conffiles, symlink, user; the
#   init scripts (start, status, reload, reload with a broken file, restart, stop,
#   START_*=false); pidfiles and the daemons' users; busctl introspect over a private
#   dbus-daemon in the root; systemd-analyze verify of the installed units; man -l of
#   every installed man page; an upgrade to a second version keeping edited conffiles;
#   apt purge leaving no file, user, pidfile or process behind.
#
# Everything runs inside new mount, network and PID namespaces: mounts vanish, and
# every process started in the root is killed, when the script ends, whatever happens.
# The daemons see only a loopback and a veth pair with documentation addresses.
#
# mip6d: on a kernel without Mobile IPv6 (CONFIG_IPV6_MIP6, CONFIG_IPV6_TUNNEL)
# mip6d exits 1 naming the missing options, so the test checks that the init script
# reports that failure and leaves no pidfile. MIP6D_RUNS=1 (or a kernel that has them)
# switches to the full start/status/reload/stop checks; scripts/vm/pkg-mip6d.sh runs
# those in the VM of scripts/vm.sh (tests/tests/vm_packages.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

if [ "$(id -u)" -ne 0 ]; then
  echo "test-debs.sh: needs root (chroot, namespaces, apt in the test root)" >&2
  exit 1
fi

if [ "${1:-}" != --inside ]; then
  if [ -z "${DEBS:-}" ]; then
    export DEB_OUT DEBS DEBS2
    DEBS=$top/target/debian/test-v1
    DEBS2=$top/target/debian/test-v2
    pkgs=(miredo-rs mip6d-rs)
    # miredo-server-rs once the workspace has the binary.
    if [ -n "${BIN_DIR:-}" ]; then
      [ -x "$BIN_DIR/miredo-server" ] && pkgs+=(miredo-server-rs)
    elif cargo metadata --format-version 1 --no-deps 2>/dev/null | grep -q '"name":"miredo-server"'; then
      pkgs+=(miredo-server-rs)
    fi
    rm -rf "$DEBS" "$DEBS2"
    # The package list above, or build-debs.sh stops at the first missing binary.
    DEB_OUT=$DEBS ./scripts/build-debs.sh "${pkgs[@]}"
    DEB_OUT=$DEBS2 DEB_VERSION="$(dpkg-deb -f "$DEBS"/miredo-rs_*.deb Version)+test2" LINTIAN=0 \
      ./scripts/build-debs.sh "${pkgs[@]}"
  fi
  [ -n "${DEBS2:-}" ] || { echo "test-debs.sh: DEBS2 (the second version) is not set" >&2; exit 1; }
  ./scripts/pkg/root.sh cache
  root=$(mktemp -d /var/tmp/miredo-rs-pkgtest.XXXXXX)
  trap 'rm -rf --one-file-system "$root"' EXIT
  ./scripts/pkg/root.sh new "$root"
  export ROOT=$root DEBS DEBS2
  # --kill-child: the namespace's processes die with this script.
  status=0
  unshare --mount --net --pid --fork --kill-child --propagation private \
    "$top/scripts/test-debs.sh" --inside || status=$?
  exit "$status"
fi

# ---- inside the namespaces ------------------------------------------------------
set +euo pipefail
R=$ROOT
# shellcheck source=scripts/lib.sh
. "$top/scripts/lib.sh"
finish() { test_summary packages; }
apt_root() {
  in_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@" </dev/null
}

mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mkdir -p "$R/run/lock" "$R/tmp/debs1" "$R/tmp/debs2"
# invoke-rc.d acts only in a known runlevel; a chroot has none. Say "2", as a
# booted sysvinit system would.
if [ ! -e "$R/sbin/runlevel" ]; then
  printf '#!/bin/sh\necho "N 2"\n' >"$R/sbin/runlevel"
  chmod 755 "$R/sbin/runlevel"
fi
cp "$DEBS"/*.deb "$R/tmp/debs1/"
cp "$DEBS2"/*.deb "$R/tmp/debs2/"
ip link set lo up
# A veth pair stands in for an uplink (no dummy driver on every kernel).
ip link add uplink0 type veth peer name uplink1
ip link set uplink0 up
ip link set uplink1 up
ip addr add 198.18.0.10/24 dev uplink0
ip route add default via 198.18.0.1 dev uplink0

has_server=0
ls "$R"/tmp/debs1/miredo-server-rs_*.deb >/dev/null 2>&1 && has_server=1

echo "== Debian's miredo first, then ours over it"
debian_pkgs=(miredo dbus-daemon dbus-system-bus-common systemd procps)
[ "$has_server" = 1 ] && debian_pkgs+=(miredo-server)
apt_root install --no-install-recommends "${debian_pkgs[@]}" >"$R/tmp/apt-debian.log" 2>&1 ||
  { cat "$R/tmp/apt-debian.log"; bad "install Debian's ${debian_pkgs[*]} from the cache"; finish; exit 1; }
debian_uid=$(in_root id -u miredo)
# An admin's edit, and a server reachable without DNS (checkconf resolves names).
sed -i -E 's/^ServerAddress[[:space:]].*/ServerAddress 192.0.2.1\n# edited by test-debs/' "$R/etc/miredo.conf"
check "the admin's edit is in place" grep -q '^# edited by test-debs' "$R/etc/miredo.conf"

mapfile -t ours1 < <(cd "$R" && ls tmp/debs1/*.deb)
# The edited /etc/miredo.conf differs from both Debian's and ours: dpkg asks, and its
# default answer (what --force-confdef --force-confold picks) keeps the admin's file.
if apt_root -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  install --no-install-recommends "${ours1[@]/#//}" >"$R/tmp/apt-ours.log" 2>&1; then
  ok "apt installs ${ours1[*]##*/} over Debian's packages"
else
  cat "$R/tmp/apt-ours.log"; bad "apt install of our packages"; finish; exit 1
fi
check "Debian's miredo is gone" bash -c "! chroot '$R' dpkg-query -W -f='\${Status}' miredo 2>/dev/null | grep -q ' installed'"
check "Debian's miredo-privproc is gone" test ! -e "$R/usr/libexec/miredo/miredo-privproc"
check "the edited /etc/miredo.conf is kept" grep -q '^# edited by test-debs' "$R/etc/miredo.conf"
check "ours is beside it as /etc/miredo.conf.dpkg-dist" cmp "$R/etc/miredo.conf.dpkg-dist" "$top/packaging/etc/miredo.conf"
rm -f "$R/etc/miredo.conf.dpkg-dist"
check "unedited conffiles replaced without a trace" bash -c "! find '$R/etc' -name '*.dpkg-*' | grep -q ."
check "/etc/init.d/miredo is ours" grep -q miredo-rs "$R/etc/init.d/miredo"
check "user miredo kept (same uid)" test "$(in_root id -u miredo)" = "$debian_uid"

echo "== files of miredo-rs"
for f in /usr/sbin/miredo /usr/sbin/miredo-checkconf /usr/bin/miredoctl /usr/bin/teredo-mire /etc/init.d/miredo \
  /etc/miredo/client-hook /etc/network/if-up.d/miredo /etc/NetworkManager/dispatcher.d/50-miredo; do
  check "$f is executable" test -x "$R$f"
done
for f in /etc/miredo.conf /etc/default/miredo /lib/systemd/system/miredo.service \
  /usr/share/dbus-1/system.d/org.miredo_rs.Miredo1.conf /usr/share/man/man8/miredo.8.gz \
  /usr/share/man/man8/miredo-checkconf.8.gz /usr/share/man/man5/miredo.conf.5.gz \
  /usr/share/man/man1/miredoctl.1.gz /usr/share/man/man1/teredo-mire.1.gz \
  /usr/lib/NetworkManager/conf.d/90-miredo.conf /usr/share/doc/miredo-rs/copyright; do
  check "$f exists" test -f "$R$f"
done
check "teredo-mire -V prints the original's banner" test "$(in_root /usr/bin/teredo-mire -V)" = "miredo v1.2.6"
check "/etc/miredo/miredo.conf -> ../miredo.conf" test "$(readlink "$R/etc/miredo/miredo.conf")" = ../miredo.conf
conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' miredo-rs | awk 'NF { print $1 }' | sort | tr '\n' ' ')
check "conffiles: $conffiles" test "$conffiles" = "/etc/NetworkManager/dispatcher.d/50-miredo /etc/default/miredo /etc/init.d/miredo /etc/miredo.conf /etc/miredo/client-hook /etc/network/if-up.d/miredo "
check "init script enabled (rc2.d)" bash -c "ls '$R'/etc/rc2.d/S*miredo"
check "miredo.service enabled" test -L "$R/etc/systemd/system/multi-user.target.wants/miredo.service"

echo "== D-Bus and the init script"
mkdir -p "$R/run/dbus"
in_root dbus-daemon --system --fork --nopidfile && ok "private dbus-daemon in the root" || bad "dbus-daemon"
bus=unix:path=$R/run/dbus/system_bus_socket
out=$(in_root /etc/init.d/miredo start 2>&1) && ok "init.d/miredo start" || bad "init.d/miredo start: $out"
pidfile_pid() { tr -d '\n' <"$R/run/$1.pid" 2>/dev/null; }
wait_for 50 test -s "$R/run/miredo.pid" && ok "pidfile /run/miredo.pid" || bad "pidfile /run/miredo.pid"
pid=$(pidfile_pid miredo)
check "the pid in the pidfile is /usr/sbin/miredo" test "$(in_root readlink /proc/$pid/exe)" = /usr/sbin/miredo
wait_for 50 bash -c "awk '/^Uid:/ { exit !(\$2 == $debian_uid) }' $R/proc/$pid/status" &&
  ok "miredo runs as user miredo (uid $debian_uid)" || bad "miredo's uid: $(grep Uid: $R/proc/$pid/status)"
capeff=$((16#$(awk '/^CapEff:/ { print $2 }' "$R/proc/$pid/status")))
check "it keeps CAP_NET_ADMIN and nothing like CAP_SYS_ADMIN" test $(((capeff >> 12) & 1)) = 1 -a $(((capeff >> 21) & 1)) = 0
wait_for 50 ip link show teredo && ok "interface teredo exists" || bad "interface teredo"
check "init.d/miredo status (running)" in_root /etc/init.d/miredo status
if wait_for 100 busctl --address="$bus" status org.miredo_rs.Miredo1; then
  intro=$(busctl --address="$bus" introspect org.miredo_rs.Miredo1 /org/miredo_rs/Miredo1/teredo 2>&1 || true)
  if grep -q org.miredo_rs.Miredo1.Tunnel <<<"$intro" && grep -q '\.State' <<<"$intro"; then
    ok "busctl introspect org.miredo_rs.Miredo1 /org/miredo_rs/Miredo1/teredo"
  else
    bad "busctl introspect: $intro"
  fi
  # The status tool, as a user other than root, on the same bus.
  out=$(in_root setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/miredoctl --json 2>&1 || true)
  if grep -q '"interface_name": "teredo"' <<<"$out" && grep -q '"nat_type"' <<<"$out"; then
    ok "miredoctl --json (as nobody) shows the tunnel"
  else
    bad "miredoctl --json: $out"
  fi
else
  bad "miredo never owned org.miredo_rs.Miredo1 on the root's bus"
fi
ifindex=$(cat $R/sys/class/net/teredo/ifindex 2>/dev/null || echo none)
out=$(in_root /etc/init.d/miredo reload 2>&1) && ok "init.d/miredo reload" || bad "init.d/miredo reload: $out"
wait_for 50 bash -c "[ \"\$(cat $R/sys/class/net/teredo/ifindex 2>/dev/null)\" != '' ] && [ \"\$(cat $R/sys/class/net/teredo/ifindex)\" != '$ifindex' ]" &&
  ok "reload re-created the tunnel" || bad "reload: the tunnel was not re-created"
check "same daemon after reload" test "$(pidfile_pid miredo)" = "$pid"
cp "$R/etc/miredo.conf" "$R/tmp/miredo.conf.good"
echo "NoSuchDirective 1" >>"$R/etc/miredo.conf"
out=$(in_root /etc/init.d/miredo reload 2>&1) && bad "reload with a broken file succeeded" ||
  { grep -q 'Cannot reload miredo: fix /etc/miredo/miredo.conf first' <<<"$out" &&
      ok "reload refuses a broken file (checkconf first)" || bad "reload with a broken file: $out"; }
check "the daemon survived the refused reload" test "$(pidfile_pid miredo)" = "$pid"
cp "$R/tmp/miredo.conf.good" "$R/etc/miredo.conf"
out=$(in_root /etc/init.d/miredo restart 2>&1) && ok "init.d/miredo restart" || bad "init.d/miredo restart: $out"
wait_for 50 bash -c "[ -s '$R/run/miredo.pid' ] && [ \"\$(tr -d '\n' <'$R/run/miredo.pid')\" != '$pid' ]" &&
  ok "restart: a new daemon" || bad "restart: no new daemon"
pid=$(pidfile_pid miredo)
out=$(in_root /etc/init.d/miredo stop 2>&1) && ok "init.d/miredo stop" || bad "init.d/miredo stop: $out"
check "miredo is gone" bash -c "! kill -0 $pid"
check "pidfile removed" test ! -e "$R/run/miredo.pid"
wait_for 30 bash -c "! ip link show teredo" && ok "interface removed" || bad "interface teredo left behind"
status=0; in_root /etc/init.d/miredo status >/dev/null 2>&1 || status=$?
check "init.d/miredo status (stopped) exits 3" test "$status" = 3
status=0; in_root /usr/bin/miredoctl >/dev/null 2>&1 || status=$?
check "miredoctl without miredo exits 3 (not running)" test "$status" = 3

# The systemd unit's CapabilityBoundingSet and NoNewPrivileges, applied with setpriv
# (no systemd runs here): miredo must still create its tunnel, drop to its user and
# stop cleanly within them.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$R/lib/systemd/system/miredo.service")
bounding=-all
for c in $caps; do c=${c#CAP_}; bounding+=",+${c,,}"; done
# chroot, env and setpriv exec each other: $! is miredo itself.
chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setpriv --bounding-set="$bounding" --no-new-privs \
  /usr/sbin/miredo -f -p /run/miredo-bounded.pid >"$R/tmp/bounded.log" 2>&1 &
bounded=$!
if wait_for 50 ip link show teredo && wait_for 50 test -s "$R/run/miredo-bounded.pid"; then
  bpid=$(pidfile_pid miredo-bounded)
  wait_for 50 bash -c "awk '/^Uid:/ { exit !(\$2 == $debian_uid) }' $R/proc/$bpid/status" &&
    ok "within the unit's bounding set ($caps): tunnel up, running as miredo" ||
    bad "within the unit's bounding set: $(cat "$R/tmp/bounded.log")"
else
  bad "within the unit's bounding set: no tunnel: $(cat "$R/tmp/bounded.log")"
fi
kill -TERM "$bounded" 2>/dev/null
wait "$bounded"
check "within the unit's bounding set: SIGTERM exits 0" test $? = 0
check "within the unit's bounding set: pidfile removed" test ! -e "$R/run/miredo-bounded.pid"
wait_for 30 bash -c "! ip link show teredo" && ok "within the unit's bounding set: interface removed" ||
  bad "within the unit's bounding set: interface left behind"

sed -i 's/^START_MIREDO=.*/START_MIREDO=false/' "$R/etc/default/miredo"
out=$(in_root /etc/init.d/miredo start 2>&1) || true
grep -q 'START_MIREDO is set to false' <<<"$out" && ok "START_MIREDO=false: not started" || bad "START_MIREDO=false: $out"
check "START_MIREDO=false: nothing running" test ! -e "$R/run/miredo.pid"
sed -i 's/^START_MIREDO=.*/START_MIREDO=true/' "$R/etc/default/miredo"

echo "== mip6d-rs"
for f in /usr/sbin/mip6d /etc/init.d/mip6d; do check "$f is executable" test -x "$R$f"; done
for f in /etc/mip6d.conf /etc/default/mip6d /lib/systemd/system/mip6d.service \
  /usr/share/dbus-1/system.d/org.umip_rs.Mip6d1.conf /usr/share/man/man8/mip6d.8.gz \
  /usr/share/man/man5/mip6d.conf.5.gz; do
  check "$f exists" test -f "$R$f"
done
if [ -e "$R/usr/bin/mip6ctl" ]; then
  check "/usr/bin/mip6ctl is executable" test -x "$R/usr/bin/mip6ctl"
  check "/usr/share/man/man1/mip6ctl.1.gz exists" test -f "$R/usr/share/man/man1/mip6ctl.1.gz"
  check "mip6ctl --version" in_root /usr/bin/mip6ctl --version
  status=0; in_root /usr/bin/mip6ctl status >/dev/null 2>&1 || status=$?
  check "mip6ctl status without mip6d exits 3 (not running)" test "$status" = 3
fi
check "mip6d.service not enabled" test ! -e "$R/etc/systemd/system/multi-user.target.wants/mip6d.service"
check "the shipped /etc/mip6d.conf parses" in_root /usr/sbin/mip6d -c /etc/mip6d.conf --show-config=toml
out=$(in_root /etc/init.d/mip6d start 2>&1) || true
grep -q 'START_MIP6D is set to false' <<<"$out" && ok "START_MIP6D=false: not started" || bad "START_MIP6D=false: $out"
sed -i 's/^START_MIP6D=.*/START_MIP6D=true/' "$R/etc/default/mip6d"
mip6d_runs=${MIP6D_RUNS:-}
if [ -z "$mip6d_runs" ]; then
  mip6d_runs=1
  # This host's kernel may lack Mobile IPv6: mip6d then refuses to start,
  # naming the missing options (the VM test covers a kernel that has them). On
  # one that has them this probe run goes to the background: stop it again.
  out=$(in_root /usr/sbin/mip6d -c /etc/mip6d.conf --pidfile /run/mip6d-probe.pid 2>&1)
  grep -qE 'CONFIG_IPV6_MIP6|CONFIG_IPV6_TUNNEL|CONFIG_XFRM' <<<"$out" && mip6d_runs=0
  if [ -s "$R/run/mip6d-probe.pid" ]; then
    kill -TERM "$(pidfile_pid mip6d-probe)"
    wait_for 100 test ! -e "$R/run/mip6d-probe.pid"
  fi
fi
if [ "$mip6d_runs" = 1 ]; then
  out=$(in_root /etc/init.d/mip6d start 2>&1) && ok "init.d/mip6d start" || bad "init.d/mip6d start: $out"
  check "pidfile /run/mip6d.pid" test -s "$R/run/mip6d.pid"
  mpid=$(pidfile_pid mip6d)
  check "the pid in the pidfile is /usr/sbin/mip6d" test "$(in_root readlink /proc/$mpid/exe)" = /usr/sbin/mip6d
  check "mip6d runs as root" bash -c "awk '/^Uid:/ { exit !(\$2 == 0) }' $R/proc/$mpid/status"
  check "init.d/mip6d status (running)" in_root /etc/init.d/mip6d status
  check "init.d/mip6d reload" in_root /etc/init.d/mip6d reload
  check "same mip6d after reload" test "$(pidfile_pid mip6d)" = "$mpid"
  check "init.d/mip6d stop" in_root /etc/init.d/mip6d stop
  check "mip6d is gone" bash -c "! kill -0 $mpid"
else
  echo "(mip6d cannot run on this kernel: checking that start reports the failure)"
  status=0; out=$(in_root /etc/init.d/mip6d start 2>&1) || status=$?
  [ "$status" != 0 ] && grep -q 'CONFIG_IPV6_MIP6' <<<"$out" &&
    ok "init.d/mip6d start fails with mip6d's reason on the terminal" || bad "init.d/mip6d start (status $status): $out"
fi
check "no /run/mip6d.pid left" test ! -e "$R/run/mip6d.pid"
status=0; in_root /etc/init.d/mip6d status >/dev/null 2>&1 || status=$?
check "init.d/mip6d status (stopped) exits 3" test "$status" = 3
check "init.d/mip6d stop (not running) exits 0" in_root /etc/init.d/mip6d stop
# The upgrade below restarts every enabled service.
sed -i 's/^START_MIP6D=.*/START_MIP6D=false/' "$R/etc/default/mip6d"

if [ "$has_server" = 1 ]; then
  echo "== miredo-server-rs"
  check "Debian's miredo-server is gone" bash -c "! chroot '$R' dpkg-query -W -f='\${Status}' miredo-server 2>/dev/null | grep -q ' installed'"
  check "/usr/sbin/miredo-server is executable" test -x "$R/usr/sbin/miredo-server"
  check "/etc/miredo/miredo-server.conf -> ../miredo-server.conf" test "$(readlink "$R/etc/miredo/miredo-server.conf")" = ../miredo-server.conf
  check "user miredo-server exists" in_root id -u miredo-server
  if [ -f "$top/conf/org.miredo_rs.Server1.conf" ]; then
    check "server D-Bus policy installed" test -f "$R/usr/share/dbus-1/system.d/org.miredo_rs.Server1.conf"
  fi
  check "miredo-server.service not enabled" test ! -e "$R/etc/systemd/system/multi-user.target.wants/miredo-server.service"
  out=$(in_root /etc/init.d/miredo-server start 2>&1) || true
  grep -q 'START_MIREDO_SERVER is set to false' <<<"$out" && ok "server not started by default" || bad "server start by default: $out"
  ip addr add 192.0.2.221/32 dev uplink0
  ip addr add 192.0.2.222/32 dev uplink0
  sed -i 's/^#START_MIREDO_SERVER=.*/START_MIREDO_SERVER=true/' "$R/etc/default/miredo-server"
  out=$(in_root /etc/init.d/miredo-server start 2>&1) && ok "init.d/miredo-server start" || bad "init.d/miredo-server start: $out"
  wait_for 50 test -s "$R/run/miredo-server.pid" && ok "pidfile /run/miredo-server.pid" || bad "pidfile /run/miredo-server.pid"
  spid=$(pidfile_pid miredo-server)
  server_uid=$(in_root id -u miredo-server)
  wait_for 50 bash -c "awk '/^Uid:/ { exit !(\$2 == $server_uid) }' $R/proc/$spid/status" &&
    ok "miredo-server runs as user miredo-server" || bad "miredo-server's uid: $(grep Uid: $R/proc/$spid/status 2>&1)"
  check "init.d/miredo-server status" in_root /etc/init.d/miredo-server status
  check "init.d/miredo-server reload" in_root /etc/init.d/miredo-server reload
  check "same server after reload" test "$(pidfile_pid miredo-server)" = "$spid"
  check "init.d/miredo-server stop" in_root /etc/init.d/miredo-server stop
  check "miredo-server is gone" bash -c "! kill -0 $spid"
  check "pidfile removed" test ! -e "$R/run/miredo-server.pid"
fi

echo "== units and man pages"
for unit in "$R"/lib/systemd/system/{miredo,miredo-server,mip6d}.service; do
  [ -e "$unit" ] || continue
  out=$(in_root systemd-analyze verify --man=no "/lib/systemd/system/${unit##*/}" 2>&1) &&
    ok "systemd-analyze verify ${unit##*/}" || bad "systemd-analyze verify ${unit##*/}: $out"
done
for page in "$R"/usr/share/man/man*/{miredo,mip6d,mip6ctl}*; do
  [ -e "$page" ] || continue
  out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) && [ -z "$out" ] &&
    ok "man -l ${page##*/}" || bad "man -l ${page##*/}: $out"
done

echo "== purging Debian's leftover record, then dpkg-reconfigure"
if in_root dpkg-query -W -f='${db:Status-Abbrev}' miredo 2>/dev/null | grep -q '^rc'; then
  apt_root purge miredo >/dev/null 2>&1
  # Its postrm deletes the user and the boot links (see the postinst's NOTE) ...
  check "Debian's leftover miredo purged" bash -c "! chroot '$R' dpkg-query -W -f='\${db:Status-Abbrev}' miredo | grep -q '^[ir]'"
  check "our configuration is still there" grep -q '^# edited by test-debs' "$R/etc/miredo.conf"
  in_root dpkg-reconfigure miredo-rs >/dev/null 2>&1
  # ... and reconfiguring puts them back.
  check "dpkg-reconfigure: user miredo is back" in_root getent passwd miredo
  check "dpkg-reconfigure: boot links are back" bash -c "ls '$R'/etc/rc2.d/S*miredo"
  check "dpkg-reconfigure: miredo.service enabled" test -L "$R/etc/systemd/system/multi-user.target.wants/miredo.service"
else
  bad "Debian's miredo should be in config-files state after the replacement"
fi

echo "== upgrade to a second version"
# From here on the maintainer scripts start and stop the services themselves: a
# policy that allows everything (a chroot has no init for invoke-rc.d to ask).
printf '#!/bin/sh\nexit 0\n' >"$R/usr/sbin/policy-rc.d"
in_root /etc/init.d/miredo start >/dev/null 2>&1 || true
wait_for 50 test -s "$R/run/miredo.pid"
pid=$(pidfile_pid miredo)
echo "# kept across the upgrade" >>"$R/etc/default/miredo"
mapfile -t ours2 < <(cd "$R" && ls tmp/debs2/*.deb)
if apt_root install --no-install-recommends "${ours2[@]/#//}" >"$R/tmp/apt-upgrade.log" 2>&1; then
  ok "apt upgrades to $(in_root dpkg-query -W -f='${Version}' miredo-rs)"
else
  cat "$R/tmp/apt-upgrade.log"; bad "apt upgrade"
fi
check "upgraded" bash -c "chroot '$R' dpkg-query -W -f='\${Version}' miredo-rs | grep -q test2"
check "edited /etc/miredo.conf survives the upgrade" grep -q '^# edited by test-debs' "$R/etc/miredo.conf"
check "edited /etc/default/miredo survives the upgrade" grep -q '^# kept across the upgrade' "$R/etc/default/miredo"
check "no .dpkg-* leftovers after the upgrade" bash -c "! find '$R/etc' -name '*.dpkg-*' | grep -q ."
wait_for 50 bash -c "[ -s '$R/run/miredo.pid' ] && [ \"\$(tr -d '\n' <'$R/run/miredo.pid')\" != '$pid' ]" &&
  ok "the upgrade restarted miredo" || bad "the upgrade did not restart miredo: $(grep -i -A3 "miredo-rs" "$R/tmp/apt-upgrade.log" | tail -15)"

echo "== purge"
mine=(miredo-rs mip6d-rs)
[ "$has_server" = 1 ] && mine+=(miredo-server-rs)
# miredo (and miredo-server) still run: the packages' prerm scripts stop them.
if apt_root purge "${mine[@]}" >"$R/tmp/apt-purge.log" 2>&1; then ok "apt purge ${mine[*]}"; else cat "$R/tmp/apt-purge.log"; bad "apt purge"; fi
# Debian's packages were replaced but may still be in config-files state.
apt_root purge miredo miredo-server >/dev/null 2>&1 || true
left=$(in_root dpkg -l | awk '$2 ~ /^(miredo|mip6d)/ { print $1, $2 }')
check "dpkg knows no miredo/mip6d package${left:+ (left: $left)}" test -z "$left"
check "user miredo removed" bash -c "! chroot '$R' getent passwd miredo"
check "user miredo-server removed" bash -c "! chroot '$R' getent passwd miredo-server"
leftovers=$(cd "$R" && find etc usr lib var run -path 'var/cache/apt' -prune -o \
  \( -name '*miredo*' -o -name '*mip6d*' -o -name '*mip6ctl*' -o -name 'org.umip_rs*' \) -print 2>/dev/null | grep -v '^var/cache/apt$' || true)
check "no file left${leftovers:+: $leftovers}" test -z "$leftovers"
check "no process left" bash -c "! chroot $R ps -eo comm= | grep -Eq '^(miredo|miredo-server|mip6d)$'"

finish
