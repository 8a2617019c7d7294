#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_ro_errors.rs: the mobile node told that a
# peer has no Mobile IPv6 (RFC 6275 §11.3.6), on the lab of guest-lib.sh with
# two more addresses on the correspondent's host (c::3, c::4).
#  1. No mip6d on the CN yet: its ping from c::4 makes the MN start return
#     routability; the CN's kernel answers the HoTI (or CoTI) with an ICMPv6
#     Parameter Problem, code 1 at the Mobility Header. The MN leaves c::4
#     alone: no second HoTI while the ping goes on past the 5 s resend.
#  2. mip6d on the CN; route optimisation with c::2 ends in a binding. A
#     Parameter Problem, code 2 at the Home Address option, from c::2 about
#     the MN's packet from its CoA: UMIP's "CN participated in RO but can't
#     handle HAO", and the MN's HAO state for c::2 goes.
#  3. Route optimisation with c::3, then a Binding Error status 2 from c::3:
#     the MN's state for c::3 goes.
#  4. Parameter Problems from the home agent about the MN's BU: discarded
#     with MnDiscardHaParamProb (loaded by SIGHUP), honoured without it (the
#     home registration is abandoned: no more BUs).
# Facts as "fact KEY=VALUE" lines; the Rust test decides.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mh_send_check
mip6d_lab_up a
mip6d_wait_mn_on_link_a
CN3=2001:db8:c::3
CN4=2001:db8:c::4
ip -n cn -6 addr add "$CN3/64" dev eth0 nodad
ip -n cn -6 addr add "$CN4/64" dev eth0 nodad
vm_fact lab up

mip6d_ha_conf
mip6d_mn_conf 'DoRouteOptimizationMN enabled;' 'UseCnBuAck enabled;'
{
  echo 'NodeConfig CN;'
  echo 'DebugLevel 10;'
  echo 'DoRouteOptimizationCN enabled;'
} >"$VM_LAB/cn.conf"

mip6d_start_ha
mip6d_start_mn
line=$(vm_wait_log mn-d "registered: $HOA via 2001:db8:a:" 30) || vm_die "the MN did not register"
vm_fact mn.registered "$line"
coa=$(sed -nE 's/.* via (2001:db8:a:[0-9a-f:]+) .*/\1/p' <<<"$line")
vm_fact mn.coa "$coa"

# Counts the MN's HoTIs to ADDR.
hotis_to() {
  vm_count_log mn-d "route optimisation: HoTI to $1\$"
}

