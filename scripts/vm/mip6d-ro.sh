#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_ro.rs: route optimisation with mip6d as
# home agent, mobile node and correspondent node (namespace cn) on the lab of
# guest-lib.sh.
#  1. The MN registers from link A. The CN's ping to the home address makes the
#     MN's reply match its trigger policy: return routability (HoTI through the
#     tunnel, CoTI direct, HoT/CoT), the BU to the CN with the A flag, the BA.
#  2. The CN has an RH2 state to the MN's CoA and shows the binding on D-Bus
#     (mip6ctl bc); a ping CN -> HoA then goes directly: answered while the
#     HA's tunnel counters stay put.
#     The binding (16 s, MnMaxCnBindingLife) is refreshed while the ping runs.
#  3. The MN moves to link B: after the home registration, the care-of test
#     runs again, the CN's RH2 state follows the new CoA, direct traffic too.
#  4. The CN restarts without bindings: the MN's next packet with a Home
#     Address option draws a Binding Error (status 1), the MN drops its state
#     and return routability runs again; direct traffic resumes.
#  5. The MN returns home: home test and a BU with lifetime 0 to the CN, whose
#     binding and RH2 state go; the CN's ping is answered at home.
#  5b. SIGHUP with CnMaxBindings 0 on the CN, the MN moves to link B: its BU
#     to the CN is refused with status 130 (the kernel gets no RH2 state),
#     traffic keeps going through the HA; the MN returns home.
#  5c. The router floods the CN with 200 HoTIs and 200 messages of an unknown
#     MH type: the CN answers them, but logs at most 10 lines of each kind
#     (HoTI answered, unknown type, BE sent) for that source.
#  6. SIGTERM on the three daemons: the kernel state of CN and HA, and the MN's
#     XFRM state and rules (its routes follow the link it is on), equal those
#     before start.
# The script only drives the lab and waits for what the next step needs; it
# reports what it saw as "fact KEY=VALUE" lines (vm_fact) and
# tests/tests/vm_mip6d_ro.rs decides whether that is right. A wait that gives
# up ends the script (vm_fact_log).
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mh_send_check
mip6d_lab_up a
mip6d_wait_mn_on_link_a
vm_fact lab up

_ro_on_exit() {
  local status=$?
  if [ "$status" -ne 0 ] && [ -e "$VM_LAB/cn-d.log" ]; then
    echo "guest: --- last lines of cn-d's log ---" >&2
    tail -n 40 "$VM_LAB/cn-d.log" >&2
    echo "guest: --- cn: ip xfrm state / policy ---" >&2
    ip -n cn xfrm state >&2 2>/dev/null || true
    ip -n cn xfrm policy list ptype sub >&2 2>/dev/null || true
    echo "guest: --- mn: ip xfrm state / policy ---" >&2
    ip -n mn xfrm state >&2 2>/dev/null || true
    ip -n mn xfrm policy list ptype sub >&2 2>/dev/null || true
  fi
  _mip6d_on_exit
}
trap _ro_on_exit EXIT

mip6d_ha_conf
# A short CN binding lifetime, so that the test sees it refreshed.
mip6d_mn_conf 'DoRouteOptimizationMN enabled;' 'UseCnBuAck enabled;' 'MnMaxCnBindingLife 16;'
{
  echo 'NodeConfig CN;'
  echo 'DebugLevel 10;'
  echo 'DoRouteOptimizationCN enabled;'
} >"$VM_LAB/cn.conf"
# The MN changes links (its routes follow), so its check is the XFRM and
# rule sections of the dump.
mn_xfrm_state() {
  vm_kernel_state mn | awk '/^# / { keep = ($0 ~ /^# (rules|xfrm)/) } keep'
}
ha_before=$(vm_kernel_state ha)
mn_before=$(mn_xfrm_state)
cn_before=$(vm_kernel_state cn)

# The packets the HA's ip6tnl devices carried, both directions (sysfs of the
# ha namespace).
ha_tunnel_packets() {
  ip netns exec ha sh -c 'cat /sys/class/net/*ip6tnl*/statistics/rx_packets /sys/class/net/*ip6tnl*/statistics/tx_packets' |
    awk '{ n += $1 } END { print n + 0 }'
}

# Pings the HoA from the CN (COUNT requests) and reports KEY.received (echo
# replies) and the HA's tunnel packets around it (KEY.tunnel_before, KEY.tunnel_after).
ping_facts() {
  local key=$1 count=$2 before
  before=$(ha_tunnel_packets)
  vm_ping_fact "$key.received" cn "$HOA" "$count"
  vm_fact "$key.tunnel_before" "$before"
  vm_fact "$key.tunnel_after" "$(ha_tunnel_packets)"
}

