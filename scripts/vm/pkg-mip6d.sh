#!/usr/bin/env bash
# Guest side of tests/tests/vm_packages.rs: the mip6d-rs package on a kernel that has
# Mobile IPv6, which the host's package test (scripts/test-debs.sh) cannot run it on.
#
#   scripts/vm.sh run scripts/vm/pkg-mip6d.sh ROOT DEB
#
# ROOT is a throw-away Debian 12 root the host unpacked (scripts/pkg/root.sh new); the
# guest sees it through its tmpfs overlay, so everything done to it here vanishes with
# the guest. DEB is the mip6d-rs .deb. In ROOT: install it, then as a home agent on a
# veth link
#   - /etc/init.d/mip6d start returns once the daemon is set up: pidfile there at once,
#     the daemon detached (parent PID 1, own session, no tty), status 0;
#   - busctl introspect org.umip_rs.Mip6d1 on a private system bus using the installed
#     D-Bus policy; reload (SIGHUP, logged to syslog, same PID); stop (pidfile gone,
#     status 3);
#   - a broken configuration: start fails (1) with the error on the terminal;
#   - DebugLevel 1 with DebugLogFile: detached, the debug log appended to the file;
#   - started by PID 1 (as systemd does; this script is the guest's PID 1): no fork,
#     READY=1, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM, exit 0;
#   - dpkg --purge leaves no file and no process.
# Each check prints "ok: ..." or "FAIL: ..."; the last line counts them.
set -uo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
vm_in_guest

R=${1:?usage: pkg-mip6d.sh ROOT DEB}
DEB=${2:?usage: pkg-mip6d.sh ROOT DEB}
[ -d "$R/etc/apt" ] || vm_die "$R is not a Debian root"
[ -f "$DEB" ] || vm_die "no package $DEB"
SINK=$(dirname "$0")/dgram-sink.py

# ok, bad, check, wait_for, in_root: scripts/lib.sh (through guest-lib.sh).
finish() {
  test_summary pkg-mip6d
  exit
}
pidfile_pid() { tr -d '\n' <"$R/run/mip6d.pid" 2>/dev/null; }
# Field N (3 = state, 4 = ppid, 6 = session, 7 = tty) of /proc/PID/stat.
stat_field() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk -v n="$(($2 - 2))" '{ print $n }'; }
# Background helpers of this script, stopped at exit by PID.
helpers=()
cleanup() {
  local p
  for p in "${helpers[@]}"; do kill "$p" 2>/dev/null; done
}
trap cleanup EXIT

mkdir -p "$VM_LAB"
vm_load_modules
mount -t proc proc "$R/proc" || vm_die "mount proc in $R"
mount --bind /dev "$R/dev" || vm_die "bind /dev in $R"
mount -t sysfs sysfs "$R/sys" || vm_die "mount sysfs in $R"
mount -t tmpfs -o mode=0755 tmpfs "$R/run" || vm_die "mount /run in $R"
mkdir -p "$R/run/lock" "$R/run/dbus"
ip link set lo up
ip link add pkg0 type veth peer name pkg1 || vm_die "no veth pair"
ip link set pkg0 up
ip link set pkg1 up
ip -6 addr add 2001:db8:1::2/64 dev pkg0 nodad

# syslog: the daemon's messages at DebugLevel 0 go nowhere else.
python3 -S "$SINK" /dev/log "$VM_LAB/syslog.txt" &
helpers+=($!)
wait_for 50 test -S /dev/log || vm_die "no syslog sink on /dev/log"

echo "== install"
cp "$DEB" "$R/tmp/"
if in_root dpkg -i "/tmp/${DEB##*/}" >"$VM_LAB/dpkg-i.log" 2>&1; then
  ok "dpkg -i ${DEB##*/}"
else
  cat "$VM_LAB/dpkg-i.log"
  bad "dpkg -i ${DEB##*/}"
  finish
fi
check "/usr/sbin/mip6d is executable" test -x "$R/usr/sbin/mip6d"
check "the D-Bus policy is installed" test -f "$R/usr/share/dbus-1/system.d/org.umip_rs.Mip6d1.conf"

# A private system bus at the root's standard address, with the installed policy.
sed -e "s|@SOCKET@|$R/run/dbus/system_bus_socket|" \
  -e "s|@POLICY_DIR@|$R/usr/share/dbus-1/system.d|" \
  "$VM_REPO/scripts/lab/dbus-system.conf.in" >"$VM_LAB/bus.conf"
dbus-daemon --config-file="$VM_LAB/bus.conf" --nofork >"$VM_LAB/bus.log" 2>&1 &
helpers+=($!)
bus=unix:path=$R/run/dbus/system_bus_socket
wait_for 100 test -S "$R/run/dbus/system_bus_socket" || vm_die "dbus-daemon: $(cat "$VM_LAB/bus.log")"

