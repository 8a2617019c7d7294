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
# The script drives the home agent and reports what it saw as "fact KEY=VALUE"
# lines; tests/tests/vm_mip6d.rs decides whether that is right.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mh_send_check
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
# Per-binding devices: this is the test of their device group.
mip6d_ha_conf 'HaTunnelDatapath per-binding;'
sed -i 's/^DebugLevel 10;/DebugLevel 1;/' "$VM_LAB/ha.conf"
mip6d_start_ha
vm_fact lab up

send() { vm_ns mn "$MH_SEND" bulk eth-home "$VM_HA_ADDR" "$n" "$@" >/dev/null; }
count() { grep -c -- "$1" "$VM_LAB/ha-d.log" || true; }
group_size() { ip -n ha -o link show group 6275 2>/dev/null | grep -c . || true; }
proxies() { ip -n ha -6 neigh show proxy | grep -c '2001:db8:1::1:' || true; }
# Waits (bounded) until COMMAND prints WANT, then reports what it printed last as
# fact KEY: fact_when KEY WANT TIMEOUT COMMAND...
fact_when() {
  local key=$1 want=$2 timeout=$3 got deadline
  shift 3
  deadline=$((SECONDS + timeout))
  while got=$("$@") && [ "$got" != "$want" ] && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.5
  done
  vm_fact "$key" "$got"
}
budget=$((n / 2 + 60))
vm_fact n "$n"

send 1 150 0
fact_when installed "$n" "$budget" count ' installed (tunnel ip6tnl'
fact_when group "$n" 10 group_size
vm_fact proxies "$(proxies)"

send 2 150 0
fact_when refreshed "$n" "$budget" count ' seq 2 lifetime '

# Lifetime 2 units = 8 s: they all come due together.
send 3 2 0
fact_when short_lived "$n" "$budget" count ' seq 3 lifetime 8 s'
fact_when expired "$n" "$budget" count ') expired'
fact_when group_after_expiry 0 "$budget" group_size
fact_when proxies_after_expiry 0 10 proxies

send 4 150 0
fact_when installed_total "$((2 * n))" "$budget" count ' installed (tunnel ip6tnl'
status=0
vm_stop ha-d TERM 60 || status=$?
vm_fact exit_status "$status"
vm_fact group_removals "$(count "removing $n binding tunnels")"
mip6d_state_fact state_after_stop "$before" "$(vm_kernel_state ha)"
vm_topology_down
vm_fact finished yes
