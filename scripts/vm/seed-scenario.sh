#!/usr/bin/env bash
# Guest side of tests/tests/vm_seed.rs: the seed scenario (docs/mobile-ipv6-over-teredo.md)
# on seed-lib.sh's lab, the MN with eth0 (MnIfPreference 1), wlan0 (2) and teredo (3,
# Tunnel enabled).
#
#   seed-scenario.sh ours    our miredo on the MN, on one private bus with mip6d:
#     1. registered on link A; eth0 loses carrier, wlan0 joins IPv4-only network 1:
#        miredo qualifies (netlink), Teredo CoA registered (BA status 0), CN -> HoA
#        ping answered through the tunnel; MTU probes with counters (reported)
#     2. wlan0 moves to network 2 (new private address, new NAT): new Teredo address,
#        new BU/BA, the CN's 50 ms ping keeps flowing (losses reported)
#     3. eth0 back on link A (wlan0 stays): eth0's CoA replaces the Teredo binding
#     4. eth0 gone again, then the Teredo server is blocked at the WAN: miredo goes
#        down, mip6d has no CoA (the binding ages); unblocked: up again, re-registered
#   seed-scenario.sh debian  Debian's /usr/sbin/miredo (netlink only) on the MN, started
#     on network 1 as at boot: 1 (eth0 lost -> Teredo CoA) and 2 (network change, bounded
#     wait for its 30 s refresh to notice).
#   seed-scenario.sh IMPL MTU  the same with InterfaceMTU MTU at the Teredo server and
#     relay; IMPL hook:MTU: the seed's way, a client hook setting MTU on teredo and the
#     relay's InterfaceMTU MTU (the server advertises 1280). From 1320 up, 1280-byte
#     pings through the home tunnel must get through (docs/mobile-ipv6-over-teredo.md).
# At every step the MN's bus (busctl) is compared with `ip` (seed_check_consistent).
# Each check prints "seed: ok ..."; the first failure exits non-zero.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
# shellcheck source=scripts/vm/seed-lib.sh
. "$(dirname "$0")/seed-lib.sh"
impl=${1:-ours}
case $impl in ours | debian) ;; *) vm_die "usage: seed-scenario.sh [ours|debian] [MTU|hook:MTU]" ;; esac
case ${2:-} in
'') ;;
hook:*) SEED_HOOK_MTU=${2#hook:} SEED_RELAY_MTU=${2#hook:} ;;
*) SEED_TEREDO_MTU=$2 SEED_RELAY_MTU=$2 ;;
esac
mn_mtu=${SEED_HOOK_MTU:-${SEED_TEREDO_MTU:-1280}}
vm_in_guest
seed_check_binaries

seed_started=$(date +%s.%N)
seed_ok() {
  echo "seed: ok $* [$(since "$seed_started")s]"
}
# Seconds since T0 (a date +%s.%N value), to 0.1 s.
since() {
  awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}
_seed_on_exit() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    for name in mn-miredo relay-d tsrv-d; do
      [ -e "$VM_LAB/$name.log" ] || continue
      echo "guest: --- last lines of $name's log ---" >&2
      tail -n 30 "$VM_LAB/$name.log" >&2
    done
    echo "guest: --- mn: ip addr; ip -6 route ---" >&2
    ip -n mn addr >&2 2>/dev/null || true
    ip -n mn -6 route >&2 2>/dev/null || true
  fi
  _mip6d_on_exit
}
trap _seed_on_exit EXIT

# The MN's CoA moves to NEW (a regex): waits for mip6d's BA and the HA's BA status 0.
wait_registered() {
  local mn_mark=$1 ha_mark=$2 new=$3 timeout=${4:-30}
  seed_wait_log_after mn-d "$mn_mark" "(handover completed: .* -> |registered: $HOA via )$new" "$timeout" >/dev/null ||
    vm_die "mip6d did not register the CoA /$new/"
  seed_wait_log_after ha-d "$ha_mark" "BA to $HOA via $new.*status 0" 5 >/dev/null ||
    vm_die "the HA sent no BA status 0 via /$new/"
}

