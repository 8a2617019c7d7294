# shellcheck shell=bash
# The seed scenario's lab (docs/mobile-ipv6-over-teredo.md), inside the
# rig's guest. Sourced after guest-lib.sh and mip6d-lib.sh:
#   . "$VM_REPO/scripts/vm/guest-lib.sh"; . "$VM_REPO/scripts/vm/mip6d-lib.sh"
#   . "$VM_REPO/scripts/vm/seed-lib.sh"
#
# guest-lib.sh's IPv6 lab (home link with the HA, foreign links A and B, the CN on link
# C, router rtr) plus an IPv4 world with Teredo, as scripts/lab.sh builds it on the host:
#
#   IPv6 link T 2001:db8:ff01::/64 (bridge br-t in sw):
#     rtr t ::1 (routes 2001::/32 via the relay)   relay v6 ::2   tsrv v6 ::3
#   IPv4 (veths to the router wan; IPv6 disabled there):
#     tsrv wan0 192.0.2.1 + 192.0.2.2 (Teredo server)   wan srv 192.0.2.254/24
#     relay wan0 198.51.100.1 (Teredo relay)             wan relay 198.51.100.254/24
#     natN wan 203.0.113.N (masquerade)                  wan br0 203.0.113.254/24
#     natN lan 198.18.N.1/24 = IPv4-only access network N (bridge br-lanN in sw)
#
#   The mobile node, interfaces named as in the seed:
#     eth0   native IPv6: switch port mn-eth0 on br-a (link A) or br-home
#     wlan0  IPv4 only: switch port mn-wlan0 on br-lan1 or br-lan2; its IPv4 address
#            and default route are set here as a DHCP client would (no RA on those LANs)
#     teredo created by miredo (ours or Debian's), MnIfPreference 3, Tunnel enabled
#
# The NATs are port-restricted cones (plain masquerade, the Linux default) and drop
# unsolicited UDP to themselves, as lab.sh's "port" type. Teredo server and relay are ours
# (target/debug) unless SEED_INFRA=debian. All waits are bounded.

# shellcheck disable=SC2034 # the addressing plan, for the scripts that source this
SEED_SRV_IP=192.0.2.1
SEED_SRV_IP2=192.0.2.2
SEED_RELAY_IP=198.51.100.1
SEED_T_PREFIX=2001:db8:ff01::
SEED_RTR_T=2001:db8:ff01::1
SEED_RELAY6=2001:db8:ff01::2
SEED_SRV6=2001:db8:ff01::3
SEED_TEREDO_PREFIX=2001:0:
MIREDO=${MIREDO_BIN:-$(dirname "$MIP6D")/miredo}
MIREDO_SERVER=${MIREDO_SERVER_BIN:-$(dirname "$MIP6D")/miredo-server}
# ours or debian; VM_SEED_INFRA reaches the guest through scripts/vm.sh.
SEED_INFRA=${SEED_INFRA:-${VM_SEED_INFRA:-ours}}
# InterfaceMTU of the Teredo server (advertised to clients in its RA) and relay; empty
# keeps Teredo's 1280 (docs/mobile-ipv6-over-teredo.md, "MTU").
SEED_TEREDO_MTU=${SEED_TEREDO_MTU:-}
# The relay's alone (default: SEED_TEREDO_MTU).
SEED_RELAY_MTU=${SEED_RELAY_MTU:-$SEED_TEREDO_MTU}
# The seed's way instead: a client hook that sets this MTU on teredo whatever the server
# advertised, "towards a specific relay allowing a higher MTU" (seed_write_client_hook).
SEED_HOOK_MTU=${SEED_HOOK_MTU:-}
# Which private address wlan0 gets next on network N: 198.18.N.(10 + joins).
seed_wlan_joins=0
seed_wlan_net=

seed_check_binaries() {
  mip6d_check_binary
  [ -x "$MIREDO" ] || vm_die "no $MIREDO: build it first (cargo build -p miredo)"
  if [ "$SEED_INFRA" = ours ]; then
    [ -x "$MIREDO_SERVER" ] || vm_die "no $MIREDO_SERVER: build it first (cargo build -p miredo)"
  fi
  local t
  for t in nft busctl dbus-daemon /usr/sbin/miredo; do
    command -v "$t" >/dev/null || vm_die "$t is not installed on the host"
  done
}

