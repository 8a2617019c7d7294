#!/usr/bin/env bash
# The main job, end to end, in network namespaces (run as root on Debian 12):
#  1. Teredo: builds miredo-rs, brings up the lab (Debian's miredo-server and relay, a
#     NAT, an IPv6-only host), runs OUR Teredo client behind the NAT, shows its Teredo
#     address decoded, pings the IPv6-only host through the relay, renumbers the
#     client's IPv4 and shows the new address, then tears everything down.
#  2. The seed scenario (docs/mobile-ipv6-over-teredo.md), in the VM rig because the
#     home agent needs a kernel with Mobile IPv6 (scripts/vm.sh): a mobile node with
#     eth0, wlan0 and teredo moves from native IPv6 to an IPv4-only network (Teredo
#     care-of address), to a second IPv4 network, and back, with the CoA, the binding
#     state and the handover times printed as it goes (scripts/vm/seed-demo.sh).
# DEMO_PARTS=1 or DEMO_PARTS=2 runs one part only.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root (network namespaces, TUN)" >&2; exit 1; }

parts=${DEMO_PARTS:-1 2}
./scripts/deps.sh
cargo build --release -p miredo -p mip6d --bins

part2() {
  say "part 2: Mobile IPv6 over Teredo, in the VM (booting Debian 12's kernel: about a minute)"
  VM_BIN_DIR=$PWD/target/release VM_TIMEOUT=600 ./scripts/vm.sh run scripts/vm/seed-demo.sh
}
say() { printf '\n== %s\n' "$*"; }
case " $parts " in *" 1 "*) ;; *) part2; exit 0 ;; esac

P=demo$$
lab() { ./scripts/lab.sh --prefix "$P" "$@"; }
trap 'lab down >/dev/null 2>&1 || true' EXIT

decode() { # Teredo address -> "server S, flags F, mapped IP:PORT" (RFC 4380 §4)
  local a=$1 h
  h=$(python3 -c 'import ipaddress,sys; print(ipaddress.IPv6Address(sys.argv[1]).exploded.replace(":",""))' "$a")
  local srv=$((16#${h:8:8})) flags=${h:16:4} port=$((16#${h:20:4} ^ 0xffff)) ip=$((16#${h:24:8} ^ 0xffffffff))
  printf 'server %d.%d.%d.%d, flags 0x%s, mapped %d.%d.%d.%d:%d\n' \
    $((srv >> 24 & 255)) $((srv >> 16 & 255)) $((srv >> 8 & 255)) $((srv & 255)) "$flags" \
    $((ip >> 24 & 255)) $((ip >> 16 & 255)) $((ip >> 8 & 255)) $((ip & 255)) "$port"
}
addr_of() { lab exec cl1 ip -6 -o addr show dev teredo scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1; }
wait_addr() { # wait until the address differs from $1; print it
  local old=$1 a
  for _ in $(seq 1 200); do a=$(addr_of); if [ -n "$a" ] && [ "$a" != "$old" ]; then echo "$a"; return 0; fi; sleep 0.05; done
  echo "no Teredo address after 10 s" >&2; lab log ours | xargs tail -20 >&2; return 1
}

say "lab: Teredo server 192.0.2.1/.2, relay 198.51.100.1, IPv6-only host 2001:db8:1::1, client 198.18.1.10 behind a NAT (203.0.113.1)"
lab up --nats port >/dev/null
lab start-debian-server >/dev/null
lab start-debian-relay >/dev/null

say "our miredo (client mode), built-in hook (no /etc/miredo/client-hook needed)"
conf=$(lab state-dir)/demo-miredo.conf
printf 'InterfaceName teredo\nServerAddress 192.0.2.1\n' >"$conf"
t0=$(date +%s%N)
lab start cl1 ours "$PWD/target/release/miredo" -f -p "$(lab state-dir)/ours.pid" -c "$conf" --client-hook /nonexistent >/dev/null
a=$(wait_addr "")
echo "Teredo address $a configured after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
echo "decoded: $(decode "$a")"
lab exec cl1 ip -6 addr show dev teredo

say "ping the IPv6-only host through Debian's relay"
lab exec cl1 ping -6 -c 3 -i 0.2 2001:db8:1::1

say "renumber the client's IPv4 (198.18.1.10 -> 198.18.1.20): miredo notices at its next refresh; ours at once"
t0=$(date +%s%N)
lab client-ip 1 198.18.1.20
b=$(wait_addr "$a")
echo "new Teredo address $b after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
echo "decoded: $(decode "$b")"
lab exec cl1 ping -6 -c 2 -i 0.2 2001:db8:1::1

say "our daemon's log"
lab stop ours >/dev/null || true
cat "$(lab log ours)"
say "tearing down"
lab down >/dev/null 2>&1 || true
case " $parts " in *" 2 "*) part2 ;; esac