# --- 1. a CN host without mip6d: Parameter Problem at the MH -----------------
vm_spawn cn-ping cn ping -6 -n -i 0.2 -I "$CN4" "$HOA"
pp_mh="route optimisation: $CN4 does not support Mobile IPv6 \(ICMPv6 Parameter Problem on the Mobility Header\)"
# (Not fatal: without the line, the HoTI count below still says what happened.)
vm_wait_log mn-d "$pp_mh" 15 >/dev/null || true
# The resend would come 5 s after the first HoTI; wait past it for a second one.
deadline=$((SECONDS + 8))
while [ "$(hotis_to "$CN4")" -lt 2 ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
vm_stop cn-ping INT 5 || true
vm_fact mn.hotis_c4 "$(hotis_to "$CN4")"
vm_fact mn.pp_mh "$(vm_count_log mn-d "$pp_mh")"

# --- 2. a CN that did return routability but cannot take the HAO -------------
CN_BUS=$(mip6d_start_bus bus-cn)
vm_spawn cn-d cn env DBUS_SYSTEM_BUS_ADDRESS="$CN_BUS" "$MIP6D" -c "$VM_LAB/cn.conf"
vm_fact_log cn.started cn-d 'started \(Correspondent Node\)' 20
# "started" comes before the role's set-up; its wildcard HAO state comes after
# its MH socket is open (until then the kernel answers MH with a Parameter
# Problem, which would rightly make the MN leave c::2 alone).
cn_ready() { ip -n cn xfrm state | grep -q 'proto hao'; }
wait_for 300 cn_ready || vm_die "the CN did not set up its XFRM state"
vm_spawn cn-ping cn ping -6 -n -i 0.3 -I "$VM_CN_ADDR" "$HOA"
vm_fact_log mn.ba_c2 mn-d "route optimisation: BA from $VM_CN_ADDR: status 0 " 30
vm_stop cn-ping INT 5 || true
vm_fact mn.hao_states_c2_before "$(ip -n mn xfrm state | grep -c "src $HOA dst $VM_CN_ADDR" || true)"
out=$(ip netns exec cn "$MH_SEND" paramprob "$VM_CN_ADDR" "$coa" hao "$coa" "$VM_CN_ADDR" "$HOA") ||
  vm_die "mh_send paramprob: $out"
vm_fact_log mn.cant_handle_hao mn-d "CN participated in RO but can't handle HAO \($VM_CN_ADDR\)" 10
vm_fact_log mn.pp_hao mn-d "route optimisation: $VM_CN_ADDR does not support Mobile IPv6 \(ICMPv6 Parameter Problem on the Home Address option\)" 10
vm_fact mn.hao_states_c2_after "$(ip -n mn xfrm state | grep -c "src $HOA dst $VM_CN_ADDR" || true)"

# --- 3. Binding Error status 2 ----------------------------------------------
vm_spawn cn-ping cn ping -6 -n -i 0.3 -I "$CN3" "$HOA"
vm_fact_log mn.ba_c3 mn-d "route optimisation: BA from $CN3: status 0 " 30
vm_stop cn-ping INT 5 || true
out=$(ip netns exec cn "$MH_SEND" be2 "$CN3" "$coa" "$HOA") || vm_die "mh_send be2: $out"
vm_fact_log mn.be2 mn-d "route optimisation: $CN3 does not support Mobile IPv6 \(Binding Error status 2\)" 10
vm_fact mn.hao_states_c3_after "$(ip -n mn xfrm state | grep -c "src $HOA dst $CN3" || true)"

# --- 4. Parameter Problems from the home agent -------------------------------
ha_param_problem() {
  local out
  out=$(ip netns exec ha "$MH_SEND" paramprob "$VM_HA_ADDR" "$coa" mh "$coa" "$VM_HA_ADDR" "$HOA") ||
    vm_die "mh_send paramprob from the HA: $out"
}
sed -i 's/^UseCnBuAck enabled;$/UseCnBuAck enabled;\nMnDiscardHaParamProb enabled;/' "$VM_LAB/mn.conf"
kill -HUP "$(cat "$VM_LAB/mn-d.pid")"
vm_fact_log mn.reload_discard mn-d 'reload: MnDiscardHaParamProb' 10
ha_param_problem
vm_fact_log mn.ha_pp_discarded mn-d "ICMPv6 Parameter Problem from home agent $VM_HA_ADDR \(Mobility Header\) discarded \(MnDiscardHaParamProb\)" 10
vm_fact mn.abandoned_while_discarding "$(vm_count_log mn-d 'home registration abandoned')"
sed -i '/^MnDiscardHaParamProb enabled;$/d' "$VM_LAB/mn.conf"
kill -HUP "$(cat "$VM_LAB/mn-d.pid")"
deadline=$((SECONDS + 10))
until [ "$(vm_count_log mn-d 'reload: MnDiscardHaParamProb')" -ge 2 ]; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "the MN did not reload MnDiscardHaParamProb back"
  sleep 0.1
done
ha_param_problem
vm_fact_log mn.ha_pp_honoured mn-d "home agent $VM_HA_ADDR does not support Mobile IPv6 \(ICMPv6 Parameter Problem, Mobility Header\): home registration abandoned" 10

mip6d_stop mn-d
mip6d_stop ha-d
mip6d_stop cn-d
kill "$(cat "$VM_LAB/bus-cn.pid")" 2>/dev/null || true
vm_topology_down
vm_fact finished yes
