#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d.rs: mip6d as home agent and mobile node on
# the lab of guest-lib.sh.
#  1. The MN registers from foreign link A (BA status 0 in both logs, tunnel up,
#     proxy entry on the HA), the CN's ping to the home address is answered;
#     after SIGTERM the kernel state of both nodes equals the one before start.
#  2. Again from link A, then a move to link B (new BU/BA, the CN's ping keeps
#     running; lost packets counted), then home (deregistration, proxy entry
#     gone, ping answered on the home link); the HA's state is restored at exit.
# Each check prints "mip6d: ok ..."; the first failure exits non-zero.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mip6d_lab_up a
mip6d_wait_mn_on_link_a
ok "lab up, MN on link A"

mip6d_ha_conf
mip6d_mn_conf
ha_before=$(vm_kernel_state ha)
mn_before=$(vm_kernel_state mn)

# --- 1. registration from link A, clean exit ---------------------------------
mip6d_start_ha
mip6d_start_mn
vm_wait_log mn-d 'BA from 2001:db8:1::2: status 0 ' 30 >/dev/null || vm_die "no BA with status 0 at the MN"
vm_wait_log mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 5 >/dev/null || vm_die "MN not registered"
ok_log ha-d 'BA to 2001:db8:1::100 via 2001:db8:a:.*status 0' 5 "no BA with status 0 from the HA"
tunnels=$(ip -n mn -6 tunnel show)
grep -q "remote $VM_HA_ADDR local 2001:db8:a:" <<<"$tunnels" || vm_die "no MN tunnel to the HA: $tunnels"
# (Output captured first: with pipefail, `ip | grep -q` fails when grep exits early.)
addrs=$(ip -n mn -6 addr show)
grep -q "inet6 $HOA/128 scope global nodad home" <<<"$addrs" || vm_die "home address not on the tunnel: $addrs"
proxies=$(ip -n ha -6 neigh show proxy)
grep -q "$HOA dev eth0 proxy" <<<"$proxies" || vm_die "no proxy entry on the HA: $proxies"
routes=$(ip -n ha -6 route show)
grep -q "^$HOA dev ip6tnl" <<<"$routes" || vm_die "no HA route to the HoA: $routes"
ok "tunnels, home address, proxy entry and routes installed"
vm_ping cn "$HOA" 5 >"$VM_LAB/ping1.txt" || vm_die "CN -> HoA ping not answered: $(cat "$VM_LAB/ping1.txt")"
ok "ping from the CN to the home address answered: $(grep -o '[0-9]* received' "$VM_LAB/ping1.txt")"

mip6d_stop mn-d
vm_wait_log ha-d 'binding 2001:db8:1::100 .* deregistered' 5 >/dev/null || vm_die "the MN did not deregister at exit"
mip6d_stop ha-d
mip6d_same_state mn "$mn_before" "$(vm_kernel_state mn)"
mip6d_same_state ha "$ha_before" "$(vm_kernel_state ha)"
ok "after SIGTERM the kernel state of MN and HA equals the state before start"