# The IPv6 counters that say where a too-big packet went, in NS: "name value" lines.
mtu_counters() {
  ip netns exec "$1" nstat -asz Ip6FragCreates Ip6FragFails Ip6ReasmOKs Ip6ReasmFails \
    Icmp6OutPktTooBigs Icmp6InPktTooBigs 2>/dev/null | awk 'NF == 3 && $1 !~ /^#/ { print $1, $2 }'
}

# What changed between two mtu_counters outputs: "Name+N ..." (nothing if none).
mtu_delta() {
  awk 'NR == FNR { b[$1] = $2; next } $2 != b[$1] { printf "%s+%d ", $1, $2 - b[$1] }' "$1" "$2"
}

# MTU probes CN -> HoA and HoA -> CN through the MN-HA tunnel over Teredo: prints what
# got through and the counters that moved on each node, never fails (the MTU design,
# docs/mobile-ipv6-over-teredo.md, decides what should).
mtu_probe() {
  local coa=$1 size got dir ns
  for size in 1192 1232 1400; do
    for dir in cn-to-hoa hoa-to-cn; do
      for ns in cn ha rtr relay mn; do mtu_counters "$ns" >"$VM_LAB/mtu-$ns.before"; done
      if [ "$dir" = cn-to-hoa ]; then
        vm_ns cn ping -6 -n -c 3 -i 0.3 -W 2 -s "$size" "$HOA" >"$VM_LAB/mtu-$dir-$size.txt" 2>&1 || true
      else
        vm_ns mn ping -6 -n -c 3 -i 0.3 -W 2 -s "$size" -I "$HOA" "$VM_CN_ADDR" >"$VM_LAB/mtu-$dir-$size.txt" 2>&1 || true
      fi
      got=$(grep -o '[0-9]* received' "$VM_LAB/mtu-$dir-$size.txt" | cut -d' ' -f1) || true
      local moved=
      for ns in cn ha rtr relay mn; do
        mtu_counters "$ns" >"$VM_LAB/mtu-$ns.after"
        d=$(mtu_delta "$VM_LAB/mtu-$ns.before" "$VM_LAB/mtu-$ns.after")
        [ -z "$d" ] || moved="$moved $ns: ${d% };"
      done
      echo "seed: mtu $dir inner $((size + 48)) bytes (ping -s $size): ${got:-0}/3 answered;${moved:- no counter moved}"
      # A Teredo MTU of at least 1320 is meant to carry 1280-byte packets through the
      # 40-byte home tunnel (docs/mobile-ipv6-over-teredo.md): hold the lab to it.
      if [ "$size" -le 1232 ] && [ "$mn_mtu" -ge 1320 ] && [ "${got:-0}" -lt 2 ]; then
        vm_die "Teredo MTU $mn_mtu: only ${got:-0}/3 pings -s $size $dir answered"
      fi
    done
  done
  local tnl
  tnl=$(ip -n ha -6 tunnel show 2>/dev/null | awk -v c="$coa" '$0 ~ c { sub(":", "", $1); print $1; exit }')
  echo "seed: mtu links: mn ip6tnl1 $(ip -n mn -o link show dev ip6tnl1 | grep -o 'mtu [0-9]*'), mn teredo $(ip -n mn -o link show dev teredo | grep -o 'mtu [0-9]*'), relay teredo $(ip -n relay -o link show dev teredo | grep -o 'mtu [0-9]*'), ha ${tnl:-?} $( [ -n "$tnl" ] && ip -n ha -o link show dev "$tnl" | grep -o 'mtu [0-9]*')"
  echo "seed: mtu ha route to the CoA: $(ip -n ha -6 route get "$coa" 2>&1 | head -n 1)"
}

seed_lab_up
seed_ok "lab up ($SEED_INFRA Teredo server and relay), MN's eth0 on link A"
if [ "$impl" = debian ]; then
  # As at boot on an IPv4 network: Debian's miredo only notices IPv4 changes at its
  # 30 s refresh and pauses 100 s after 3 failed tries, so it starts with wlan0 up.
  wlan=$(seed_wlan_join 1)
  seed_start_miredo debian
  teredo1=$(seed_wait_teredo_addr 30) || vm_die "Debian's miredo did not qualify on network 1"
  seed_ok "Debian's miredo qualified on network 1 (wlan0 $wlan): $teredo1"
