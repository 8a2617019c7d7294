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
# Each check prints "mip6d: ok ..."; the first failure exits non-zero.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mip6d_lab_up a
mip6d_wait_mn_on_link_a
ok "lab up, MN on link A"

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

# Waits for a log line (as vm_wait_log) and prints it as an "ok" line; dies
# with MESSAGE if it does not come.
# The packets the HA's ip6tnl devices carried, both directions (sysfs of the
# ha namespace).
ha_tunnel_packets() {
  ip netns exec ha sh -c 'cat /sys/class/net/ip6tnl*/statistics/rx_packets /sys/class/net/ip6tnl*/statistics/tx_packets' |
    awk '{ n += $1 } END { print n + 0 }'
}

# --- 1. registration, then return routability on the CN's ping -------------
CN_BUS=$(mip6d_start_bus bus-cn)
vm_spawn cn-d cn env DBUS_SYSTEM_BUS_ADDRESS="$CN_BUS" "$MIP6D" -c "$VM_LAB/cn.conf"
vm_wait_log cn-d 'started \(Correspondent Node\)' 20 >/dev/null || vm_die "the CN did not start"
mip6d_start_ha
mip6d_start_mn
vm_wait_log mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 30 >/dev/null || vm_die "MN not registered on A"
ok "MN registered from link A; CN running"
tunnelled=$(ha_tunnel_packets)
vm_ping cn "$HOA" 3 >"$VM_LAB/ping1.txt" || vm_die "CN -> HoA ping not answered: $(cat "$VM_LAB/ping1.txt")"
# (The counters see the tunnelled ping: the check of step 2 can fail.)
[ "$(ha_tunnel_packets)" -ge "$((tunnelled + 2))" ] ||
  vm_die "the first ping did not go through the HA's tunnel: $tunnelled -> $(ha_tunnel_packets) packets"
vm_wait_log mn-d "route optimisation: HoTI to $VM_CN_ADDR" 15 >/dev/null || vm_die "the MN sent no HoTI"
ok "the first ping went through the HA's tunnel ($tunnelled -> $(ha_tunnel_packets) packets) and started return routability"
ok_log cn-d "CN: HoTI from $HOA answered with HoT" 15 "no HoT from the CN"
ok_log cn-d 'CN: CoTI from 2001:db8:a:[0-9a-f:]+ answered with CoT' 15 "no CoT from the CN"
vm_wait_log mn-d "route optimisation: HoT from $VM_CN_ADDR" 15 >/dev/null || vm_die "no HoT at the MN"
vm_wait_log mn-d "route optimisation: CoT from $VM_CN_ADDR" 15 >/dev/null || vm_die "no CoT at the MN"
ok_log mn-d "route optimisation: BU to $VM_CN_ADDR seq [0-9]+ CoA 2001:db8:a:" 15 "no BU to the CN"
ok_log cn-d "CN: route optimisation binding $HOA -> 2001:db8:a:[0-9a-f:]+ at $VM_CN_ADDR" 15 \
  "no binding at the CN"
ok_log mn-d "route optimisation: BA from $VM_CN_ADDR: status 0 " 15 "no BA from the CN at the MN"

# --- 2. the kernel's RO state and the direct path ----------------------------
states=$(ip -n cn xfrm state)
grep -A3 "src $VM_CN_ADDR dst $HOA" <<<"$states" | grep -q 'proto route2' ||
  vm_die "no RH2 state CN -> HoA on the CN: $states"
coa_a=$(grep -A6 "src $VM_CN_ADDR dst $HOA" <<<"$states" | grep -oE 'coa 2001:db8:a:[0-9a-f:]+' | head -1)
[ -n "$coa_a" ] || vm_die "the CN's RH2 state does not go to a CoA on link A: $states"
ok "the CN's xfrm state: RH2 $VM_CN_ADDR -> $HOA $coa_a"
# The binding cache on D-Bus (published at most once a second).
deadline=$((SECONDS + 10))
until DBUS_SYSTEM_BUS_ADDRESS=$CN_BUS "$MIP6CTL" bc --json >"$VM_LAB/cn-bc.json" 2>&1 &&
  grep -q "\"$HOA\"" "$VM_LAB/cn-bc.json" && grep -q "\"${coa_a#coa }\"" "$VM_LAB/cn-bc.json"; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "mip6ctl bc shows no CN binding $HOA -> ${coa_a#coa }: $(cat "$VM_LAB/cn-bc.json")"
  sleep 0.2
done
ok "D-Bus: mip6ctl bc shows the CN's binding $HOA -> ${coa_a#coa }"
before=$(ha_tunnel_packets)
vm_ping cn "$HOA" 10 >"$VM_LAB/ping2.txt" || vm_die "direct CN -> HoA ping not answered: $(cat "$VM_LAB/ping2.txt")"
after=$(ha_tunnel_packets)
[ "$after" -le "$((before + 2))" ] ||
  vm_die "the ping went through the HA's tunnel: $before -> $after packets ($(grep -o '[0-9]* received' "$VM_LAB/ping2.txt"))"