# Reports the care-of address of the CN's RH2 state towards the HoA (empty if none).
cn_rh2_coa() {
  ip -n cn xfrm state | grep -A6 "src $VM_CN_ADDR dst $HOA" | grep -oE 'coa [0-9a-f:]+' | head -1 | cut -d' ' -f2
}

# Reports fact KEY: the number of RH2 ("proto route2") states on the CN.
cn_rh2_states_fact() {
  vm_fact "$1" "$(ip -n cn xfrm state | grep -c 'proto route2' || true)"
}

# --- 1. registration, then return routability on the CN's ping -------------
CN_BUS=$(mip6d_start_bus bus-cn)
vm_spawn cn-d cn env DBUS_SYSTEM_BUS_ADDRESS="$CN_BUS" "$MIP6D" -c "$VM_LAB/cn.conf"
vm_fact_log cn.started cn-d 'started \(Correspondent Node\)' 20
mip6d_start_ha
mip6d_start_mn
vm_fact_log mn.registered_a mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 30
# The first ping goes through the HA's tunnel and starts return routability.
ping_facts ping1 3
vm_fact_log mn.hoti mn-d "route optimisation: HoTI to $VM_CN_ADDR" 15
vm_fact_log cn.hot cn-d "CN: HoTI from $HOA answered with HoT" 15
vm_fact_log cn.cot cn-d 'CN: CoTI from 2001:db8:a:[0-9a-f:]+ answered with CoT' 15
vm_fact_log mn.hot mn-d "route optimisation: HoT from $VM_CN_ADDR" 15
vm_fact_log mn.cot mn-d "route optimisation: CoT from $VM_CN_ADDR" 15
vm_fact_log mn.bu mn-d "route optimisation: BU to $VM_CN_ADDR seq [0-9]+ CoA 2001:db8:a:" 15
vm_fact_log cn.binding_a cn-d "CN: route optimisation binding $HOA -> 2001:db8:a:[0-9a-f:]+ at $VM_CN_ADDR" 15
vm_fact_log mn.ba mn-d "route optimisation: BA from $VM_CN_ADDR: status 0 " 15

# --- 2. the kernel's RO state and the direct path ----------------------------
coa_a=$(cn_rh2_coa)
vm_fact cn.rh2_coa_a "$coa_a"
[ -n "$coa_a" ] || vm_die "no RH2 state CN -> HoA on the CN: $(ip -n cn xfrm state)"
# The binding cache on D-Bus (published at most once a second).
deadline=$((SECONDS + 10))
until DBUS_SYSTEM_BUS_ADDRESS=$CN_BUS "$MIP6CTL" bc --json >"$VM_LAB/cn-bc.json" 2>&1 &&
  grep -q "\"$HOA\"" "$VM_LAB/cn-bc.json" && grep -q "\"$coa_a\"" "$VM_LAB/cn-bc.json"; do
  [ "$SECONDS" -lt "$deadline" ] || break
  sleep 0.2
done
vm_fact cn.bc_json "$(cat "$VM_LAB/cn-bc.json")"
ping_facts ping2 10

# --- 2b. the binding (16 s) is refreshed while in use -------------------------
vm_spawn cn-ping cn ping -6 -n -i 0.5 "$HOA"
deadline=$((SECONDS + 25))
until [ "$(vm_count_log cn-d "CN: route optimisation binding $HOA -> $coa_a ")" -ge 2 ]; do
  [ "$SECONDS" -lt "$deadline" ] || break
  sleep 0.2
done
vm_stop cn-ping INT 5 || true
vm_fact cn.bindings_to_coa_a "$(vm_count_log cn-d "CN: route optimisation binding $HOA -> $coa_a ")"
vm_fact refresh_ping.replies "$(vm_count_log cn-ping 'bytes from')"
vm_fact cn.brr_sent "$(vm_count_log cn-d 'CN: BRR to')"
vm_fact mn.brr_taken "$(vm_count_log mn-d "route optimisation: BRR from $VM_CN_ADDR")"

# --- 3. handover to link B: return routability again --------------------------
vm_mn_move b
vm_fact_log mn.handover_b mn-d 'handover completed: 2001:db8:a:.* -> 2001:db8:b:' 30
vm_fact_log mn.coti_b mn-d "route optimisation: CoTI to $VM_CN_ADDR from 2001:db8:b:" 15
vm_fact_log cn.binding_b cn-d "CN: route optimisation binding $HOA -> 2001:db8:b:[0-9a-f:]+ at $VM_CN_ADDR" 20
deadline=$((SECONDS + 10))
until cn_rh2_coa | grep -q '^2001:db8:b:'; do
  [ "$SECONDS" -lt "$deadline" ] || break
  sleep 0.2
