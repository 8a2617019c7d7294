#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_ipsec.rs: UseMnHaIPsec with static ESP SAs
# on the lab of guest-lib.sh (docs/vm.md). mip6d installs only policies; the SAs
# are added here with `ip xfrm state add`, as an administrator would.
#  1. HomeRegBinding (transport, reqids 11/12) and TunnelPayload (tunnel, 14/15):
#     the MN registers from link A with BU and BA through ESP (SA counters), the
#     tunnel-mode policies and SAs follow the CoA, the CN's ping to the home
#     address goes through the ESP tunnel; after a move to link B they follow the
#     new CoA and the ping is answered; after SIGTERM (HA first, with the
#     binding) policies and SAs are back as before start.
#  2. The MN without SAs: BUs are never sent, in clear or otherwise (the kernel
#     finds no state: XfrmOutNoStates grows), the HA sees none.
#  3. UseMnHaIPsec enabled without a matching policy: UMIP's "MN lacks the
#     necessary IPsec policies" line and no BU.
#  4. An MN without IPsec: the HA's inbound policy refuses its BU in clear.
#  5. The home agent found by DHAAD: the same protection.
#  In 1, a host on the home link (the router, with `mh_send bu`) also
#  sends a BU in clear for a home address no policy covers: refused with 129,
#  nothing installed.
#  6. HomeRegBinding only, the MN registered from link A: a spoofed
#     deregistration in clear from the home link, as the MN sends it at home
#     (no HAO), is dropped by the HA's inbound policy and the binding stays;
#     the MN back home deregisters through ESP.
#  7. HaMaxBindings 1: a second binding is refused with 130.
# The script drives the lab and waits for what its next step needs; what it
# sees goes out as "fact KEY=VALUE" lines and tests/tests/vm_mip6d_ipsec.rs
# decides whether that is right.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mh_send_check
vm_in_guest
mip6d_check_binary
vm_load_modules
modprobe esp6 2>/dev/null || true
vm_topology_up a
mkdir -p "$VM_LAB"
mip6d_wait_mn_on_link_a
vm_fact lab up

HA=$VM_HA_ADDR
IPSEC_SET="IPsecPolicySet { HomeAgentAddress $HA; HomeAddress $HOA/64; \
IPsecPolicy HomeRegBinding UseESP 11 12; IPsecPolicy TunnelPayload UseESP 14 15; }"
IPSEC_HRB="IPsecPolicySet { HomeAgentAddress $HA; HomeAddress $HOA/64; \
IPsecPolicy HomeRegBinding UseESP 11 12; }"

# Test keys only. The same four SAs on both nodes: transport HoA <-> HA for
# BU/BA, tunnel HoA <-> HA (mip6d moves the HoA end to the CoA) for payload.
ipsec_add_sas() {
  local ns=$1 enc=0x00112233445566778899aabbccddeeff
  local auth=0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
  local spi src dst reqid mode
  while read -r spi src dst reqid mode; do
    ip -n "$ns" xfrm state add src "$src" dst "$dst" proto esp spi "$spi" reqid "$reqid" \
      mode "$mode" enc 'cbc(aes)' "$enc" auth-trunc 'hmac(sha256)' "$auth" 128 ||
      vm_die "cannot add SA $spi in $ns"
  done <<EOT
0x1011 $HOA $HA 11 transport
0x1012 $HA $HOA 12 transport
0x1014 $HOA $HA 14 tunnel
0x1015 $HA $HOA 15 tunnel
EOT
}

# Packets through the SA with REQID in NS.
sa_packets() {
  local out
  out=$(ip -n "$1" -s xfrm state list reqid "$2")
  grep -A1 'lifetime current:' <<<"$out" | grep -o '[0-9]*(packets)' | head -1 | tr -dc 0-9
}

# The SA with REQID in NS: its "src A dst B" line.
sa_addrs() {
  local out
  out=$(ip -n "$1" xfrm state list reqid "$2")
  grep -m1 '^src' <<<"$out"
}

# A BU crafted by `mh_send bu`, sent in clear from the home link by the
# router (any host there can): send_bu HOA HA COA SEQ LIFETIME_UNITS.
send_bu() {
  vm_ns rtr "$MH_SEND" bu home "$@" >/dev/null ||
    vm_die "mh_send bu $* failed"
}

