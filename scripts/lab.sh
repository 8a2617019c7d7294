#!/usr/bin/env bash
# scripts/lab.sh: the network-namespace lab for miredo-rs end-to-end tests.
#
# Usage: scripts/lab.sh [--prefix P] SUBCOMMAND [ARGS...]   (or LAB_PREFIX=P in the environment)
#   up [--nats LIST] [--pair LIST] [--udp-timeout S] [--owner PID]   build the lab (see TOPOLOGY)
#   down                                    kill recorded PIDs, delete namespaces and state
#   gc                                      'down' every lab whose --owner process is gone
#   exec NODE CMD...                        run CMD in namespace ${P}-NODE
#   nodes | state-dir | check               list nodes / print state dir / check tools
#   start NODE NAME CMD...                  run CMD in NODE in the background, record its PID
#   stop NAME [SIGNAL]                      signal a recorded process and wait for it to exit
#   pid NAME | log NAME                     print a recorded PID / a process's log file
#   start-debian-server [NAME [IP IP2]]     Debian's miredo-server in srv (192.0.2.1/.2)
#   start-debian-relay                      Debian's miredo (RelayType relay) in relay
#   start-debian-client N [NAME]            Debian's miredo client in clN
#   start-ours-server BIN [NAME [IP IP2]]   our miredo-server BIN in srv, as Debian's (lab bus if up)
#                                           (IP IP2 = 192.0.2.3 192.0.2.4: the second server)
#   client-ip N NEWIP                       renumber clN's IPv4 (add new, then drop old)
#   nat-ip N NEWIP                          renumber natN's public IPv4 (add new, drop old)
#   block-server [IP...] | unblock-server   drop / pass all IPv4 to/from srv's 192.0.2.1/.2 (or
#                                           the IPs given) at the wan router
#   dbus-up | dbus-down | dbus-address      private system bus (policy dir = conf/*.conf)
#
# TOPOLOGY (every node is a network namespace "${P}-NODE"; interface names are local to each
# namespace, so parallel labs with different prefixes never collide; nothing is created in
# the caller's namespace):
#
#   tgt    v6: 2001:db8:1::1/64, default via 2001:db8:1::fe (IPv6-only target)
#   v6     (IPv6 router, forwarding on) tgt: 2001:db8:1::fe/64  relay: 2001:db8:ff01::1/64
#          srv: 2001:db8:ff02::1/64;  route 2001::/32 via 2001:db8:ff01::2 (the relay)
#   relay  v6: 2001:db8:ff01::2/64    srv  v6: 2001:db8:ff02::2/64  (each default via ::1)
#   srv    wan0: 192.0.2.1/24 + 192.0.2.2/24 (+ .3 and .4 for a second server), gw 192.0.2.254
#   relay  wan0: 198.51.100.1/24, gw 198.51.100.254;  IPv6 forwarding on
#   wan    (IPv4 router) srv:192.0.2.254/24  relay:198.51.100.254/24  br0:203.0.113.254/24
#          with one bridge port "natN" per NAT
#   natN   wan: 203.0.113.N/24 gw .254;  lan: 198.18.N.1/24;  nftables NAT of the chosen type
#   clN    eth0: 198.18.N.10/24 gw 198.18.N.1;  uses the host's /dev/net/tun
#   clNb   (only for N in --pair LIST) eth0: 198.18.N.11/24, a second client behind natN on
#          the same link: natN's "lan" is then a bridge with both clients as ports
#
# NAT types (--nats, comma-separated, natN gets the Nth; default port,full,restricted,symmetric):
#   port        port-restricted cone: plain masquerade (Linux default; port kept)
#   restricted  restricted cone: masquerade + dynamic set {remote IP . public port} of
#               contacted peers + dnat map public port -> inside IP:port
#   full        full cone: masquerade + dnat map public port -> inside IP:port (anyone)
#   hairpin     full cone that also loops inside packets to its public address back in,
#               with the sender's public address as source (RFC 4787 REQ-9)
#   symmetric   masquerade fully-random: a new public port per destination
#   preserving  port-preserving symmetric (RFC 6081 3.3): a new mapping per destination; an
#               inside endpoint's first mapping keeps its port (masquerade), later ones are
#               random (fully-random); dynamic set of inside endpoints with a mapping
#   sequential  sequential port-symmetric (RFC 6081 3.4): every new UDP mapping (any inside
#               endpoint, any destination) takes the next public port, 30000 up (numgen)
#   none        no NAT: plain routing (wan routes 198.18.N.0/24 via 203.0.113.N)
# Every NAT type also drops unsolicited UDP addressed to the NAT itself (input hook, ct state
# new), like a real NAT: see "Surprises".
# Conntrack UDP timeouts are set explicitly in every natN (--udp-timeout S sets both the
# unreplied and the assured timeout to S; the default keeps Linux's 30 s / 120 s), and the
# cone maps and the preserving NAT's set expire after the assured timeout.
#
# Addresses used: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15 and
# 2001:db8::/32 only. DAD is off in every lab namespace; IPv6 is disabled on IPv4-only links.
# State (configs, logs, pidfiles, recorded PIDs) lives in /run/miredo-lab/$P
# (LAB_STATE_ROOT overrides /run/miredo-lab).
#
# Packages needed (Debian 12): iproute2 nftables procps iputils-ping util-linux dbus
# miredo miredo-server (for the Debian peers; the packages create users miredo and
# miredo-server); optional: iperf3 tcpdump; shellcheck to lint this script. Install miredo under a policy-rc.d that
# returns 101 so it does not start a client outside the lab. Needs root.
#
# Surprises:
#  - "fwd" is an nft keyword: a chain named fwd is a syntax error.
#  - Without that input drop, an unsolicited packet (e.g. a peer's direct bubble arriving
#    before the client contacted that peer) leaves a conntrack entry to the NAT itself; the
#    client's later packet to that peer then clashes with it and masquerade picks a NEW
#    public port, so port-restricted <-> restricted cone pairs fail. Dropping in the input
#    hook discards the unconfirmed entry. With it, Debian's clients work between any two
#    cone NATs and fail symmetric <-> port-restricted (docs/nat-traversal.md).
#  - conntrack sysctls (net.netfilter.nf_conntrack_udp_timeout*) are per namespace.
#  - `masquerade to :numgen inc ...` (or snat) loads, but nft 1.0.6 puts numgen's host-order
#    value into the port unswapped: 30000, 30001 become 12405, 12661. The sequential NAT
#    looks the counter up in a map whose data are ports (network order) instead.
#  - A nat chain sees only the first packet of a connection: the preserving NAT refreshes
#    its set of used inside endpoints in a filter chain, on every packet.
#  - A client namespace must keep net.ipv6.conf.default.disable_ipv6=0, or the tun that
#    miredo creates later has IPv6 disabled and the hook cannot add the address.
#  - `ip netns exec` execs the command, so "$!" of a backgrounded `ip netns exec` is the
#    daemon's own PID (with -f it is also the pidfile's PID).
#  - Background daemons must not inherit the caller's stdout/stderr pipes (the Rust harness
#    waits for EOF on them): all their fds go to their log file.
#  - Debian's miredo takes 1-2 s to exit on SIGTERM: `down` signals every process first and
#    then waits for all of them.
#  - Reparented daemons can linger as zombies (PID 1 here does not always reap at once):
#    a zombie counts as gone.
#  - `down` also kills, by PID, whatever still runs inside the lab's own namespaces (a
#    process left there would keep the namespace alive after `ip netns del`).

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
STATE_ROOT=${LAB_STATE_ROOT:-/run/miredo-lab}
PREFIX=${LAB_PREFIX:-}

