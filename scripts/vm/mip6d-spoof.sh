#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_spoof.rs: what the home agent forwards of
# the tunnelled packets sent to it (RFC 6275 §10.4.5: the outer source must be
# the registered care-of address of the inner source's home address). The MN
# registers from link A; then crafted ip6ip6 packets (scripts/vm/tunnel-probe.py)
# go from link A's router to the HA, each carrying a UDP datagram for the CN, which counts
# what arrives by its tag:
#   genuine  outer source the CoA, inner source the home address;
#   outer    outer source another address of link A, inner source the home address;
#   inner    outer source the CoA, inner source another home-link address.
# VM_HA_DATAPATH picks the HA's datapath. Facts: sent.N, cn.TAG (datagrams the
# CN received), ha.datapath (the HA's log line naming it).
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mip6d_lab_up a
mip6d_wait_mn_on_link_a
vm_fact lab up

PROBE="$VM_REPO/scripts/vm/tunnel-probe.py"
PORT=9
N=5
mip6d_ha_conf
mip6d_mn_conf
mip6d_start_ha
vm_fact_log ha.datapath ha-d 'tunnel datapath' 5
mip6d_start_mn
vm_fact_log ha.ba ha-d 'BA to 2001:db8:1::100 via 2001:db8:a:.*status 0' 30
coa=$(vm_wait_addr mn eth-a "$VM_A_PREFIX" 5) || vm_die "the MN has no CoA"
vm_fact coa "$coa"

vm_spawn cn-sink cn python3 -S "$PROBE" sink "$PORT" "$VM_LAB/cn-udp.txt"
# The sink is bound once `ss` lists its port.
wait_for 50 sh -c "ip netns exec cn ss -Hlun 'sport = :$PORT' | grep -q ." ||
  vm_die "the CN's UDP sink did not start: $(vm_log_of cn-sink)"

# From the router of link A (the way the MN's packets take): the MN's own XFRM
# policies would rewrite crafted packets sent from its namespace.
send() { # TAG OUTER_SRC INNER_SRC
  vm_ns rtr python3 -S "$PROBE" send "$2" "$VM_HA_ADDR" "$3" "$VM_CN_ADDR" "$PORT" "$1" "$N"
}
send genuine "$coa" "$HOA"
send outer 2001:db8:a::dead "$HOA"
send inner "$coa" 2001:db8:1::999
# The genuine datagrams arrive (bounded wait), and with them anything forwarded
# before them: the HA forwards in order of arrival.
send last "$coa" "$HOA"
wait_for 100 grep -q '^last$' "$VM_LAB/cn-udp.txt" ||
  vm_die "no genuine tunnelled datagram reached the CN"
vm_fact sent "$N"
for tag in genuine outer inner; do
  vm_fact "cn.$tag" "$(grep -c "^$tag\$" "$VM_LAB/cn-udp.txt" || true)"
done
mip6d_stop mn-d
mip6d_stop ha-d
vm_topology_down
vm_fact finished yes
