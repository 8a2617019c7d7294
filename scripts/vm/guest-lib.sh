# shellcheck shell=bash
# Library for scripts that run inside the rig's guest (scripts/vm.sh run SCRIPT):
#   . "$VM_REPO/scripts/vm/guest-lib.sh"
#
# The Mobile IPv6 lab (all inside the guest, so names need no per-test prefix):
#
#            home link 2001:db8:1::/64                link C 2001:db8:c::/64
#   [ha] eth0 ::2 ──┐ (radvd: H flag, HA info)      ┌── eth0 ::2 [cn]
#   [mn] eth-home ──┤                                │
#                   br-home ── home ::1 [rtr] c ::1 ─ br-c
#   [mn] eth-a ──── br-a ────── a ::1 ┘ │ (radvd on a and b)
#   [mn] eth-b ──── br-b ────── b ::1 ──┘
#             link A 2001:db8:a::/64, link B 2001:db8:b::/64
#
# Every link is a bridge in namespace `sw`; a node's interface is one end of a veth
# whose other end (sw: <node>-<link>) is a bridge port. `rtr` routes between all four
# links and is the access router of A and B (radvd with the Advertisement Interval
# option, so RAs come every 0.5-1.5 s). `ha` is the home agent's node: radvd there
# advertises the home prefix with the router address, the H flag and a Home Agent
# Information option; its default route is rtr. The MN's interfaces get addresses only
# from RAs (SLAAC). vm_mn_attach/vm_mn_detach turn the switch port up/down, so the MN
# sees carrier come and go as on a real link change.
#
# All waits are bounded and fail with a message naming what did not happen.

# shellcheck disable=SC2034 # the addressing plan, for the scripts that source this
VM_LAB=/run/vm-lab
VM_HOME_PREFIX=2001:db8:1::
VM_A_PREFIX=2001:db8:a::
VM_B_PREFIX=2001:db8:b::
VM_C_PREFIX=2001:db8:c::
VM_HA_ADDR=2001:db8:1::2
VM_CN_ADDR=2001:db8:c::2
VM_RTR_HOME=2001:db8:1::1
VM_RTR_A=2001:db8:a::1
VM_RTR_B=2001:db8:b::1
VM_RTR_C=2001:db8:c::1

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

vm_die() {
  LIB_NAME="guest: FAIL" die "$@"
}

vm_log() {
  echo "guest: $*"
}

# Reports one observation to the Rust test, which decides whether it is right:
# a line "fact KEY=VALUE" on stdout (VALUE made one line). See GuestReport in
# tests/src/vm.rs.
vm_fact() {
  local key=$1
  shift
  printf 'fact %s=%s\n' "$key" "$(printf '%s' "$*" | tr '\n' ' ')"
}

# Reports each line of TEXT as fact KEY (the test reads them all):
# vm_fact_lines KEY TEXT.
vm_fact_lines() {
  local key=$1 line
  while IFS= read -r line; do
    vm_fact "$key" "$line"
  done <<<"$2"
}

# Pings DST from NS (COUNT echo requests) and reports fact KEY: the number of
# replies (0 if none): vm_ping_fact KEY NS DST COUNT.
vm_ping_fact() {
  local key=$1 out
  out=$(vm_ping "$2" "$3" "$4" 2>&1) || true
  vm_fact "$key" "$(sed -nE 's/.* ([0-9]+) received.*/\1/p' <<<"$out" | head -1)"
}

# Waits (bounded) for a line matching PATTERN in NAME's log and reports it as
# fact KEY; ends the script if it does not come (what follows depends on it):
# vm_fact_log KEY NAME PATTERN TIMEOUT.
vm_fact_log() {
  local line
  line=$(vm_wait_log "$2" "$3" "$4") || vm_die "$1: no line matching /$3/ in $2's log"
  vm_fact "$1" "$line"
}

# Prints how many lines of NAME's log match PATTERN (0 if none).
vm_count_log() {
  grep -cE -- "$2" "$VM_LAB/$1.log" 2>/dev/null || true
}

# Runs a command in a namespace of the lab.
vm_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

vm_in_guest() {
  [ -e /run/vm/cmd ] || vm_die "not inside the rig's guest (run me with scripts/vm.sh run)"
}

