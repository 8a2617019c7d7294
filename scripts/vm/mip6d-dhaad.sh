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
# The script drives the lab and waits for what its next step needs; what it
# sees goes out as "fact KEY=VALUE" lines and tests/tests/vm_mip6d_dhaad.rs
# decides whether that is right.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mip6d_lab_up a
mip6d_wait_mn_on_link_a
vm_fact lab up

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

# Reports fact KEY: yes if NS has joined the home-agents anycast address, else
# no: anycast_fact KEY NS.
anycast_fact() {
  if ip netns exec "$2" cat /proc/net/anycast6 | grep -q "$ANYCAST_HEX"; then
    vm_fact "$1" yes
  else
    vm_fact "$1" no
  fi
}

mip6d_ha_conf 'MinMobPfxAdvInterval 1;' 'MaxMobPfxAdvInterval 2;'
dhaad_mn_conf
ha_before=$(vm_kernel_state ha)
mn_before=$(vm_kernel_state mn)

# --- 1. one home agent found by DHAAD -----------------------------------------
mip6d_start_ha
vm_fact_log ha.anycast_joined ha-d 'home agents anycast 2001:db8:1:0:fdff:ffff:ffff:fffe joined on eth0' 10
anycast_fact ha.anycast ha
vm_fact_log ha.lists_itself ha-d "home agent $VM_HA_ADDR \(preference 10\) listed on eth0" 10
mip6d_start_mn
vm_fact_log mn.dhaad_request mn-d 'DHAAD request [0-9]+ from 2001:db8:a:.* to 2001:db8:1:0:fdff:ffff:ffff:fffe' 20
vm_fact_log mn.dhaad_reply mn-d "DHAAD reply [0-9]+ from $VM_HA_ADDR: home agents \[" 20
vm_fact_log mn.registered mn-d "registered: $HOA via 2001:db8:a:.* with $VM_HA_ADDR" 20
vm_ping_fact ping1 cn "$HOA" 5
mip6d_stop mn-d
vm_fact_log ha.deregistered ha-d "binding $HOA .* deregistered" 5
mip6d_stop ha-d
anycast_fact ha.anycast_after_stop ha
mip6d_state_fact mn.state_after_stop "$mn_before" "$(vm_kernel_state mn)"
mip6d_state_fact ha.state_after_stop "$ha_before" "$(vm_kernel_state ha)"

# --- 2. MnResetDhaadAtHome -----------------------------------------------------
dhaad_mn_conf 'MnResetDhaadAtHome enabled;'
mip6d_start_ha
mip6d_start_mn
vm_fact_log reset.registered mn-d "registered: $HOA via 2001:db8:a:.* with $VM_HA_ADDR" 30
vm_mn_move home
vm_fact_log reset.deregistered mn-d "deregistered from $VM_HA_ADDR" 30
vm_fact_log reset.forgotten mn-d "home agent $VM_HA_ADDR forgotten \(MnResetDhaadAtHome\)" 5
requests=$(vm_count_log mn-d 'DHAAD request')
vm_mn_move a
deadline=$((SECONDS + 30))
until [ "$(vm_count_log mn-d 'DHAAD request')" -gt "$requests" ] &&
  [ "$(vm_count_log mn-d "registered: $HOA via 2001:db8:a:")" -ge 2 ]; do
  [ "$SECONDS" -lt "$deadline" ] || break
  sleep 0.2
done
vm_fact reset.requests_at_home "$requests"
vm_fact reset.requests_after "$(vm_count_log mn-d 'DHAAD request')"
vm_fact reset.registrations_a "$(vm_count_log mn-d "registered: $HOA via 2001:db8:a:")"
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
  vm_fact_log "two.$d.lists_ha2" "$d" "home agent $HA2_ADDR \(preference 20\) listed" 10
  vm_fact_log "two.$d.lists_ha" "$d" "home agent $VM_HA_ADDR \(preference 10\) listed" 10
done
mip6d_start_mn
vm_fact_log two.dhaad_reply mn-d "DHAAD reply [0-9]+ from .*: home agents \[" 30
vm_fact_log two.registered mn-d "registered: $HOA via 2001:db8:a:.* with " 20
vm_fact_log two.ha2_ba ha2-d "BA to $HOA via 2001:db8:a:.*status 0" 5
vm_ping_fact ping3 cn "$HOA" 5
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
vm_fact_log refused.by_ha2 mn-d "home agent $HA2_ADDR refused the binding: status 129" 30
vm_fact_log refused.next mn-d "Home registration failed with HA $HA2_ADDR, trying next one" 5
vm_fact_log refused.registered mn-d "registered: $HOA via 2001:db8:a:.* with " 20
vm_ping_fact ping4 cn "$HOA" 5
mip6d_stop mn-d

# --- 5. mobile prefix discovery -------------------------------------------------
# A lifetime request above the home prefix's preferred lifetime (120 s) gets BA
# status 1: the MN solicits the home prefixes at once (RFC 6275 §11.4.2).
dhaad_mn_conf 'MnMaxHaBindingLife 200;'
# (Only XFRM: routes the kernel learnt at home in part 2 expire on their own.)
mn_xfrm_before=$(ip -n mn xfrm policy list ptype sub; ip -n mn xfrm policy list)
mip6d_start_mn
vm_fact_log mpd.ba_status_1 mn-d "BA from $VM_HA_ADDR: status 1 " 40
vm_fact_log mpd.mps mn-d "MPS [0-9]+ from $HOA to $VM_HA_ADDR" 10
vm_fact_log mpd.ha_mpa ha-d "MPS [0-9]+ from $HOA: MPA with " 10
vm_fact_log mpd.mn_prefix mn-d "MPA [0-9]+: prefix 2001:db8:1::/64 valid [0-9]+ s preferred [0-9]+ s" 10
vm_fact_lines mpd.mn_policy "$(ip -n mn xfrm policy list ptype sub)"

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
vm_fact_log unsol.learned ha-d "home prefix $NEW_PREFIX/64 learned on eth0" 15
vm_fact_log unsol.mpa ha-d "unsolicited MPA [0-9]+ to $HOA: .*$NEW_PREFIX/64" 10
vm_fact_log unsol.solicit mn-d "MPA [0-9]+ was not solicited: soliciting" 10
vm_fact_log unsol.ha_mpa ha-d "MPS [0-9]+ from $HOA: MPA with .*$NEW_PREFIX/64" 10
vm_fact_log unsol.mn_prefix mn-d "MPA [0-9]+: prefix $NEW_PREFIX/64 valid [0-9]+ s preferred [0-9]+ s" 10
mip6d_stop mn-d
mip6d_state_fact mn.xfrm_after_stop "$mn_xfrm_before" "$(ip -n mn xfrm policy list ptype sub; ip -n mn xfrm policy list)"
mip6d_stop ha2-d
mip6d_stop ha-d
mip6d_state_fact ha.state_at_end "$ha_before" "$(vm_kernel_state ha)"
vm_stop_radvd ha2
ip netns del ha2
vm_topology_down
vm_fact finished yes