# shellcheck disable=SC2016 # awk's own fields
in_refused() {
  ip netns exec ha awk '$1 == "XfrmInTmplMismatch" { print $2 }' /proc/net/xfrm_stat
}

# The HA's tunnels (device group 6275), routes and proxy entries that name ADDR.
ha_objects_of() {
  {
    ip -n ha -6 route show table all
    ip -n ha -6 neigh show proxy
  } | grep -F "$1" || true
}

# vm_kernel_state with the XFRM states sorted: a migrated SA is re-inserted at
# the end of the kernel's list, so only their order may change.
stable_state() {
  vm_kernel_state "$1" | python3 -c '
import sys
out, blocks = [], None
for line in sys.stdin.read().splitlines():
    if line.startswith("# "):
        if blocks is not None:
            out.extend(sorted(blocks))
        blocks = [] if line == "# xfrm states" else None
        out.append(line)
    elif blocks is not None:
        if line.startswith("src "):
            blocks.append(line)
        elif blocks:
            blocks[-1] += " | " + line.strip()
    else:
        out.append(line)
if blocks is not None:
    out.extend(sorted(blocks))
print("\n".join(out))'
}

# The XFRM part of stable_state (the MN's routes change with the links it used).
xfrm_state() {
  stable_state "$1" | sed -n '/^# xfrm states/,/^# tunnels/p'
}

# Reports fact KEY: the packets through the SA with REQID in NS (0 if none):
# sa_fact KEY NS REQID.
sa_fact() {
  local n
  n=$(sa_packets "$2" "$3")
  vm_fact "$1" "${n:-0}"
}

# --- 1. registration and handover through ESP ---------------------------------
ipsec_add_sas ha
ipsec_add_sas mn
mip6d_ha_conf 'UseMnHaIPsec enabled;' "$IPSEC_SET"
mip6d_mn_conf 'UseMnHaIPsec enabled;' 'DoRouteOptimizationMN disabled;' "$IPSEC_SET"
ha_before=$(stable_state ha)
mn_before=$(xfrm_state mn)
mip6d_start_ha
vm_fact_log ha.policies ha-d 'IPsec: 2 transport-mode policies installed' 5
mip6d_start_mn
vm_fact_log mn.ba mn-d 'BA from 2001:db8:1::2: status 0 ' 40
vm_fact_log mn.registered mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 5
coa_a=$(vm_wait_log mn-d 'registered: ' 1 | grep -o 'via [0-9a-f:]*' | cut -d' ' -f2)
vm_fact coa_a "$coa_a"
for ns in mn ha; do
  for reqid in 11 12; do
    sa_fact "reg.$ns.sa$reqid" "$ns" "$reqid"
  done
done
vm_fact_lines mn.policy "$(ip -n mn xfrm policy list)"
vm_fact mn.sa14 "$(sa_addrs mn 14)"
vm_fact_log ha.tunnel_follows ha-d 'IPsec: tunnel-mode policies of 2001:db8:1::100 follow 2001:db8:a:' 10
vm_fact ha.sa15 "$(sa_addrs ha 15)"
vm_ping_fact ping1 cn "$HOA" 5
for ns in mn ha; do
  for reqid in 14 15; do
    sa_fact "ping1.$ns.sa$reqid" "$ns" "$reqid"
  done
done

# A home address no IPsecPolicySet entry covers: the kernel lets its BU in
# clear, so the HA itself refuses it, and installs nothing.
vm_fact nopolicy300.tunnels_before "$(ip -n ha -o link show group 6275 | wc -l)"
send_bu 2001:db8:1::300 "$HA" 2001:db8:a::99 7 15
vm_fact_log nopolicy300.refused ha-d 'BU from 2001:db8:1::300 .*refused: status ' 10
sleep 1.5 # a DAD would have taken 1 s
vm_fact nopolicy300.objects "$(ha_objects_of 2001:db8:1::300)"
vm_fact nopolicy300.tunnels_after "$(ip -n ha -o link show group 6275 | wc -l)"