# Loads the modules the MIPv6 datapath needs; fails naming the first one missing.
vm_load_modules() {
  local m
  for m in ip6_tunnel tunnel6 xfrm_user xfrm_algo veth bridge; do
    modprobe "$m" || vm_die "modprobe $m failed"
  done
}

# Plugs interface IFNAME of namespace NS into LINK's bridge (for nodes a test adds);
# the switch port starts DOWN unless STATE is up.
vm_plug() {
  local ns=$1 ifname=$2 link=$3 state=${4:-up} port="$1-$3"
  ip link add name "$ifname" netns "$ns" type veth peer name "$port" netns sw
  ip -n sw link set dev "$port" master "br-$link" "$state"
  ip -n "$ns" link set dev "$ifname" up
}

# Writes a radvd configuration for an access router on IFNAME advertising PREFIX/64.
_vm_radvd_ar_conf() {
  local ifname=$1 prefix=$2
  cat <<EOF
interface $ifname {
  AdvSendAdvert on;
  MinRtrAdvInterval 0.5;
  MaxRtrAdvInterval 1.5;
  AdvIntervalOpt on;
  AdvDefaultLifetime 30;
  prefix $prefix/64 {
    AdvOnLink on;
    AdvAutonomous on;
    AdvValidLifetime 300;
    AdvPreferredLifetime 120;
  };
};
EOF
}

_vm_radvd_ha_conf() {
  cat <<EOF
interface eth0 {
  AdvSendAdvert on;
  MinRtrAdvInterval 0.5;
  MaxRtrAdvInterval 1.5;
  AdvIntervalOpt on;
  AdvHomeAgentFlag on;
  AdvHomeAgentInfo on;
  HomeAgentLifetime 1800;
  HomeAgentPreference 10;
  AdvDefaultLifetime 30;
  prefix ${VM_HA_ADDR}/64 {
    AdvOnLink on;
    AdvAutonomous on;
    AdvRouterAddr on;
    AdvValidLifetime ${VM_HOME_VALID_LIFETIME:-300};
    AdvPreferredLifetime 120;
  };
};
EOF
}

# Starts radvd in NS with configuration file CONF; its PID goes to $VM_LAB/radvd-NS.pid
# and its log to $VM_LAB/radvd-NS.log.
vm_start_radvd() {
  local ns=$1 conf=$2
  command -v radvd >/dev/null || vm_die "radvd is not installed on the host (scripts/deps.sh)"
  radvd --configtest -C "$conf" >"$VM_LAB/radvd-$ns.check" 2>&1 ||
    vm_die "radvd rejects $conf: $(cat "$VM_LAB/radvd-$ns.check")"
  # Not through vm_ns: a function in the background is a subshell, and its PID
  # (what $! gives) is not radvd's; `ip netns exec` execs radvd in its own place.
  ip netns exec "$ns" radvd -n -C "$conf" -p "$VM_LAB/radvd-$ns.radvd-pid" -m logfile \
    -l "$VM_LAB/radvd-$ns.log" &
  echo $! >"$VM_LAB/radvd-$ns.pid"
}

