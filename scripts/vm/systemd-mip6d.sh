#!/usr/bin/env bash
# Guest side of tests/tests/vm_systemd.rs: mip6d.service under systemd as PID 1, on
# a kernel that has Mobile IPv6 (the host's has not: scripts/test-systemd.sh checks
# the unit's clean failure there).
#
#   scripts/test-systemd.sh --vm   (prepares ROOT, then runs)
#   scripts/vm.sh run scripts/vm/systemd-mip6d.sh ROOT
#
# ROOT is a Debian 12 root with systemd, dbus and our packages installed
# (test-systemd.sh); the guest sees it through its tmpfs overlay, so what is written
# here vanishes with the guest. The root is booted with systemd-nspawn exactly as on
# the host (scripts/pkg/nspawn.sh), in a network namespace with a veth link for a
# home agent, and systemctl starts, reloads and stops mip6d.service. Everything
# observed is reported as "fact KEY=VALUE" lines; the Rust test judges them.
set -uo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/pkg/nspawn.sh
. "$(dirname "$0")/../pkg/nspawn.sh"
vm_in_guest

R=${1:?usage: systemd-mip6d.sh ROOT}
[ -x "$R/lib/systemd/systemd" ] || vm_die "$R has no systemd installed"
[ -x "$R/usr/sbin/mip6d" ] || vm_die "mip6d-rs is not installed in $R"
netns=sd-mip6d
trap 'ct_cleanup; ip netns del "$netns" 2>/dev/null' EXIT

# The rig's init mounts no cgroup hierarchy; the container's systemd needs one.
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup || vm_die "cannot mount cgroup2"
modprobe veth || vm_die "modprobe veth failed"
ip netns add "$netns" || vm_die "ip netns add $netns"
ip -n "$netns" link set lo up
ip -n "$netns" link add pkg0 type veth peer name pkg1 || vm_die "no veth pair"
ip -n "$netns" link set pkg0 up
ip -n "$netns" link set pkg1 up
ip -n "$netns" -6 addr add 2001:db8:1::2/64 dev pkg0 nodad
# A home agent on pkg0, as in scripts/vm/pkg-mip6d.sh.
{
  echo '# home agent for scripts/vm/systemd-mip6d.sh'
  echo 'NodeConfig HA;'
  echo 'UseMnHaIPsec disabled;'
  echo 'Interface "pkg0";'
} >"$R/etc/mip6d.conf"

# Each step runs as one shell inside the container, with the functions below defined
# there too: under emulation a command per nsenter made the guest take 140 s, this 44 s.
# The namespace's links, without the fallback devices the kernel adds to every
# namespace when a tunnel module loads (ip6tnl0, sit0, ...): they are not mip6d's.
links() {
  ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' |
    grep -vxE 'ip6tnl0|ip6_vti0|ip6gre0|sit0|tunl0|gre0|gretap0|erspan0|ip_vti0' | sort | tr '\n' ' '
}
# Kernel objects mip6d may make: links, rules, XFRM policies and states.
kernel_objects() {
  echo "$(links)| rules $(ip -6 rule show | wc -l) | policies $(ip xfrm policy show | grep -c '^src') | states $(ip xfrm state show | grep -c '^src')"
}
journal() { journalctl --boot --unit=mip6d.service --no-pager --output=cat; }
main_pid() { systemctl show --property=MainPID --value mip6d.service; }
proc_field() { awk -v f="$2:" '$1 == f { print $2; exit }' "/proc/$1/status"; }
mip6d_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/sbin/mip6d ] && printf '%s ' "${p#/proc/}"
  done
}
# systemctl VERB mip6d.service, reporting its status (and output when it failed).
unit() {
  local status=0 out
  out=$(systemctl "$1" mip6d.service 2>&1) || status=$?
  vm_fact "$1.status" "$status"
  [ "$status" = 0 ] || vm_fact_lines "$1.output" "$out"
}
in_ct_step() {
  in_ct bash -c "$(declare -f vm_fact vm_fact_lines wait_for links kernel_objects journal main_pid proc_field mip6d_pids unit); $1"
}

vm_fact kernel "$(uname -r)"
vm_fact kernel.ip6_tunnel_loaded_before "$(grep -c '^ip6_tunnel ' /proc/modules)"
ct_boot "$R" "$netns"
vm_fact boot.state "$ct_state"
vm_fact boot.ms "$ct_boot_ms"
# shellcheck disable=SC2016 # expanded in the container
in_ct_step '
  vm_fact boot.failed_units "$(systemctl --failed --no-legend --plain | awk "{ print \$1 }")"
  vm_fact pid1 "$(readlink /proc/1/exe)"
  vm_fact unit.enabled "$(systemctl is-enabled mip6d.service)"
  vm_fact unit.type "$(systemctl show --property=Type --value mip6d.service)"
  vm_fact objects.before "$(kernel_objects)"'

step_started=$(date +%s%N)
# shellcheck disable=SC2016 # expanded in the container
in_ct_step '
  unit start
  vm_fact start.active "$(systemctl is-active mip6d.service)"
  pid=$(main_pid)
  vm_fact main.exe "$(readlink "/proc/$pid/exe")"
  # Type=notify with no fork: the process systemd started is the daemon.
  vm_fact main.ppid "$(proc_field "$pid" PPid)"
  vm_fact main.uid "$(proc_field "$pid" Uid)"
  vm_fact main.nonewprivs "$(proc_field "$pid" NoNewPrivs)"
  vm_fact main.capbnd "$(proc_field "$pid" CapBnd)"
  wait_for 100 bash -c "journalctl -b -u mip6d.service -o cat | grep -q \"started (Home Agent)\""
  vm_fact journal.started "$(journal | grep -c "started (Home Agent)")"
  wait_for 100 busctl --system status org.umip_rs.Mip6d1
  vm_fact bus.home_agent "$(busctl --system introspect org.umip_rs.Mip6d1 /org/umip_rs/Mip6d1 2>&1 | grep -c "^org.umip_rs.Mip6d1.HomeAgent ")"
  vm_fact objects.running "$(kernel_objects)"
  echo "DebugLevel 0;" >>/etc/mip6d.conf
  unit reload
  vm_fact reload.same_pid "$([ "$(main_pid)" = "$pid" ] && echo yes || echo no)"
  wait_for 100 bash -c "journalctl -b -u mip6d.service -o cat | grep -q \"configuration /etc/mip6d.conf reloaded\""
  vm_fact journal.reloaded "$(journal | grep -c "configuration /etc/mip6d.conf reloaded")"
  vm_fact reload.active "$(systemctl is-active mip6d.service)"
  unit stop
  vm_fact stop.active "$(systemctl is-active mip6d.service)"
  vm_fact stop.processes "$(mip6d_pids)"
  vm_fact journal.stopped "$(journal | grep -c "stopped (Home Agent)")"
  vm_fact objects.after "$(kernel_objects)"
  vm_fact_lines journal "$(journal)"'
vm_fact steps.ms "$((($(date +%s%N) - step_started) / 1000000))"
vm_fact kernel.ip6_tunnel_loaded "$(grep -c '^ip6_tunnel ' /proc/modules)"

status=0
ct_poweroff || status=$?
vm_fact poweroff.status "$status"
vm_fact poweroff.leftover "$(ct_leftover_pids | tr '\n' ' ')"
vm_fact poweroff.links "$(ip netns exec "$netns" bash -c "$(declare -f links); links")"
exit 0