else
  seed_start_miredo ours
fi
mip6d_start_mn
vm_wait_log mn-d "registered: $HOA via 2001:db8:a:" 30 >/dev/null || vm_die "MN not registered on link A"
state=$(seed_check_consistent eth0)
seed_ok "registered from link A: $state"

# --- 1. native IPv6 -> IPv4-only network 1 -----------------------------------------
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
seed_ping_start ping1
vm_wait_log ping1 'bytes from' 10 >/dev/null || vm_die "CN -> HoA ping not answered on link A"
t0=$(date +%s.%N)
seed_eth0_detach
if [ "$impl" = ours ]; then
  wlan=$(seed_wlan_join 1)
  teredo1=$(seed_wait_teredo_addr 30) || vm_die "our miredo did not qualify on network 1"
  t_addr=$(since "$t0")
fi
wait_registered "$mn_mark" "$ha_mark" "$teredo1" 30
t_ba=$(since "$t0")
seed_ok "1. eth0 lost, wlan0 $wlan on IPv4 network 1: Teredo CoA $teredo1${t_addr:+ (address after ${t_addr}s)} registered, BA status 0 after ${t_ba}s"
seed_ping_wait_flowing ping1 20 || vm_die "CN -> HoA ping not answered through Teredo"
seed_ok "1. CN -> HoA ping answered through the tunnel over Teredo: $(seed_ping_stop ping1)"
state=$(seed_check_consistent teredo)
seed_ok "1. state: $state"
if [ "$impl" = ours ]; then
  ctl=$(DBUS_SYSTEM_BUS_ADDRESS=$SEED_MN_BUS "$MIP6CTL" status) || vm_die "mip6ctl status failed: $ctl"
  grep -qE "care-of address +$teredo1 on teredo" <<<"$ctl" || vm_die "mip6ctl does not show $teredo1 on teredo: $ctl"
  grep -qE 'registration +registered' <<<"$ctl" || vm_die "mip6ctl shows no registration: $ctl"
  seed_ok "1. mip6ctl status: care-of address $teredo1 on teredo, registered"
fi
mtu_now=$(ip -n mn -o link show dev teredo | grep -o 'mtu [0-9]*')
[ "$mtu_now" = "mtu $mn_mtu" ] || vm_die "the MN's teredo has $mtu_now, expected $mn_mtu"
if [ -n "$SEED_HOOK_MTU" ]; then
  seed_ok "Teredo MTU $SEED_HOOK_MTU from the client hook (relay InterfaceMTU $SEED_RELAY_MTU, server default): $mtu_now on the MN's teredo"
elif [ -n "$SEED_TEREDO_MTU" ]; then
  seed_ok "Teredo MTU $SEED_TEREDO_MTU (server and relay InterfaceMTU): $mtu_now on the MN's teredo"
fi
# mip6d fits the home tunnel to its CoA link: the teredo MTU less 40, at least 1280.
want_tnl=$((mn_mtu - 40 < 1280 ? 1280 : mn_mtu - 40))
tnl_now=$(ip -n mn -o link show dev ip6tnl1 | grep -o 'mtu [0-9]*')
[ "$tnl_now" = "mtu $want_tnl" ] || vm_die "the MN's home tunnel has $tnl_now, expected $want_tnl (teredo $mn_mtu)"
seed_ok "home tunnel MTU $want_tnl over teredo $mn_mtu"
mtu_probe "$teredo1"

# --- 2. IPv4 network change while on Teredo ---------------------------------------
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
seed_ping_start ping2
seed_ping_wait_flowing ping2 10 || vm_die "CN -> HoA ping not answered before the IPv4 network change"
t0=$(date +%s.%N)
wlan=$(seed_wlan_join 2)
if [ "$impl" = debian ]; then wait_addr=90; else wait_addr=20; fi
teredo2=$(seed_wait_teredo_addr "$wait_addr" "$teredo1") || vm_die "no new Teredo address after the move to network 2"
t_addr=$(since "$t0")
wait_registered "$mn_mark" "$ha_mark" "$teredo2" 30
t_ba=$(since "$t0")
seed_wait_log_after ha-d "$ha_mark" "binding $HOA moves from $teredo1 to $teredo2" 5 >/dev/null ||
  vm_die "the HA's binding did not move from $teredo1 to $teredo2"