seed_load_modules() {
  vm_load_modules
  local m
  for m in tun nf_tables nft_chain_nat nft_masq nf_conntrack; do
    modprobe "$m" || vm_die "modprobe $m failed"
  done
  # devtmpfs creates the node 0600 and the guest has no udev to make it 0666 as on
  # a normal system; miredo opens it after leaving root.
  chmod 0666 /dev/net/tun
}

# Builds the lab: guest-lib's with the MN's interfaces replaced by eth0 (on link A when
# ETH0 is a, the default; on the home link when home; unplugged when none) and wlan0
# (unplugged), plus the Teredo server, relay, IPv4 router and the two NATs.
seed_up() {
  local eth0_link=${1:-a} n
  vm_topology_up none
  for n in tsrv relay wan nat1 nat2; do echo "netns add $n"; done | ip -batch -
  # IPv4-only nodes: no IPv6 at all. Server and relay: IPv6 only on link T, static.
  for n in wan nat1 nat2; do
    ip netns exec "$n" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1 \
      net.ipv4.ip_forward=1
  done
  ip netns exec relay sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.accept_ra=0 \
    net.ipv6.conf.default.accept_dad=0
  ip netns exec tsrv sysctl -qw net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.default.accept_dad=0
  # The MN's wlan0 keeps IPv6 (link-local only: nobody advertises a prefix there).
  echo "link add br-t type bridge stp_state 0 forward_delay 0 mcast_snooping 0
link set dev br-t up
link add br-lan1 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
link set dev br-lan1 up
link add br-lan2 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
link set dev br-lan2 up" | ip -n sw -batch -
  ip -n mn -batch - <<EOF
link del dev eth-home
link del dev eth-a
link del dev eth-b
EOF
  ip -batch - <<EOF
link add name eth0 netns mn type veth peer name mn-eth0 netns sw
link add name wlan0 netns mn type veth peer name mn-wlan0 netns sw
link add name t netns rtr type veth peer name rtr-t netns sw
link add name v6 netns relay type veth peer name relay-t netns sw
link add name v6 netns tsrv type veth peer name tsrv-t netns sw
link add name wan0 netns tsrv type veth peer name srv netns wan
link add name wan0 netns relay type veth peer name relay netns wan
link add name wan netns nat1 type veth peer name nat1 netns wan
link add name wan netns nat2 type veth peer name nat2 netns wan
link add name lan netns nat1 type veth peer name nat1-lan1 netns sw
link add name lan netns nat2 type veth peer name nat2-lan2 netns sw
EOF
  # Before the IPv4-only ends come up, so they never get a link-local address.
  ip netns exec tsrv sysctl -qw net.ipv6.conf.wan0.disable_ipv6=1
  ip netns exec relay sysctl -qw net.ipv6.conf.wan0.disable_ipv6=1
  {
    echo "link set dev rtr-t master br-t up"
    echo "link set dev relay-t master br-t up"
    echo "link set dev tsrv-t master br-t up"
    echo "link set dev nat1-lan1 master br-lan1 up"
    echo "link set dev nat2-lan2 master br-lan2 up"
    echo "link set dev mn-wlan0 down"
    case $eth0_link in
    a | home) echo "link set dev mn-eth0 master br-$eth0_link up" ;;
    none) echo "link set dev mn-eth0 master br-a down" ;;
    *) vm_die "seed_up: eth0 on '$eth0_link'? (a, home or none)" ;;
    esac
  } | ip -n sw -batch -
  ip -n rtr -batch - <<EOF
link set dev t up
address add $SEED_RTR_T/64 dev t nodad
route add 2001::/32 via $SEED_RELAY6 dev t
EOF
  ip -n relay -batch - <<EOF
link set dev lo up
link set dev v6 up
link set dev wan0 up
address add $SEED_RELAY6/64 dev v6 nodad
route add default via $SEED_RTR_T dev v6
address add $SEED_RELAY_IP/24 dev wan0
route add default via 198.51.100.254 dev wan0
EOF
  ip -n tsrv -batch - <<EOF
