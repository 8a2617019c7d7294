#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_nemo.rs: NEMO (RFC 3963; docs/protocol-notes.md#nemo)
# on the lab of guest-lib.sh. The mobile node is a mobile router (`IsMobRtr enabled`,
# mobile network prefix 2001:db8:5::/64 in explicit mode) with a host behind it (namespace
# mnn on int0); the home agent accepts mobile routers (`HaAcceptMobRtr enabled`) and
# authorizes the prefix for its home address (`BindingAclPolicy`); the router of the home
# link routes the prefix to the MR's home address, as README.NEMO asks.
#  1. The MR registers from link A with its prefix: BA status 0; rules 1000 (to MNP ->
#     main) and 1005 (from MNP -> 252) on the MR; the prefix routed into the tunnel in
#     the HA's table 252 (metric 192).
#  2. The CN reaches the host behind the MR, and back, through the home tunnel.
#  3. After SIGTERM both nodes' kernel state equals the one before start.
#  4. Started again, the MR moves to link B: the mobile network is still reached.
# The script drives the lab and reports what it saw as "fact KEY=VALUE" lines;
# tests/tests/vm_mip6d_nemo.rs decides whether that is right.
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
mip6d_wait_mn_on_link_a
vm_fact lab up


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
vm_fact_log mr.registered mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 30
vm_fact_log ha.binding ha-d 'binding 2001:db8:1::100 -> 2001:db8:a:.* installed' 5
vm_fact_lines mr.rule "$(ip -n mn -6 rule show)"
vm_fact_lines ha.table252 "$(ip -n ha -6 route show table 252)"
vm_ping_fact ping.cn_to_mnn cn "$MNN" 5
vm_ping_fact ping.mnn_to_cn mnn "$VM_CN_ADDR" 3

mip6d_stop mn-d
vm_fact_log ha.deregistered ha-d 'binding 2001:db8:1::100 .* deregistered' 5
mip6d_stop ha-d
mip6d_state_fact mr.state_after_stop "$mn_before" "$(vm_kernel_state mn)"
mip6d_state_fact ha.state_after_stop "$ha_before" "$(vm_kernel_state ha)"

mip6d_start_ha
mip6d_start_mn
vm_fact_log mr.registered_again mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 30
vm_mn_move b
vm_fact_log mr.handover_b mn-d 'handover completed: 2001:db8:a:.* -> 2001:db8:b:' 30
vm_ping_fact ping.cn_to_mnn_b cn "$MNN" 5
mip6d_stop mn-d
mip6d_stop ha-d
ip netns del mnn
vm_topology_down
vm_fact finished yes
