#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_movement.rs: the mobile node's movement
# directives on the lab of guest-lib.sh. One part per run (the argument):
#
#  homes       Two MnHomeLink blocks: home addresses ::100 (home agent ::2) and
#              ::101 (a second home agent, ha2 at ::3, on the home link). Both
#              register from link A, both move to link B, both return home; the
#              CN's pings reach each home address.
#  routers     MnRouterProbes. Link A gets a second router (rtr2, prefix
#              2001:db8:d::/64, slow RAs). (1) MnRouterProbes 3: rtr2 appears,
#              the MN probes rtr and, answered, stays. (2) Reload to 0: rtr2
#              appears again and the MN moves to its prefix at once. (3) Reload
#              to 3: the MN's switch port moves from link A's bridge to link B's
#              (no carrier change): the new router's RA makes the MN probe rtr2,
#              which cannot answer; after the probes the MN moves to link B's
#              prefix. (4) Reload to 5 with MnRouterProbeTimeout 1.5: the port
#              goes back to link A's bridge; the probing of link B's router
#              stops at 1.5 s and the MN moves to link A's prefix.
#  optimistic  OptimisticHandoff, with a long DAD on eth-b (3 transmissions,
#              1.5 s apart). With it: the tunnel's default route is there before
#              any BA (the router drops what goes to the home agent), and the BU from link B
#              leaves while the new CoA is still tentative. Without it: no route
#              before the BA, and the BU leaves after DAD.
#
# Facts go out as "fact KEY=VALUE"; the Rust test decides.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"

part=${1:-}
HOA2=2001:db8:1::101
HA2_ADDR=2001:db8:1::3
D_PREFIX=2001:db8:d::
D_NET=2001:db8:d: # how its addresses begin
RTR2_A=2001:db8:a::3

now() { date +%s.%N; }
# Seconds from A to B, one decimal (negative if B is earlier).
span() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# Waits (bounded) for PATTERN in NAME's log and prints the moment it was seen.
seen_at() {
  vm_wait_log "$1" "$2" "$3" >/dev/null || vm_die "no line matching /$2/ in $1's log"
  now
}

# Waits (bounded) until NAME's log has more than BEFORE lines matching PATTERN;
# prints the moment: wait_more NAME PATTERN BEFORE TIMEOUT.
wait_more() {
  local deadline=$((SECONDS + $4))
  until [ "$(vm_count_log "$1" "$2")" -gt "$3" ]; do
    [ "$SECONDS" -lt "$deadline" ] || vm_die "no new line matching /$2/ in $1's log after $4 s"
    sleep 0.05
  done
  now
}

# Sends SIGHUP to the MN after rewriting its configuration's MnRouterProbes;
# waits for the reload to be reported.
reload_probes() {
  local n=$1 before
  sed -i -e "s/^MnRouterProbes .*/MnRouterProbes $n;/" "$VM_LAB/mn.conf"
  before=$(vm_count_log mn-d 'reloaded')
  kill -HUP "$(cat "$VM_LAB/mn-d.pid")"
  local deadline=$((SECONDS + 10))
  until [ "$(vm_count_log mn-d 'reloaded')" -gt "$before" ]; do
    [ "$SECONDS" -lt "$deadline" ] || vm_die "the MN did not report the reload"
    sleep 0.1
  done
}

# The second home agent on the home link (as in mip6d-dhaad.sh).
start_ha2() {
  ip netns add ha2
  vm_plug ha2 eth0 home
  ip netns exec ha2 sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.forwarding=1
  ip -n ha2 -batch - <<EOF
link set dev lo up
address add $HA2_ADDR/64 dev eth0 nodad
route add default via $VM_RTR_HOME dev eth0
EOF
  sed -e "s|prefix $VM_HA_ADDR/64|prefix $HA2_ADDR/64|" "$VM_LAB/radvd-ha.conf" >"$VM_LAB/radvd-ha2.conf"
  vm_start_radvd ha2 "$VM_LAB/radvd-ha2.conf"
  cp "$VM_LAB/ha.conf" "$VM_LAB/ha2.conf"
  vm_spawn ha2-d ha2 "$MIP6D" -c "$VM_LAB/ha2.conf"
  vm_wait_log ha2-d 'home prefix 2001:db8:1::/64 learned on eth0' 20 >/dev/null ||
    vm_die "ha2 did not learn the home prefix"
}

