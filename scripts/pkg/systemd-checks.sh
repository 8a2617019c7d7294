#!/usr/bin/env bash
# Inside the container that scripts/test-systemd.sh boots (systemd is PID 1, our
# packages are installed): drives the units with systemctl and checks what only a
# real service manager shows. Argument: what `systemctl is-system-running --wait`
# said on the host side. Each check prints "ok: ..." or "FAIL: ..."; the last line
# counts them.
#
# The root was set up by test-systemd.sh: /etc/miredo.conf points at the server on
# 192.0.2.1 and binds 203.0.113.10, /etc/miredo-server.conf binds 192.0.2.1 (and
# 192.0.2.2), /etc/iproute2/rt_tables has a "teredo" table, all three addresses are
# on lo of the container's private network namespace.
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
boot_state=${1:-unknown}

main_pid() { systemctl show --property=MainPID --value "$1"; }
# Field NAME of /proc/PID/status (the first word after it).
proc_field() { awk -v f="$2:" '$1 == f { print $2; exit }' "/proc/$1/status" 2>/dev/null; }
# journal_has UNIT REGEX: the unit's journal of this boot has a matching line (journald
# writes asynchronously: waits up to 10 s).
journal_has() {
  wait_for 100 bash -c "journalctl --boot --unit='$1' --no-pager --output=cat | grep -qE -- '$2'"
}
# No process runs the executable PATH.
no_process() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = "$1" ] && return 1
  done
  return 0
}
teredo_address() { ip -6 -o addr show dev "$1" scope global 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4; exit }'; }
# The client's address is 2001:0:<server 192.0.2.1 = c000:201>::/64 (RFC 4380 §4).
qualified() { teredo_address "$1" | grep -q '^2001:0:c000:201:'; }
finish() {
  test_summary systemd
  exit
}

echo "== boot (systemd $(systemctl --version | awk 'NR == 1 { print $2 }') as PID 1)"
[ "$boot_state" = running ] && ok "systemd reached 'running' (no unit failed at boot)" ||
  bad "systemd state after boot: $boot_state; failed: $(systemctl --failed --no-legend --plain | awk '{ printf "%s ", $1 }')"
check "PID 1 is systemd" test "$(readlink /proc/1/exe)" = /usr/lib/systemd/systemd
check "dbus.service is active (the system bus)" systemctl is-active --quiet dbus.service
check "miredo.service is enabled (by the package)" test "$(systemctl is-enabled miredo.service)" = enabled
check "miredo-server.service is installed, not enabled" test "$(systemctl is-enabled miredo-server.service)" = disabled
check "mip6d.service is installed, not enabled" test "$(systemctl is-enabled mip6d.service)" = disabled
# Started at boot by multi-user.target; its server is not running yet.
check "miredo.service was started at boot and is active" systemctl is-active --quiet miredo.service
boot_pid=$(main_pid miredo.service)
out=$(systemctl stop miredo.service 2>&1) && ok "systemctl stop miredo (the boot's instance)" || bad "stop: $out"
check "its process is gone" bash -c "! kill -0 $boot_pid"

echo "== miredo-server.service"
out=$(systemctl start miredo-server.service 2>&1) && ok "systemctl start miredo-server" || bad "systemctl start miredo-server: $out"
check "miredo-server.service is active" systemctl is-active --quiet miredo-server.service
spid=$(main_pid miredo-server.service)
check "its MainPID is /usr/sbin/miredo-server" test "$(readlink "/proc/$spid/exe")" = /usr/sbin/miredo-server
check "it runs as user miredo-server" test "$(proc_field "$spid" Uid)" = "$(id -u miredo-server)"
check "NoNewPrivileges applies (NoNewPrivs: 1)" test "$(proc_field "$spid" NoNewPrivs)" = 1
journal_has miredo-server.service 'Starting' && ok "journalctl -u miredo-server shows the daemon's log" ||
  bad "journalctl -u miredo-server: $(journalctl -b -u miredo-server.service --no-pager -o cat | tail -5)"
