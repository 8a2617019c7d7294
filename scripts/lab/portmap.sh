#!/usr/bin/env bash
# scripts/lab/portmap.sh: a real port-mapping server (miniupnpd: UPnP IGD, NAT-PMP and PCP,
# nftables back end) for the NAT namespaces of the lab, so that the client's UPnP, NAT-PMP and
# PCP code can be tested against the reference implementation.
#
# Usage:
#   portmap.sh prepare                      make the cached miniupnpd root if it is missing
#   portmap.sh start NS INSIDE_IF OUTSIDE_IF INSIDE_CIDR STATEDIR
#                                           config in STATEDIR, miniupnpd in namespace NS in
#                                           the background, PID in STATEDIR/miniupnpd.pid
#   portmap.sh stop STATEDIR                stop that miniupnpd, remove its nft table
#   portmap.sh rules NS [--raw]             the mappings installed in NS, one a line:
#                                           "udp 40000 100.64.1.2:3544" (--raw: nft's listing)
#   portmap.sh pcp NS SERVER INTERNAL_PORT EXTERNAL_PORT LIFETIME [NONCE_HEX]
#                                           send one PCP MAP (UDP) request from NS (RFC 6887
#                                           §11.1), print the answer as key=value lines
#
# Why not Debian 12's miniupnpd: 2.3.1 refuses to forward when the external address is
# reserved ("Reserved / private IP address ... Port forwarding is impossible"), and every
# address the lab may use is reserved. miniupnpd 2.3.9 (Debian 13) has the option
# ext_allow_private_ipv4=yes. Its binary needs glibc >= 2.38, so `prepare` fetches Debian
# 13's miniupnpd-nftables and the four libraries it links (libc6, libgcc-s1, libmnl0,
# libnftnl11) with apt-get download (a private APT dir, the host's Debian mirror, suite
# trixie), unpacks them into a directory, and `start` runs the binary through that root's
# own dynamic loader (ld-linux --library-path ROOT/...): no chroot, no debootstrap.
# The root is cached in /var/cache/miredo-rs-portmap/trixie-<cache_version> (PORTMAP_CACHE
# overrides the directory): later runs need no network. Concurrent prepares make it once.
#
# nftables: miniupnpd (Linux, nftables back end) never creates tables or chains; it only
# adds and deletes rules in existing ones. `start` creates, in NS, table inet
# $PORTMAP_TABLE (default "miniupnpd", apart from lab.sh's "ip labnat") with:
#   forward      filter hook forward, policy accept, jump miniupnpd
#   miniupnpd    miniupnpd's "accept" rules for mapped ports (moot under policy accept)
#   prerouting   nat hook prerouting (dstnat), jump prerouting_miniupnpd
#   postrouting  nat hook postrouting (srcnat), jump postrouting_miniupnpd
#   prerouting_miniupnpd / postrouting_miniupnpd   miniupnpd's dnat (and PCP PEER snat) rules
# It coexists with lab.sh's NAT table (masquerade there; the first nat chain that binds a
# connection wins, and mapped ports are only in this table).
#
# Server config (written to STATEDIR/miniupnpd.conf): ext_ifname=OUTSIDE_IF,
# listening_ip=INSIDE_IF, UPnP + NAT-PMP/PCP on, IPv6 off, secure_mode on, permission rules
# "allow 1-65535 INSIDE_CIDR 1-65535" then deny all. Environment knobs:
#   PORTMAP_EXT_IP      address answered by UPnP GetExternalIPAddress (ext_ip=); default:
#                       OUTSIDE_IF's first IPv4 address at start; "none": unset, then UPnP
#                       answers an empty address (NAT-PMP/PCP always read the interface)
#   PORTMAP_HTTP_PORT   UPnP HTTP port (default 5000: rootDesc at http://INSIDE_IP:5000/rootDesc.xml)
#   PORTMAP_TABLE       nft table name (default miniupnpd)
#   PORTMAP_CONF_EXTRA  extra lines appended to the config (e.g. "max_lifetime=600")
#   PORTMAP_WAIT        tenths of a second `start` waits for the server to listen (default 100)
# A start removes STATEDIR's old lease file, and `stop` removes the nft table: each start is a
# fresh gateway (no mapping, epoch from 0), like a router that reboots.
#
# Surprises (details in the lab notes):
#  - A PCP/NAT-PMP request that the permission rules deny makes miniupnpd try all 65535
#    external ports (one log line each) before answering NOT_AUTHORIZED: ~90 s during which
#    it serves nothing. Hence the broad allow rule for INSIDE_CIDR.
#  - PCP lifetimes are clamped to at least 120 s whatever min_lifetime says; NAT-PMP's are not.
#  - miniupnpd leaves its rules in nftables when it exits (for its lease file): `stop` deletes
#    the table.
#  - miniupnpc's upnpc rejects an IGD whose external address is reserved ("Found a (not
#    connected?) IGD"): use upnpc -i (ignore) or -u http://INSIDE_IP:PORT/rootDesc.xml.
#  - natpmpc's argument order is -a PUBLIC_PORT PRIVATE_PORT PROTOCOL [LIFETIME].
#
# Needs root, iproute2, nftables, python3 (pcp) and, for prepare's first run, apt and
# debian-archive-keyring (both in every Debian system) and the network to the Debian mirror.
set -euo pipefail