SRV_IP=192.0.2.1
SRV_IP2=192.0.2.2
SRV2_IP=192.0.2.3
SRV2_IP2=192.0.2.4
RELAY_IP=198.51.100.1
TARGET_IP6=2001:db8:1::1

# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"
# shellcheck source=scripts/lab/nat.sh
. "$SCRIPT_DIR/lab/nat.sh"
# shellcheck source=scripts/lab/processes.sh
. "$SCRIPT_DIR/lab/processes.sh"

log() {
    echo "lab.sh[$PREFIX]: $*" >&2
}

state() {
    printf '%s/%s' "$STATE_ROOT" "$PREFIX"
}

ns() {
    printf '%s-%s' "$PREFIX" "$1"
}

need_prefix() {
    [[ -n $PREFIX ]] || die "no prefix: pass --prefix P or set LAB_PREFIX"
    [[ $PREFIX =~ ^[a-z][a-z0-9]{1,11}$ ]] || die "bad prefix '$PREFIX' (want [a-z][a-z0-9]{1,11})"
}

need_lab() {
    need_prefix
    [[ -d $(state) ]] || die "no lab with prefix $PREFIX (no $(state))"
}

# nx NODE CMD...: run CMD inside the node's namespace.
nx() {
    local node=$1
    shift
    ip netns exec "$(ns "$node")" "$@"
}