ha_conf() { # ha_conf [extra lines...]
  {
    echo '# home agent for scripts/vm/pkg-mip6d.sh'
    echo 'NodeConfig HA;'
    echo 'UseMnHaIPsec disabled;'
    echo 'Interface "pkg0";'
    for line in "$@"; do echo "$line"; done
  } >"$R/etc/mip6d.conf"
}
ha_conf
sed -i 's/^START_MIP6D=.*/START_MIP6D=true/' "$R/etc/default/mip6d"

echo "== init script, DebugLevel 0 (the default)"
status=0
out=$(timeout 60 chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  /etc/init.d/mip6d start 2>&1) || status=$?
[ "$status" = 0 ] && ok "init.d/mip6d start" || bad "init.d/mip6d start (status $status): $out"
# No polling: start returns only once the daemon has locked its pidfile.
check "pidfile /run/mip6d.pid there when start returns" test -s "$R/run/mip6d.pid"
pid=$(pidfile_pid)
check "the pid in the pidfile is /usr/sbin/mip6d" test "$(readlink "/proc/$pid/exe")" = "$R/usr/sbin/mip6d"
check "pidfile without a newline (miredo's format)" test "$(wc -l <"$R/run/mip6d.pid")" = 0
check "detached: reparented to PID 1" test "$(stat_field "$pid" 4)" = 1
check "detached: leads its own session" test "$(stat_field "$pid" 6)" = "$pid"
check "detached: no controlling terminal" test "$(stat_field "$pid" 7)" = 0
# /dev/null is character device 1:3.
check "detached: fds 0-2 on /dev/null" bash -c "for f in 0 1 2; do [ \"\$(stat -L -c %t:%T /proc/$pid/fd/\$f)\" = 1:3 ] || exit 1; done"
wait_for 100 grep -q "mip6d\[$pid\]: umip-rs Mobile IPv6 for Linux .* started (Home Agent)" "$VM_LAB/syslog.txt" &&
  ok "syslog: started (Home Agent)" || bad "syslog has no start message: $(tail -5 "$VM_LAB/syslog.txt")"
grep -q 'mip6d\[' <<<"$out" && bad "start printed log lines at DebugLevel 0: $out" ||
  ok "start printed no log lines at DebugLevel 0 (UMIP: stderr only at DebugLevel > 0)"
check "init.d/mip6d status (running)" in_root /etc/init.d/mip6d status
out=$(timeout 30 chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /etc/init.d/mip6d start 2>&1) &&
  ok "start while running: success" || bad "start while running: $out"
check "start while running: same daemon" test "$(pidfile_pid)" = "$pid"

introspect() {
  busctl --address="$bus" introspect org.umip_rs.Mip6d1 /org/umip_rs/Mip6d1 >"$VM_LAB/introspect.txt" 2>&1
}
if wait_for 100 introspect && grep -q org.umip_rs.Mip6d1.HomeAgent "$VM_LAB/introspect.txt"; then
  ok "busctl introspect org.umip_rs.Mip6d1 /org/umip_rs/Mip6d1 (HomeAgent)"
else
  bad "busctl introspect: $(cat "$VM_LAB/introspect.txt")"
fi

check "init.d/mip6d reload" in_root /etc/init.d/mip6d reload
wait_for 100 grep -q "mip6d\[$pid\]: configuration /etc/mip6d.conf reloaded" "$VM_LAB/syslog.txt" &&
  ok "syslog: SIGHUP reload logged" || bad "no reload in syslog: $(tail -5 "$VM_LAB/syslog.txt")"
check "same daemon after reload" test "$(pidfile_pid)" = "$pid"

check "init.d/mip6d stop" in_root /etc/init.d/mip6d stop
check "mip6d is gone" bash -c "! kill -0 $pid"
check "pidfile removed" test ! -e "$R/run/mip6d.pid"
grep -q "mip6d\[$pid\]: umip-rs Mobile IPv6 for Linux .* stopped (Home Agent)" "$VM_LAB/syslog.txt" &&
  ok "syslog: stopped (Home Agent)" || bad "syslog has no stop message"
status=0
in_root /etc/init.d/mip6d status >/dev/null 2>&1 || status=$?
check "init.d/mip6d status (stopped) exits 3" test "$status" = 3
check "init.d/mip6d stop (not running) exits 0" in_root /etc/init.d/mip6d stop

echo "== a broken configuration"
cp "$R/etc/mip6d.conf" "$VM_LAB/mip6d.conf.good"
echo 'NoSuchKeyword 1;' >>"$R/etc/mip6d.conf"
status=0
out=$(timeout 30 chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /etc/init.d/mip6d start 2>&1) || status=$?
[ "$status" = 1 ] && grep -q 'Error in configuration file /etc/mip6d.conf at line 5' <<<"$out" &&
  ok "start with a broken file: status 1, the error on the terminal" || bad "start with a broken file (status $status): $out"
check "no pidfile after the failed start" test ! -e "$R/run/mip6d.pid"
cp "$VM_LAB/mip6d.conf.good" "$R/etc/mip6d.conf"

