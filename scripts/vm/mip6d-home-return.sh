#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_home_return.rs: the L flag and the
# return home (RFC 6275 §10.4.1, §11.5.4) on the lab of guest-lib.sh. The MN's
# home link holds fe80::100, the link-local address with the home address's
# interface identifier.
#  1. The MN registers from link A with the L flag: the HA runs DAD for both
#     addresses and proxies both; a neighbour solicitation for fe80::100 on the
#     home link (the router's) gets the HA's link-layer address.
#  2. Home: the MN probes for both addresses, the HA's proxy answers, the MN
#     deregisters; the HA's proxy entries go.
#  3. Away and home again with the HA's proxy entries deleted (an HA that no
#     longer answers): without MnFlushAllAtHome no deregistration BU is sent.
#  4. SIGHUP with MnFlushAllAtHome: the same unanswered probe, and the MN
#     deregisters anyway.
#  5. The HA stopped: away, the MN's BU is never acknowledged; home, with
#     MnFlushAllAtHome, that registration is dropped without a probe.
# Facts as "fact KEY=VALUE" lines; the Rust test decides.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mip6d_lab_up a
mip6d_wait_mn_on_link_a
LL=fe80::100
ip -n mn -6 addr add "$LL/64" dev eth-home nodad
vm_fact lab up

mip6d_ha_conf
mip6d_mn_conf

# Proxy entries of the HA naming ADDR.
ha_proxies_of() {
  ip -n ha -6 neigh show proxy | grep -cF "$1 " || true
}
# Deregistration BUs the MN sent so far.
dereg_bus() {
  vm_count_log mn-d 'BU to .* lifetime 0 s'
}
# Waits (bounded) until PATTERN has more lines than COUNT in NAME's log.
wait_more_lines() {
  local name=$1 pattern=$2 count=$3 timeout=$4 deadline
  deadline=$((SECONDS + timeout))
  until [ "$(vm_count_log "$name" "$pattern")" -gt "$count" ]; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
registered="registered: $HOA via 2001:db8:a:|handover completed: .* -> 2001:db8:a:"
# Moves the MN to link A and waits for a new registration there.
away_registered() {
  local seen
  seen=$(vm_count_log mn-d "$registered")
  vm_mn_move a
  wait_more_lines mn-d "$registered" "$seen" 40 || vm_die "the MN did not register from link A again"
}
# The HA stops defending the MN's addresses (as if it had lost the binding).
ha_drops_proxies() {
  ip -n ha -6 neigh del proxy "$HOA" dev eth0 2>/dev/null || true
  ip -n ha -6 neigh del proxy "$LL" dev eth0 2>/dev/null || true
}

# --- 1. the L flag ------------------------------------------------------------
mip6d_start_ha
mip6d_start_mn
vm_fact_log mn.l_flag mn-d "$LL is on eth-home: BUs carry the L flag" 10
vm_fact_log ha.dad_both ha-d "BU from $HOA .*DAD started \(L flag: and $LL\)" 30
vm_fact_log mn.registered mn-d "registered: $HOA via 2001:db8:a:" 30
vm_fact ha.proxy_hoa "$(ha_proxies_of "$HOA")"
vm_fact ha.proxy_ll "$(ha_proxies_of "$LL")"
ha_mac=$(ip -n ha link show eth0 | awk '/link\/ether/ { print $2 }')
vm_fact ha.mac "$ha_mac"
ip -n rtr -6 neigh flush dev home 2>/dev/null || true
vm_ns rtr ping -6 -n -c 1 -W 2 "$LL%home" >/dev/null 2>&1 || true
vm_fact rtr.ll_neigh "$(ip -n rtr -6 neigh show "$LL" dev home)"

# --- 2. home: probe answered, deregistration ---------------------------------
vm_mn_move home
vm_fact_log mn.probe mn-d "probing for $HOA and $LL before deregistering" 30
vm_fact_log mn.defended mn-d "is defended on the home link by" 10
vm_fact_log mn.deregistered mn-d "deregistered from $VM_HA_ADDR" 10
vm_fact_log ha.deregistered ha-d "binding $HOA .*deregistered" 10
vm_fact ha.proxy_ll_after_dereg "$(ha_proxies_of "$LL")"
vm_fact ha.proxy_hoa_after_dereg "$(ha_proxies_of "$HOA")"

# --- 3. no answer, MnFlushAllAtHome off: no deregistration BU ----------------
away_registered
ha_drops_proxies
before=$(dereg_bus)
seen=$(vm_count_log mn-d 'at home on eth-home')
vm_mn_move home
vm_fact_log mn.unanswered mn-d "no Neighbor Advertisement for $HOA on the home link: the home agent $VM_HA_ADDR holds no binding" 30
wait_more_lines mn-d 'at home on eth-home' "$seen" 10 || vm_die "the MN did not settle at home"
vm_fact noflush.dereg_bus "$(($(dereg_bus) - before))"

# --- 4. no answer, MnFlushAllAtHome on: deregistered anyway -------------------
mip6d_mn_conf 'MnFlushAllAtHome enabled;'
kill -HUP "$(cat "$VM_LAB/mn-d.pid")"
vm_fact_log mn.reload mn-d 'reload: MnFlushAllAtHome' 10
away_registered
ha_drops_proxies
before=$(dereg_bus)
seen=$(vm_count_log ha-d "binding $HOA .*deregistered")
vm_mn_move home
vm_fact_log mn.flush_dereg mn-d "no Neighbor Advertisement for $HOA on the home link: deregistering from $VM_HA_ADDR anyway \(MnFlushAllAtHome\)" 30
wait_more_lines ha-d "binding $HOA .*deregistered" "$seen" 10 || true
vm_fact flush.dereg_bus "$(($(dereg_bus) - before))"
vm_fact flush.ha_deregistrations "$(($(vm_count_log ha-d "binding $HOA .*deregistered") - seen))"

# --- 5. never acknowledged: dropped at home ----------------------------------
mip6d_stop ha-d
seen=$(vm_count_log mn-d 'BU to ')
vm_mn_move a
wait_more_lines mn-d 'BU to ' "$seen" 40 || vm_die "the MN sent no BU from link A"
vm_mn_move home
vm_fact_log mn.uncertain_dropped mn-d "home registration with $VM_HA_ADDR never acknowledged: dropped \(MnFlushAllAtHome\)" 30

mip6d_stop mn-d
vm_topology_down
vm_fact finished yes
