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
# The script drives the lab and waits for what its next step needs; what it
# sees goes out as "fact KEY=VALUE" lines and tests/tests/vm_seed.rs decides
# whether that is right.
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

# Seconds since START (a date +%s.%N), one decimal.
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

# Waits (bounded) until mip6d registered the CoA matching NEW after the log marks
# and the HA sent its BA with status 0; the script ends if not (what follows needs
# the registration).
wait_registered() {
  local mn_mark=$1 ha_mark=$2 new=$3 timeout=${4:-30}
  seed_wait_log_after mn-d "$mn_mark" "(handover completed: .* -> |registered: $HOA via )$new" "$timeout" >/dev/null ||
    vm_die "mip6d did not register the CoA /$new/"
  seed_wait_log_after ha-d "$ha_mark" "BA to $HOA via $new.*status 0" 5 >/dev/null ||
    vm_die "the HA sent no BA status 0 via /$new/"
}

# Reports fact KEY: yes if COMMAND... succeeds, else no.
yes_no() {
  local key=$1
  shift
  if "$@"; then vm_fact "$key" yes; else vm_fact "$key" no; fi
}

# IPv6 fragmentation and Packet Too Big counters of namespace NS, "NAME VALUE" lines.
mtu_counters() {
  ip netns exec "$1" nstat -asz Ip6FragCreates Ip6FragFails Ip6ReasmOKs Ip6ReasmFails \
    Icmp6OutPktTooBigs Icmp6InPktTooBigs 2>/dev/null | awk 'NF == 3 && $1 !~ /^#/ { print $1, $2 }'
}

# The counters that moved between two mtu_counters files, "NAME+DELTA ...".
mtu_delta() {
  awk 'NR == FNR { b[$1] = $2; next } $2 != b[$1] { printf "%s+%d ", $1, $2 - b[$1] }' "$1" "$2"
}

# Pings of three sizes through the home tunnel in both directions, reported as
# facts mtu.DIR.SIZE (echo replies of 3) and mtu.DIR.SIZE.counters (what moved in
# each namespace), then the links' MTUs and the HA's route to the CoA.
mtu_probe() {
  local coa=$1 size got dir ns d moved tnl
  for size in 1192 1232 1400; do
    for dir in cn-to-hoa hoa-to-cn; do
      for ns in cn ha rtr relay mn; do mtu_counters "$ns" >"$VM_LAB/mtu-$ns.before"; done
      if [ "$dir" = cn-to-hoa ]; then
        vm_ns cn ping -6 -n -c 3 -i 0.3 -W 2 -s "$size" "$HOA" >"$VM_LAB/mtu-$dir-$size.txt" 2>&1 || true
      else
        vm_ns mn ping -6 -n -c 3 -i 0.3 -W 2 -s "$size" -I "$HOA" "$VM_CN_ADDR" >"$VM_LAB/mtu-$dir-$size.txt" 2>&1 || true
      fi
      got=$(grep -o '[0-9]* received' "$VM_LAB/mtu-$dir-$size.txt" | cut -d' ' -f1) || true
      moved=
      for ns in cn ha rtr relay mn; do
        mtu_counters "$ns" >"$VM_LAB/mtu-$ns.after"
        d=$(mtu_delta "$VM_LAB/mtu-$ns.before" "$VM_LAB/mtu-$ns.after")
        [ -z "$d" ] || moved="$moved $ns: ${d% };"
      done
      vm_fact "mtu.$dir.$size" "${got:-0}"
      vm_fact "mtu.$dir.$size.counters" "${moved:- none moved}"
    done
  done
  tnl=$(ip -n ha -6 tunnel show 2>/dev/null | awk -v c="$coa" '$0 ~ c { sub(":", "", $1); print $1; exit }')
  vm_fact mtu.links "mn ip6tnl1 $(ip -n mn -o link show dev ip6tnl1 | grep -o 'mtu [0-9]*'), mn teredo $(ip -n mn -o link show dev teredo | grep -o 'mtu [0-9]*'), relay teredo $(ip -n relay -o link show dev teredo | grep -o 'mtu [0-9]*'), ha ${tnl:-?} $( [ -n "$tnl" ] && ip -n ha -o link show dev "$tnl" | grep -o 'mtu [0-9]*')"
  vm_fact mtu.ha_route "$(ip -n ha -6 route get "$coa" 2>&1 | head -n 1)"
}

seed_lab_up
vm_fact lab "$SEED_INFRA"
if [ "$impl" = debian ]; then
  # As at boot on an IPv4 network: Debian's miredo only notices IPv4 changes at its
  # 30 s refresh and pauses 100 s after 3 failed tries, so it starts with wlan0 up.
  wlan=$(seed_wlan_join 1)
  seed_start_miredo debian
  teredo1=$(seed_wait_teredo_addr 30) || vm_die "Debian's miredo did not qualify on network 1"
  vm_fact debian.qualified "$teredo1"
else
  seed_start_miredo ours
fi
mip6d_start_mn
vm_fact_log a.registered mn-d "registered: $HOA via 2001:db8:a:" 30
vm_fact a.state "$(seed_check_consistent eth0)"

# --- 1. eth0 lost, wlan0 on IPv4 network 1: the Teredo CoA -----------------------
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
seed_ping_start ping1
vm_wait_log ping1 'bytes from' 10 >/dev/null || vm_die "CN -> HoA ping not answered on link A"
t0=$(date +%s.%N)
seed_eth0_detach
if [ "$impl" = ours ]; then
  wlan=$(seed_wlan_join 1)
  teredo1=$(seed_wait_teredo_addr 30) || vm_die "our miredo did not qualify on network 1"
  vm_fact 1.seconds_to_address "$(since "$t0")"