sa_fact handover.mn.sa11_before mn 11
vm_mn_move b
vm_fact_log handover.done mn-d 'handover completed: 2001:db8:a:.* -> 2001:db8:b:' 40
coa_b=$(vm_wait_log mn-d 'handover completed: ' 1 | grep -o -- '-> [0-9a-f:]*' | cut -d' ' -f2)
vm_fact coa_b "$coa_b"
sa_fact handover.mn.sa11_after mn 11
vm_fact handover.mn.sa14 "$(sa_addrs mn 14)"
deadline=$((SECONDS + 10))
until [ "$(sa_addrs ha 15)" = "src $HA dst $coa_b" ] || [ "$SECONDS" -ge "$deadline" ]; do
  sleep 0.2
done
vm_fact handover.ha.sa15 "$(sa_addrs ha 15)"
sa_fact ping2.mn.sa15_before mn 15
vm_ping_fact ping2 cn "$HOA" 5
sa_fact ping2.mn.sa15_after mn 15

# The HA first, with the binding still there: its exit moves the tunnel SAs
# back too. The MN's deregistration then goes unanswered.
mip6d_stop ha-d
mip6d_state_fact ha.state_after_stop "$ha_before" "$(stable_state ha)"
mip6d_stop mn-d
mip6d_state_fact mn.xfrm_after_stop "$mn_before" "$(xfrm_state mn)"

# --- 2. no SAs on the MN: no BU leaves ----------------------------------------
vm_mn_move a
vm_wait_addr mn eth-a "$VM_A_PREFIX" 20 >/dev/null || vm_die "the MN lost its address on link A"
ip -n mn xfrm state flush
# shellcheck disable=SC2016 # awk's own fields
no_states() { ip netns exec mn awk '$1 == "XfrmOutNoStates" { print $2 }' /proc/net/xfrm_stat; }
vm_fact nosa.out_no_states_before "$(no_states)"
mip6d_start_ha
mip6d_start_mn
vm_fact_log nosa.bu_tried mn-d 'BU to 2001:db8:1::2: HoA .* seq' 30
deadline=$((SECONDS + 15))
until [ "$(vm_count_log mn-d 'BU to 2001:db8:1::2')" -ge 3 ] || [ "$SECONDS" -ge "$deadline" ]; do
  sleep 0.2
done
vm_fact nosa.bus_tried "$(vm_count_log mn-d 'BU to 2001:db8:1::2')"
vm_fact nosa.out_no_states_after "$(no_states)"
vm_fact nosa.ha_bus "$(vm_count_log ha-d 'BU from')"
vm_fact nosa.mn_bas "$(vm_count_log mn-d 'BA from')"
mip6d_stop mn-d
mip6d_stop ha-d

# --- 3. UseMnHaIPsec without a matching policy --------------------------------
mip6d_mn_conf 'UseMnHaIPsec enabled;' \
  "IPsecPolicySet { HomeAgentAddress $HA; HomeAddress 2001:db8:1::999/64; IPsecPolicy HomeRegBinding UseESP 11 12; }"
mip6d_start_mn
vm_fact_log nopolicy.lacks mn-d 'MN lacks the necessary IPsec policies for protecting the home registration to HA 2001:db8:1::2' 10
vm_fact_log nopolicy.away mn-d 'away from home: CoA 2001:db8:a:' 20
sleep 3 # time a BU would have needed to be logged (it is logged before sending)
vm_fact nopolicy.bus_sent "$(vm_count_log mn-d 'BU to')"
mip6d_stop mn-d

# --- 4. a BU in clear: the HA's inbound policy refuses it ---------------------
mip6d_mn_conf # UseMnHaIPsec disabled
vm_fact clear.in_refused_before "$(in_refused)"
mip6d_start_ha
mip6d_start_mn
deadline=$((SECONDS + 30))
until [ "$(vm_count_log mn-d 'BU to 2001:db8:1::2')" -ge 3 ] || [ "$SECONDS" -ge "$deadline" ]; do
  sleep 0.2
done
vm_fact clear.bus_sent "$(vm_count_log mn-d 'BU to 2001:db8:1::2')"
vm_fact clear.in_refused_after "$(in_refused)"
vm_fact clear.ha_bus "$(vm_count_log ha-d 'BU from')"
mip6d_stop mn-d
mip6d_stop ha-d