link set dev lo up
link set dev v6 up
link set dev wan0 up
address add $SEED_SRV6/64 dev v6 nodad
route add default via $SEED_RTR_T dev v6
address add $SEED_SRV_IP/24 dev wan0
address add $SEED_SRV_IP2/24 dev wan0
route add default via 192.0.2.254 dev wan0
EOF
  ip -n wan -batch - <<EOF
link set dev lo up
link add br0 type bridge
link set dev br0 up
link set dev srv up
link set dev relay up
link set dev nat1 master br0 up
link set dev nat2 master br0 up
address add 192.0.2.254/24 dev srv
address add 198.51.100.254/24 dev relay
address add 203.0.113.254/24 dev br0
EOF
  for n in 1 2; do
    ip -n "nat$n" -batch - <<EOF
link set dev lo up
link set dev wan up
link set dev lan up
address add 203.0.113.$n/24 dev wan
route add default via 203.0.113.254 dev wan
address add 198.18.$n.1/24 dev lan
EOF
    # lab.sh's port-restricted cone: masquerade keeps the port; unsolicited UDP to
    # the NAT itself is dropped (else its conntrack entry makes masquerade pick a
    # new port for the client's later flow to that peer).
    ip netns exec "nat$n" nft -f - <<EOF
table ip labnat {
  chain guard {
    type filter hook input priority filter; policy accept;
    iifname "wan" meta l4proto udp ct state new drop
  }
  chain natpost {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade
  }
}
EOF
  done
  ip -n mn -batch - <<EOF
link set dev eth0 up
link set dev wlan0 up
EOF
  seed_wlan_net=
}

# Tears down what seed_start_* started, then the namespaces.
seed_down() {
  local name n
  for name in mn-miredo relay-d tsrv-d mn-d ha-d; do
    [ -e "$VM_LAB/$name.pid" ] && { vm_stop "$name" TERM 10 || true; }
  done
  if [ -e "$VM_LAB/bus-mn.pid" ]; then
    kill "$(cat "$VM_LAB/bus-mn.pid")" 2>/dev/null || true
  fi
  for n in nat2 nat1 wan relay tsrv; do ip netns del "$n" 2>/dev/null || true; done
  vm_topology_down
}

# The lab with its fixed parts running: namespaces (the MN's eth0 on link A), the Teredo
# server and relay, ha.conf and the seed's mn.conf, the MN's bus, the home agent.
seed_lab_up() {
  seed_load_modules
  seed_up a
  seed_start_server
  seed_start_relay
  # shellcheck disable=SC2119 # no extra configuration lines
  mip6d_ha_conf
  # shellcheck disable=SC2119
  seed_mn_conf
  seed_start_mn_bus
  mip6d_start_ha
}

# --- Teredo server and relay -------------------------------------------------
# The server and the relay, ours or Debian's (SEED_INFRA); each waits until ready.
seed_start_server() {
  local conf="$VM_LAB/tsrv.conf" bin=$MIREDO_SERVER
  [ "$SEED_INFRA" = debian ] && bin=/usr/sbin/miredo-server
  printf 'ServerBindAddress %s\nServerBindAddress2 %s\n' "$SEED_SRV_IP" "$SEED_SRV_IP2" >"$conf"
  [ -z "$SEED_TEREDO_MTU" ] || echo "InterfaceMTU $SEED_TEREDO_MTU" >>"$conf"
  vm_spawn tsrv-d tsrv "$bin" -f -u miredo-server -p "$VM_LAB/tsrv-d.pidfile" -c "$conf"
  local deadline=$((SECONDS + 15))
  until [ "$(ip netns exec tsrv ss -Hlun 'sport = :3544' | grep -c .)" -ge 2 ]; do
    [ "$SECONDS" -lt "$deadline" ] || vm_die "the Teredo server ($bin) did not bind UDP 3544 twice: $(vm_log_of tsrv-d)"
    kill -0 "$(cat "$VM_LAB/tsrv-d.pid")" 2>/dev/null || vm_die "the Teredo server exited: $(vm_log_of tsrv-d)"
    sleep 0.2
  done
}

