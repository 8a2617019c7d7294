#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_dhaad.rs: dynamic home agent address
# discovery (RFC 6275 §10.5, §11.4.1) between mip6d mobile node and home agents
# on the lab of guest-lib.sh; the MN's configuration has no HomeAgentAddress.
#  1. One HA: it joins the home-agents anycast address; the MN's DHAAD request
#     from its CoA on link A is answered with [the HA], the MN registers with it
#     and the CN's ping to the home address is answered; after SIGTERM the
#     anycast address is gone and both nodes' kernel state equals the one before.
#  2. MnResetDhaadAtHome: home, the HA is forgotten; back on A, DHAAD again.
#  3. A second HA (ha2, 2001:db8:1::3) on the home link whose radvd advertises
#     preference 20 (the first: 10): the reply lists ::3 first and the MN
#     registers with ::3; the CN's ping is answered through it.
#  4. ha2 refuses every binding (status 129): the MN moves on to the next
#     candidate, ::2, and registers there.
#  5. Mobile prefix discovery: BA status 1 (lifetime above the home prefix's
#     preferred lifetime) makes the MN solicit; the HA's MPA lists the home prefix.
#  6. A second prefix on the home link: the HA sends the registered MN an
#     unsolicited MPA (MinMobPfxAdvInterval 1, MaxMobPfxAdvInterval 2); the MN
#     solicits, and the HA's answer lists both prefixes.
# Each check prints "mip6d: ok ..."; the first failure exits non-zero.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mip6d_lab_up a
mip6d_wait_mn_on_link_a
ok "lab up, MN on link A"

HA2_ADDR=2001:db8:1::3
# RFC 2526 home-agents anycast of 2001:db8:1::/64, as /proc/net/anycast6 spells it.
ANYCAST_HEX=20010db800010000fdfffffffffffffe

# The MN's configuration without HomeAgentAddress (DHAAD); extra top-level lines
# come as arguments.
dhaad_mn_conf() {
  {
    echo 'NodeConfig MN;'
    echo 'DebugLevel 10;'
    echo 'UseMnHaIPsec disabled;'
    echo 'InterfaceInitialInitDelay 0.5;'
    echo 'MnMaxHaBindingLife 60;'
    echo 'Interface "eth-home" { MnIfPreference 1; }'
    echo 'Interface "eth-a" { MnIfPreference 2; }'
    echo 'Interface "eth-b" { MnIfPreference 3; }'
    for line in "$@"; do echo "$line"; done
    echo 'MnHomeLink "eth-home" {'
    echo "  HomeAddress $HOA/64;"
    echo '}'
  } >"$VM_LAB/mn.conf"
}

anycast_joined() {
  ip netns exec "$1" cat /proc/net/anycast6 | grep -q "$ANYCAST_HEX"
}

mip6d_ha_conf 'MinMobPfxAdvInterval 1;' 'MaxMobPfxAdvInterval 2;'
dhaad_mn_conf
ha_before=$(vm_kernel_state ha)
mn_before=$(vm_kernel_state mn)

# --- 1. one home agent found by DHAAD -----------------------------------------
mip6d_start_ha
vm_wait_log ha-d 'home agents anycast 2001:db8:1:0:fdff:ffff:ffff:fffe joined on eth0' 10 >/dev/null ||
  vm_die "the HA did not join the home-agents anycast address"
anycast_joined ha || vm_die "no anycast address in ha's /proc/net/anycast6: $(ip netns exec ha cat /proc/net/anycast6)"
vm_wait_log ha-d "home agent $VM_HA_ADDR \(preference 10\) listed on eth0" 10 >/dev/null ||
  vm_die "the HA did not list itself from its radvd's RA"
ok "the HA joined the home-agents anycast address and lists itself (preference 10)"
mip6d_start_mn
vm_wait_log mn-d 'DHAAD request [0-9]+ from 2001:db8:a:.* to 2001:db8:1:0:fdff:ffff:ffff:fffe' 20 >/dev/null ||
  vm_die "the MN sent no DHAAD request from link A"
ok_log mn-d "DHAAD reply [0-9]+ from $VM_HA_ADDR: home agents \[$VM_HA_ADDR\]" 20 "the MN got no DHAAD reply listing the HA"
vm_wait_log mn-d "registered: $HOA via 2001:db8:a:.* with $VM_HA_ADDR" 20 >/dev/null ||
  vm_die "the MN did not register with the HA it found"
vm_ping cn "$HOA" 5 >"$VM_LAB/ping1.txt" || vm_die "CN -> HoA ping not answered: $(cat "$VM_LAB/ping1.txt")"
ok "registered with the HA found by DHAAD; CN -> home address ping: $(grep -o '[0-9]* received' "$VM_LAB/ping1.txt")"
mip6d_stop mn-d
vm_wait_log ha-d "binding $HOA .* deregistered" 5 >/dev/null || vm_die "the MN did not deregister at exit"
mip6d_stop ha-d
if anycast_joined ha; then vm_die "anycast address left after SIGTERM: $(ip netns exec ha cat /proc/net/anycast6)"; fi
mip6d_same_state mn "$mn_before" "$(vm_kernel_state mn)"
mip6d_same_state ha "$ha_before" "$(vm_kernel_state ha)"
ok "after SIGTERM the anycast address is gone and the kernel state of MN and HA equals the state before"