echo "== DebugLevel 1 with DebugLogFile"
ha_conf 'DebugLevel 1;' 'DebugLogFile "/var/log/ha-debug.log";'
status=0
out=$(timeout 60 chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /etc/init.d/mip6d start 2>&1) || status=$?
[ "$status" = 0 ] && ok "init.d/mip6d start (DebugLevel 1, log file)" || bad "start with a log file (status $status): $out"
pid=$(pidfile_pid)
check "detached with a log file: reparented to PID 1" test "$(stat_field "$pid" 4)" = 1
check "detached with a log file: stderr is the log file" test "$(readlink "/proc/$pid/fd/2")" = "$R/var/log/ha-debug.log"
in_root /etc/init.d/mip6d reload >/dev/null 2>&1
wait_for 100 grep -q "configuration /etc/mip6d.conf reloaded" "$R/var/log/ha-debug.log" &&
  ok "the debug log file gets the daemon's messages" || bad "debug log: $(tail -5 "$R/var/log/ha-debug.log" 2>&1)"
check "init.d/mip6d stop (log file)" in_root /etc/init.d/mip6d stop
check "pidfile removed (log file)" test ! -e "$R/run/mip6d.pid"
rm -f "$R/var/log/ha-debug.log"
ha_conf

echo "== started by PID 1, as systemd starts mip6d.service (Type=notify)"
# This script is not the guest's PID 1: a new PID namespace gives mip6d a parent
# that is, as a systemd in a container would be.
python3 -S "$SINK" "$R/run/notify-test.sock" "$VM_LAB/notify.txt" &
helpers+=($!)
wait_for 50 test -S "$R/run/notify-test.sock" || vm_die "no notify sink"
# shellcheck disable=SC2016 # expanded by the inner bash
unshare --pid --fork --kill-child bash -c '
  chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NOTIFY_SOCKET=/run/notify-test.sock \
    /usr/sbin/mip6d -c /etc/mip6d.conf >"$2/pid1-child.log" 2>&1 &
  echo "started $!" >"$2/pid1.txt"
  status=0
  wait $! || status=$?
  echo "exit $status" >>"$2/pid1.txt"
  sleep 30' pid1 "$R" "$VM_LAB" &
ns_init=$!
wait_for 200 grep -qx 'READY=1' "$VM_LAB/notify.txt" && ok "READY=1 sent" ||
  bad "no READY=1: $(cat "$VM_LAB/notify.txt" "$VM_LAB/pid1-child.log" 2>&1)"
child=
for p in /proc/[0-9]*; do
  [ "$(readlink "$p/exe" 2>/dev/null)" = "$R/usr/sbin/mip6d" ] && child=${p#/proc/}
done
inner=$(awk '/^NSpid:/ { print $3 }' "/proc/$child/status" 2>/dev/null)
check "no fork under PID 1: the process PID 1 started is the daemon (pid $inner in the namespace)" \
  grep -qx "started $inner" "$VM_LAB/pid1.txt"
check "no pidfile without --pidfile (as UMIP)" test ! -e "$R/run/mip6d.pid"
kill -HUP "$child"
wait_for 100 bash -c "[ \"\$(grep -c '^READY=1' '$VM_LAB/notify.txt')\" -ge 2 ]" &&
  grep -q '^RELOADING=1' "$VM_LAB/notify.txt" &&
  ok "SIGHUP: RELOADING=1 then READY=1" || bad "SIGHUP notifications: $(cat "$VM_LAB/notify.txt")"
kill -TERM "$child"
wait_for 100 grep -q '^exit' "$VM_LAB/pid1.txt"
check "SIGTERM: exit 0" grep -qx 'exit 0' "$VM_LAB/pid1.txt"
check "SIGTERM: STOPPING=1 sent" grep -qx 'STOPPING=1' "$VM_LAB/notify.txt"
kill "$ns_init" 2>/dev/null
wait "$ns_init" 2>/dev/null
rm -f "$R/run/notify-test.sock"

echo "== purge"
if in_root dpkg --purge mip6d-rs >"$VM_LAB/purge.log" 2>&1; then ok "dpkg --purge mip6d-rs"; else
  cat "$VM_LAB/purge.log"
  bad "dpkg --purge mip6d-rs"
fi
rm -f "$R/tmp/${DEB##*/}"
left=$(in_root dpkg -l | awk '$2 ~ /^mip6d/ { print $1, $2 }')
check "dpkg knows no mip6d package${left:+ (left: $left)}" test -z "$left"
leftovers=$(cd "$R" && find etc usr lib var run tmp \
  \( -name '*mip6d*' -o -name '*mip6ctl*' -o -name 'org.umip_rs*' \) -print 2>/dev/null | grep -v '^var/cache/apt' || true)
check "no file left${leftovers:+: $leftovers}" test -z "$leftovers"
check "no mip6d process left" bash -c "! ps -eo comm= | grep -qx mip6d"

umount "$R/run" "$R/sys" "$R/dev" "$R/proc" 2>/dev/null
finish
