#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_ipsec_reload.rs: IPsecPolicySet changed by
# SIGHUP on the lab of guest-lib.sh, with the static ESP SAs of a HomeRegBinding
# policy (reqids 11/12) on both nodes, as an administrator would add them.
#  1. HA and MN start with UseMnHaIPsec and no IPsecPolicySet: no policies; the
#     MN logs UMIP's "lacks the necessary IPsec policies" and sends no BU; a BU
#     in clear for the home address (from the home link) is refused by the HA
#     with 129.
#  2. SIGHUP with the set, HA then MN: both install the transport policies; the
#     MN's BU and the HA's BA go through ESP (SA counters) and it registers; the
#     same BU in clear as before is now dropped by the HA's inbound policy
#     (XfrmInTmplMismatch) and the binding stays.
#  3. SIGHUP without the set: the policies are gone on both nodes.
#  4. SIGTERM: XFRM state as before start on both nodes.
# Facts as "fact KEY=VALUE" lines; the Rust test decides.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mh_send_check
mip6d_lab_up a
modprobe esp6 2>/dev/null || true
mip6d_wait_mn_on_link_a
vm_fact lab up

HA=$VM_HA_ADDR
IPSEC_HRB="IPsecPolicySet { HomeAgentAddress $HA; HomeAddress $HOA/64; \
IPsecPolicy HomeRegBinding UseESP 11 12; }"

# Test keys only: transport HoA <-> HA for BU/BA.
ipsec_add_sas() {
  local ns=$1 enc=0x00112233445566778899aabbccddeeff
  local auth=0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
  local spi src dst reqid
  while read -r spi src dst reqid; do
    ip -n "$ns" xfrm state add src "$src" dst "$dst" proto esp spi "$spi" reqid "$reqid" \
      mode transport enc 'cbc(aes)' "$enc" auth-trunc 'hmac(sha256)' "$auth" 128 ||
      vm_die "cannot add SA $spi in $ns"
  done <<EOT
0x1011 $HOA $HA 11
0x1012 $HA $HOA 12
EOT
}

# Packets through the SA with REQID in NS (0 if none).
sa_packets() {
  local out n
  out=$(ip -n "$1" -s xfrm state list reqid "$2")
  n=$(grep -A1 'lifetime current:' <<<"$out" | grep -o '[0-9]*(packets)' | head -1 | tr -dc 0-9)
  echo "${n:-0}"
}

# Main-type XFRM policies in NS naming reqid 11 or 12.
policies_of() {
  ip -n "$1" xfrm policy list | grep -cE 'reqid 1[12]' || true
}

# shellcheck disable=SC2016 # awk's own fields
in_refused() {
  ip netns exec ha awk '$1 == "XfrmInTmplMismatch" { print $2 }' /proc/net/xfrm_stat
}

# A deregistration BU in clear from the home link (as the MN sends at home),
# crafted by the router: any host there can send it.
clear_bu() {
  vm_ns rtr "$MH_SEND" bu home "$HOA" "$HA" "$HOA" "$1" 0 >/dev/null ||
    vm_die "mh_send bu failed"
}

xfrm_of() {
  {
    ip -n "$1" xfrm policy list
    ip -n "$1" xfrm state list | grep -E '^src|proto|reqid' || true
  } | sed -E 's/ (lifetime|current).*//'
}

ipsec_add_sas ha
ipsec_add_sas mn
ha_before=$(xfrm_of ha)
mn_before=$(xfrm_of mn)

# --- 1. no set ----------------------------------------------------------------
mip6d_ha_conf 'UseMnHaIPsec enabled;'
mip6d_mn_conf 'UseMnHaIPsec enabled;' 'DoRouteOptimizationMN disabled;'
mip6d_start_ha
mip6d_start_mn
vm_fact_log start.lacks mn-d 'MN lacks the necessary IPsec policies for protecting the home registration to HA' 10
vm_fact_log start.away mn-d 'away from home: CoA 2001:db8:a:' 20
vm_fact start.ha_policies "$(policies_of ha)"
vm_fact start.mn_policies "$(policies_of mn)"
clear_bu 100
vm_fact_log start.clear_refused ha-d "BU from $HOA .*refused: status 129 .*no IPsec policy protects it" 10

# --- 2. SIGHUP with the set ---------------------------------------------------
mip6d_ha_conf 'UseMnHaIPsec enabled;' "$IPSEC_HRB"
kill -HUP "$(cat "$VM_LAB/ha-d.pid")"
vm_fact_log add.ha_reload ha-d 'IPsec: reload: 0 transport-mode policies removed, [1-9][0-9]* installed' 10
vm_fact add.ha_policies "$(policies_of ha)"
sa_mn_11=$(sa_packets mn 11)
mip6d_mn_conf 'UseMnHaIPsec enabled;' 'DoRouteOptimizationMN disabled;' "$IPSEC_HRB"
kill -HUP "$(cat "$VM_LAB/mn-d.pid")"
vm_fact_log add.mn_reload mn-d 'IPsec: reload: 0 transport-mode policies removed, [1-9][0-9]* installed' 10
vm_fact add.mn_policies "$(policies_of mn)"
vm_fact_log add.registered mn-d "registered: $HOA via 2001:db8:a:" 30
vm_fact add.mn_sa11_before "$sa_mn_11"
vm_fact add.mn_sa11_after "$(sa_packets mn 11)"
vm_fact add.ha_sa12 "$(sa_packets ha 12)"
refused=$(in_refused)
vm_fact add.in_refused_before "$refused"
seq=$(grep -oE "BA to $HOA via [0-9a-f:]+: status 0 seq [0-9]+" "$VM_LAB/ha-d.log" | tail -1 | grep -oE '[0-9]+$')
[ -n "$seq" ] || vm_die "no sequence number of the MN's BU in the HA's log"
clear_bu $(((seq + 1) % 65536))
deadline=$((SECONDS + 10))
until [ "$(in_refused)" -gt "$refused" ] || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.2; done
vm_fact add.in_refused_after "$(in_refused)"
vm_fact add.ha_deregistrations "$(vm_count_log ha-d "binding $HOA .*deregistered")"

# --- 3. SIGHUP without the set ------------------------------------------------
mip6d_ha_conf 'UseMnHaIPsec enabled;'
kill -HUP "$(cat "$VM_LAB/ha-d.pid")"
vm_fact_log remove.ha_reload ha-d 'IPsec: reload: [1-9][0-9]* transport-mode policies removed, 0 installed' 10
vm_fact remove.ha_policies "$(policies_of ha)"
mip6d_mn_conf 'UseMnHaIPsec enabled;' 'DoRouteOptimizationMN disabled;'
kill -HUP "$(cat "$VM_LAB/mn-d.pid")"
vm_fact_log remove.mn_reload mn-d 'IPsec: reload: [1-9][0-9]* transport-mode policies removed, 0 installed' 10
vm_fact remove.mn_policies "$(policies_of mn)"

# --- 4. SIGTERM -----------------------------------------------------------------
mip6d_stop mn-d
mip6d_stop ha-d
mip6d_state_fact ha.xfrm_after_stop "$ha_before" "$(xfrm_of ha)"
mip6d_state_fact mn.xfrm_after_stop "$mn_before" "$(xfrm_of mn)"
vm_topology_down
vm_fact finished yes
