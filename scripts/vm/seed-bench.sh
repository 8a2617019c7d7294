#!/usr/bin/env bash
# Guest side of scripts/bench-seed.sh: on seed-lib.sh's lab, the mobile node sits on an
# IPv4-only network (eth0 unplugged) with its Teredo CoA registered; each run moves wlan0
# to the other IPv4 network (carrier off, port to the other LAN, carrier on, new private
# address and default route as a DHCP client sets them; new NAT) and measures, from the
# moment the new network is configured (the default route via the new LAN's router, in
# `ip -ts monitor` on the MN):
#   ba      -> mip6d's HandoverCompleted signal for the new Teredo CoA (its BA arrived),
#           dbus-monitor's timestamp on the MN's bus;
#   addr    -> the new Teredo address on `teredo` (`ip -ts monitor`);
#   outage  the longest gap between two answers to the CN's ping of the home address
#           (every 50 ms) from the link change on (the old network is gone from then);
#   lost    pings unanswered in that time.
# Arguments: IMPLS RUNS [trace]. IMPLS (default "ours debian"): ours = our miredo on the MN's bus (mip6d hears
# it on D-Bus and netlink); debian = /usr/sbin/miredo (netlink only). The Teredo server
# and relay are ours (SEED_INFRA=debian for Debian's), mip6d is ours throughout.
# Prints one "seed-bench: IMPL run K ba=S addr=S outage=S lost=N" line per run (seconds;
# "never" past the cap) and "seed-bench: done".
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
impls=${1:-ours debian}
runs=${2:-10}
trace=${3:-}
# Debian's miredo notices a new IPv4 network at its 30 s refresh (or after 3 lost
# replies and a 100 s pause): give each of its runs that long.
cap_ours=20
cap_debian=150
vm_in_guest
seed_check_binaries

now() { date +%s.%N; }

# Time of the first HandoverCompleted whose new CoA is ADDR in the monitor's log,
# after line MARK; empty if none yet.
handover_time() {
  local mark=$1 addr=$2
  tail -n "+$((mark + 1))" "$VM_LAB/monitor.log" | awk -v want="\"$addr\"" '
    /^signal / && /member=HandoverCompleted/ { split($2, t, "="); at = t[2]; n = 0; next }
    at != "" && /^ *string / { n++; if (n == 3 && $2 == want) { print at; exit } }'
}

# Epoch time of the first line of `ip -ts monitor` after line MARK matching PATTERN
# (awk regex); empty if none yet.
ip_event_time() {
  local mark=$1 pattern=$2 ts
  ts=$(tail -n "+$((mark + 1))" "$VM_LAB/ip-monitor.log" |
    awk -v p="$pattern" '$0 ~ p { print substr($1, 2, length($1) - 2); exit }')
  [ -n "$ts" ] && date -d "${ts/T/ }" +%s.%N
}

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# The longest gap (s) between consecutive answered pings with timestamps in [FROM, TO],
# counting from FROM and up to TO; and how many were lost (sequence gaps).
ping_gap() {
  awk -v from="$1" -v to="$2" '
    /bytes from/ {
      t = substr($1, 2, length($1) - 2) + 0
      seq = ""
      for (i = 1; i <= NF; i++) if ($i ~ /^icmp_seq=/) { split($i, s, "="); seq = s[2] + 0 }
      if (t < from) { last = t; prev = seq; next }
      if (t > to) exit
      if (last == "") last = from
      if (t - last > gap) gap = t - last
      if (prev != "" && seq > prev + 1) lost += seq - prev - 1
      last = t; prev = seq
    }
    END { printf "%.3f %d\n", gap, lost }' "$VM_LAB/bench-ping.log"
}

seed_lab_up
dbus-monitor --address "$SEED_MN_BUS" \
  "type='signal',interface='org.umip_rs.Mip6d1.MobileNode',member='HandoverCompleted'" \
  >"$VM_LAB/monitor.log" 2>&1 &