seed_start_relay() {
  local conf="$VM_LAB/relay.conf" bin=$MIREDO
  [ "$SEED_INFRA" = debian ] && bin=/usr/sbin/miredo
  printf 'RelayType relay\nInterfaceName teredo\n' >"$conf"
  [ -z "$SEED_RELAY_MTU" ] || echo "InterfaceMTU $SEED_RELAY_MTU" >>"$conf"
  vm_spawn relay-d relay "$bin" -f -p "$VM_LAB/relay-d.pidfile" -c "$conf"
  local deadline=$((SECONDS + 15))
  until ip -n relay -6 route show 2001::/32 dev teredo 2>/dev/null | grep -q .; do
    [ "$SECONDS" -lt "$deadline" ] || vm_die "the Teredo relay ($bin) routes no 2001::/32 into teredo: $(vm_log_of relay-d)"
    kill -0 "$(cat "$VM_LAB/relay-d.pid")" 2>/dev/null || vm_die "the Teredo relay exited: $(vm_log_of relay-d)"
    sleep 0.2
  done
}

# --- the mobile node -----------------------------------------------------------
# The seed's mip6d.conf for the MN (plus the lab's home link on eth0), in $VM_LAB/mn.conf.
# shellcheck disable=SC2120 # extra lines are optional
seed_mn_conf() {
  {
    echo 'NodeConfig MN;'
    echo 'DebugLevel 10;'
    echo 'UseMnHaIPsec disabled;'
    echo 'InterfaceInitialInitDelay 0.5;'
    echo 'MnMaxHaBindingLife 60;'
    echo 'Interface "eth0" { MnIfPreference 1; }'
    echo 'Interface "wlan0" { MnIfPreference 2; }'
    echo 'Interface "teredo" { MnIfPreference 3; Tunnel enabled; }'
    for line in "$@"; do echo "$line"; done
    echo 'MnHomeLink "eth0" {'
    echo "  HomeAgentAddress $VM_HA_ADDR;"
    echo "  HomeAddress $HOA/64;"
    echo '}'
  } >"$VM_LAB/mn.conf"
}

# The MN's private system bus, shared by miredo and mip6d: sets and prints SEED_MN_BUS
# (also MIP6D_MN_BUS, which mip6d_start_mn passes on).
seed_start_mn_bus() {
  SEED_MN_BUS=$(mip6d_start_bus bus-mn)
  MIP6D_MN_BUS=$SEED_MN_BUS
}

# Writes a client hook like the seed's (iproute2; address /128 and a default route on
# teredo, MTU forced to MTU) to FILE. The hook runs with an empty environment: full paths.
seed_write_client_hook() {
  local mtu=$1 file=$2
  cat >"$file" <<EOF
#!/bin/sh
# Teredo client hook for the seed scenario: MTU $mtu towards a relay that accepts it.
IP=/sbin/ip
test "\$STATE" = destroy && exit 0
"\$IP" -6 route flush dev "\$IFACE" 2>/dev/null
"\$IP" -6 address flush dev "\$IFACE" 2>/dev/null
"\$IP" link set dev "\$IFACE" "\$STATE"
if test "\$STATE" = up; then
  "\$IP" link set dev "\$IFACE" mtu $mtu
  "\$IP" -6 address add "\$LLADDRESS/64" dev "\$IFACE"
  "\$IP" -6 address add "\$ADDRESS/128" dev "\$IFACE"
  "\$IP" -6 route add default dev "\$IFACE" metric 1029
fi
exit 0
EOF
  chmod 0755 "$file"
}