ok "ping CN -> HoA answered directly: $(grep -o '[0-9]* received' "$VM_LAB/ping2.txt"), HA tunnel packets $before -> $after"

# --- 2b. the binding (16 s) is refreshed while in use -------------------------
vm_spawn cn-ping cn ping -6 -n -i 0.5 "$HOA"
deadline=$((SECONDS + 25))
until [ "$(grep -cE "CN: route optimisation binding $HOA -> ${coa_a#coa } " "$VM_LAB/cn-d.log")" -ge 2 ]; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "the CN's binding was not refreshed within its 16 s lifetime: $(vm_log_of cn-d)"
  sleep 0.2
done
vm_stop cn-ping INT 5 || true
grep -q "bytes from" "$VM_LAB/cn-ping.log" || vm_die "the ping during the refresh was not answered"
brr=$(grep -c 'CN: BRR to' "$VM_LAB/cn-d.log" || true)
brr_in=$(grep -c "route optimisation: BRR from $VM_CN_ADDR" "$VM_LAB/mn-d.log" || true)
ok "the CN's binding was refreshed before its 16 s lifetime ended (Binding Refresh Requests sent: $brr, taken by the MN: $brr_in)"

# --- 3. handover to link B: return routability again --------------------------
vm_mn_move b
vm_wait_log mn-d 'handover completed: 2001:db8:a:.* -> 2001:db8:b:' 30 >/dev/null || vm_die "no handover to link B"
ok_log mn-d "route optimisation: CoTI to $VM_CN_ADDR from 2001:db8:b:" 15 "no CoTI from link B"
ok_log cn-d "CN: route optimisation binding $HOA -> 2001:db8:b:[0-9a-f:]+ at $VM_CN_ADDR" 20 \
  "the CN's binding did not move to link B"
deadline=$((SECONDS + 10))
until ip -n cn xfrm state | grep -A6 "src $VM_CN_ADDR dst $HOA" | grep -qE 'coa 2001:db8:b:'; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "the CN's RH2 state did not follow the CoA: $(ip -n cn xfrm state)"
  sleep 0.2
done
before=$(ha_tunnel_packets)
vm_ping cn "$HOA" 10 >"$VM_LAB/ping3.txt" || vm_die "CN -> HoA ping on B not answered: $(cat "$VM_LAB/ping3.txt")"
after=$(ha_tunnel_packets)
[ "$after" -le "$((before + 2))" ] ||
  vm_die "after the handover the ping went through the HA's tunnel: $before -> $after packets"
ok "after the handover, ping CN -> HoA answered directly via link B: $(grep -o '[0-9]* received' "$VM_LAB/ping3.txt"), HA tunnel packets $before -> $after"

# --- 4. the CN restarts: BE status 1, the MN runs return routability again ----
mip6d_stop cn-d
vm_spawn cn-d cn env DBUS_SYSTEM_BUS_ADDRESS="$CN_BUS" "$MIP6D" -c "$VM_LAB/cn.conf"
vm_wait_log cn-d 'started \(Correspondent Node\)' 20 >/dev/null || vm_die "the CN did not start again"
# The CN's echo requests go through the HA; the MN's replies come straight,
# with a Home Address option the new CN has no binding for.
vm_spawn cn-ping cn ping -6 -n -i 0.2 "$HOA"
ok_log cn-d "CN: BE \(1 .*\) to 2001:db8:b:" 15 "no Binding Error from the restarted CN"
ok_log mn-d "route optimisation: BE from $VM_CN_ADDR" 10 "the MN did not take the Binding Error"
ok_log cn-d "CN: route optimisation binding $HOA -> 2001:db8:b:[0-9a-f:]+ at $VM_CN_ADDR" 30 \
  "no new binding at the restarted CN"
vm_stop cn-ping INT 5 || true
before=$(ha_tunnel_packets)
vm_ping cn "$HOA" 10 >"$VM_LAB/ping5.txt" || vm_die "CN -> HoA ping after the CN's restart not answered: $(cat "$VM_LAB/ping5.txt")"
after=$(ha_tunnel_packets)
[ "$after" -le "$((before + 2))" ] ||
  vm_die "after the CN's restart the ping went through the HA's tunnel: $before -> $after packets"
ok "after the CN's restart, direct again: $(grep -o '[0-9]* received' "$VM_LAB/ping5.txt"), HA tunnel packets $before -> $after"

# --- 5. back home: the MN deregisters at the CN -------------------------------
vm_mn_move home
vm_wait_log mn-d 'at home on eth-home' 30 >/dev/null || vm_die "the MN did not see its home link"
ok_log mn-d "route optimisation: deregistration BU to $VM_CN_ADDR seq" 30 "no deregistration BU to the CN"
ok_log cn-d "CN: route optimisation binding of $HOA deregistered" 10 "the CN kept the binding"
states=$(ip -n cn xfrm state)
if grep -q 'proto route2' <<<"$states"; then vm_die "RH2 state left on the CN: $states"; fi
vm_ping cn "$HOA" 5 >"$VM_LAB/ping4.txt" || vm_die "CN -> HoA ping at home not answered: $(cat "$VM_LAB/ping4.txt")"
ok "at home: the CN's RH2 state is gone and its ping is answered: $(grep -o '[0-9]* received' "$VM_LAB/ping4.txt")"

# --- 5b. the CN's binding limit: a new binding gets status 130 ----------------
# (The deregistered binding's nonce-block entry may draw a 135 first, if the
# MN's new random sequence number is not above it: the MN then starts over.)
echo 'CnMaxBindings 0;' >>"$VM_LAB/cn.conf"
kill -HUP "$(cat "$VM_LAB/cn-d.pid")"
ok_log cn-d 'reload: CnMaxBindings' 10 "SIGHUP did not change CnMaxBindings on the CN"
# Waits (bounded) until PATTERN has more lines than COUNT in NAME's log.
wait_more_lines() {
  local name=$1 pattern=$2 count=$3 timeout=$4 deadline
  deadline=$((SECONDS + timeout))
  until [ "$(grep -cE -- "$pattern" "$VM_LAB/$name.log" || true)" -gt "$count" ]; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
registered_b="registered: $HOA via 2001:db8:b:|handover completed: .* -> 2001:db8:b:"
seen=$(grep -cE "$registered_b" "$VM_LAB/mn-d.log" || true)
vm_mn_move b
wait_more_lines mn-d "$registered_b" "$seen" 30 || vm_die "the MN did not register from link B again: $(vm_log_of mn-d)"
vm_spawn cn-ping cn ping -6 -n -i 0.5 "$HOA"
ok_log cn-d "CN: BU from $HOA .*refused: 130 " 30 "the CN did not refuse the binding past CnMaxBindings"
ok_log mn-d "route optimisation: BA from $VM_CN_ADDR: status 130" 10 "no BA 130 at the MN"
vm_stop cn-ping INT 5 || true
states=$(ip -n cn xfrm state)
if grep -q 'proto route2' <<<"$states"; then vm_die "RH2 state on the CN past CnMaxBindings: $states"; fi
before=$(ha_tunnel_packets)
vm_ping cn "$HOA" 5 >"$VM_LAB/ping6.txt" || vm_die "CN -> HoA ping after the refusal not answered: $(cat "$VM_LAB/ping6.txt")"
after=$(ha_tunnel_packets)
[ "$after" -gt "$before" ] || vm_die "after the refusal the ping did not go through the HA's tunnel: $before -> $after packets"
blocked=$(grep -cE "CN: BU from $HOA .*refused: 135 " "$VM_LAB/cn-d.log" || true)
ok "past CnMaxBindings: no RH2 state on the CN, ping answered through the HA: $(grep -o '[0-9]* received' "$VM_LAB/ping6.txt"), HA tunnel packets $before -> $after (135s from the nonce-block entry before: $blocked)"
seen=$(grep -c 'at home on eth-home' "$VM_LAB/mn-d.log" || true)
vm_mn_move home
wait_more_lines mn-d 'at home on eth-home' "$seen" 30 || vm_die "the MN did not come home again"

# --- 5c. unauthenticated MH messages: all answered, few logged -----------------
flood=$(ip netns exec rtr python3 -S "$(dirname "$0")/mip6d-mh-flood.py" "$VM_CN_ADDR" 200) ||
  vm_die "the MH flood failed: $flood"
hots=$(sed -nE 's/.*got ([0-9]+) HoT.*/\1/p' <<<"$flood")
[ "${hots:-0}" -ge 50 ] || vm_die "the CN answered few of the flood's HoTIs: $flood"
lines=$(grep -cE "(from|to) $VM_RTR_C( |\$)" "$VM_LAB/cn-d.log" || true)
[ "$lines" -le 30 ] || vm_die "the CN logged $lines lines for the flood's source: $(grep -E "(from|to) $VM_RTR_C( |\$)" "$VM_LAB/cn-d.log" | tail -n 20)"
ok "MH flood from $VM_RTR_C: $flood; the CN logged $lines lines for it"

# --- 6. SIGTERM restores every node ------------------------------------------
mip6d_stop mn-d
mip6d_stop ha-d
mip6d_stop cn-d
mip6d_same_state cn "$cn_before" "$(vm_kernel_state cn)"
mip6d_same_state mn "$mn_before" "$(mn_xfrm_state)"
mip6d_same_state ha "$ha_before" "$(vm_kernel_state ha)"
ok "after SIGTERM the kernel state of CN and HA, and the MN's XFRM state and rules, equal those before start"
kill "$(cat "$VM_LAB/bus-cn.pid")" 2>/dev/null || true
vm_topology_down
echo "mip6d: all checks passed"
