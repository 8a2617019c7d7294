#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_restore_busy.rs: Binding Updates that arrive while
# the home agent restores a saved binding cache of many bindings are answered, and
# leave one kernel object per binding.
#  N (default 300) simulated mobile nodes register from the home link (`mh_send bulk`,
#  as mip6d-bench-restart.sh; the BAs go into a dummy device); the file holds them; the
#  HA is stopped with SIGTERM and started again. As soon as it logs that it is
#  restoring (the bindings in its cache, their kernel state queued) and has learnt the
#  home prefix (without it a BU is refused, restore or not), a refresh (seq 2,
#  same care-of address) goes out for the node restored last and a move (seq 2, a new
#  care-of address) for the one before it. Reported: where the BAs for them fall in the
#  log against the line saying the restore is done, and afterwards the bindings' kernel
#  objects (tunnels, or encap routes on the shared device: VM_HA_DATAPATH), the routes
#  to those two home addresses and where the moved one's tunnel leads.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
CACHE=/var/lib/mip6d/binding-cache
mh_send_check
vm_in_guest
mip6d_check_binary
n=${1:-300}
mip6d_bulk_lab_up 2001:db8:a::/64
# The state to find again at the end: with eth0's link-local address configured.
wait_for 100 sh -c 'ip -n ha -6 addr show dev eth0 scope link | grep -q fe80 &&
  ! ip -n ha -6 addr show dev eth0 tentative | grep -q .' || vm_die "no link-local address on the HA's eth0"
ha_before=$(vm_kernel_state ha)
vm_fact lab up
rm -f "$CACHE"
mip6d_ha_conf 'NonVolatileBindingCache enabled;'
sed -i 's/^DebugLevel 10;/DebugLevel 1;/' "$VM_LAB/ha.conf"
mip6d_start_ha
vm_ns mn "$MH_SEND" bulk eth-home "$VM_HA_ADDR" "$n" 1 900 1000 >/dev/null
saved() {
  if [ -f "$CACHE" ]; then grep -c '^binding ' "$CACHE" || true; else echo 0; fi
}
deadline=$((SECONDS + n / 5 + 120))
until [ "$(saved)" -ge "$n" ] || [ "$SECONDS" -ge "$deadline" ]; do
  sleep 0.5
done
vm_fact saved.count "$(saved)"
vm_stop ha-d TERM 120 || vm_die "the HA did not exit on SIGTERM"
mv "$VM_LAB/ha-d.log" "$VM_LAB/ha-d-first.log"

# The file is in home-address order, and so is the restore: node n-1 comes last.
last=$(printf '2001:db8:1::1:%x' $((n - 1)))
last_coa=$(printf '2001:db8:a::1:%x' $((n - 1)))
moved=$(printf '2001:db8:1::1:%x' $((n - 2)))
moved_coa=$(printf '2001:db8:a::2:%x' $((n - 2)))
vm_spawn ha-d ha "$MIP6D" -c "$VM_LAB/ha.conf"
vm_fact_log restoring ha-d "restoring [0-9]+ bindings" 60
# A BU is decided against the home prefix, learnt from the RA that answers the HA's RS.
vm_wait_log ha-d "home prefix $VM_HOME_PREFIX/64 learned" 30 >/dev/null || vm_die "no home prefix learnt"
vm_ns mn "$MH_SEND" bu eth-home "$last" "$VM_HA_ADDR" "$last_coa" 2 900
vm_ns mn "$MH_SEND" bu eth-home "$moved" "$VM_HA_ADDR" "$moved_coa" 2 900
vm_fact_log summary ha-d 'restored [0-9]+ bindings, skipped [0-9]+' $((n / 5 + 60))
vm_fact_log refresh.ba ha-d "BA to $last via .*status [01] seq 2 " 10
vm_fact_log move.ba ha-d "BA to $moved via .*status [01] seq 2 " 10
# Line numbers in the log: each BA before the summary means it was answered during
# the restore, not after it.
line_of() { grep -n -m1 -E -- "$1" "$VM_LAB/ha-d.log" | cut -d: -f1; }
summary_at=$(line_of 'restored [0-9]+ bindings')
vm_fact refresh.before_summary "$(($(line_of "BA to $last via") < summary_at))"
vm_fact move.before_summary "$(($(line_of "BA to $moved via") < summary_at))"
old_coa=$(printf '2001:db8:a::1:%x' $((n - 2)))
if [ "${VM_HA_DATAPATH:-shared}" = shared ]; then
  # A binding is an encap route on the shared device, its tunnel the route's `dst`.
  vm_fact kernel_bindings "$(ip -n ha -6 route show dev mip6tnl | grep -c ' encap ip6 ')"
  leads_to() { ip -n ha -6 route show table all | grep "^$moved " | grep -c " dst $1 " || true; }
else
  vm_fact kernel_bindings "$(ip -n ha -o link show group 6275 | grep -c .)"
  leads_to() { ip -n ha -6 tunnel show | grep -c "remote $1 " || true; }
fi
vm_fact refresh.routes "$(ip -n ha -6 route show table all | grep -c "^$last ")"
vm_fact move.routes "$(ip -n ha -6 route show table all | grep -c "^$moved ")"
vm_fact move.tunnel_to_new "$(leads_to "$moved_coa")"
vm_fact move.tunnel_to_old "$(leads_to "$old_coa")"
vm_fact proxies "$(ip -n ha -6 neigh show proxy | grep -c .)"
vm_stop ha-d TERM 120 || vm_die "the HA did not exit on SIGTERM"
rm -f "$CACHE"
mip6d_state_fact ha.state_at_end "$ha_before" "$(vm_kernel_state ha)"
ip -n ha link del sink
vm_topology_down
vm_fact finished yes