part_homes() {
  mip6d_ha_conf
  mip6d_mn_conf
  {
    echo 'MnHomeLink "eth-home" {'
    echo "  HomeAgentAddress $HA2_ADDR;"
    echo "  HomeAddress $HOA2/64;"
    echo '}'
  } >>"$VM_LAB/mn.conf"
  MIP6D_MN_BUS=$(mip6d_start_bus bus-mn)
  mip6d_start_ha
  start_ha2
  mip6d_start_mn
  vm_fact_log a.ba1 mn-d "BA from $VM_HA_ADDR: status 0 " 30
  vm_fact_log a.ba2 mn-d "BA from $HA2_ADDR: status 0 " 30
  vm_fact_log a.ha_ba ha-d "BA to $HOA via 2001:db8:a:.*status 0" 5
  vm_fact_log a.ha2_ba ha2-d "BA to $HOA2 via 2001:db8:a:.*status 0" 5
  vm_fact_lines a.ha_proxy "$(ip -n ha -6 neigh show proxy)"
  vm_fact_lines a.ha2_proxy "$(ip -n ha2 -6 neigh show proxy)"
  vm_fact_lines a.mn_tunnels "$(ip -n mn -6 tunnel show)"
  vm_fact_lines a.mn_table252 "$(ip -n mn -6 route show table 252)"
  vm_fact_lines a.bul "$(DBUS_SYSTEM_BUS_ADDRESS=$MIP6D_MN_BUS "$MIP6CTL" bul 2>&1)"
  vm_ping_fact a.ping1 cn "$HOA" 5
  vm_ping_fact a.ping2 cn "$HOA2" 5

  vm_mn_move b
  vm_fact_log b.ha_moves ha-d "binding $HOA moves from 2001:db8:a:.* to 2001:db8:b:" 30
  vm_fact_log b.ha2_moves ha2-d "binding $HOA2 moves from 2001:db8:a:.* to 2001:db8:b:" 30
  local deadline=$((SECONDS + 20))
  until [ "$(vm_count_log mn-d 'handover completed: 2001:db8:a:.* -> 2001:db8:b:')" -ge 2 ] ||
    [ "$SECONDS" -ge "$deadline" ]; do
    sleep 0.2
  done
  vm_fact b.handovers "$(vm_count_log mn-d 'handover completed: 2001:db8:a:.* -> 2001:db8:b:')"
  vm_ping_fact b.ping1 cn "$HOA" 5
  vm_ping_fact b.ping2 cn "$HOA2" 5

  vm_mn_move home
  vm_fact_log home.dereg1 mn-d "deregistered from $VM_HA_ADDR" 30
  vm_fact_log home.dereg2 mn-d "deregistered from $HA2_ADDR" 30
  vm_fact_lines home.mn_addr "$(ip -n mn -6 addr show dev eth-home scope global)"
  mip6d_stop mn-d
  mip6d_stop ha-d
  mip6d_stop ha2-d
  kill "$(cat "$VM_LAB/bus-mn.pid")" 2>/dev/null || true
  vm_stop_radvd ha2
  ip netns del ha2
}

# rtr2 on link A: 2001:db8:a::3 and 2001:db8:d::1, forwarding to rtr; its RAs
# (prefix d) come every 3-4 s, so it counts as present for 12 s after the last.
# Its switch port starts down.
add_rtr2() {
  ip netns add rtr2
  vm_plug rtr2 eth0 a down
  ip netns exec rtr2 sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.forwarding=1
  ip -n rtr2 -batch - <<EOF
link set dev lo up
address add $RTR2_A/64 dev eth0 nodad
address add ${D_PREFIX}1/64 dev eth0 nodad
route add default via $VM_RTR_A dev eth0
EOF
  ip -n rtr -6 route add "$D_PREFIX/64" via "$RTR2_A" dev a
  _vm_radvd_ar_conf eth0 "$D_PREFIX" |
    sed -e 's/MinRtrAdvInterval 0.5;/MinRtrAdvInterval 3;/' -e 's/MaxRtrAdvInterval 1.5;/MaxRtrAdvInterval 4;/' \
      >"$VM_LAB/radvd-rtr2.conf"
  vm_start_radvd rtr2 "$VM_LAB/radvd-rtr2.conf"
}

rtr2_port() { ip -n sw link set dev rtr2-a "$1"; }

