#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_nemo.rs: NEMO (RFC 3963; umip.md §4.4) on the lab
# of guest-lib.sh. The mobile node is a mobile router (`IsMobRtr enabled`, mobile network
# prefix 2001:db8:5::/64 in explicit mode) with a host behind it (namespace mnn on
# int0); the home agent accepts mobile routers (`HaAcceptMobRtr enabled`) and authorizes
# the prefix for its home address (`BindingAclPolicy`); the router of the home link
# routes the prefix to the MR's home address, as README.NEMO asks.
#  1. The MR registers from link A with its prefix: BA status 0; rules 1000 (to MNP ->
#     main) and 1005 (from MNP -> 252) on the MR; the prefix routed into the tunnel in
#     the HA's table 252 (metric 192).
#  2. The CN reaches the host behind the MR, and back, through the home tunnel.
#  3. After SIGTERM both nodes' kernel state equals the one before start.
#  4. Started again, the MR moves to link B: the mobile network is still reached.
# Each check prints "mip6d: ok ..."; the first failure exits non-zero.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mip6d_lab_up a
MNP=2001:db8:5::
MNN=2001:db8:5::2

# The mobile network: int0 on the MR, the host mnn behind it. The MR forwards (UMIP
# leaves that to the user) and keeps taking RAs on its egress links (accept_ra 2).
ip netns add mnn
ip link add name int0 netns mn type veth peer name eth0 netns mnn
ip -n mn link set dev int0 up
ip -n mn addr add "${MNP}1/64" dev int0 nodad
ip -n mnn link set dev lo up
ip -n mnn link set dev eth0 up
ip -n mnn addr add "$MNN/64" dev eth0 nodad
ip -n mnn route add default via "${MNP}1" dev eth0
ip netns exec mn sysctl -qw net.ipv6.conf.all.forwarding=1 \
  net.ipv6.conf.eth-a.accept_ra=2 net.ipv6.conf.eth-b.accept_ra=2 net.ipv6.conf.eth-home.accept_ra=2
# The home link's router sends the mobile network to the MR's home address.
ip -n rtr route add "${MNP}/64" via "$HOA" dev home
vm_wait_addr mn eth-a "$VM_A_PREFIX" 20 >/dev/null || vm_die "the MR got no address on link A"
vm_wait_default_route mn eth-a 10 || vm_die "no default route on link A"
ok "lab up: MR on link A, host $MNN behind it"

# The HA routes only prefixes an ACL entry authorizes the router for (RFC 3963
# §6.2; docs/compat.md "Home agent admission").
mip6d_ha_conf 'HaAcceptMobRtr enabled;' "BindingAclPolicy $HOA (${MNP}/64) allow;"
# shellcheck disable=SC2119 # no extra lines
mip6d_mn_conf
sed -i -e "s|  HomeAddress $HOA/64;|  HomeAddress $HOA/64 (${MNP}/64);\\n  IsMobRtr enabled;|" "$VM_LAB/mn.conf"
grep -q 'IsMobRtr enabled;' "$VM_LAB/mn.conf" || vm_die "mn.conf not rewritten: $(cat "$VM_LAB/mn.conf")"
ha_before=$(vm_kernel_state ha)
mn_before=$(vm_kernel_state mn)

# --- 1. registration with the mobile network prefix ---------------------------------
mip6d_start_ha
mip6d_start_mn
vm_wait_log mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 30 >/dev/null || vm_die "MR not registered"
vm_wait_log ha-d 'binding 2001:db8:1::100 -> 2001:db8:a:.* installed' 5 >/dev/null || vm_die "no binding on the HA"
rules=$(ip -n mn -6 rule show)
grep -q "^1000:.*from all to ${MNP}/64 lookup main" <<<"$rules" || vm_die "no rule 1000 to the MNP on the MR: $rules"
grep -q "^1005:.*from ${MNP}/64 lookup 252" <<<"$rules" || vm_die "no rule 1005 from the MNP on the MR: $rules"
routes=$(ip -n ha -6 route show table 252)
grep -q "^${MNP}/64 dev ip6tnl[0-9]* .*metric 192" <<<"$routes" || vm_die "no MNP route in the HA's table 252: $routes"
ok "registered with ${MNP}/64: rules 1000/1005 on the MR, the prefix routed into the HA's tunnel"

# --- 2. the CN reaches the mobile network ----------------------------------------------
vm_ping cn "$MNN" 5 >"$VM_LAB/ping-mnn.txt" || vm_die "CN -> $MNN not answered: $(cat "$VM_LAB/ping-mnn.txt")"
ok "CN -> host behind the MR answered through the home tunnel: $(grep -o '[0-9]* received' "$VM_LAB/ping-mnn.txt")"
vm_ping mnn "$VM_CN_ADDR" 3 >"$VM_LAB/ping-cn.txt" || vm_die "$MNN -> CN not answered: $(cat "$VM_LAB/ping-cn.txt")"
ok "host behind the MR -> CN answered"

# --- 3. clean exit ----------------------------------------------------------------------
mip6d_stop mn-d
vm_wait_log ha-d 'binding 2001:db8:1::100 .* deregistered' 5 >/dev/null || vm_die "the MR did not deregister at exit"
mip6d_stop ha-d
mip6d_same_state mn "$mn_before" "$(vm_kernel_state mn)"
mip6d_same_state ha "$ha_before" "$(vm_kernel_state ha)"
ok "after SIGTERM the kernel state of MR and HA equals the state before start"

# --- 4. the mobile network follows a handover -------------------------------------------
mip6d_start_ha
mip6d_start_mn
vm_wait_log mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 30 >/dev/null || vm_die "MR not registered again"
vm_mn_move b
vm_wait_log mn-d 'handover completed: 2001:db8:a:.* -> 2001:db8:b:' 30 >/dev/null || vm_die "no handover to link B"
vm_ping cn "$MNN" 5 >"$VM_LAB/ping-mnn-b.txt" || vm_die "CN -> $MNN not answered from link B: $(cat "$VM_LAB/ping-mnn-b.txt")"
ok "after a move to link B, CN -> host behind the MR answered"
mip6d_stop mn-d
mip6d_stop ha-d
ip netns del mnn
vm_topology_down
echo "mip6d: all checks passed (nemo)"
