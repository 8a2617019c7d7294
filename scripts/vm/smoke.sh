#!/usr/bin/env bash
# The rig's smoke test (guest side; tests/tests/vm_smoke.rs runs it through
# scripts/vm.sh run). Proves the guest kernel has what mip6d needs and that the lab of
# guest-lib.sh comes up: MIPv6 XFRM states, ip6ip6 tunnel, MH raw socket, SLAAC from
# the access router, routing to the CN, the home agent's RA, and a link change.
# Each check prints one "smoke: ok ..." line; the first failure exits non-zero.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
vm_in_guest

started=$(date +%s.%N)
ok() { echo "smoke: ok $* [$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }')]"; }

echo "smoke: kernel $(uname -r)"
vm_load_modules
ok "modules ip6_tunnel tunnel6 xfrm_user loaded"

# The host kernel refuses these (EPROTONOSUPPORT) for want of CONFIG_IPV6_MIP6.
hoa=2001:db8:1::100 coa=2001:db8:a::100
ip netns add mip6-probe
vm_ns mip6-probe ip xfrm state add src "$hoa" dst "$VM_CN_ADDR" proto route2 mode ro coa "$coa" ||
  vm_die "the kernel rejects a proto route2 mode ro XFRM state"
vm_ns mip6-probe ip xfrm state add src "$VM_CN_ADDR" dst "$hoa" proto hao mode ro coa "$coa" ||
  vm_die "the kernel rejects a proto hao mode ro XFRM state"
[ "$(vm_ns mip6-probe ip xfrm state | grep -c 'mode ro')" -eq 2 ] ||
  vm_die "the RO states are not listed: $(vm_ns mip6-probe ip xfrm state)"
ok "xfrm route2 and hao states in mode ro"

vm_ns mip6-probe ip -6 tunnel add ip6tnl1 mode ip6ip6 local "$hoa" remote "$VM_HA_ADDR" ||
  vm_die "cannot create an ip6ip6 tunnel"
vm_ns mip6-probe ip -d link show ip6tnl1 | grep -q 'ip6tnl ip6ip6' ||
  vm_die "ip6tnl1 is not an ip6ip6 tunnel: $(vm_ns mip6-probe ip -d link show ip6tnl1)"
ok "ip6ip6 tunnel created"

vm_ns mip6-probe python3 -S -c '
import socket
socket.socket(socket.AF_INET6, socket.SOCK_RAW, 135).close()
' || vm_die "cannot open a raw socket for the Mobility Header (protocol 135)"
ok "raw socket for protocol 135 opened"
ip netns del mip6-probe

vm_topology_up a
mn_a=$(vm_wait_addr mn eth-a "$VM_A_PREFIX" 15) || vm_die "the MN got no SLAAC address on link A"
ok "mn slaac on link A: $mn_a"
vm_wait_default_route mn eth-a 10 || vm_die "the MN has no default route on link A"
vm_ping mn "$VM_CN_ADDR" >/tmp/ping-a.txt || vm_die "MN -> CN ping failed from link A: $(cat /tmp/ping-a.txt)"
ok "ping mn -> cn from link A"

# The helpers mip6d's VM tests use: a background process with its log, and the kernel
# state dumps compared before start and after stop.
vm_spawn cn-ping cn ping -6 -n -i 0.2 "$mn_a"
vm_wait_log cn-ping 'bytes from' 10 >/dev/null || vm_die "CN -> MN ping got no answer"
vm_stop cn-ping INT 5 || vm_die "ping did not exit 0 on SIGINT (status $?): $(vm_log_of cn-ping)"
ok "background process: cn -> mn ping answered, stopped by SIGINT"
before=$(vm_kernel_state mn) || vm_die "vm_kernel_state failed"
vm_ns mn ip -6 tunnel add ip6tnl9 mode ip6ip6 local "$mn_a" remote "$VM_HA_ADDR"
vm_ns mn ip -6 rule add from "$hoa" table 252 priority 1001
vm_ns mn ip xfrm state add src "$hoa" dst "$VM_CN_ADDR" proto route2 mode ro coa "$mn_a"
during=$(vm_kernel_state mn)
for what in 'ip6tnl9: ipv6/ipv6' "from $hoa lookup 252" 'proto route2'; do
  grep -qF "$what" <<<"$during" || vm_die "the state dump misses '$what': $during"
done
vm_ns mn ip xfrm state flush
vm_ns mn ip -6 rule del from "$hoa" table 252 priority 1001
vm_ns mn ip -6 tunnel del ip6tnl9
after=$(vm_kernel_state mn)
[ "$after" = "$before" ] || vm_die "state dump differs after undoing: $(diff <(echo "$before") <(echo "$after"))"
ok "kernel state dump sees tunnel, rule and xfrm state, and is equal once they are gone"

# The home agent's RA, seen by the MN on the home link.
vm_mn_attach home
ra=$(vm_ra_probe mn eth-home 5) || vm_die "no RA from the home agent on the home link"
while IFS= read -r line; do echo "smoke: home ra: $line"; done <<<"$ra"
echo "$ra" | grep -q 'H=1' || vm_die "the home agent's RA has no H flag"
echo "$ra" | grep -q "^prefix ${VM_HA_ADDR}/64 .*R=1" || vm_die "the home prefix option lacks the HA's address with R=1"
echo "$ra" | grep -q '^ha-info preference 10 lifetime 1800' || vm_die "no Home Agent Information option"
ok "home agent RA with H flag, router address and HA info"
vm_mn_detach home

# A link change: off A, onto B.
vm_mn_move b
mn_b=$(vm_wait_addr mn eth-b "$VM_B_PREFIX" 15) || vm_die "the MN got no SLAAC address on link B"
ok "mn slaac on link B after the move: $mn_b"
vm_wait_default_route mn eth-b 10 || vm_die "the MN has no default route on link B"
# The default routes learnt on the links left behind stay (linkdown) until their RA
# lifetime ends; moving them is mip6d's work, not the lab's: send out of eth-b.
vm_ping mn "$VM_CN_ADDR" 3 eth-b >/tmp/ping-b.txt ||
  vm_die "MN -> CN ping failed from link B: $(cat /tmp/ping-b.txt)"
ok "ping mn -> cn from link B"

vm_topology_down
[ -z "$(ip netns list)" ] || vm_die "namespaces left after vm_topology_down: $(ip netns list)"
ok "lab torn down"
echo "smoke: all checks passed"