part_routers() {
  add_rtr2
  mip6d_ha_conf
  mip6d_mn_conf 'MnRouterProbes 3;'
  mip6d_start_ha
  mip6d_start_mn
  vm_fact_log lazy.registered mn-d "registered: $HOA via 2001:db8:a:" 30

  # 1. MnRouterProbes 3, rtr2 appears, rtr still answers.
  rtr2_port up
  vm_fact_log lazy.probing mn-d "eth-a: new router fe80::[0-9a-f:]+: probing router fe80::" 30
  vm_fact_log lazy.staying mn-d "eth-a: router fe80::[0-9a-f:]+ is reachable: staying" 10
  vm_wait_addr mn eth-a "$D_PREFIX" 20 >/dev/null || vm_die "the MN formed no address in $D_PREFIX/64"
  # An observation window: nothing is to happen in it (rtr2 sends two more RAs).
  sleep 8
  vm_fact lazy.handovers "$(vm_count_log mn-d 'handover: ')"
  vm_fact lazy.bus_to_d "$(vm_count_log mn-d "BU to .* CoA $D_NET")"
  vm_fact lazy.probes_sent "$(vm_count_log mn-d 'reachability probe to router')"

  # 2. Reload to 0. rtr2 goes and is forgotten (12 s without its RA), then
  # comes back: the MN uses it at once.
  local probes_before gone_before back router_at eager_bu
  gone_before=$(vm_count_log mn-d 'eth-a: router fe80::[0-9a-f:]+ gone')
  rtr2_port down
  reload_probes 0
  vm_fact eager.reload "$(grep -E 'reload: .*MnRouterProbes' "$VM_LAB/mn-d.log" | tail -1)"
  wait_more mn-d 'eth-a: router fe80::[0-9a-f:]+ gone' "$gone_before" 25 >/dev/null
  probes_before=$(vm_count_log mn-d 'probing router')
  local routers_before
  routers_before=$(vm_count_log mn-d 'eth-a: default router fe80::')
  rtr2_port up
  back=$(now)
  router_at=$(wait_more mn-d 'eth-a: default router fe80::' "$routers_before" 30)
  eager_bu=$(seen_at mn-d "BU to $VM_HA_ADDR: HoA $HOA CoA $D_NET" 30)
  vm_fact eager.router_after_s "$(span "$back" "$router_at")"
  vm_fact eager.bu_after_router_s "$(span "$router_at" "$eager_bu")"
  vm_fact_log eager.handover mn-d "handover completed: 2001:db8:a:.* -> $D_NET" 30
  vm_fact eager.probing_lines "$(($(vm_count_log mn-d 'probing router') - probes_before))"

  # 3. Reload to 3. The port moves to link B's bridge: rtr2 is gone, link B's
  # router is new.
  reload_probes 3
  local probing gave_up lazy_bu sent_before
  probes_before=$(vm_count_log mn-d 'probing router')
  sent_before=$(vm_count_log mn-d 'reachability probe to router')
  ip -n sw link set dev mn-a master br-b
  probing=$(wait_more mn-d "eth-a: new router fe80::[0-9a-f:]+: probing router fe80::" "$probes_before" 30)
  gave_up=$(seen_at mn-d "eth-a: router fe80::[0-9a-f:]+ did not answer: moving to router fe80::" 20)
  lazy_bu=$(seen_at mn-d "BU to $VM_HA_ADDR: HoA $HOA CoA 2001:db8:b:" 30)
  vm_fact gone.probe_s "$(span "$probing" "$gave_up")"
  vm_fact gone.bu_after_probe_s "$(span "$gave_up" "$lazy_bu")"
  vm_fact gone.probes_sent "$(($(vm_count_log mn-d 'reachability probe to router') - sent_before))"
  vm_fact_log gone.handover mn-d "handover completed: $D_NET.* -> 2001:db8:b:" 40
  vm_fact gone.ha_moves "$(vm_count_log ha-d "binding $HOA moves from $D_NET.* to 2001:db8:b:")"

  # 4. MnRouterProbes 5 capped by MnRouterProbeTimeout 1.5: the port goes
  # back to link A's bridge (rtr2 silenced first), link B's router is gone,
  # rtr is new: two probes (at 0 and 1 s), then the move at 1.5 s, not 5 s.
  rtr2_port down
  echo 'MnRouterProbeTimeout 1.5;' >>"$VM_LAB/mn.conf"
  reload_probes 5
  probes_before=$(vm_count_log mn-d 'probing router')
  sent_before=$(vm_count_log mn-d 'reachability probe to router')
  local gave_up_before
  gave_up_before=$(vm_count_log mn-d 'did not answer: moving to router')
  ip -n sw link set dev mn-a master br-a
  probing=$(wait_more mn-d "eth-a: new router fe80::[0-9a-f:]+: probing router fe80::" "$probes_before" 30)
  gave_up=$(wait_more mn-d "eth-a: router fe80::[0-9a-f:]+ did not answer: moving to router fe80::" "$gave_up_before" 20)
  vm_fact capped.probe_s "$(span "$probing" "$gave_up")"
  vm_fact capped.probes_sent "$(($(vm_count_log mn-d 'reachability probe to router') - sent_before))"
  vm_fact_log capped.handover mn-d "handover completed: 2001:db8:b:.* -> 2001:db8:a:" 40
  mip6d_stop mn-d
  mip6d_stop ha-d
  ip -n sw link set dev mn-a master br-a
  vm_stop_radvd rtr2
  ip netns del rtr2
}