if [ -f /usr/share/dbus-1/system.d/org.miredo_rs.Server1.conf ]; then
  wait_for 100 busctl --system status org.miredo_rs.Server1 &&
    ok "the server owns org.miredo_rs.Server1 on the system bus" || bad "org.miredo_rs.Server1 not on the system bus"
fi
out=$(systemctl reload miredo-server.service 2>&1) && ok "systemctl reload miredo-server" ||
  bad "reload miredo-server: $out $(journalctl -b -u miredo-server.service --no-pager -o cat | tail -4)"
check "same server process after reload" test "$(main_pid miredo-server.service)" = "$spid"
check "miredo-server.service active after reload" systemctl is-active --quiet miredo-server.service

echo "== miredo.service"
# The client hook adds its routes and rule to table "teredo" when the kernel has that
# table (iproute2 6.1 reports a missing one as an error): the admin's own route in it.
ip -6 route add unreachable 2001:db8:ffff::/48 table teredo
out=$(systemctl start miredo.service 2>&1) && ok "systemctl start miredo (Type=notify: returns on READY=1)" || bad "systemctl start miredo: $out"
# READY=1 comes once the tunnel exists: no waiting needed here.
check "the teredo interface exists when start returns" ip link show teredo
check "miredo.service is active" systemctl is-active --quiet miredo.service
check "the unit is Type=notify" test "$(systemctl show --property=Type --value miredo.service)" = notify
pid=$(main_pid miredo.service)
check "its MainPID is /usr/sbin/miredo" test "$(readlink "/proc/$pid/exe")" = /usr/sbin/miredo
check "the pidfile /run/miredo.pid holds the MainPID" test "$(cat /run/miredo.pid 2>/dev/null)" = "$pid"
check "it runs as user miredo" test "$(proc_field "$pid" Uid)" = "$(id -u miredo)"
capeff=$((16#$(proc_field "$pid" CapEff)0 >> 4))
check "it keeps CAP_NET_ADMIN and no CAP_SYS_ADMIN" test $(((capeff >> 12) & 1)) = 1 -a $(((capeff >> 21) & 1)) = 0
check "NoNewPrivileges applies (NoNewPrivs: 1)" test "$(proc_field "$pid" NoNewPrivs)" = 1
# CapBnd within the unit's CapabilityBoundingSet: no CAP_SYS_ADMIN (21), CAP_SYS_MODULE (16).
capbnd=$((16#$(proc_field "$pid" CapBnd)0 >> 4))
check "the bounding set excludes CAP_SYS_ADMIN and CAP_SYS_MODULE" test $(((capbnd >> 21) & 1)) = 0 -a $(((capbnd >> 16) & 1)) = 0
wait_for 300 qualified teredo && ok "qualified: Teredo address $(teredo_address teredo) on teredo" ||
  bad "no Teredo address on teredo within 30 s: $(ip -6 addr show dev teredo 2>&1); journal: $(journalctl -b -u miredo.service --no-pager -o cat | tail -8)"
addr=$(teredo_address teredo)
# The client hook (/etc/miredo/client-hook, iproute2) ran inside the unit's sandbox.
check "hook: link-local fe80::ffff:ffff:ffff on teredo" bash -c "ip -6 addr show dev teredo | grep -q 'fe80::ffff:ffff:ffff/64'"
check "hook: default route via teredo, metric 1029" bash -c "ip -6 route show default | grep -q 'dev teredo metric 1029'"
check "hook: default route in table teredo" bash -c "ip -6 route show table teredo | grep -q '^default dev teredo'"
check "hook: rule from $addr lookup teredo (priority 32765)" bash -c "ip -6 rule show | grep -q '^32765:.*from $addr lookup teredo'"
journal_has miredo.service 'Teredo pseudo-tunnel started' && ok "journalctl -u miredo shows the daemon's log (tunnel started)" ||
  bad "journalctl -u miredo: $(journalctl -b -u miredo.service --no-pager -o cat | tail -5)"
journal_has miredo.service "address: $addr" && ok "journalctl -u miredo shows the new address" || bad "no address in journalctl -u miredo"
check_not "no hook failure in the journal" bash -c "journalctl -b -u miredo.service --no-pager -o cat | grep -qiE 'hook.*(fail|error|exit)|Permission denied|Read-only file system'"

echo "== D-Bus (system bus, installed policy)"
obj=/org/miredo_rs/Miredo1/teredo
intro=$(busctl --system introspect org.miredo_rs.Miredo1 "$obj" 2>&1)
grep -q 'org.miredo_rs.Miredo1.Tunnel' <<<"$intro" && grep -q '\.Requalify' <<<"$intro" &&
  ok "busctl --system introspect org.miredo_rs.Miredo1 $obj" || bad "introspect: $intro"
check "property State is \"up\"" test "$(busctl --system get-property org.miredo_rs.Miredo1 "$obj" org.miredo_rs.Miredo1.Tunnel State)" = 's "up"'
check "property Address is $addr" test "$(busctl --system get-property org.miredo_rs.Miredo1 "$obj" org.miredo_rs.Miredo1.Tunnel Address)" = "s \"$addr\""
out=$(runuser -u nobody -- busctl --system get-property org.miredo_rs.Miredo1 "$obj" org.miredo_rs.Miredo1.Tunnel State 2>&1)
[ "$out" = 's "up"' ] && ok "user nobody reads properties" || bad "nobody reading State: $out"
out=$(runuser -u nobody -- busctl --system introspect org.miredo_rs.Miredo1 "$obj" 2>&1)
grep -q 'org.miredo_rs.Miredo1.Tunnel' <<<"$out" && ok "user nobody introspects" || bad "nobody introspecting: $out"
out=$(runuser -u nobody -- busctl --system call org.miredo_rs.Miredo1 "$obj" org.miredo_rs.Miredo1.Tunnel Requalify 2>&1) &&
  bad "user nobody called Requalify: $out" ||
  { grep -qi 'denied' <<<"$out" && ok "user nobody may not call Requalify (access denied)" || bad "nobody calling Requalify: $out"; }
out=$(busctl --system call org.miredo_rs.Miredo1 "$obj" org.miredo_rs.Miredo1.Tunnel Requalify 2>&1) &&
  ok "root calls Requalify" || bad "root calling Requalify: $out"
wait_for 300 qualified teredo && ok "qualified again after Requalify" || bad "no address after Requalify"

echo "== systemctl reload miredo (InterfaceName teredo -> teredo1)"
sed -i 's/^InterfaceName teredo$/InterfaceName teredo1/' /etc/miredo.conf
out=$(systemctl reload miredo.service 2>&1) && ok "systemctl reload miredo" || bad "systemctl reload miredo: $out"
check "same miredo process after reload" test "$(main_pid miredo.service)" = "$pid"
check "miredo.service active after reload" systemctl is-active --quiet miredo.service
wait_for 100 bash -c '! ip link show teredo' && ok "reload: interface teredo removed" || bad "reload: teredo still there"
wait_for 300 qualified teredo1 && ok "reload: Teredo address $(teredo_address teredo1) on teredo1" ||
  bad "reload: no Teredo address on teredo1: $(ip -6 addr show 2>&1 | tail -5)"
check "reload: default route via teredo1" bash -c "ip -6 route show default | grep -q 'dev teredo1 metric 1029'"
wait_for 100 busctl --system introspect org.miredo_rs.Miredo1 /org/miredo_rs/Miredo1/teredo1 &&
  ok "reload: D-Bus object /org/miredo_rs/Miredo1/teredo1" || bad "reload: no /org/miredo_rs/Miredo1/teredo1 on the bus"
# A value out of range is fatal to the new file: the daemon keeps the previous one.
echo "BindPort 99999" >>/etc/miredo.conf
out=$(systemctl reload miredo.service 2>&1) && ok "systemctl reload with a broken file (SIGHUP is sent)" || bad "reload with a broken file: $out"
journal_has miredo.service 'Loading configuration from /etc/miredo/miredo.conf failed' &&
  ok "the journal says the new file failed to load" ||
  bad "no configuration error in the journal: $(journalctl -b -u miredo.service --no-pager -o cat | tail -5)"
check "miredo.service stays active" systemctl is-active --quiet miredo.service
check "same process" test "$(main_pid miredo.service)" = "$pid"
wait_for 300 qualified teredo1 && ok "the previous configuration still runs (teredo1 qualified)" ||
  bad "after the refused file: no Teredo address on teredo1"
sed -i '/^BindPort 99999$/d' /etc/miredo.conf
addr1=$(teredo_address teredo1)

echo "== systemctl stop miredo"
out=$(systemctl stop miredo.service 2>&1) && ok "systemctl stop miredo" || bad "systemctl stop miredo: $out"
check "miredo.service is inactive (not failed: SIGTERM exits 0)" test "$(systemctl is-active miredo.service)" = inactive
check "no miredo process left" no_process /usr/sbin/miredo
check "the unit's cgroup is empty" test -z "$(systemctl show --property=ControlGroup --value miredo.service)"
check "no pidfile left" test ! -e /run/miredo.pid
check "no teredo1 interface left" bash -c '! ip link show teredo1'
check "no route via teredo1 left" test -z "$(ip -6 route show table all dev teredo1 2>/dev/null)"
check "table teredo is empty" test -z "$(ip -6 route show table teredo 2>/dev/null)"
check "no rule from $addr1 left" bash -c "! ip -6 rule show | grep -q 'lookup teredo'"
journal_has miredo.service 'Terminated with no error' && ok "the journal has the clean exit" || bad "no exit message in the journal"
check_not "no unit is left failed" bash -c "systemctl --failed --no-legend --plain | grep -q ."

echo "== systemctl stop miredo-server"
out=$(systemctl stop miredo-server.service 2>&1) && ok "systemctl stop miredo-server" || bad "systemctl stop miredo-server: $out"
check "miredo-server.service is inactive" test "$(systemctl is-active miredo-server.service)" = inactive
check "no miredo-server process left" no_process /usr/sbin/miredo-server
check "no /run/miredo-server.pid left" test ! -e /run/miredo-server.pid
# systemd kills what is left in the unit's cgroup as soon as the daemon has exited:
# the pidfile must already be gone by then, every time.
left=0
for _ in $(seq 20); do
  systemctl start miredo-server.service && systemctl stop miredo-server.service || left=start-stop-failed
  [ -e /run/miredo-server.pid ] && left=$((left + 1))
done
check "20 more start/stop rounds: no pidfile left after any (left: $left)" test "$left" = 0

echo "== mip6d.service on a kernel without Mobile IPv6"
out=$(systemctl start mip6d.service 2>&1) && bad "systemctl start mip6d succeeded on a kernel without MIPv6" ||
  ok "systemctl start mip6d fails"
state=$(systemctl is-active mip6d.service)
[ "$state" = failed ] && ok "mip6d.service is failed" || bad "mip6d.service is $state, not failed"
check "not restarted over and over (Restart=on-failure spares exit status 1)" \
  test "$(systemctl show --property=NRestarts --value mip6d.service)" = 0
journal_has mip6d.service 'CONFIG_IPV6_MIP6' && ok "journalctl -u mip6d names the missing kernel options" ||
  bad "journalctl -u mip6d: $(journalctl -b -u mip6d.service --no-pager -o cat | tail -5)"
check "no mip6d process left" no_process /usr/sbin/mip6d
check "no /run/mip6d.pid" test ! -e /run/mip6d.pid
check "no rule of mip6d (priorities 1000-1005) left" bash -c "! ip -6 rule show | grep -qE '^100[0-5]:'"
check "no XFRM policy left" test -z "$(ip xfrm policy show 2>/dev/null)"
check "no XFRM state left" test -z "$(ip xfrm state show 2>/dev/null)"
check "no tunnel interface left" test -z "$(ip -o link show | awk -F': ' '$2 != "lo" { print $2 }')"
out=$(systemctl reset-failed mip6d.service 2>&1) && ok "systemctl reset-failed mip6d" || bad "reset-failed: $out"
finish