# --- 2. MnResetDhaadAtHome -----------------------------------------------------
dhaad_mn_conf 'MnResetDhaadAtHome enabled;'
mip6d_start_ha
mip6d_start_mn
vm_wait_log mn-d "registered: $HOA via 2001:db8:a:.* with $VM_HA_ADDR" 30 >/dev/null || vm_die "MN not registered on A"
vm_mn_move home
vm_wait_log mn-d "deregistered from $VM_HA_ADDR" 30 >/dev/null || vm_die "no deregistration at home"
ok_log mn-d "home agent $VM_HA_ADDR forgotten \(MnResetDhaadAtHome\)" 5 "the MN did not forget the HA at home"
requests=$(grep -c 'DHAAD request' "$VM_LAB/mn-d.log")
vm_mn_move a
deadline=$((SECONDS + 30))
until [ "$(grep -c 'DHAAD request' "$VM_LAB/mn-d.log")" -gt "$requests" ]; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "no new DHAAD request after leaving home: $(tail -20 "$VM_LAB/mn-d.log")"
  sleep 0.2
done
deadline=$((SECONDS + 30))
until [ "$(grep -c "registered: $HOA via 2001:db8:a:" "$VM_LAB/mn-d.log")" -ge 2 ]; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "no new registration after leaving home: $(tail -20 "$VM_LAB/mn-d.log")"
  sleep 0.2
done
ok "MnResetDhaadAtHome: back on link A the MN ran DHAAD again and registered"
mip6d_stop mn-d
mip6d_stop ha-d

# --- 3. two home agents: the preferred one is chosen ---------------------------
ip netns add ha2
vm_plug ha2 eth0 home
ip netns exec ha2 sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.forwarding=1
ip -n ha2 -batch - <<EOF
link set dev lo up
address add $HA2_ADDR/64 dev eth0 nodad
route add default via $VM_RTR_HOME dev eth0
EOF
sed -e 's/HomeAgentPreference 10;/HomeAgentPreference 20;/' -e "s|prefix $VM_HA_ADDR/64|prefix $HA2_ADDR/64|" \
  "$VM_LAB/radvd-ha.conf" >"$VM_LAB/radvd-ha2.conf"
grep -q 'HomeAgentPreference 20;' "$VM_LAB/radvd-ha2.conf" || vm_die "radvd-ha2.conf: preference not rewritten"
vm_start_radvd ha2 "$VM_LAB/radvd-ha2.conf"
cp "$VM_LAB/ha.conf" "$VM_LAB/ha2.conf"
mip6d_start_ha
vm_spawn ha2-d ha2 "$MIP6D" -c "$VM_LAB/ha2.conf"
vm_wait_log ha2-d 'home prefix 2001:db8:1::/64 learned on eth0' 20 >/dev/null || vm_die "ha2 did not learn the home prefix"
for d in ha-d ha2-d; do
  vm_wait_log "$d" "home agent $HA2_ADDR \(preference 20\) listed" 10 >/dev/null || vm_die "$d does not list ha2"
  vm_wait_log "$d" "home agent $VM_HA_ADDR \(preference 10\) listed" 10 >/dev/null || vm_die "$d does not list ha"
done
ok "both home agents list $HA2_ADDR (preference 20) and $VM_HA_ADDR (preference 10)"
mip6d_start_mn
ok_log mn-d "DHAAD reply [0-9]+ from .*: home agents \[$HA2_ADDR, $VM_HA_ADDR\]" 30 "the DHAAD reply does not list both HAs in preference order"
vm_wait_log mn-d "registered: $HOA via 2001:db8:a:.* with $HA2_ADDR" 20 >/dev/null ||
  vm_die "the MN did not register with the preferred HA $HA2_ADDR"
vm_wait_log ha2-d "BA to $HOA via 2001:db8:a:.*status 0" 5 >/dev/null || vm_die "no BA from ha2"
vm_ping cn "$HOA" 5 >"$VM_LAB/ping3.txt" || vm_die "CN -> HoA ping via ha2 not answered: $(cat "$VM_LAB/ping3.txt")"
ok "registered with the preferred HA $HA2_ADDR; CN -> home address ping: $(grep -o '[0-9]* received' "$VM_LAB/ping3.txt")"
mip6d_stop mn-d
mip6d_stop ha2-d