# Starts the MN's Teredo client: IMPL ours (default; on the MN's bus if started, built-in
# netlink hook unless SEED_CLIENT_HOOK names a script) or debian (/usr/sbin/miredo with
# /etc/miredo/client-hook, netlink only); with SEED_HOOK_MTU, either runs the hook of
# seed_write_client_hook. The seed's miredo.conf: InterfaceName teredo,
# RelayType client, BindPort 3545, ServerAddress as an IPv4 literal.
seed_start_miredo() {
  local impl=${1:-ours} conf="$VM_LAB/mn-miredo.conf"
  printf 'InterfaceName teredo\nRelayType client\nBindPort 3545\nServerAddress %s\n' \
    "$SEED_SRV_IP" >"$conf"
  local hook=${SEED_CLIENT_HOOK:-$VM_LAB/no-client-hook}
  case $impl in
  ours)
    if [ -n "$SEED_HOOK_MTU" ]; then
      hook=$VM_LAB/client-hook-$SEED_HOOK_MTU
      seed_write_client_hook "$SEED_HOOK_MTU" "$hook"
    fi
    vm_spawn mn-miredo mn env ${SEED_MN_BUS:+DBUS_SYSTEM_BUS_ADDRESS="$SEED_MN_BUS"} \
      "$MIREDO" -f -p "$VM_LAB/mn-miredo.pidfile" -c "$conf" --client-hook "$hook"
    ;;
  debian)
    # Its hook path is compiled in; the guest's / is a throw-away overlay.
    [ -z "$SEED_HOOK_MTU" ] || seed_write_client_hook "$SEED_HOOK_MTU" /etc/miredo/client-hook
    vm_spawn mn-miredo mn /usr/sbin/miredo -f -p "$VM_LAB/mn-miredo.pidfile" -c "$conf"
    ;;
  *) vm_die "seed_start_miredo: ours or debian, not '$impl'" ;;
  esac
  echo "$impl" >"$VM_LAB/mn-miredo.impl"
}

seed_stop_miredo() {
  local status=0
  vm_stop mn-miredo TERM 15 || status=$?
  [ "$status" -eq 0 ] || vm_die "the MN's miredo exited with status $status on SIGTERM: $(vm_log_of mn-miredo)"
  rm -f "$VM_LAB/mn-miredo.impl"
}

# Prints the Teredo (2001:0::/32) address on the MN's teredo interface, or nothing.
seed_teredo_addr() {
  ip -n mn -6 -o addr show dev teredo scope global 2>/dev/null |
    awk '{ split($4, a, "/"); if (index(a[1], "2001:0:") == 1) { print a[1]; exit } }'
}

# Waits up to TIMEOUT seconds for a Teredo address on the MN other than NOT (if given);
# prints it.
seed_wait_teredo_addr() {
  local timeout=${1:-20} not=${2:-} deadline addr
  deadline=$((SECONDS + timeout))
  while :; do
    addr=$(seed_teredo_addr)
    if [ -n "$addr" ] && [ "$addr" != "$not" ]; then
      echo "$addr"
      return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.1
  done
  echo "guest: no Teredo address${not:+ other than $not} on mn:teredo after ${timeout}s; addresses:" >&2
  ip -n mn -6 addr show dev teredo >&2 2>/dev/null || echo "(no teredo interface)" >&2
  vm_log_of mn-miredo | tail -n 20 >&2
  return 1
}

# Waits up to TIMEOUT seconds until the MN's teredo interface has no global address.
seed_wait_no_teredo_addr() {
  local timeout=${1:-30} deadline
  deadline=$((SECONDS + timeout))
  while [ -n "$(seed_teredo_addr)" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "guest: mn:teredo still has $(seed_teredo_addr) after ${timeout}s" >&2
      return 1
    fi
    sleep 0.2
  done
}

# The MN's eth0: carrier off / on (on link A unless LINK is given: a or home).
seed_eth0_detach() {
  ip -n sw link set dev mn-eth0 down
}

seed_eth0_attach() {
  ip -n sw link set dev mn-eth0 master "br-${1:-a}" up
}

# wlan0 joins IPv4-only network N (1 or 2) as after a Wi-Fi association and DHCP:
# carrier goes down, the old lease's address goes, the port moves to br-lanN, carrier
# comes back, then a new private address 198.18.N.(10 + joins) and the default route.
# Prints the new address.
seed_wlan_join() {
  local n=$1 addr
  case $n in 1 | 2) ;; *) vm_die "seed_wlan_join: network 1 or 2, not '$n'" ;; esac
  seed_wlan_joins=$((seed_wlan_joins + 1))
  addr=198.18.$n.$((10 + seed_wlan_joins))
  ip -n sw link set dev mn-wlan0 down
  ip -n mn -4 addr flush dev wlan0
  ip -n sw link set dev mn-wlan0 master "br-lan$n" up
  ip -n mn -batch - <<EOF
address add $addr/24 dev wlan0
route replace default via 198.18.$n.1 dev wlan0
EOF
  seed_wlan_net=$n
  echo "$addr"
}