# One optimistic-handoff run (KEY on|off): first registration while the
# router drops what goes to the home agent (no BA can come), then a move to
# link B with its long DAD.
optimistic_run() {
  local key=$1 bu tentative dad_end
  mip6d_start_ha
  ip -n rtr -6 route add blackhole "$VM_HA_ADDR/128"
  mip6d_start_mn
  vm_fact_log "$key.first_bu" mn-d "BU to $VM_HA_ADDR: HoA $HOA CoA 2001:db8:a:" 30
  vm_fact "$key.ba_before" "$(vm_count_log mn-d 'BA from')"
  vm_fact_lines "$key.route_before_ba" "$(ip -n mn -6 route show table 252)"
  ip -n rtr -6 route del blackhole "$VM_HA_ADDR/128"
  vm_fact_log "$key.registered" mn-d "registered: $HOA via 2001:db8:a:" 30
  vm_fact "$key.optimistic_dad" "$(ip netns exec mn cat /proc/sys/net/ipv6/conf/eth-b/optimistic_dad)"
  # The kernel's address events, stamped as they come: the end of DAD on
  # link B is the first announcement of its address without "tentative".
  ip -n mn -ts -o monitor address >"$VM_LAB/$key-addr.mon" 2>&1 &
  local monitor=$!
  vm_mn_move b
  local deadline=$((SECONDS + 40))
  until grep -qE "BU to $VM_HA_ADDR: HoA $HOA CoA 2001:db8:b:" "$VM_LAB/mn-d.log"; do
    [ "$SECONDS" -lt "$deadline" ] || vm_die "$key: no BU from link B"
    sleep 0.05
  done
  bu=$(now)
  tentative=$(ip -n mn -6 -o addr show dev eth-b scope global tentative | grep -c '2001:db8:b:' || true)
  vm_fact "$key.coa_tentative_at_bu" "$tentative"
  deadline=$((SECONDS + 20))
  local done_line=""
  until done_line=$(grep '2001:db8:b:' "$VM_LAB/$key-addr.mon" | grep -v tentative | head -1) &&
    [ -n "$done_line" ]; do
    [ "$SECONDS" -lt "$deadline" ] || vm_die "$key: DAD on eth-b did not end"
    sleep 0.05
  done
  kill "$monitor" 2>/dev/null || true
  wait "$monitor" 2>/dev/null || true
  dad_end=${done_line%%]*}
  dad_end=$(date -d "${dad_end#[}" +%s.%N)
  vm_fact "$key.dad_end_after_bu_s" "$(span "$bu" "$dad_end")"
  vm_fact_log "$key.handover" mn-d "handover completed: 2001:db8:a:.* -> 2001:db8:b:" 30
  mip6d_stop mn-d
  mip6d_stop ha-d
  # Back to link A, and no address of link B left for the next run's DAD.
  vm_mn_move a
  ip -n mn -6 addr flush dev eth-b scope global
}

part_optimistic() {
  ip netns exec mn sysctl -qw net.ipv6.conf.eth-b.dad_transmits=3 net.ipv6.neigh.eth-b.retrans_time_ms=1500
  mip6d_ha_conf
  mip6d_mn_conf 'OptimisticHandoff enabled;'
  optimistic_run on
  vm_fact on.optimistic_dad_after "$(ip netns exec mn cat /proc/sys/net/ipv6/conf/eth-b/optimistic_dad \
    /proc/sys/net/ipv6/conf/eth-b/use_optimistic)"
  mip6d_mn_conf
  optimistic_run off
}

mip6d_lab_up a
mip6d_wait_mn_on_link_a
vm_fact lab up
case "$part" in
  homes) part_homes ;;
  routers) part_routers ;;
  optimistic) part_optimistic ;;
  *) vm_die "usage: mip6d-movement.sh homes|routers|optimistic" ;;
esac
vm_topology_down
vm_fact finished yes