echo $! >"$VM_LAB/monitor.pid"
ip netns exec mn ip -ts monitor address route >"$VM_LAB/ip-monitor.log" 2>&1 &
echo $! >"$VM_LAB/ip-monitor.pid"
if [ -n "$trace" ]; then
  # The whole timeline of the first run: every signal.
  dbus-monitor --address "$SEED_MN_BUS" "type='signal'" >"$VM_LAB/trace-bus.log" 2>&1 &
  echo $! >"$VM_LAB/trace-bus.pid"
fi
seed_eth0_detach
net=1
seed_wlan_join "$net" >/dev/null

for impl in $impls; do
  cap=$cap_ours
  [ "$impl" = debian ] && cap=$cap_debian
  seed_start_miredo "$impl"
  coa=$(seed_wait_teredo_addr 60) || vm_die "$impl: no Teredo address on network $net"
  mip6d_start_mn
  vm_wait_log mn-d "registered: $HOA via $coa" 30 >/dev/null || vm_die "$impl: MN not registered via $coa"
  vm_spawn bench-ping cn ping -6 -n -D -i 0.05 -W 1 "$HOA"
  seed_ping_wait_flowing bench-ping 20 || vm_die "$impl: CN -> HoA ping not answered"
  for run in $(seq 1 "$runs"); do
    net=$((3 - net))
    mark=$(wc -l <"$VM_LAB/monitor.log")
    ipmark=$(wc -l <"$VM_LAB/ip-monitor.log")
    t0=$(now)
    seed_wlan_join "$net" >/dev/null
    new=$(seed_wait_teredo_addr "$cap" "$coa" 2>/dev/null) || new=
    t_addr=never t_ba=never
    t_net=$(ip_event_time "$ipmark" "default via 198[.]18[.]${net}[.]1 dev wlan0")
    [ -n "$t_net" ] || vm_die "no new default route in ip monitor's log"
    if [ -n "$new" ]; then
      at=$(ip_event_time "$ipmark" "teredo +inet6 $new/32 scope global *$")
      [ -n "$at" ] && t_addr=$(secs "$t_net" "$at")
      deadline=$((SECONDS + 30))
      while [ -z "$(handover_time "$mark" "$new")" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
      at=$(handover_time "$mark" "$new")
      [ -n "$at" ] && t_ba=$(secs "$t_net" "$at")
      coa=$new
    fi
    seed_ping_wait_flowing bench-ping 30 || true
    # (No /dev/fd in the guest: no process substitution.)
    # shellcheck disable=SC2046
    set -- $(ping_gap "$t0" "$(now)")
    gap=$1 lost=$2
    echo "seed-bench: $impl run $run ba=$t_ba addr=$t_addr outage=$gap lost=$lost"
    if [ -n "$trace" ] && [ "$run" = 1 ]; then
      echo "trace: t0 $t0 $(date -d "@${t0%.*}" +%T).${t0#*.}"
      grep -v '^$' "$VM_LAB/ip-monitor.log" | grep -E 'wlan0|teredo|default' | tail -n 40 | sed 's/^/trace: ip /'
      grep -E '^signal' -A5 "$VM_LAB/trace-bus.log" | grep -E 'signal|string|uint' | tail -n 60 | sed 's/^/trace: bus /'
      grep -E 'D-Bus|handover|BU|BA|CoA|care-of' "$VM_LAB/mn-d.log" | tail -n 15 | sed 's/^/trace: mn-d /'
      tail -n 15 "$VM_LAB/mn-miredo.log" | sed 's/^/trace: miredo /'
    fi
    [ -n "$new" ] || vm_die "$impl: no new Teredo address within ${cap}s of run $run"
  done
  seed_ping_stop bench-ping >/dev/null
  mip6d_stop mn-d
  seed_stop_miredo
done
for p in monitor ip-monitor trace-bus; do
  [ -e "$VM_LAB/$p.pid" ] && kill "$(cat "$VM_LAB/$p.pid")" 2>/dev/null
done
mip6d_stop ha-d
seed_down
echo "seed-bench: done"