vm_stop_radvd() {
  local ns=$1 pid
  pid=$(cat "$VM_LAB/radvd-$ns.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$VM_LAB/radvd-$ns.pid"
}

# Builds the whole lab. MN_LINK (home, a, b or none; default a) is the link whose
# switch port starts up; the MN's other ports start down.
vm_topology_up() {
  local mn_link=${1:-a} l ns state
  mkdir -p "$VM_LAB"
  for ns in sw rtr ha cn mn; do echo "netns add $ns"; done | ip -batch -
  # The switch takes no part in IPv6 (no link-local, RS or DAD on bridges and ports);
  # rtr and ha route; the MN takes its addresses and routes from RAs. Under TCG each
  # process costs tens of milliseconds: hence few sysctl runs and `ip -batch`.
  ip netns exec sw sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1
  ip netns exec rtr sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.forwarding=1
  ip netns exec ha sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.forwarding=1
  ip netns exec cn sysctl -qw net.ipv6.conf.default.accept_ra=0

  for l in home a b c; do
    echo "link add br-$l type bridge stp_state 0 forward_delay 0 mcast_snooping 0"
    echo "link set dev br-$l up"
  done | ip -n sw -batch -
  {
    for l in home a b c; do
      echo "link add name $l netns rtr type veth peer name rtr-$l netns sw"
    done
    echo "link add name eth0 netns ha type veth peer name ha-home netns sw"
    echo "link add name eth0 netns cn type veth peer name cn-c netns sw"
    for l in home a b; do
      echo "link add name eth-$l netns mn type veth peer name mn-$l netns sw"
    done
  } | ip -batch -
  {
    for l in home a b c; do echo "link set dev rtr-$l master br-$l up"; done
    echo "link set dev ha-home master br-home up"
    echo "link set dev cn-c master br-c up"
    for l in home a b; do
      state=down
      [ "$l" = "$mn_link" ] && state=up
      echo "link set dev mn-$l master br-$l $state"
    done
  } | ip -n sw -batch -
  ip -n rtr -batch - <<EOF
link set dev lo up
link set dev home up
link set dev a up
link set dev b up
link set dev c up
address add $VM_RTR_HOME/64 dev home nodad
address add $VM_RTR_A/64 dev a nodad
address add $VM_RTR_B/64 dev b nodad
address add $VM_RTR_C/64 dev c nodad
EOF
  ip -n ha -batch - <<EOF
link set dev lo up
link set dev eth0 up
address add $VM_HA_ADDR/64 dev eth0 nodad
route add default via $VM_RTR_HOME dev eth0
EOF
  ip -n cn -batch - <<EOF
link set dev lo up
link set dev eth0 up
address add $VM_CN_ADDR/64 dev eth0 nodad
route add default via $VM_RTR_C dev eth0
EOF
  ip -n mn -batch - <<EOF
link set dev lo up
link set dev eth-home up
link set dev eth-a up
link set dev eth-b up
EOF

  {
    _vm_radvd_ar_conf a "$VM_A_PREFIX"
    _vm_radvd_ar_conf b "$VM_B_PREFIX"
  } >"$VM_LAB/radvd-rtr.conf"
  _vm_radvd_ha_conf >"$VM_LAB/radvd-ha.conf"
  vm_start_radvd rtr "$VM_LAB/radvd-rtr.conf"
  vm_start_radvd ha "$VM_LAB/radvd-ha.conf"
}

# Tears the lab down (radvd first, then the namespaces); tests that check for
# leftovers call it, others may let the VM's reset do it.
vm_topology_down() {
  local ns
  vm_stop_radvd rtr
  vm_stop_radvd ha
  for ns in mn cn ha rtr sw; do
    ip netns del "$ns" 2>/dev/null || true
  done
}

# Switch port of the MN on LINK up (carrier appears on the MN's eth-LINK).
vm_mn_attach() {
  ip -n sw link set dev "mn-$1" up
}

# Switch port of the MN on LINK down (the MN's eth-LINK loses carrier).
vm_mn_detach() {
  ip -n sw link set dev "mn-$1" down
}

# Moves the MN: detaches it from every link but LINK, then attaches it there.
vm_mn_move() {
  local to=$1 l
  for l in home a b; do
    [ "$l" = "$to" ] || vm_mn_detach "$l"
  done
  vm_mn_attach "$to"
}

# Prints the first global, non-tentative address of NS's IFNAME within PREFIX::/64,
# waiting up to TIMEOUT seconds (default 10) for SLAAC and DAD to finish.
vm_wait_addr() {
  local ns=$1 ifname=$2 prefix=$3 timeout=${4:-10} deadline addr
  deadline=$((SECONDS + timeout))
  while :; do
    addr=$(ip -n "$ns" -6 -o addr show dev "$ifname" scope global -tentative 2>/dev/null |
      awk -v p="${prefix%::}:" '{ split($4, a, "/"); if (index(a[1], p) == 1) { print a[1]; exit } }')
    if [ -n "$addr" ]; then
      echo "$addr"
      return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.2
  done
  echo "guest: no address in ${prefix}/64 on $ns:$ifname after ${timeout}s; addresses:" >&2
  ip -n "$ns" -6 addr show dev "$ifname" >&2
  return 1
}

# Waits up to TIMEOUT seconds (default 10) for NS to have a default route via IFNAME.
vm_wait_default_route() {
  local ns=$1 ifname=$2 timeout=${3:-10} deadline
  deadline=$((SECONDS + timeout))
  until ip -n "$ns" -6 route show default dev "$ifname" 2>/dev/null | grep -q .; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "guest: no default route via $ns:$ifname after ${timeout}s; routes:" >&2
      ip -n "$ns" -6 route show >&2
      return 1
    fi
    sleep 0.2
  done
}

# Pings DST from NS (COUNT echo requests, default 3), out of IFNAME if given;
# succeeds if any is answered.
vm_ping() {
  local ns=$1 dst=$2 count=${3:-3} ifname=${4:-}
  vm_ns "$ns" ping -6 -n -c "$count" -i 0.2 -W 2 ${ifname:+-I "$ifname"} "$dst"
}

# Sends a Router Solicitation on NS's IFNAME and prints the first RA (see ra-probe.py).
vm_ra_probe() {
  local ns=$1 ifname=$2 timeout=${3:-5}
  vm_ns "$ns" python3 -S "$VM_REPO/scripts/vm/ra-probe.py" "$ifname" "$timeout"
}

# Starts CMD... in namespace NS in the background under NAME: PID in
# $VM_LAB/NAME.pid, stdout+stderr in $VM_LAB/NAME.log (print it with vm_log_of NAME).
vm_spawn() {
  local name=$1 ns=$2
  shift 2
  mkdir -p "$VM_LAB"
  ip netns exec "$ns" "$@" >"$VM_LAB/$name.log" 2>&1 &
  echo $! >"$VM_LAB/$name.pid"
}

vm_log_of() {
  cat "$VM_LAB/$1.log" 2>/dev/null
}

# Sends SIGNAL (default TERM) to NAME's process and waits up to TIMEOUT seconds
# (default 10) for it to exit. Returns the process's exit status, or 124 (with a
# message) if it is still running. Call it from the shell that ran vm_spawn, not in a
# $(...) subshell: only the parent can collect the status.
vm_stop() {
  local name=$1 sig=${2:-TERM} timeout=${3:-10} pid deadline status=0
  pid=$(cat "$VM_LAB/$name.pid" 2>/dev/null) || vm_die "no process named $name"
  kill -s "$sig" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "guest: $name (pid $pid) still running ${timeout}s after SIG$sig" >&2
      return 124
    fi
    sleep 0.1
  done
  wait "$pid" 2>/dev/null || status=$?
  rm -f "$VM_LAB/$name.pid"
  return "$status"
}

# Waits up to TIMEOUT seconds (default 10) for an extended regex to match a line of
# NAME's log; prints the first matching line.
vm_wait_log() {
  local name=$1 pattern=$2 timeout=${3:-10} deadline line
  deadline=$((SECONDS + timeout))
  while :; do
    line=$(grep -E -m1 -- "$pattern" "$VM_LAB/$name.log" 2>/dev/null) && {
      echo "$line"
      return 0
    }
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "guest: no line matching /$pattern/ in $name's log after ${timeout}s; log:" >&2
      vm_log_of "$name" >&2
      return 1
    fi
    sleep 0.1
  done
}

# Prints the kernel state a mobility daemon touches in NS, in a stable form, so
# that a dump taken before the daemon starts can be compared with one after it
# stops: rules, routes of every table, XFRM states and policies (sub-policies too),
# ip6 tunnels, proxy neighbours, and the IPv6 sysctls of every interface.
# Kernel-generated detail that changes on its own (expiry counters, neighbour
# states, xfrm lifetimes and statistics) is left out.
vm_kernel_state() {
  local ns=$1
  echo "# rules"
  ip -n "$ns" -6 rule show
  echo "# routes"
  ip -n "$ns" -6 route show table all | sed -E 's/ expires [0-9]+sec//' | sort
  echo "# xfrm states"
  ip -n "$ns" xfrm state list | grep -vE '^\s*(anti-replay|lifetime|  (seconds|bytes|packets)|stats|current)' || true
  echo "# xfrm policies"
  ip -n "$ns" xfrm policy list | grep -vE '^\s*(lifetime|current|  (seconds|bytes|packets))' || true
  ip -n "$ns" xfrm policy list ptype sub | grep -vE '^\s*(lifetime|current|  (seconds|bytes|packets))' || true
  echo "# tunnels"
  ip -n "$ns" -6 tunnel show | sort
  echo "# proxy neighbours"
  ip -n "$ns" -6 neigh show proxy | sort
  echo "# sysctls"
  ip netns exec "$ns" sh -c 'grep -H . /proc/sys/net/ipv6/conf/*/* 2>/dev/null; true' |
    grep -vE '/(stable_secret|router_solicitation_delay|mc_forwarding):' | sort
}
