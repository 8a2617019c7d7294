#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d.rs (`vm_mip6d_home_agent_with_many_bindings`):
# the home agent with N simulated mobile nodes (default 200; BUs from the home
# link by `mh_send bulk`, home address 2001:db8:1::1:<i>, CoA 2001:db8:a::1:<i>).
#  1. All N register: N BAs, N tunnels named ip6tnlN in device group 6275,
#     N proxy entries.
#  2. A burst of N refreshes is answered in full.
#  3. N short-lived bindings (8 s) expire together: the removals are worked
#     off between messages and leave no tunnel or proxy entry.
#  4. N bindings again, then SIGTERM: the whole group goes in one request and
#     the kernel state equals the one before start.
# Each check prints "mip6d: ok ..."; the first failure exits non-zero.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
vm_in_guest
mip6d_check_binary
n=${1:-200}
vm_load_modules
vm_topology_up home
mkdir -p "$VM_LAB"
# The snapshot once eth0's link-local address has passed DAD (its local route).
deadline=$((SECONDS + 20))
until ip -n ha -6 -o addr show dev eth0 scope link -tentative | grep -q fe80; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "no link-local address on ha:eth0"
  sleep 0.2
done
before=$(vm_kernel_state ha)
# shellcheck disable=SC2119 # no extra lines
mip6d_ha_conf
sed -i 's/^DebugLevel 10;/DebugLevel 1;/' "$VM_LAB/ha.conf"
mip6d_start_ha
ok "lab up, home agent running"

send() { vm_ns mn "$MH_SEND" bulk eth-home "$VM_HA_ADDR" "$n" "$@" >/dev/null; }
count() { grep -c -- "$1" "$VM_LAB/ha-d.log" || true; }
group_size() { ip -n ha -o link show group 6275 2>/dev/null | grep -c . || true; }
proxies() { ip -n ha -6 neigh show proxy | grep -c '2001:db8:1::1:' || true; }
# Waits (bounded) until COMMAND prints WANT.
wait_for() {
  local want=$1 timeout=$2 got deadline
  shift 2
  deadline=$((SECONDS + timeout))
  while got=$("$@") && [ "$got" != "$want" ]; do
    [ "$SECONDS" -lt "$deadline" ] || {
      echo "guest: $* gave $got, not $want, after ${timeout}s" >&2
      tail -n 20 "$VM_LAB/ha-d.log" >&2
      return 1
    }
    sleep 0.5
  done
}
budget=$((n / 2 + 60))

send 1 150 0
wait_for "$n" "$budget" count ' installed (tunnel ip6tnl'
wait_for "$n" 10 group_size
[ "$(proxies)" = "$n" ] || vm_die "$(proxies) proxy entries for $n bindings"
ok "$n bindings installed: $n tunnels in group 6275, $n proxy entries"

send 2 150 0
wait_for "$n" "$budget" count ' seq 2 lifetime '
ok "a burst of $n refreshes was answered in full"

# Lifetime 2 units = 8 s: they all come due together.
send 3 2 0
wait_for "$n" "$budget" count ' seq 3 lifetime 8 s'
wait_for "$n" "$budget" count ') expired'
wait_for 0 "$budget" group_size
wait_for 0 10 proxies
ok "$n bindings expired together and left no tunnel or proxy entry"

send 4 150 0
wait_for "$((2 * n))" "$budget" count ' installed (tunnel ip6tnl'
vm_stop ha-d TERM 60 || vm_die "the home agent did not exit within 60 s of SIGTERM"
grep -q "removing $n binding tunnels" "$VM_LAB/ha-d.log" ||
  vm_die "the home agent did not remove its $n tunnels as one group"
after=$(vm_kernel_state ha)
[ "$before" = "$after" ] || {
  echo "$before" >"$VM_LAB/state-before"
  echo "$after" >"$VM_LAB/state-after"
  diff "$VM_LAB/state-before" "$VM_LAB/state-after" >&2 || true
  vm_die "the home agent's kernel state differs after SIGTERM"
}
ok "SIGTERM with $n bindings removed the tunnel group at once; kernel state as before start"
vm_topology_down
echo "mip6d: all checks passed"
