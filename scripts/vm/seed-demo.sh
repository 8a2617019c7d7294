#!/usr/bin/env bash
# Guest side of scripts/demo.sh: the seed scenario (docs/mobile-ipv6-over-teredo.md)
# told step by step on seed-lib.sh's lab. The mobile node runs our mip6d (eth0
# MnIfPreference 1, wlan0 2, teredo 3 with `Tunnel enabled`) and our miredo, both on the
# MN's bus; the home agent is our mip6d; the Teredo server and relay are ours. A
# correspondent pings the home address every 50 ms all along. At each step: the care-of
# address, the binding state (mip6ctl, busctl), the time from the change to the BA, and
# the pings lost.
set -euo pipefail
# VM_BIN_DIR (forwarded by vm.sh): where our binaries are (default target/debug).
# shellcheck disable=SC2034 # read by mip6d-lib.sh
if [ -n "${VM_BIN_DIR:-}" ]; then MIP6D_BIN=$VM_BIN_DIR/mip6d; fi
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
# shellcheck source=scripts/vm/seed-lib.sh
. "$(dirname "$0")/seed-lib.sh"
vm_in_guest
seed_check_binaries

say() { printf '\n== %s\n' "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# What the MN's bus says: miredo's tunnel and mip6d's registration.
show_state() {
  local st addr
  st=$(seed_miredo_prop State 2>/dev/null) || st=
  addr=$(seed_miredo_prop Address 2>/dev/null) || addr=
  echo "   miredo (D-Bus): state ${st:-?}${addr:+, address $addr}"
  DBUS_SYSTEM_BUS_ADDRESS=$SEED_MN_BUS "$MIP6CTL" status | sed 's/^/   mip6ctl: /'
  echo "   kernel: $(ip -n mn -6 -o addr show scope global | awk '$2 != "lo" && $2 !~ /^ip6tnl/ { printf "%s %s  ", $2, $4 }')"
}

# Waits for mip6d's BA for a CoA matching REGEX after log line MARK; prints the time
# since T0 (WHAT happened then) and the CoA.
wait_ba() {
  local mark=$1 regex=$2 t0=$3 what=${4:-the change} line
  line=$(seed_wait_log_after mn-d "$mark" "(handover completed: .* -> |registered: $HOA via )$regex" 60) ||
    vm_die "no BA for a CoA matching /$regex/"
  echo "   BA received $(secs "$t0" "$(now)") s after $what: ${line#*: }"
}

lost_since() { # pings lost since the ping log had LINES lines (sequence gaps)
  tail -n "+$(($1 + 1))" "$VM_LAB/demo-ping.log" | grep -o 'icmp_seq=[0-9]*' | cut -d= -f2 |
    awk 'NR > 1 && $1 > prev + 1 { lost += $1 - prev - 1 } { prev = $1 } END { print lost + 0 }'
}

say "lab: home link 2001:db8:1::/64 (our home agent), foreign IPv6 link A 2001:db8:a::/64,"
echo "   Teredo server 192.0.2.1/.2 and relay 198.51.100.1 (ours), IPv4-only networks"
echo "   198.18.1.0/24 and 198.18.2.0/24 behind two NATs, a correspondent 2001:db8:c::2"
seed_lab_up
say "the mobile node's mip6d.conf (the seed's interfaces)"
grep -E 'Interface|MnHomeLink|Home' "$VM_LAB/mn.conf" | sed 's/^/   /'
seed_start_miredo ours
t0=$(now)
mip6d_start_mn
mark=0
wait_ba "$mark" '2001:db8:a:[0-9a-f:]*' "$t0" "mip6d's start"
vm_spawn demo-ping cn ping -6 -n -i 0.05 -W 1 "$HOA"
seed_ping_wait_flowing demo-ping 20 || vm_die "the correspondent's ping is not answered"
show_state

say "1. eth0 loses its link; wlan0 joins IPv4-only network 1: the Teredo address becomes the CoA"
mark=$(seed_log_mark mn-d) pmark=$(wc -l <"$VM_LAB/demo-ping.log")
t0=$(now)
seed_eth0_detach
echo "   wlan0: $(seed_wlan_join 1)"
wait_ba "$mark" "${SEED_TEREDO_PREFIX}[0-9a-f:]*" "$t0"
seed_ping_wait_flowing demo-ping 20 || vm_die "no answers through Teredo"
echo "   correspondent's pings lost: $(lost_since "$pmark") (50 ms apart)"
show_state

say "2. wlan0 moves to IPv4-only network 2 (new address, new NAT): new Teredo address, new binding"
old=$(seed_teredo_addr)
mark=$(seed_log_mark mn-d) pmark=$(wc -l <"$VM_LAB/demo-ping.log")
t0=$(now)
echo "   wlan0: $(seed_wlan_join 2)"
new=$(seed_wait_teredo_addr 20 "$old") || vm_die "no new Teredo address"
echo "   Teredo address $old -> $new after $(secs "$t0" "$(now)") s"
wait_ba "$mark" "$new" "$t0"
seed_ping_wait_flowing demo-ping 20 || vm_die "no answers after the network change"
echo "   correspondent's pings lost: $(lost_since "$pmark")"
show_state

say "3. eth0 is back on the native IPv6 link A: eth0 (preference 1) replaces the Teredo binding"
mark=$(seed_log_mark mn-d) pmark=$(wc -l <"$VM_LAB/demo-ping.log")
t0=$(now)
seed_eth0_attach a
wait_ba "$mark" '2001:db8:a:[0-9a-f:]*' "$t0"
seed_ping_wait_flowing demo-ping 20 || vm_die "no answers back on link A"
echo "   correspondent's pings lost: $(lost_since "$pmark")"
show_state

say "mip6d's log of the handovers (each also a HandoverCompleted signal on D-Bus)"
grep -E 'handover completed' "$VM_LAB/mn-d.log" | sed 's/^/   /'

say "tearing down"
seed_ping_stop demo-ping | sed 's/^/   correspondent: /'
mip6d_stop mn-d
seed_stop_miredo
mip6d_stop ha-d
seed_down
echo "demo: done"