fi
wait_registered "$mn_mark" "$ha_mark" "$teredo1" 30
vm_fact 1.seconds_to_ba "$(since "$t0")"
vm_fact 1.wlan0 "$wlan"
vm_fact 1.coa "$teredo1"
yes_no 1.ping_flowing seed_ping_wait_flowing ping1 20
vm_fact 1.ping "$(seed_ping_stop ping1)"
vm_fact 1.state "$(seed_check_consistent teredo)"
if [ "$impl" = ours ]; then
  vm_fact_lines 1.mip6ctl "$(DBUS_SYSTEM_BUS_ADDRESS=$SEED_MN_BUS "$MIP6CTL" status 2>&1)"
fi
vm_fact mtu.configured "$mn_mtu"
vm_fact mtu.mn_teredo "$(ip -n mn -o link show dev teredo | grep -o 'mtu [0-9]*')"
vm_fact mtu.mn_tunnel "$(ip -n mn -o link show dev ip6tnl1 | grep -o 'mtu [0-9]*')"
mtu_probe "$teredo1"

# --- 2. wlan0 moves to IPv4 network 2 (new NAT) ---------------------------------
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
seed_ping_start ping2
seed_ping_wait_flowing ping2 10 || vm_die "CN -> HoA ping not answered before the IPv4 network change"
t0=$(date +%s.%N)
wlan=$(seed_wlan_join 2)
if [ "$impl" = debian ]; then wait_addr=90; else wait_addr=20; fi
teredo2=$(seed_wait_teredo_addr "$wait_addr" "$teredo1") || vm_die "no new Teredo address after the move to network 2"
vm_fact 2.seconds_to_address "$(since "$t0")"
wait_registered "$mn_mark" "$ha_mark" "$teredo2" 30
vm_fact 2.seconds_to_ba "$(since "$t0")"
vm_fact 2.wlan0 "$wlan"
vm_fact 2.coa "$teredo2"
seed_wait_log_after ha-d "$ha_mark" "binding $HOA moves from $teredo1 to $teredo2" 5 >/dev/null ||
  vm_die "the HA's binding did not move from $teredo1 to $teredo2"
yes_no 2.ping_flowing seed_ping_wait_flowing ping2 20
vm_fact 2.ping "$(seed_ping_stop ping2)"
vm_fact 2.state "$(seed_check_consistent teredo)"

if [ "$impl" = debian ]; then
  mip6d_stop mn-d
  seed_stop_miredo
  mip6d_stop ha-d
  seed_down
  vm_fact namespaces_left "$(ip netns list)"
  vm_fact finished yes
  exit 0
fi

# --- 3. eth0 back on link A: its CoA replaces the Teredo binding --------------------
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
t0=$(date +%s.%N)
seed_eth0_attach a
wait_registered "$mn_mark" "$ha_mark" "2001:db8:a:[0-9a-f:]*" 30
vm_fact 3.seconds_to_ba "$(since "$t0")"
seed_wait_log_after ha-d "$ha_mark" "binding $HOA moves from $teredo2 to 2001:db8:a:" 5 >/dev/null ||
  vm_die "the HA's binding did not move from the Teredo CoA to link A"
vm_ping_fact 3.ping cn "$HOA" 5
vm_fact 3.state "$(seed_check_consistent eth0)"
vm_fact 3.miredo_state "$(seed_wait_prop seed_miredo_prop State up || seed_miredo_prop State)"

# --- 4. eth0 gone again, then the Teredo server lost and back -----------------------
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
seed_eth0_detach
teredo=$(seed_teredo_addr)
wait_registered "$mn_mark" "$ha_mark" "$teredo" 30
vm_fact 4.coa "$teredo"
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
t0=$(date +%s.%N)
seed_block_server
yes_no 4.address_gone seed_wait_no_teredo_addr 40
vm_fact 4.seconds_to_no_address "$(since "$t0")"
seed_wait_log_after mn-d "$mn_mark" 'no usable care-of address' 10 >/dev/null ||
  vm_die "mip6d did not give up the Teredo CoA"
vm_fact 4.miredo_state "$(seed_wait_prop seed_miredo_prop State 'down|qualifying' || seed_miredo_prop State)"
seed_wait_prop seed_mip6d_prop CareOfAddress '' >/dev/null || true
vm_fact 4.mip6d_coa "$(seed_mip6d_prop CareOfAddress)"
vm_fact 4.registration "$(seed_mip6d_prop RegistrationState)"
mn_mark=$(seed_log_mark mn-d) ha_mark=$(seed_log_mark ha-d)
t0=$(date +%s.%N)
seed_unblock_server
teredo4=$(seed_wait_teredo_addr 40) || vm_die "miredo did not qualify again when the server came back"
vm_fact 4.seconds_to_address_back "$(since "$t0")"
wait_registered "$mn_mark" "$ha_mark" "$teredo4" 30
vm_fact 4.seconds_to_ba_back "$(since "$t0")"
vm_fact 4.coa_back "$teredo4"
vm_ping_fact 4.ping cn "$HOA" 5
vm_fact 4.state "$(seed_check_consistent teredo)"

mip6d_stop mn-d
seed_stop_miredo
mip6d_stop ha-d
seed_down
vm_fact namespaces_left "$(ip netns list)"
vm_fact finished yes