# --- 5. the home agent found by DHAAD -----------------------------------------
ipsec_add_sas mn
mip6d_ha_conf 'UseMnHaIPsec enabled;' "$IPSEC_SET"
mip6d_mn_conf 'UseMnHaIPsec enabled;' 'DoRouteOptimizationMN disabled;' "$IPSEC_SET"
sed -i '/HomeAgentAddress 2001:db8:1::2;$/d' "$VM_LAB/mn.conf"
! grep -q '^  HomeAgentAddress' "$VM_LAB/mn.conf" ||
  vm_die "mn.conf: MnHomeLink still names the home agent: $(cat "$VM_LAB/mn.conf")"
sa_fact dhaad.mn.sa11_before mn 11
mip6d_start_ha
mip6d_start_mn
vm_fact_log dhaad.found mn-d 'home agent 2001:db8:1::2 \(found by DHAAD\)' 40
vm_fact_log dhaad.registered mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 30
sa_fact dhaad.mn.sa11_after mn 11
vm_fact dhaad.lacks "$(vm_count_log mn-d 'MN lacks the necessary IPsec policies')"
vm_fact dhaad.coa "$(vm_wait_log mn-d 'registered: ' 1 | grep -o 'via [0-9a-f:]*' | cut -d' ' -f2)"
vm_fact dhaad.mn.sa14 "$(sa_addrs mn 14)"
mip6d_stop mn-d
mip6d_stop ha-d

# --- 6. the BU sent at home -------------------------------------------------
# HomeRegBinding alone (a TunnelPayload in-policy, HoA -> any, would catch a BU
# from the home address too, and hide what this checks).
mip6d_ha_conf 'UseMnHaIPsec enabled;' "$IPSEC_HRB"
mip6d_mn_conf 'UseMnHaIPsec enabled;' "$IPSEC_HRB"
mip6d_start_ha
mip6d_start_mn
vm_fact_log spoof.registered mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 40
# A spoofed deregistration of the MN, in clear, as the MN would send it at home
# (no HAO, so the kernel finds no MH type in it): a sequence number just ahead.
seq=$(grep -oE '2001:db8:1::100 .*seq [0-9]+' "$VM_LAB/ha-d.log" | tail -1 | grep -oE '[0-9]+$')
[ -n "$seq" ] || vm_die "no sequence number of the MN's BU in the HA's log"
refused_before=$(in_refused)
vm_fact spoof.in_refused_before "$refused_before"
for s in $((seq + 1)) $((seq + 2)) $((seq + 100)); do
  send_bu "$HOA" "$HA" "$HOA" $((s % 65536)) 0
done
deadline=$((SECONDS + 10))
until [ "$(in_refused)" -ge $((refused_before + 3)) ] || [ "$SECONDS" -ge "$deadline" ]; do
  sleep 0.2
done
sleep 1
vm_fact spoof.in_refused_after "$(in_refused)"
vm_fact spoof.ha_deregistrations "$(vm_count_log ha-d 'binding 2001:db8:1::100 .*deregistered')"
vm_fact spoof.proxy_entries "$(ip -n ha -6 neigh show proxy | grep -cF "$HOA" || true)"
# The MN's own deregistration at home, through ESP, is taken.
sa_fact home.ha.sa11_before ha 11
vm_mn_move home
vm_fact_log home.deregistered mn-d 'deregistered from 2001:db8:1::2' 40
vm_fact_log home.ha_deregistered ha-d 'binding 2001:db8:1::100 .* deregistered' 5
sa_fact home.ha.sa11_after ha 11
mip6d_stop mn-d
mip6d_stop ha-d

# --- 7. HaMaxBindings ---------------------------------------------------------
mip6d_ha_conf 'HaMaxBindings 1;'
mip6d_start_ha
send_bu 2001:db8:1::300 "$HA" 2001:db8:a::99 7 15
vm_fact_log cap.installed_300 ha-d 'binding 2001:db8:1::300 -> 2001:db8:a::99 installed' 10
send_bu 2001:db8:1::301 "$HA" 2001:db8:a::98 7 15
vm_fact_log cap.refused_301 ha-d 'BU from 2001:db8:1::301 .*refused: status ' 10
vm_fact cap.objects_301 "$(ha_objects_of 2001:db8:1::301)"
send_bu 2001:db8:1::300 "$HA" 2001:db8:a::99 8 15
vm_fact_log cap.refreshed_300 ha-d 'BA to 2001:db8:1::300 via 2001:db8:a::99: status 0 seq 8' 10
mip6d_stop ha-d
vm_topology_down
vm_fact finished yes
