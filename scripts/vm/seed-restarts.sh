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
# The CN's ping of the home address is answered after every step. Each check prints
# "seed: ok ..."; the first failure exits non-zero.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
# shellcheck source=scripts/vm/seed-lib.sh
. "$(dirname "$0")/seed-lib.sh"
vm_in_guest
seed_check_binaries

t_start=$(date +%s.%N)
seed_ok() {
  echo "seed: ok $* [$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s]"
}

# Waits up to TIMEOUT s until the bus shows property PROP (of miredo: m, of mip6d: p)
# equal to VALUE.
wait_prop() {
  local who=$1 prop=$2 value=$3 timeout=${4:-15} deadline got
  deadline=$((SECONDS + timeout))
  while :; do
    if [ "$who" = m ]; then got=$(seed_miredo_prop "$prop") || got=; else got=$(seed_mip6d_prop "$prop") || got=; fi
    [ "$got" = "$value" ] && return 0
    [ "$SECONDS" -lt "$deadline" ] || vm_die "the bus shows $prop='$got', not '$value', after ${timeout}s"
    sleep 0.3
  done
}

ping_ok() {
  vm_ping cn "$HOA" 3 >"$VM_LAB/ping.txt" || vm_die "CN -> HoA ping not answered ($1): $(cat "$VM_LAB/ping.txt")"
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
mip6d_start_mn
vm_wait_log mn-d "registered: $HOA via $coa" 30 >/dev/null || vm_die "MN not registered via $coa"
ping_ok "registered via Teredo"
seed_ok "on IPv4 network 1, registered via Teredo $coa"

# --- 1. the bus restarts ---------------------------------------------------------------
restart_bus
wait_prop m Address "$coa" 15
wait_prop p CareOfAddress "$coa" 15
seed_ok "1. bus restarted: miredo and mip6d published again (Address and CareOfAddress $coa)"
vm_wait_log mn-d 'D-Bus: watching miredo' 10 >/dev/null
mark=$(seed_log_mark mn-d)
seed_wlan_join 2 >/dev/null
coa2=$(seed_wait_teredo_addr 20 "$coa") || vm_die "no new Teredo address on network 2"
seed_wait_log_after mn-d "$mark" "teredo: miredo reports up $coa2 .*D-Bus" 15 >/dev/null ||
  vm_die "mip6d's watcher did not hear miredo's AddressChanged after the bus restart"
seed_wait_log_after mn-d "$mark" "handover completed: .* -> $coa2" 30 >/dev/null ||
  vm_die "no handover to $coa2"
ping_ok "after the bus restart"
seed_ok "1. after the restart, miredo's AddressChanged reached mip6d; handover to $coa2"

# --- 2. miredo restarts -----------------------------------------------------------------
mark=$(seed_log_mark mn-d)
seed_stop_miredo
seed_start_miredo ours
coa3=$(seed_wait_teredo_addr 30) || vm_die "the restarted miredo did not qualify"
seed_wait_log_after mn-d "$mark" "(handover completed: .* -> |registered: $HOA via )$coa3" 30 >/dev/null ||
  vm_die "mip6d did not register $coa3 on the restarted miredo's interface"
ping_ok "after miredo's restart"
wait_prop p CareOfInterface teredo 10
seed_ok "2. miredo restarted (new teredo interface): registered again via $coa3"

# --- 3. mip6d restarts ------------------------------------------------------------------
mip6d_stop mn-d
mip6d_start_mn
vm_wait_log mn-d "teredo: miredo reports up $coa3 .*D-Bus property" 20 >/dev/null ||
  vm_die "the restarted mip6d did not read miredo's state from the bus"
vm_wait_log mn-d "registered: $HOA via $coa3" 30 >/dev/null || vm_die "the restarted mip6d did not register $coa3"
ping_ok "after mip6d's restart"
seed_ok "3. mip6d restarted: read miredo's state from the bus, registered via $coa3"

# --- 4. down on D-Bus -------------------------------------------------------------------
# Teredo preferred to eth0 here (MnIfPreference 1 and 2), both usable: the binding is on
# Teredo; when the server is lost, miredo's `down` moves it to eth0.
mip6d_stop mn-d
sed -i -e 's/Interface "eth0" { MnIfPreference 1; }/Interface "eth0" { MnIfPreference 2; }/' \
  -e 's/Interface "teredo" { MnIfPreference 3;/Interface "teredo" { MnIfPreference 1;/' "$VM_LAB/mn.conf"
grep -q 'Interface "teredo" { MnIfPreference 1;' "$VM_LAB/mn.conf" || vm_die "mn.conf not rewritten"
seed_eth0_attach a
mip6d_start_mn
vm_wait_log mn-d "registered: $HOA via $coa3" 30 >/dev/null || vm_die "not registered via Teredo (preference 1)"
mark=$(seed_log_mark mn-d)
seed_block_server
seed_wait_log_after mn-d "$mark" "teredo: miredo reports down .*D-Bus signal" 40 >/dev/null ||
  vm_die "mip6d did not hear miredo's down"
seed_wait_log_after mn-d "$mark" "handover completed: $coa3 -> 2001:db8:a:" 30 >/dev/null ||
  vm_die "no handover from Teredo to eth0 after miredo's down"
ping_ok "on eth0 after Teredo went down"
wait_prop p CareOfInterface eth0 5
seed_ok "4. Teredo preferred, server lost: miredo's down on D-Bus moved the binding to eth0"
seed_unblock_server

mip6d_stop mn-d
seed_stop_miredo
mip6d_stop ha-d
seed_down
echo "seed: all checks passed (restarts)"
