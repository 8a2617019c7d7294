#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d.rs: mip6d as home agent and mobile node on
# the lab of guest-lib.sh.
#  1. The MN registers from foreign link A (BA status 0 in both logs, tunnel up,
#     proxy entry on the HA), the CN's ping to the home address is answered;
#     after SIGTERM the kernel state of both nodes equals the one before start.
#  2. Again from link A, then a move to link B (new BU/BA, the CN's ping keeps
#     running; lost packets counted), then home (deregistration, proxy entry
#     gone, ping answered on the home link); the HA's state is restored at exit.
# The script drives the lab and waits for what its next step needs; what it
# sees goes out as "fact KEY=VALUE" lines and tests/tests/vm_mip6d.rs decides
# whether that is right.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mip6d_lab_up a
mip6d_wait_mn_on_link_a
vm_fact lab up

mip6d_ha_conf
mip6d_mn_conf
ha_before=$(vm_kernel_state ha)
mn_before=$(vm_kernel_state mn)

# --- 1. registration from link A ------------------------------------------------
mip6d_start_ha
mip6d_start_mn
vm_fact_log mn.ba mn-d 'BA from 2001:db8:1::2: status 0 ' 30
vm_fact_log mn.registered mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 5
vm_fact_log ha.ba ha-d 'BA to 2001:db8:1::100 via 2001:db8:a:.*status 0' 5
vm_fact_lines mn.tunnel "$(ip -n mn -6 tunnel show)"
vm_fact_lines mn.addr "$(ip -n mn -6 addr show)"
vm_fact_lines ha.proxy "$(ip -n ha -6 neigh show proxy)"
vm_fact_lines ha.route "$(ip -n ha -6 route show)"
vm_ping_fact ping1 cn "$HOA" 5

# --- 2. SIGTERM restores both nodes ----------------------------------------------
mip6d_stop mn-d
vm_fact_log ha.deregistered_at_exit ha-d 'binding 2001:db8:1::100 .* deregistered' 5
mip6d_stop ha-d
mip6d_state_fact mn.state_after_stop "$mn_before" "$(vm_kernel_state mn)"
mip6d_state_fact ha.state_after_stop "$ha_before" "$(vm_kernel_state ha)"

# --- 3. D-Bus, then a move to link B under a running ping --------------------------
# One private system bus per node: both daemons own org.umip_rs.Mip6d1.
MIP6D_HA_BUS=$(mip6d_start_bus bus-ha)
MIP6D_MN_BUS=$(mip6d_start_bus bus-mn)
mip6d_start_ha
mip6d_start_mn
vm_fact_log bus.registered mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 30
vm_fact_log bus.published mn-d 'D-Bus: org.umip_rs.Mip6d1 published' 5
vm_fact_lines bus.mn_status "$(DBUS_SYSTEM_BUS_ADDRESS=$MIP6D_MN_BUS "$MIP6CTL" status 2>&1)"
vm_fact bus.ha_bc "$(DBUS_SYSTEM_BUS_ADDRESS=$MIP6D_HA_BUS "$MIP6CTL" bc --json 2>&1)"
vm_spawn cn-ping cn ping -6 -n -i 0.2 "$HOA"
vm_fact_log move.ping_on_a cn-ping 'bytes from' 10
moved=$(date +%s.%N)
vm_mn_move b
vm_fact_log move.handover mn-d 'handover completed: 2001:db8:a:.* -> 2001:db8:b:' 30
vm_fact move.seconds "$(awk -v a="$moved" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
vm_fact_log move.ha_moves ha-d 'binding 2001:db8:1::100 moves from 2001:db8:a:.* to 2001:db8:b:' 5
last_seq() { grep -o 'icmp_seq=[0-9]*' "$VM_LAB/cn-ping.log" | tail -1 | cut -d= -f2; }
seq_before=$(last_seq)
deadline=$((SECONDS + 15))
until [ "$(last_seq)" -gt "$((seq_before + 5))" ] || [ "$SECONDS" -ge "$deadline" ]; do
  sleep 0.2
done
vm_fact move.seq_before "$seq_before"
vm_fact move.seq_after "$(last_seq)"
vm_stop cn-ping INT 5 || true
vm_fact move.ping_summary "$(grep 'packets transmitted' "$VM_LAB/cn-ping.log")"

# --- 4. back home -------------------------------------------------------------------
vm_mn_move home
vm_fact_log home.seen mn-d 'at home on eth-home' 30
vm_fact_log home.deregistered mn-d 'deregistered from 2001:db8:1::2' 15
vm_fact_log home.ha_deregistered ha-d 'binding 2001:db8:1::100 .* deregistered' 5
vm_fact_lines home.ha_proxy "$(ip -n ha -6 neigh show proxy)"
# The router learned the home address at the HA's MAC while it proxied; the MN's
# unsolicited NA (Override) points it back at the MN's own interface.
mn_mac=$(ip -n mn -o link show dev eth-home | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
deadline=$((SECONDS + 10))
until ip -n rtr -6 neigh show "$HOA" | grep -q "lladdr $mn_mac" || [ "$SECONDS" -ge "$deadline" ]; do
  sleep 0.2
done
vm_fact home.mn_mac "$mn_mac"
vm_fact home.rtr_neigh "$(ip -n rtr -6 neigh show "$HOA")"
vm_ping_fact ping_home cn "$HOA" 5
mip6d_stop mn-d
mip6d_stop ha-d
mip6d_state_fact ha.state_at_end "$ha_before" "$(vm_kernel_state ha)"
for b in bus-ha bus-mn; do kill "$(cat "$VM_LAB/$b.pid")" 2>/dev/null || true; done
vm_topology_down
vm_fact finished yes