done
vm_fact cn.rh2_coa_b "$(cn_rh2_coa)"
ping_facts ping3 10

# --- 4. the CN restarts: BE status 1, the MN runs return routability again ----
mip6d_stop cn-d
vm_spawn cn-d cn env DBUS_SYSTEM_BUS_ADDRESS="$CN_BUS" "$MIP6D" -c "$VM_LAB/cn.conf"
vm_fact_log cn.restarted cn-d 'started \(Correspondent Node\)' 20
# The CN's echo requests go through the HA; the MN's replies come straight,
# with a Home Address option the new CN has no binding for.
vm_spawn cn-ping cn ping -6 -n -i 0.2 "$HOA"
vm_fact_log cn.be cn-d "CN: BE \(1 .*\) to 2001:db8:b:" 15
vm_fact_log mn.be mn-d "route optimisation: BE from $VM_CN_ADDR" 10
vm_fact_log cn.binding_restarted cn-d "CN: route optimisation binding $HOA -> 2001:db8:b:[0-9a-f:]+ at $VM_CN_ADDR" 30
vm_stop cn-ping INT 5 || true
ping_facts ping4 10

# --- 5. back home: the MN deregisters at the CN -------------------------------
vm_mn_move home
vm_fact_log mn.home mn-d 'at home on eth-home' 30
vm_fact_log mn.dereg_bu mn-d "route optimisation: deregistration BU to $VM_CN_ADDR seq" 30
vm_fact_log cn.dereg cn-d "CN: route optimisation binding of $HOA deregistered" 10
cn_rh2_states_fact cn.rh2_states_home
ping_facts ping5 5

# --- 5b. the CN's binding limit: a new binding gets status 130 ----------------
# (The deregistered binding's nonce-block entry may draw a 135 first, if the
# MN's new random sequence number is not above it: the MN then starts over.)
echo 'CnMaxBindings 0;' >>"$VM_LAB/cn.conf"
kill -HUP "$(cat "$VM_LAB/cn-d.pid")"
vm_fact_log cn.reload cn-d 'reload: CnMaxBindings' 10
# Waits (bounded) until PATTERN has more lines than COUNT in NAME's log.
wait_more_lines() {
  local name=$1 pattern=$2 count=$3 timeout=$4 deadline
  deadline=$((SECONDS + timeout))
  until [ "$(vm_count_log "$name" "$pattern")" -gt "$count" ]; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
registered_b="registered: $HOA via 2001:db8:b:|handover completed: .* -> 2001:db8:b:"
seen=$(vm_count_log mn-d "$registered_b")
vm_mn_move b
wait_more_lines mn-d "$registered_b" "$seen" 30 || vm_die "the MN did not register from link B again: $(vm_log_of mn-d)"
vm_spawn cn-ping cn ping -6 -n -i 0.5 "$HOA"
vm_fact_log cn.refused cn-d "CN: BU from $HOA .*refused: 130 " 30
vm_fact_log mn.ba_130 mn-d "route optimisation: BA from $VM_CN_ADDR: status 130" 10
vm_stop cn-ping INT 5 || true
cn_rh2_states_fact cn.rh2_states_refused
ping_facts ping6 5
vm_fact cn.refused_135 "$(vm_count_log cn-d "CN: BU from $HOA .*refused: 135 ")"
seen=$(vm_count_log mn-d 'at home on eth-home')
vm_mn_move home
wait_more_lines mn-d 'at home on eth-home' "$seen" 30 || vm_die "the MN did not come home again"

# --- 5c. unauthenticated MH messages: all answered, few logged -----------------
flood=$(ip netns exec rtr "$MH_SEND" flood "$VM_RTR_C" "$VM_CN_ADDR" 200) ||
  vm_die "the MH flood failed: $flood"
vm_fact flood "$flood"
vm_fact flood.hots "$(sed -nE 's/.*got ([0-9]+) HoT.*/\1/p' <<<"$flood")"
vm_fact cn.flood_lines "$(vm_count_log cn-d "(from|to) $VM_RTR_C( |\$)")"

# --- 6. SIGTERM restores every node ------------------------------------------
mip6d_stop mn-d
mip6d_stop ha-d
mip6d_stop cn-d
mip6d_state_fact cn.state_after_stop "$cn_before" "$(vm_kernel_state cn)"
mip6d_state_fact mn.xfrm_after_stop "$mn_before" "$(mn_xfrm_state)"
mip6d_state_fact ha.state_after_stop "$ha_before" "$(vm_kernel_state ha)"
kill "$(cat "$VM_LAB/bus-cn.pid")" 2>/dev/null || true
vm_topology_down
vm_fact finished yes