# --- 4. the preferred HA refuses: the next candidate ---------------------------
echo 'DefaultBindingAclPolicy 129;' >>"$VM_LAB/ha2.conf"
vm_spawn ha2-d ha2 "$MIP6D" -c "$VM_LAB/ha2.conf"
vm_wait_log ha2-d 'home prefix 2001:db8:1::/64 learned on eth0' 20 >/dev/null || vm_die "ha2 did not learn the home prefix"
for a in "$HA2_ADDR \(preference 20\)" "$VM_HA_ADDR \(preference 10\)"; do
  vm_wait_log ha2-d "home agent $a listed" 10 >/dev/null || vm_die "the restarted ha2 does not list $a"
done
mip6d_start_mn
vm_wait_log mn-d "home agent $HA2_ADDR refused the binding: status 129" 30 >/dev/null ||
  vm_die "the MN saw no refusal from $HA2_ADDR"
ok_log mn-d "Home registration failed with HA $HA2_ADDR, trying next one" 5 "the MN did not move on from the refusing HA"
vm_wait_log mn-d "registered: $HOA via 2001:db8:a:.* with $VM_HA_ADDR" 20 >/dev/null ||
  vm_die "the MN did not register with the next candidate $VM_HA_ADDR"
vm_ping cn "$HOA" 5 >"$VM_LAB/ping4.txt" || vm_die "CN -> HoA ping via ha not answered: $(cat "$VM_LAB/ping4.txt")"
ok "refused by $HA2_ADDR, registered with $VM_HA_ADDR; CN -> home address ping: $(grep -o '[0-9]* received' "$VM_LAB/ping4.txt")"
mip6d_stop mn-d

# --- 5. mobile prefix discovery -------------------------------------------------
# A lifetime request above the home prefix's preferred lifetime (120 s) gets BA
# status 1: the MN solicits the home prefixes at once (RFC 6275 §11.4.2).
dhaad_mn_conf 'MnMaxHaBindingLife 200;'
# (Only XFRM: routes the kernel learnt at home in part 2 expire on their own.)
mn_xfrm_before=$(ip -n mn xfrm policy list ptype sub; ip -n mn xfrm policy list)
mip6d_start_mn
vm_wait_log mn-d "BA from $VM_HA_ADDR: status 1 " 40 >/dev/null || vm_die "no BA with status 1 from $VM_HA_ADDR"
vm_wait_log mn-d "MPS [0-9]+ from $HOA to $VM_HA_ADDR" 10 >/dev/null || vm_die "the MN sent no Mobile Prefix Solicitation"
ok_log ha-d "MPS [0-9]+ from $HOA: MPA with 2001:db8:1::/64" 10 "the HA did not answer the MPS"
ok_log mn-d "MPA [0-9]+: prefix 2001:db8:1::/64 valid [0-9]+ s preferred [0-9]+ s" 10 "the MN did not take the MPA"
policies=$(ip -n mn xfrm policy list ptype sub)
grep -q "proto ipv6-icmp type 146" <<<"$policies" || vm_die "no MPS policy on the MN: $policies"

# --- 6. unsolicited mobile prefix advertisement ----------------------------------
# The home link's radvd gets a second prefix, without the on-link and autonomous
# flags so that no namespace's kernel state changes.
NEW_PREFIX=2001:db8:5::
awk -v p="$NEW_PREFIX" '/^  prefix /{
    print "  prefix " p "/64 {"; print "    AdvOnLink off;"; print "    AdvAutonomous off;"
    print "    AdvValidLifetime 600;"; print "    AdvPreferredLifetime 300;"; print "  };" }
  { print }' "$VM_LAB/radvd-ha.conf" >"$VM_LAB/radvd-ha-2.conf"
vm_stop_radvd ha
vm_start_radvd ha "$VM_LAB/radvd-ha-2.conf"
ok_log ha-d "home prefix $NEW_PREFIX/64 learned on eth0" 15 "the HA did not learn the second prefix"
ok_log ha-d "unsolicited MPA [0-9]+ to $HOA: 2001:db8:1::/64, $NEW_PREFIX/64" 10 "no unsolicited MPA from the HA"
ok_log mn-d "MPA [0-9]+ was not solicited: soliciting" 10 "the MN did not answer the unsolicited MPA"
ok_log ha-d "MPS [0-9]+ from $HOA: MPA with 2001:db8:1::/64, $NEW_PREFIX/64" 10 "the HA did not answer with both prefixes"
ok_log mn-d "MPA [0-9]+: prefix $NEW_PREFIX/64 valid [0-9]+ s preferred [0-9]+ s" 10 "the MN did not take the new prefix"
mip6d_stop mn-d
mip6d_same_state mn-xfrm "$mn_xfrm_before" "$(ip -n mn xfrm policy list ptype sub; ip -n mn xfrm policy list)"
ok "the MN's prefix discovery policies are gone after SIGTERM"
mip6d_stop ha2-d
mip6d_stop ha-d
mip6d_same_state ha "$ha_before" "$(vm_kernel_state ha)"
ok "home agent state restored after SIGTERM"
vm_stop_radvd ha2
ip netns del ha2
vm_topology_down
echo "mip6d: all checks passed"