# sysctls NODE KEY=VALUE...: set sysctls inside a namespace (quietly).
sysctls() {
    local node=$1
    shift
    nx "$node" sysctl -q -w "$@" >/dev/null
}

# veth NODE_A IF_A NODE_B IF_B: a veth pair created directly in the two namespaces.
veth() {
    ip link add name "$2" netns "$(ns "$1")" type veth peer name "$4" netns "$(ns "$3")"
    ip -n "$(ns "$1")" link set "$2" up
    ip -n "$(ns "$3")" link set "$4" up
}

v4only() {
    sysctls "$1" "net.ipv6.conf.$2.disable_ipv6=1"
}

add_node() {
    local node=$1 n
    n=$(ns "$node")
    ip netns add "$n"
    echo "$node" >>"$(state)/nodes"
    ip -n "$n" link set lo up
    sysctls "$node" \
        net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
        net.ipv6.conf.all.dad_transmits=0 net.ipv6.conf.default.dad_transmits=0 \
        net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
        net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
        net.ipv4.conf.all.promote_secondaries=1 net.ipv4.conf.default.promote_secondaries=1 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

cmd_up() {
    local nats="port,full,restricted,symmetric" udp_timeout="" owner="" pairs=""
    while (($#)); do
        case $1 in
        --nats) nats=$2; shift 2 ;;
        --pair) pairs=$2; shift 2 ;;
        --udp-timeout) udp_timeout=$2; shift 2 ;;
        --owner) owner=$2; shift 2 ;;
        --prefix) PREFIX=$2; shift 2 ;;
        *) die "up: unknown option $1" ;;
        esac
    done
    need_prefix
    [[ $(id -u) == 0 ]] || die "must run as root"
    [[ ! -e $(state) ]] || die "lab $PREFIX already exists ($(state))"
    mkdir -p "$(state)"/{pids,logs,conf,run}
    : >"$(state)/nodes"
    echo "${owner:-$$}" >"$(state)/owner"
    trap 'rc=$?; if ((rc != 0)); then log "up failed (rc $rc), tearing down"; cmd_down || true; fi' EXIT

    local -a types
    IFS=, read -r -a types <<<"$nats"
    ((${#types[@]} >= 1 && ${#types[@]} <= 50)) || die "--nats: 1 to 50 entries"
    printf '%s\n' "${types[@]}" >"$(state)/nats"
    local t_unrep=30 t_assured=120
    if [[ -n $udp_timeout ]]; then
        [[ $udp_timeout =~ ^[0-9]+$ ]] || die "--udp-timeout: seconds"
        t_unrep=$udp_timeout t_assured=$udp_timeout
    fi

    # First `ip netns add` of a machine makes /run/netns a shared mount: serialise it.
    mkdir -p /run/netns "$STATE_ROOT"
    local node
    {
        flock 9
        for node in wan srv relay v6 tgt; do add_node "$node"; done
        local i
        for i in "${!types[@]}"; do
            add_node "nat$((i + 1))"
            add_node "cl$((i + 1))"
            if paired "$((i + 1))" "$pairs"; then add_node "cl$((i + 1))b"; fi
        done
    } 9>"$STATE_ROOT/.netns.lock"

    # IPv6 side: tgt -- v6 -- {relay, srv}.
    sysctls v6 net.ipv6.conf.all.forwarding=1
    sysctls relay net.ipv6.conf.all.forwarding=1
    veth v6 tgt tgt v6
    veth v6 relay relay v6
    veth v6 srv srv v6
    ip -n "$(ns v6)" -6 addr add 2001:db8:1::fe/64 dev tgt nodad
    ip -n "$(ns v6)" -6 addr add 2001:db8:ff01::1/64 dev relay nodad
    ip -n "$(ns v6)" -6 addr add 2001:db8:ff02::1/64 dev srv nodad
    ip -n "$(ns v6)" -6 route add 2001::/32 via 2001:db8:ff01::2 dev relay
    ip -n "$(ns tgt)" -6 addr add "$TARGET_IP6/64" dev v6 nodad
    ip -n "$(ns tgt)" -6 route add default via 2001:db8:1::fe dev v6
    ip -n "$(ns relay)" -6 addr add 2001:db8:ff01::2/64 dev v6 nodad
    ip -n "$(ns relay)" -6 route add default via 2001:db8:ff01::1 dev v6
    ip -n "$(ns srv)" -6 addr add 2001:db8:ff02::2/64 dev v6 nodad
    ip -n "$(ns srv)" -6 route add default via 2001:db8:ff02::1 dev v6

    # IPv4 side: wan routes between srv, relay and the NATs' bridge.
    sysctls wan net.ipv4.ip_forward=1 net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1
    veth wan srv srv wan0
    veth wan relay relay wan0
    v4only srv wan0
    v4only relay wan0
    ip -n "$(ns wan)" link add br0 type bridge
    ip -n "$(ns wan)" link set br0 up
    ip -n "$(ns wan)" addr add 192.0.2.254/24 dev srv
    ip -n "$(ns wan)" addr add 198.51.100.254/24 dev relay
    ip -n "$(ns wan)" addr add 203.0.113.254/24 dev br0
    ip -n "$(ns srv)" addr add "$SRV_IP/24" dev wan0
    ip -n "$(ns srv)" addr add "$SRV_IP2/24" dev wan0
    ip -n "$(ns srv)" addr add "$SRV2_IP/24" dev wan0
    ip -n "$(ns srv)" addr add "$SRV2_IP2/24" dev wan0
    ip -n "$(ns srv)" route add default via 192.0.2.254 dev wan0
    ip -n "$(ns relay)" addr add "$RELAY_IP/24" dev wan0
    ip -n "$(ns relay)" route add default via 198.51.100.254 dev wan0

    local n type
    for i in "${!types[@]}"; do
        n=$((i + 1)) type=${types[$i]}
        sysctls "nat$n" net.ipv4.ip_forward=1 net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1 \
            "net.netfilter.nf_conntrack_udp_timeout=$t_unrep" \
            "net.netfilter.nf_conntrack_udp_timeout_stream=$t_assured"
        veth wan "nat$n" "nat$n" wan
        ip -n "$(ns wan)" link set "nat$n" master br0
        if paired "$n" "$pairs"; then
            # Two clients on one link behind natN: its LAN side is a bridge.
            ip -n "$(ns "nat$n")" link add lan type bridge
            ip -n "$(ns "nat$n")" link set lan up
            veth "nat$n" lana "cl$n" eth0
            veth "nat$n" lanb "cl${n}b" eth0
            ip -n "$(ns "nat$n")" link set lana master lan
            ip -n "$(ns "nat$n")" link set lanb master lan
            v4only "cl${n}b" eth0
            ip -n "$(ns "cl${n}b")" addr add "198.18.$n.11/24" dev eth0
            ip -n "$(ns "cl${n}b")" route add default via "198.18.$n.1" dev eth0
        else
            veth "nat$n" lan "cl$n" eth0
        fi
        v4only "cl$n" eth0
        ip -n "$(ns "nat$n")" addr add "203.0.113.$n/24" dev wan
        ip -n "$(ns "nat$n")" route add default via 203.0.113.254 dev wan
        ip -n "$(ns "nat$n")" addr add "198.18.$n.1/24" dev lan
        ip -n "$(ns "cl$n")" addr add "198.18.$n.10/24" dev eth0
        ip -n "$(ns "cl$n")" route add default via "198.18.$n.1" dev eth0
        if [[ $type == none ]]; then
            ip -n "$(ns wan)" route add "198.18.$n.0/24" via "203.0.113.$n" dev br0
        fi
        nat_rules "$n" "$type" "$t_assured"
    done
    trap - EXIT
    log "up: $(tr '\n' ' ' <"$(state)/nodes")"
    state
    echo
}

# paired N LIST: natN has a second client (N is in the comma-separated LIST).
paired() {
    [[ ,$2, == *,$1,* ]]
}

cmd_down() {
    if [[ ${1:-} == --prefix ]]; then PREFIX=$2; fi
    need_prefix
    local st errs=() f pid start node n p left
    st=$(state)
    # 1. Processes we started, by recorded PID (and start time), all at once.
    local -a procs=()
    if [[ -d $st/pids ]]; then
        for f in "$st"/pids/*; do
            [[ -e $f ]] || continue
            read -r pid start <"$f" || true
            [[ -n ${pid:-} && -n ${start:-} ]] && procs+=("$pid $start")
        done
    fi
    if ((${#procs[@]})); then
        left=$(kill_all TERM "${procs[@]}") || errs+=("could not kill PIDs $left")
    fi
    rm -f "$st"/pids/* 2>/dev/null || true
    # 2. Namespaces: ours are "${PREFIX}-*" (listed in nodes, plus any stray one).
    local -a nslist=()
    if [[ -f $st/nodes ]]; then
        while read -r node; do [[ -n $node ]] && nslist+=("$(ns "$node")"); done <"$st/nodes"
    fi
    while read -r n _; do
        [[ $n == "$PREFIX"-* ]] && nslist+=("$n")
    done < <(ip netns list 2>/dev/null || true)
    local -A seen=()
    procs=()
    for n in "${nslist[@]}"; do
        [[ -n ${seen[$n]:-} ]] && continue
        seen[$n]=1
        [[ -e /run/netns/$n ]] || continue
        # Whatever still runs in our own namespaces is ours too (by PID).
        for p in $(ip netns pids "$n" 2>/dev/null || true); do
            start=$(starttime "$p") && procs+=("$p $start")
        done
    done
    if ((${#procs[@]})); then
        log "down: stray processes in the lab's namespaces: ${procs[*]%% *}"
        left=$(kill_all TERM "${procs[@]}") || errs+=("could not kill PIDs $left")
    fi
    for n in "${!seen[@]}"; do
        [[ -e /run/netns/$n ]] || continue
        ip netns del "$n" 2>/dev/null || errs+=("ip netns del $n")
    done
    # 3. State.
    if [[ -d $st ]]; then rm -rf "$st" || errs+=("rm -rf $st"); fi
    if ((${#errs[@]})); then
        printf 'lab.sh[%s]: down: %s\n' "$PREFIX" "${errs[@]}" >&2
        return 1
    fi
    return 0
}

cmd_gc() {
    local d owner rc=0
    [[ -d $STATE_ROOT ]] || return 0
    for d in "$STATE_ROOT"/*/; do
        [[ -d $d ]] || continue
        owner=$(cat "$d/owner" 2>/dev/null || true)
        if [[ -n $owner && ! -d /proc/$owner ]]; then
            PREFIX=$(basename "$d")
            log "gc: owner $owner is gone"
            (cmd_down) || rc=1
        fi
    done
    return $rc
}

# start NODE NAME CMD...: background CMD in NODE; all its fds go to logs/NAME.log.
cmd_start() {
    need_lab
    (($# >= 3)) || die "start NODE NAME CMD..."
    local node=$1 name=$2 pid st
    shift 2
    [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad process name '$name'"
    [[ -e /run/netns/$(ns "$node") ]] || die "no node $node"
    if [[ -f $(state)/pids/$name ]]; then
        read -r pid st <"$(state)/pids/$name" || true
        if alive "$pid" "$st"; then die "$name already running (PID $pid)"; fi
    fi
    ip netns exec "$(ns "$node")" "$@" </dev/null >>"$(state)/logs/$name.log" 2>&1 &
    pid=$!
    st=$(starttime "$pid") || die "$name exited at once: $(tail -n 20 "$(state)/logs/$name.log")"
    echo "$pid $st" >"$(state)/pids/$name"
    echo "$pid"
}

cmd_stop() {
    need_lab
    local name=$1 sig=${2:-TERM} pid st
    [[ -f $(state)/pids/$name ]] || die "no process $name"
    read -r pid st <"$(state)/pids/$name"
    kill_wait "$pid" "$st" "$sig" || die "could not stop $name (PID $pid)"
    rm -f "$(state)/pids/$name"
}

# wait_until SECONDS DESC CMD...: poll CMD every 20 ms.
wait_until() {
    local secs=$1 desc=$2 i
    shift 2
    for ((i = 0; i < secs * 50; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.02
    done
    die "timed out after ${secs}s waiting for $desc"
}

# running NAME: the recorded process is alive (else print its log and fail).
running() {
    local pid st
    read -r pid st <"$(state)/pids/$1"
    if ! alive "$pid" "$st"; then
        echo "lab.sh: $1 died; log:" >&2
        tail -n 30 "$(state)/logs/$1.log" >&2
        return 1
    fi
}

udp_bound() {
    local node=$1 addr=$2
    nx "$node" ss -Hlun "src $addr:3544" | grep -q .
}

# server_ready NAME IP IP2
server_ready() {
    running "$1" || exit 1
    udp_bound srv "$2" && udp_bound srv "$3"
}

relay_ready() {
    running "$1" || exit 1
    nx relay ip -6 route show 2001::/32 dev teredo | grep -q .
}

cmd_start_debian_server() {
    need_lab
    local name=${1:-debian-server} ip=${2:-$SRV_IP} ip2=${3:-$SRV_IP2} conf
    conf=$(state)/conf/$name.conf
    printf 'ServerBindAddress %s\nServerBindAddress2 %s\n' "$ip" "$ip2" >"$conf"
    cmd_start srv "$name" /usr/sbin/miredo-server -f -u miredo-server \
        -p "$(state)/run/$name.pid" -c "$conf"
    wait_until 10 "$name to bind UDP 3544" server_ready "$name" "$ip" "$ip2"
}

# Our miredo-server, started exactly like Debian's; on the lab's bus when dbus-up ran.
cmd_start_ours_server() {
    need_lab
    local bin=${1:?start-ours-server BIN [NAME [IP IP2]]} name=${2:-our-server}
    local ip=${3:-$SRV_IP} ip2=${4:-$SRV_IP2} conf envs=()
    conf=$(state)/conf/$name.conf
    printf 'ServerBindAddress %s\nServerBindAddress2 %s\n' "$ip" "$ip2" >"$conf"
    if [[ -s $(state)/dbus/address ]]; then
        envs=("DBUS_SYSTEM_BUS_ADDRESS=$(head -n1 "$(state)/dbus/address")")
    fi
    cmd_start srv "$name" env "${envs[@]}" "$bin" -f -u miredo-server \
        -p "$(state)/run/$name.pid" -c "$conf"
    wait_until 10 "$name to bind UDP 3544" server_ready "$name" "$ip" "$ip2"
}

cmd_start_debian_relay() {
    need_lab
    local name=${1:-debian-relay} conf
    conf=$(state)/conf/$name.conf
    printf 'RelayType relay\nInterfaceName teredo\n' >"$conf"
    cmd_start relay "$name" /usr/sbin/miredo -f -p "$(state)/run/$name.pid" -c "$conf"
    wait_until 10 "$name to route 2001::/32" relay_ready "$name"
}

cmd_start_debian_client() {
    need_lab
    local n=${1:?start-debian-client N [NAME]} name conf
    name=${2:-debian-client$n}
    conf=$(state)/conf/$name.conf
    printf 'ServerAddress %s\nInterfaceName teredo\n' "$SRV_IP" >"$conf"
    cmd_start "cl$n" "$name" /usr/sbin/miredo -f -p "$(state)/run/$name.pid" -c "$conf"
}

valid_v4() {
    [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "bad IPv4 address '$1'"
}

# replace_v4 NODE DEV NEW/24 GW: add the new address, drop the old ones, keep the route.
replace_v4() {
    local node=$1 dev=$2 new=$3 gw=$4 old
    ip -n "$(ns "$node")" addr add "$new/24" dev "$dev"
    for old in $(ip -n "$(ns "$node")" -4 -o addr show dev "$dev" | awk '{print $4}'); do
        [[ $old == "$new/24" ]] || ip -n "$(ns "$node")" addr del "$old" dev "$dev"
    done
    ip -n "$(ns "$node")" route replace default via "$gw" dev "$dev"
}

cmd_client_ip() {
    need_lab
    local n=${1:?client-ip N NEWIP} new=${2:?client-ip N NEWIP}
    valid_v4 "$new"
    [[ $new == 198.18.$n.* ]] || die "client $n's address must be in 198.18.$n.0/24"
    replace_v4 "cl$n" eth0 "$new" "198.18.$n.1"
}

cmd_nat_ip() {
    need_lab
    local n=${1:?nat-ip N NEWIP} new=${2:?nat-ip N NEWIP}
    valid_v4 "$new"
    [[ $new == 203.0.113.* ]] || die "a NAT's public address must be in 203.0.113.0/24"
    replace_v4 "nat$n" wan "$new" 203.0.113.254
    if [[ $(nat_type_of "$n") == none ]]; then
        ip -n "$(ns wan)" route replace "198.18.$n.0/24" via "$new" dev br0
    fi
}

cmd_block_server() {
    need_lab
    local ips=("$@") ip set
    ((${#ips[@]})) || ips=("$SRV_IP" "$SRV_IP2")
    for ip in "${ips[@]}"; do valid_v4 "$ip"; done
    set=$(IFS=,; echo "${ips[*]}")
    nx wan nft -f - <<EOF
table ip labblock {
  chain block {
    type filter hook forward priority filter - 10; policy accept;
    ip saddr { $set } drop
    ip daddr { $set } drop
  }
}
EOF
}

cmd_unblock_server() {
    need_lab
    if nx wan nft list table ip labblock >/dev/null 2>&1; then
        nx wan nft delete table ip labblock
    fi
}

cmd_dbus_up() {
    need_lab
    local d pid i f
    d=$(state)/dbus
    mkdir -p "$d/system.d"
    for f in "$REPO_ROOT"/conf/*.conf; do
        [[ -e $f ]] && ln -sf "$f" "$d/system.d/"
    done
    sed -e "s|@SOCKET@|$d/system_bus_socket|" -e "s|@POLICY_DIR@|$d/system.d|" \
        "$SCRIPT_DIR/lab/dbus-system.conf.in" >"$d/system.conf"
    : >"$d/address"
    if [[ -f $(state)/pids/dbus ]] && running dbus 2>/dev/null; then
        die "dbus already running"
    fi
    dbus-daemon --config-file="$d/system.conf" --nofork --print-address=3 \
        </dev/null >>"$(state)/logs/dbus.log" 2>&1 3>"$d/address" &
    pid=$!
    echo "$pid $(starttime "$pid")" >"$(state)/pids/dbus"
    for ((i = 0; i < 250; i++)); do
        if [[ -s $d/address ]]; then
            head -n1 "$d/address"
            return 0
        fi
        running dbus || die "dbus-daemon failed"
        sleep 0.02
    done
    die "dbus-daemon printed no address in 5 s"
}

cmd_dbus_down() {
    need_lab
    [[ -f $(state)/pids/dbus ]] || return 0
    cmd_stop dbus
}

cmd_check() {
    local missing=() t
    for t in ip nft sysctl ss flock ping dbus-daemon /usr/sbin/miredo /usr/sbin/miredo-server; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    id miredo >/dev/null 2>&1 || missing+=("user miredo")
    id miredo-server >/dev/null 2>&1 || missing+=("user miredo-server")
    [[ -c /dev/net/tun ]] || missing+=("/dev/net/tun")
    [[ $(id -u) == 0 ]] || missing+=("root")
    if ((${#missing[@]})); then
        die "missing: ${missing[*]} (apt-get install iproute2 nftables procps iputils-ping util-linux dbus miredo miredo-server)"
    fi
    echo ok
}

main() {
    while (($#)); do
        case $1 in
        --prefix) PREFIX=$2; shift 2 ;;
        --state-root) STATE_ROOT=$2; shift 2 ;;
        *) break ;;
        esac
    done
    (($#)) || die "usage: lab.sh [--prefix P] SUBCOMMAND ... (see the top of this file)"
    local cmd=$1
    shift
    if [[ $cmd != up && $cmd != down && ${1:-} == --prefix ]]; then
        PREFIX=$2
        shift 2
    fi
    case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    gc) cmd_gc ;;
    exec)
        need_lab
        (($# >= 2)) || die "exec NODE CMD..."
        local node=$1
        shift
        exec ip netns exec "$(ns "$node")" "$@"
        ;;
    nodes) need_lab && cat "$(state)/nodes" ;;
    state-dir) need_lab && state && echo ;;
    check) cmd_check ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    pid) need_lab && cut -d' ' -f1 "$(state)/pids/${1:?pid NAME}" ;;
    log) need_lab && echo "$(state)/logs/${1:?log NAME}.log" ;;
    start-debian-server) cmd_start_debian_server "$@" ;;
    start-debian-relay) cmd_start_debian_relay "$@" ;;
    start-debian-client) cmd_start_debian_client "$@" ;;
    start-ours-server) cmd_start_ours_server "$@" ;;
    client-ip) cmd_client_ip "$@" ;;
    nat-ip) cmd_nat_ip "$@" ;;
    block-server) cmd_block_server "$@" ;;
    unblock-server) cmd_unblock_server ;;
    dbus-up) cmd_dbus_up ;;
    dbus-down) cmd_dbus_down ;;
    dbus-address) need_lab && head -n1 "$(state)/dbus/address" ;;
    *) die "unknown subcommand $cmd" ;;
    esac
}

main "$@"