# wlan0 leaves its network: carrier off, lease dropped.
seed_wlan_leave() {
  ip -n sw link set dev mn-wlan0 down
  ip -n mn -4 addr flush dev wlan0
  seed_wlan_net=
}

# Drop / pass all IPv4 to and from the Teredo server's two addresses at the WAN router.
seed_block_server() {
  ip netns exec wan nft -f - <<EOF
table ip labblock {
  chain block {
    type filter hook forward priority filter - 10; policy accept;
    ip saddr { $SEED_SRV_IP, $SEED_SRV_IP2 } drop
    ip daddr { $SEED_SRV_IP, $SEED_SRV_IP2 } drop
  }
}
EOF
}

seed_unblock_server() {
  ip netns exec wan nft delete table ip labblock 2>/dev/null || true
}

# --- logs and the CN's ping -----------------------------------------------------
# The number of lines in NAME's log now: a mark for seed_wait_log_after.
seed_log_mark() {
  local n
  n=$(wc -l <"$VM_LAB/$1.log" 2>/dev/null) || n=0
  echo "${n:-0}"
}

# Like vm_wait_log, but only lines after MARK (from seed_log_mark) count.
seed_wait_log_after() {
  local name=$1 mark=$2 pattern=$3 timeout=${4:-10} deadline line
  deadline=$((SECONDS + timeout))
  while :; do
    line=$(tail -n "+$((mark + 1))" "$VM_LAB/$name.log" 2>/dev/null | grep -E -m1 -- "$pattern") && {
      echo "$line"
      return 0
    }
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "guest: no new line matching /$pattern/ in $name's log after ${timeout}s; new lines:" >&2
      tail -n "+$((mark + 1))" "$VM_LAB/$name.log" >&2 2>/dev/null
      return 1
    fi
    sleep 0.1
  done
}

# A ping from the CN to the home address every 50 ms in the background, as NAME.
seed_ping_start() {
  vm_spawn "$1" cn ping -6 -n -D -i 0.05 -W 1 "$HOA"
}

# The highest icmp_seq answered so far in NAME's log (0 if none).
_seed_ping_last() {
  local s
  s=$(grep -o 'icmp_seq=[0-9]*' "$VM_LAB/$1.log" 2>/dev/null | tail -n 1 | cut -d= -f2) || true
  echo "${s:-0}"
}

