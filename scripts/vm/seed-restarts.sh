#!/usr/bin/env bash
# Guest side of tests/tests/vm_seed_restarts.rs: the D-Bus wiring of the seed scenario
# (docs/mobile-ipv6-over-teredo.md) survives restarts. The MN is on IPv4-only network 1
# with its Teredo CoA registered (our miredo and our mip6d on the MN's bus), then:
#   1. the MN's dbus-daemon is restarted: miredo and mip6d publish again (busctl shows
#      both), and mip6d's watcher hears miredo again (an IPv4 network change is
#      announced to it by the D-Bus signal and re-registered);
#   2. miredo is restarted (a new teredo interface): mip6d follows it to the new
#      interface and re-registers;
#   3. mip6d is restarted while miredo runs: it reads miredo's state from the bus at
#      start and registers the Teredo CoA;
#   4. with teredo preferred to eth0 (both usable), the Teredo server is lost: miredo's
#      `down` on D-Bus moves the binding to eth0.
# The CN's ping of the home address is answered after every step. The script drives
# the lab and reports what it sees as "fact KEY=VALUE" lines; tests/tests/vm_seed_restarts.rs
# decides whether that is right.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
# shellcheck source=scripts/vm/seed-lib.sh
. "$(dirname "$0")/seed-lib.sh"
vm_in_guest
seed_check_binaries

# Waits up to TIMEOUT s until the bus shows property PROP (of miredo: m, of mip6d: p)
# equal to VALUE, then reports what it shows as fact KEY:
# prop_fact KEY m|p PROP VALUE TIMEOUT.
prop_fact() {
  local key=$1 who=$2 prop=$3 value=$4 timeout=${5:-15} deadline got
  deadline=$((SECONDS + timeout))
  while :; do
    if [ "$who" = m ]; then got=$(seed_miredo_prop "$prop") || got=; else got=$(seed_mip6d_prop "$prop") || got=; fi
    [ "$got" != "$value" ] && [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.3
  done
  vm_fact "$key" "$got"
}

# Waits (bounded) for a line matching PATTERN in NAME's log after MARK and reports
# it as fact KEY; the script ends if it does not come (what follows depends on it):
# fact_after KEY NAME MARK PATTERN TIMEOUT.
fact_after() {
  local line
  line=$(seed_wait_log_after "$2" "$3" "$4" "$5") || vm_die "$1: no line matching /$4/ in $2's log"
  vm_fact "$1" "$line"
}

restart_bus() {
  local pid
  pid=$(cat "$VM_LAB/bus-mn.pid")
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$VM_LAB/bus-mn.sock"
  [ "$(mip6d_start_bus bus-mn)" = "$SEED_MN_BUS" ] || vm_die "the bus came back at another address"
}

seed_lab_up
seed_eth0_detach
seed_wlan_join 1 >/dev/null
seed_start_miredo ours
coa=$(seed_wait_teredo_addr 30) || vm_die "our miredo did not qualify on network 1"
vm_fact coa "$coa"
mip6d_start_mn
vm_fact_log registered mn-d "registered: $HOA via $coa" 30
vm_ping_fact ping.registered cn "$HOA" 3

# --- 1. the bus restarts ---------------------------------------------------------------
restart_bus
prop_fact 1.miredo_address m Address "$coa" 15
prop_fact 1.mip6d_coa p CareOfAddress "$coa" 15
vm_fact_log 1.watching mn-d 'D-Bus: watching miredo' 10
mark=$(seed_log_mark mn-d)
seed_wlan_join 2 >/dev/null
coa2=$(seed_wait_teredo_addr 20 "$coa") || vm_die "no new Teredo address on network 2"
vm_fact 1.coa2 "$coa2"
fact_after 1.heard mn-d "$mark" "teredo: miredo reports up $coa2 .*D-Bus" 15
fact_after 1.handover mn-d "$mark" "handover completed: .* -> $coa2" 30
vm_ping_fact ping.after_bus_restart cn "$HOA" 3

# --- 2. miredo restarts -----------------------------------------------------------------
mark=$(seed_log_mark mn-d)
seed_stop_miredo
seed_start_miredo ours
coa3=$(seed_wait_teredo_addr 30) || vm_die "the restarted miredo did not qualify"
vm_fact 2.coa3 "$coa3"
fact_after 2.registered mn-d "$mark" "(handover completed: .* -> |registered: $HOA via )$coa3" 30
vm_ping_fact ping.after_miredo_restart cn "$HOA" 3
prop_fact 2.mip6d_interface p CareOfInterface teredo 10

# --- 3. mip6d restarts ------------------------------------------------------------------
mip6d_stop mn-d
mip6d_start_mn
vm_fact_log 3.read_state mn-d "teredo: miredo reports up $coa3 .*D-Bus property" 20
vm_fact_log 3.registered mn-d "registered: $HOA via $coa3" 30
vm_ping_fact ping.after_mip6d_restart cn "$HOA" 3

# --- 4. down on D-Bus -------------------------------------------------------------------
# Teredo preferred to eth0 here (MnIfPreference 1 and 2), both usable: the binding is on
# Teredo; when the server is lost, miredo's `down` moves it to eth0.
mip6d_stop mn-d
sed -i -e 's/Interface "eth0" { MnIfPreference 1; }/Interface "eth0" { MnIfPreference 2; }/' \
  -e 's/Interface "teredo" { MnIfPreference 3;/Interface "teredo" { MnIfPreference 1;/' "$VM_LAB/mn.conf"
grep -q 'Interface "teredo" { MnIfPreference 1;' "$VM_LAB/mn.conf" || vm_die "mn.conf not rewritten"
seed_eth0_attach a
mip6d_start_mn
vm_fact_log 4.registered_teredo mn-d "registered: $HOA via $coa3" 30
mark=$(seed_log_mark mn-d)
seed_block_server
fact_after 4.heard_down mn-d "$mark" "teredo: miredo reports down .*D-Bus signal" 40
fact_after 4.handover mn-d "$mark" "handover completed: $coa3 -> 2001:db8:a:" 30
vm_ping_fact ping.on_eth0 cn "$HOA" 3
prop_fact 4.mip6d_interface p CareOfInterface eth0 5
seed_unblock_server

mip6d_stop mn-d
seed_stop_miredo
mip6d_stop ha-d
seed_down
vm_fact finished yes
