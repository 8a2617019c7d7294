#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d.rs:
#  1. The home agent's refusals: 129 for a home address its BindingAclPolicy
#     denies, 132 for a home address outside its home prefixes, 135 for a
#     sequence number older than the binding's (BUs crafted by
#     `mh_send bu` on the home link).
#  2. An interface marked `Tunnel enabled` (tnl0, on link B, no RA accepted,
#     its address and default route set by this script as a tunnel daemon's
#     hook would) becomes the CoA because its MnIfPreference (1) beats eth-a's
#     (2), and goes back to eth-a when its address goes; mip6d never sends a
#     Router Solicitation on it.
# The script drives the lab and waits for what its next step needs; what it
# sees goes out as "fact KEY=VALUE" lines and tests/tests/vm_mip6d.rs decides
# whether that is right.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mh_send_check
mip6d_lab_up home
vm_wait_addr mn eth-home "$VM_HOME_PREFIX" 20 >/dev/null || vm_die "the MN got no address on the home link"
vm_fact lab up

# --- 1. status codes --------------------------------------------------------
send_bu() {
  vm_ns mn "$MH_SEND" bu eth-home "$@" >/dev/null ||
    vm_die "mh_send bu $* failed"
}
mip6d_ha_conf 'BindingAclPolicy 2001:db8:1::300 deny;'
mip6d_start_ha
coa=2001:db8:a::99
send_bu 2001:db8:1::300 "$VM_HA_ADDR" "$coa" 7 15
vm_fact_log refused.acl ha-d 'BU from 2001:db8:1::300 .*refused: status ' 10
send_bu 2001:db8:99::1 "$VM_HA_ADDR" "$coa" 7 15
vm_fact_log refused.foreign ha-d 'BU from 2001:db8:99::1 .*refused: status ' 10
send_bu 2001:db8:1::200 "$VM_HA_ADDR" "$coa" 100 15
vm_fact_log accepted ha-d 'BA to 2001:db8:1::200 via 2001:db8:a::99: status 0 seq 100' 10
send_bu 2001:db8:1::200 "$VM_HA_ADDR" "$coa" 50 15
vm_fact_log refused.old_seq ha-d 'BU from 2001:db8:1::200 .*seq 50\) refused: status ' 10
send_bu 2001:db8:1::200 "$VM_HA_ADDR" "$coa" 101 0
vm_fact_log deregistered ha-d 'binding 2001:db8:1::200 .* deregistered' 10
# A binding nobody refreshes: 2 units = 8 s, then the HA removes it.
send_bu 2001:db8:1::201 "$VM_HA_ADDR" "$coa" 1 2
vm_fact_log short.installed ha-d 'binding 2001:db8:1::201 -> 2001:db8:a::99 installed' 10
vm_fact_lines short.proxy "$(ip -n ha -6 neigh show proxy)"
vm_fact_log short.expired ha-d 'binding 2001:db8:1::201 \(CoA 2001:db8:a::99\) expired' 15
vm_fact_lines short.proxy_after "$(ip -n ha -6 neigh show proxy)"
kill -HUP "$(cat "$VM_LAB/ha-d.pid")"
vm_fact_log reloaded ha-d 'configuration .*ha.conf reloaded' 10
mip6d_stop ha-d

# --- 2. a Tunnel interface ---------------------------------------------------
# tnl0 stands for a tunnel daemon's interface: no SLAAC or RA processing by the
# kernel, addresses and routes from "its hook" (this script).
vm_ns mn sysctl -qw net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.default.autoconf=0
# (Not vm_plug: its switch port would be named mn-b, which eth-b's already is.)
ip link add name tnl0 netns mn type veth peer name mntnl-b netns sw
ip -n sw link set dev mntnl-b master br-b up
ip -n mn link set dev tnl0 up
vm_ns mn sysctl -qw net.ipv6.conf.default.accept_ra=1 net.ipv6.conf.default.autoconf=1
mip6d_ha_conf
mip6d_mn_conf 'Interface "tnl0" { Tunnel enabled; MnIfPreference 1; }'
sed -i 's/Interface "eth-home" { MnIfPreference 1; }/Interface "eth-home" { MnIfPreference 3; }/' "$VM_LAB/mn.conf"
vm_mn_move a
vm_wait_addr mn eth-a "$VM_A_PREFIX" 20 >/dev/null || vm_die "the MN got no address on link A"
# The "tunnel daemon" installed its default route before mip6d starts (via the
# router's link-local address: tnl0 has no global address yet).
rtr_b_ll=$(ip -n rtr -6 -o addr show dev b scope link | awk '{ split($4, a, "/"); print a[1]; exit }')
[ -n "$rtr_b_ll" ] || vm_die "no link-local address on rtr:b"
vm_fact tnl.router "$rtr_b_ll"
vm_ns mn ip -6 route add default via "$rtr_b_ll" dev tnl0 metric 100
mip6d_start_ha
mip6d_start_mn
vm_fact_log tnl.registered_a mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 30
vm_fact_lines tnl.default_route "$(ip -n mn -6 route show default dev tnl0)"
vm_ns mn ip -6 addr add 2001:db8:b::77/64 dev tnl0 nodad
vm_fact_log tnl.coa mn-d 'handover completed: 2001:db8:a:.* -> 2001:db8:b::77' 20
vm_ping_fact tnl.ping cn "$HOA" 3
vm_ns mn ip -6 addr del 2001:db8:b::77/64 dev tnl0
vm_fact_log tnl.back_to_a mn-d 'handover completed: 2001:db8:b::77 -> 2001:db8:a:' 20
vm_fact tnl.rs_on_tnl0 "$(vm_count_log mn-d 'RS sent on tnl0')"
vm_fact tnl.rs_on_eth_a "$(vm_count_log mn-d 'RS sent on eth-a')"
mip6d_stop mn-d
mip6d_stop ha-d
vm_topology_down
vm_fact finished yes