# Waits up to TIMEOUT seconds until NAME's ping has 10 more answers than now.
seed_ping_wait_flowing() {
  local name=$1 timeout=${2:-20} from deadline
  from=$(_seed_ping_last "$name")
  deadline=$((SECONDS + timeout))
  until [ "$(_seed_ping_last "$name")" -gt "$((from + 10))" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "guest: the CN's ping to $HOA is not answered (last answer icmp_seq=$from) after ${timeout}s" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Stops NAME's ping; prints "T sent, R answered, L lost, longest gap between answers G s"
# (the outage: under TCG ping does not always keep its 50 ms pace, so L x 50 ms is not).
seed_ping_stop() {
  local name=$1 sent recv gap
  vm_stop "$name" INT 5 || true
  sent=$(grep -o '^[0-9]* packets transmitted' "$VM_LAB/$name.log" | cut -d' ' -f1) || true
  recv=$(grep -o '[0-9]* received' "$VM_LAB/$name.log" | cut -d' ' -f1) || true
  if [ -z "$sent" ] || [ -z "$recv" ]; then
    vm_die "no summary from ping $name: $(tail -n 3 "$VM_LAB/$name.log")"
  fi
  # (Only with ping -D's timestamps, as seed_ping_start gives.)
  gap=$(awk -F'[][]' '/^\[[0-9.]+\] .*bytes from/ { if (p != "" && $2 - p > g) g = $2 - p; p = $2; n++ }
    END { if (n > 1) printf ", longest gap between answers %.2fs", g }' "$VM_LAB/$name.log")
  echo "$sent sent, $recv answered, $((sent - recv)) lost$gap"
}

# --- state on the MN's bus ------------------------------------------------------
# One property of miredo's tunnel object (type prefix stripped: `up`, an address, 1280).
seed_miredo_prop() {
  busctl --address="$SEED_MN_BUS" get-property org.miredo_rs.Miredo1 \
    /org/miredo_rs/Miredo1/teredo org.miredo_rs.Miredo1.Tunnel "$1" 2>/dev/null |
    sed -E 's/^[a-z]+ "?([^"]*)"?$/\1/'
}

# One property of mip6d's MobileNode object.
seed_mip6d_prop() {
  busctl --address="$SEED_MN_BUS" get-property org.umip_rs.Mip6d1 /org/umip_rs/Mip6d1 \
    org.umip_rs.Mip6d1.MobileNode "$1" 2>/dev/null | sed -E 's/^[a-z]+ "?([^"]*)"?$/\1/'
}

# One comparison of the bus with the kernel (see seed_check_consistent); sets
# seed_consistency to the summary, or to what disagrees (and returns 1).
_seed_consistent_once() {
  local expect=$1 coa ifname reg state maddr kaddr ifaddrs
  coa=$(seed_mip6d_prop CareOfAddress)
  ifname=$(seed_mip6d_prop CareOfInterface)
  reg=$(seed_mip6d_prop RegistrationState)
  kaddr=$(seed_teredo_addr)
  seed_consistency="mip6d publishes no CareOfAddress (CareOfInterface '$ifname', $reg)"
  [ -n "$coa" ] || return 1
  seed_consistency="mip6d's CareOfInterface is '$ifname' ($coa, $reg), expected $expect"
  [ -z "$expect" ] || [ "$ifname" = "$expect" ] || return 1
  seed_consistency="mip6d's registration state is '$reg' (CoA $coa on $ifname), expected registered"
  [ -z "$expect" ] || [ "$reg" = registered ] || return 1
  # (Captured first: with pipefail, `ip | grep -q` fails when grep exits early.)
  ifaddrs=$(ip -n mn -6 -o addr show dev "$ifname" 2>&1 || true)
  seed_consistency="mip6d's CoA $coa is not on $ifname per ip: $ifaddrs"
  grep -q " $coa/" <<<"$ifaddrs" || return 1
  if [ "$(cat "$VM_LAB/mn-miredo.impl" 2>/dev/null)" = ours ]; then
    state=$(seed_miredo_prop State)
    maddr=$(seed_miredo_prop Address)
    if [ "$state" = up ]; then
      seed_consistency="miredo says up with '$maddr' but teredo has '$kaddr' per ip"
      [ -n "$maddr" ] && [ "$maddr" = "$kaddr" ] || return 1
    else
      seed_consistency="miredo says '$state' but teredo has '$kaddr' per ip"
      [ -z "$kaddr" ] || return 1
    fi
    seed_consistency="mip6d $reg, CoA $coa on $ifname; miredo $state ${maddr:-(no address)}"
  else
    seed_consistency="mip6d $reg, CoA $coa on $ifname; teredo ${kaddr:-(no address)} (Debian's miredo, not on the bus)"
  fi
}

# Waits up to TIMEOUT seconds until property PROP read by GETTER (seed_miredo_prop or
# seed_mip6d_prop) matches the extended regex RE in full; prints its value.
seed_wait_prop() {
  local getter=$1 prop=$2 re=$3 timeout=${4:-5} deadline value
  deadline=$((SECONDS + timeout))
  while :; do
    value=$("$getter" "$prop")
    if [[ $value =~ ^($re)$ ]]; then
      echo "$value"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "guest: $prop is '$value' after ${timeout}s, expected /$re/" >&2
      return 1
    fi
    sleep 0.1
  done
}

# Checks that the MN's bus agrees with `ip`: mip6d's CareOfAddress is on the interface
# its CareOfInterface names, and our miredo's State/Address match the teredo interface
# (up with that address, or not up and no Teredo address). With EXPECT_IFACE, the CoA
# must be on it and the registration `registered`. Properties follow events by a few
# milliseconds, so it retries for up to 5 s. Prints the summary; dies on disagreement.
seed_check_consistent() {
  local expect=${1:-} deadline=$((SECONDS + 5))
  until _seed_consistent_once "$expect"; do
    [ "$SECONDS" -lt "$deadline" ] || vm_die "bus and kernel disagree: $seed_consistency"
    sleep 0.2
  done
  echo "$seed_consistency"
}