cache_dir=${PORTMAP_CACHE:-/var/cache/miredo-rs-portmap}
# Bump when the package list below changes, so a new root is made.
cache_version=1
root=$cache_dir/trixie-$cache_version
suite=trixie
# The binary package, the arch:all one (man page, example config), and the libraries the
# binary links (readelf -d: libnftnl.so.11 libmnl.so.0 libc.so.6; libc6 needs libgcc-s1).
packages=(miniupnpd-nftables miniupnpd libc6 libgcc-s1 gcc-14-base libmnl0 libnftnl11)
libdir=usr/lib/x86_64-linux-gnu

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../lib.sh"
LIB_NAME=lab/portmap.sh

table=${PORTMAP_TABLE:-miniupnpd}

# The host's Debian mirror (deb822 or one-line sources), as scripts/pkg/root.sh finds it.
host_mirror() {
  local m
  m=$(awk '$1 == "URIs:" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '$1 == "deb" && $3 ~ /^bookworm/ && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$m" ] || die "no Debian mirror in /etc/apt/sources.list{,.d}: cannot fetch miniupnpd"
  echo "$m"
}

# Runs miniupnpd (or any program of the root) with the root's loader and libraries.
root_run() {
  "$root/$libdir/ld-linux-x86-64.so.2" --library-path "$root/$libdir" "$@"
}

prepare() {
  if [ -f "$root/.complete" ]; then
    echo "portmap.sh: using cached $root ($(cat "$root/.complete"))"
    return 0
  fi
  command -v apt-get >/dev/null || die "apt-get not found"
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || die "debian-archive-keyring is not installed"
  mkdir -p "$cache_dir"
  exec 8>"$cache_dir/.lock"
  flock -w 600 8 || die "timed out waiting for another portmap.sh prepare"
  if [ -f "$root/.complete" ]; then
    echo "portmap.sh: using cached $root ($(cat "$root/.complete"))"
    return 0
  fi
  local work mirror apt_opts p deb
  work=$(mktemp -d /var/tmp/miredo-rs-portmap.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  mirror=$(host_mirror)
  echo "portmap.sh: fetching Debian $suite's ${packages[*]} from $mirror (first run only; cached in $root)"
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" "$suite" >"$work/sources.list"
  : >"$work/status"
  apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "Dir::State::status=$work/status"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root -o Acquire::Languages=none)
  apt-get "${apt_opts[@]}" -qq update || die "apt-get update of $suite failed"
  (cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download "${packages[@]}") ||
    die "apt-get download ${packages[*]} ($suite) failed"
  for p in "${packages[@]}"; do
    deb=$(printf '%s\n' "$work/debs/${p}_"*.deb | head -1)
    [ -f "$deb" ] || die "no .deb for $p"
    dpkg-deb -x "$deb" "$work/root"
    # shellcheck disable=SC2016 # dpkg-deb's ${field}s, not the shell's
    dpkg-deb -W --showformat='${Package}=${Version}\n' "$deb" >>"$work/root/.versions"
  done
  # The binary must run with the root's loader and carry the option this is all about.
  local version
  version=$("$work/root/$libdir/ld-linux-x86-64.so.2" --library-path "$work/root/$libdir" \
    "$work/root/usr/sbin/miniupnpd" --version 2>&1 | head -1) || die "the fetched miniupnpd does not run: $version"
  grep -q ext_allow_private_ipv4 "$work/root/usr/sbin/miniupnpd" ||
    die "$version has no ext_allow_private_ipv4 option"
  echo "$version" >"$work/root/.complete"
  rm -rf "$root"
  mv "$work/root" "$root"
  echo "portmap.sh: made $root: $version; $(paste -sd' ' "$root/.versions")"
}

# nft_table NS: (re)create the table and chains miniupnpd fills, empty.
nft_table() {
  local ns=$1
  if ip netns exec "$ns" nft list table inet "$table" >/dev/null 2>&1; then
    ip netns exec "$ns" nft delete table inet "$table"
  fi
  ip netns exec "$ns" nft -f - <<EOF
table inet $table {
  chain forward {
    type filter hook forward priority filter; policy accept;
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    jump postrouting_miniupnpd
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
EOF
}

# is_ours STATEDIR PID: PID is the miniupnpd started with STATEDIR's config.
is_ours() {
  local dir=$1 pid=$2
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "-f $dir/miniupnpd.conf "
}

start() {
  [ $# -eq 5 ] || die "usage: portmap.sh start NS INSIDE_IF OUTSIDE_IF INSIDE_CIDR STATEDIR"
  local ns=$1 in_if=$2 out_if=$3 cidr=$4 dir=$5 ext_ip http_port pid in_ip
  [ -f "$root/.complete" ] || die "no miniupnpd root in $root: run 'portmap.sh prepare' first"
  ip netns exec "$ns" true 2>/dev/null || die "no network namespace $ns"
  ip -n "$ns" link show "$in_if" >/dev/null 2>&1 || die "no interface $in_if in $ns"
  ip -n "$ns" link show "$out_if" >/dev/null 2>&1 || die "no interface $out_if in $ns"
  [[ $cidr =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]] || die "INSIDE_CIDR must be a.b.c.d/n, not '$cidr'"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/miniupnpd.pid" ]; then
    pid=$(cat "$dir/miniupnpd.pid")
    if is_ours "$dir" "$pid"; then die "miniupnpd already running for $dir (PID $pid)"; fi
  fi
  in_ip=$(ip -n "$ns" -4 -o addr show dev "$in_if" | awk '{ sub(/\/.*/, "", $4); print $4; exit }')
  [ -n "$in_ip" ] || die "$in_if in $ns has no IPv4 address"
  ext_ip=${PORTMAP_EXT_IP:-}
  if [ -z "$ext_ip" ]; then
    ext_ip=$(ip -n "$ns" -4 -o addr show dev "$out_if" | awk '{ sub(/\/.*/, "", $4); print $4; exit }')
    [ -n "$ext_ip" ] || die "$out_if in $ns has no IPv4 address (or set PORTMAP_EXT_IP=none)"
  fi
  http_port=${PORTMAP_HTTP_PORT:-5000}
  {
    echo "# written by scripts/lab/portmap.sh for namespace $ns"
    echo "ext_ifname=$out_if"
    echo "ext_allow_private_ipv4=yes"
    [ "$ext_ip" = none ] || echo "ext_ip=$ext_ip"
    echo "listening_ip=$in_if"
    echo "http_port=$http_port"
    echo "enable_upnp=yes"
    echo "enable_pcp_pmp=yes"
    echo "ipv6_disable=yes"
    echo "secure_mode=yes"
    echo "system_uptime=no"
    echo "min_lifetime=120"
    echo "max_lifetime=86400"
    echo "upnp_table_name=$table"
    echo "upnp_nat_table_name=$table"
    echo "upnp_forward_chain=miniupnpd"
    echo "upnp_nat_chain=prerouting_miniupnpd"
    echo "upnp_nat_postrouting_chain=postrouting_miniupnpd"
    echo "lease_file=$dir/upnp.leases"
    echo "uuid=$(cat /proc/sys/kernel/random/uuid)"
    echo "friendly_name=miredo-rs lab gateway $ns"
    if [ -n "${PORTMAP_CONF_EXTRA:-}" ]; then printf '%s\n' "$PORTMAP_CONF_EXTRA"; fi
    echo "allow 1-65535 $cidr 1-65535"
    echo "deny 0-65535 0.0.0.0/0 0-65535"
  } >"$dir/miniupnpd.conf"
  echo "$ns" >"$dir/ns"
  echo "$table" >"$dir/table"
  rm -f "$dir/upnp.leases"
  nft_table "$ns"
  # -d: foreground, log to stderr. ip netns exec execs the loader, which runs miniupnpd in
  # the same process: $! is miniupnpd's PID.
  ip netns exec "$ns" "$root/$libdir/ld-linux-x86-64.so.2" --library-path "$root/$libdir" \
    "$root/usr/sbin/miniupnpd" -f "$dir/miniupnpd.conf" -d -P "$dir/miniupnpd.own.pid" \
    </dev/null >"$dir/miniupnpd.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/miniupnpd.pid"
  local i=0 n=${PORTMAP_WAIT:-100}
  while [ "$i" -lt "$n" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -20 "$dir/miniupnpd.log" >&2
      stop "$dir"
      die "miniupnpd exited at start in $ns (log above, $dir/miniupnpd.log)"
    fi
    if ip netns exec "$ns" ss -Hlun "sport = :5351" | grep -q . &&
      ip netns exec "$ns" ss -Hltn "sport = :$http_port" | grep -q .; then
      echo "portmap.sh: miniupnpd PID $pid in $ns: PCP/NAT-PMP $in_ip:5351, UPnP http://$in_ip:$http_port/rootDesc.xml, external $out_if ($ext_ip)"
      return 0
    fi
    sleep 0.1
    i=$((i + 1))
  done
  tail -20 "$dir/miniupnpd.log" >&2
  stop "$dir"
  die "miniupnpd in $ns did not listen on 5351/udp and $http_port/tcp within $((n / 10)) s (log above)"
}

stop() {
  [ $# -eq 1 ] || die "usage: portmap.sh stop STATEDIR"
  local dir=$1 pid ns tbl
  [ -d "$dir" ] || die "no state directory $dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/miniupnpd.pid" ]; then
    pid=$(cat "$dir/miniupnpd.pid")
    if is_ours "$dir" "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      if ! wait_for 50 eval "! kill -0 $pid"; then
        echo "portmap.sh: miniupnpd PID $pid ignored SIGTERM for 5 s: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        wait_for 20 eval "! kill -0 $pid" || die "miniupnpd PID $pid does not exit"
      fi
    fi
    rm -f "$dir/miniupnpd.pid"
  fi
  # miniupnpd leaves its rules behind on exit: remove its table.
  if [ -f "$dir/ns" ]; then
    ns=$(cat "$dir/ns")
    tbl=$(cat "$dir/table" 2>/dev/null || echo "$table")
    if ip netns exec "$ns" nft list table inet "$tbl" >/dev/null 2>&1; then
      ip netns exec "$ns" nft delete table inet "$tbl"
    fi
  fi
}

rules() {
  [ $# -ge 1 ] || die "usage: portmap.sh rules NS [--raw]"
  local ns=$1
  if [ "${2:-}" = --raw ]; then
    ip netns exec "$ns" nft list table inet "$table"
    return
  fi
  # miniupnpd writes e.g.: iif "wan" @nh,72,8 0x11 th dport 40000 dnat ip to 100.64.1.2:3544
  ip netns exec "$ns" nft list chain inet "$table" prerouting_miniupnpd |
    awk '/dnat/ {
      proto = "?"; port = "?"; to = "?"
      for (i = 1; i <= NF; i++) {
        if ($i == "0x11") proto = "udp"; else if ($i == "0x06" || $i == "0x6") proto = "tcp"
        if ($i == "dport") port = $(i + 1)
        if ($i == "to") to = $(i + 1)
      }
      print proto, port, to
    }'
}

pcp() {
  [ $# -ge 5 ] || die "usage: portmap.sh pcp NS SERVER INTERNAL_PORT EXTERNAL_PORT LIFETIME [NONCE_HEX]"
  ip netns exec "$1" python3 - "${@:2}" <<'EOF'
import ipaddress, os, socket, struct, sys
server, iport, eport, life = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
nonce = bytes.fromhex(sys.argv[5]) if len(sys.argv) > 5 else os.urandom(12)
v4m = lambda a: b"\0" * 10 + b"\xff\xff" + ipaddress.IPv4Address(a).packed
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((server, 5351))
# RFC 6887 §7.1 request header (version 2, opcode MAP=1) + §11.1 MAP payload (protocol UDP).
req = struct.pack("!BBHI16s", 2, 1, 0, life, v4m(s.getsockname()[0]))
req += nonce + struct.pack("!B3xHH16s", 17, iport, eport, v4m("0.0.0.0"))
for timeout in (0.25, 0.5, 1, 2):   # RFC 6887 §8.1.1-style retransmission, bounded
    s.send(req)
    s.settimeout(timeout)
    try:
        r = s.recv(1100)
        break
    except socket.timeout:
        pass
else:
    print("error=timeout")
    sys.exit(1)
ver, op, res, lt, epoch = struct.unpack("!BBxBII", r[:12])
print("version=%d\nopcode=0x%02x\nresult=%d\nlifetime=%d\nepoch=%d" % (ver, op, res, lt, epoch))
if len(r) >= 60:
    n, proto, ip_, ep, ea = struct.unpack("!12sB3xHH16s", r[24:60])
    ext = ipaddress.IPv6Address(ea).ipv4_mapped or ipaddress.IPv6Address(ea)
    print("nonce=%s\nnonce_ok=%s\nprotocol=%d\ninternal_port=%d\nexternal=%s:%d"
          % (n.hex(), n == nonce, proto, ip_, ext, ep))
sys.exit(0 if res == 0 else 2)
EOF
}

case "${1:-}" in
  prepare) prepare ;;
  start) start "${@:2}" ;;
  stop) stop "${@:2}" ;;
  rules) rules "${@:2}" ;;
  pcp) pcp "${@:2}" ;;
  *) die "usage: portmap.sh prepare | start NS INSIDE_IF OUTSIDE_IF INSIDE_CIDR STATEDIR | stop STATEDIR | rules NS [--raw] | pcp NS SERVER IPORT EPORT LIFETIME [NONCE]" ;;
esac