seed_ping_wait_flowing ping2 20 || vm_die "CN -> HoA ping not answered after the IPv4 network change"
seed_ok "2. wlan0 $wlan on network 2 (new NAT): Teredo $teredo1 -> $teredo2 after ${t_addr}s, BA after ${t_ba}s; ping: $(seed_ping_stop ping2)"
state=$(seed_check_consistent teredo)
seed_ok "2. state: $state"

if [ "$impl" = debian ]; then
  mip6d_stop mn-d
  seed_stop_miredo
  mip6d_stop ha-d
  seed_down
  left=$(ip netns list)
  [ -z "$left" ] || vm_die "namespaces left after seed_down: $left"
  echo "seed: all checks passed ($impl)"
  exit 0
fi

# --- 3. back on native IPv6 ---------------------------------------------------------
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
t0=$(date +%s.%N)
seed_eth0_attach a
wait_registered "$mn_mark" "$ha_mark" "2001:db8:a:[0-9a-f:]*" 30
t_ba=$(since "$t0")
seed_wait_log_after ha-d "$ha_mark" "binding $HOA moves from $teredo2 to 2001:db8:a:" 5 >/dev/null ||
  vm_die "the HA's binding did not move from the Teredo CoA to link A"
vm_ping cn "$HOA" 5 >"$VM_LAB/ping3.txt" || vm_die "CN -> HoA ping not answered back on link A: $(cat "$VM_LAB/ping3.txt")"
state=$(seed_check_consistent eth0)
seed_wait_prop seed_miredo_prop State up >/dev/null || vm_die "miredo is not up any more although wlan0 stays on network 2"
seed_ok "3. eth0 back on link A: eth0 preferred, Teredo binding replaced after ${t_ba}s; ping $(grep -o '[0-9]* received' "$VM_LAB/ping3.txt"); $state"

# --- 4. Teredo server lost, and back ------------------------------------------------
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
seed_eth0_detach
teredo=$(seed_teredo_addr)
wait_registered "$mn_mark" "$ha_mark" "$teredo" 30
seed_ok "4. eth0 lost again: on Teredo $teredo"
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
t0=$(date +%s.%N)
seed_block_server
seed_wait_no_teredo_addr 40 || vm_die "miredo kept its Teredo address with the server blocked"
t_down=$(since "$t0")
seed_wait_log_after mn-d "$mn_mark" 'no usable care-of address' 10 >/dev/null ||
  vm_die "mip6d did not give up the Teredo CoA"
# (After the loss miredo retries within a second: down, then qualifying.)
mstate=$(seed_wait_prop seed_miredo_prop State 'down|qualifying') ||
  vm_die "miredo's State is not down or qualifying on the bus without an address"
seed_wait_prop seed_mip6d_prop CareOfAddress '' >/dev/null ||
  vm_die "mip6d still publishes a CoA that the kernel no longer has"
reg=$(seed_mip6d_prop RegistrationState)
seed_ok "4. server blocked: miredo not up ($mstate), the Teredo address gone after ${t_down}s; mip6d: no usable CoA, CareOfAddress empty on the bus (registration $reg: the binding ages)"
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
t0=$(date +%s.%N)
seed_unblock_server
teredo4=$(seed_wait_teredo_addr 40) || vm_die "miredo did not qualify again when the server came back"
t_addr=$(since "$t0")
wait_registered "$mn_mark" "$ha_mark" "$teredo4" 30
t_ba=$(since "$t0")
vm_ping cn "$HOA" 5 >"$VM_LAB/ping4.txt" || vm_die "CN -> HoA ping not answered after the server came back: $(cat "$VM_LAB/ping4.txt")"
state=$(seed_check_consistent teredo)
seed_ok "4. server back: Teredo $teredo4 after ${t_addr}s, registered after ${t_ba}s; ping $(grep -o '[0-9]* received' "$VM_LAB/ping4.txt"); $state"

mip6d_stop mn-d
seed_stop_miredo
mip6d_stop ha-d
seed_down
left=$(ip netns list)
[ -z "$left" ] || vm_die "namespaces left after seed_down: $left"
echo "seed: all checks passed ($impl)"