# --- 2. link A -> link B -> home, state on D-Bus ------------------------------
# One private system bus per node: both daemons own org.umip_rs.Mip6d1.
MIP6D_HA_BUS=$(mip6d_start_bus bus-ha)
MIP6D_MN_BUS=$(mip6d_start_bus bus-mn)
mip6d_start_ha
mip6d_start_mn
vm_wait_log mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 30 >/dev/null || vm_die "MN not registered on A"
vm_wait_log mn-d 'D-Bus: org.umip_rs.Mip6d1 published' 5 >/dev/null || vm_die "the MN did not publish on D-Bus"
mn_status=$(DBUS_SYSTEM_BUS_ADDRESS=$MIP6D_MN_BUS "$MIP6CTL" status) || vm_die "mip6ctl status (MN) failed: $mn_status"
grep -qE 'care-of address +2001:db8:a:[0-9a-f:]+ on eth-a' <<<"$mn_status" || vm_die "mip6ctl shows no CoA on eth-a: $mn_status"
grep -qE 'registration +registered' <<<"$mn_status" || vm_die "mip6ctl shows no registration: $mn_status"
ha_bc=$(DBUS_SYSTEM_BUS_ADDRESS=$MIP6D_HA_BUS "$MIP6CTL" bc --json) || vm_die "mip6ctl bc (HA) failed: $ha_bc"
grep -q "\"$HOA\"" <<<"$ha_bc" || vm_die "mip6ctl bc shows no binding for $HOA: $ha_bc"
ok "D-Bus: mip6ctl shows the MN registered with its CoA on eth-a and the HA's binding"
vm_spawn cn-ping cn ping -6 -n -i 0.2 "$HOA"
vm_wait_log cn-ping 'bytes from' 10 >/dev/null || vm_die "CN -> HoA ping not answered on A"
moved=$(date +%s.%N)
vm_mn_move b
vm_wait_log mn-d 'handover completed: 2001:db8:a:.* -> 2001:db8:b:' 30 >/dev/null ||
  vm_die "no handover to link B"
handover=$(awk -v a="$moved" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
ok_log ha-d 'binding 2001:db8:1::100 moves from 2001:db8:a:.* to 2001:db8:b:' 5 "the HA did not move the binding to link B"
seq_before=$(grep -o 'icmp_seq=[0-9]*' "$VM_LAB/cn-ping.log" | tail -1 | cut -d= -f2)
deadline=$((SECONDS + 15))
until [ "$(grep -o 'icmp_seq=[0-9]*' "$VM_LAB/cn-ping.log" | tail -1 | cut -d= -f2)" -gt "$((seq_before + 5))" ]; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "the CN's ping stopped being answered after the move to B: $(tail -5 "$VM_LAB/cn-ping.log")"
  sleep 0.2
done
vm_stop cn-ping INT 5 || true
summary=$(grep 'packets transmitted' "$VM_LAB/cn-ping.log")
ok "ping kept working across the move to link B (BA after ${handover}s): $summary"

vm_mn_move home
vm_wait_log mn-d 'at home on eth-home' 30 >/dev/null || vm_die "the MN did not see its home link"
vm_wait_log mn-d 'deregistered from 2001:db8:1::2' 15 >/dev/null || vm_die "no deregistration BA"
vm_wait_log ha-d 'binding 2001:db8:1::100 .* deregistered' 5 >/dev/null || vm_die "the HA kept the binding"
proxies=$(ip -n ha -6 neigh show proxy)
[ -z "$proxies" ] || vm_die "proxy entries left on the HA after deregistration: $proxies"
ok "returned home: deregistered, proxy entries gone"
# The router learned the home address at the HA's MAC while it proxied; the MN's
# unsolicited NA (Override) points it back at the MN's own interface.
mn_mac=$(ip -n mn -o link show dev eth-home | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
deadline=$((SECONDS + 10))
until ip -n rtr -6 neigh show "$HOA" | grep -q "lladdr $mn_mac"; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "rtr's neighbour entry for $HOA is not the MN's $mn_mac: $(ip -n rtr -6 neigh show "$HOA")"
  sleep 0.2
done
ok "the router's neighbour entry for the home address is the MN's MAC again"
vm_ping cn "$HOA" 5 >"$VM_LAB/ping3.txt" || vm_die "CN -> HoA ping at home not answered: $(cat "$VM_LAB/ping3.txt")"
ok "ping from the CN to the home address answered at home"
mip6d_stop mn-d
mip6d_stop ha-d
mip6d_same_state ha "$ha_before" "$(vm_kernel_state ha)"
ok "home agent state restored after SIGTERM"
for b in bus-ha bus-mn; do kill "$(cat "$VM_LAB/$b.pid")" 2>/dev/null || true; done
vm_topology_down
echo "mip6d: all checks passed"
