#!/usr/bin/env bash
# Guest side of tests/tests/vm_mip6d_restart.rs: the home agent with
# NonVolatileBindingCache restarted under a registered mobile node.
#  1. The MN registers from link A (HaMaxBindingLife 24: a 24 s binding); the
#     HA's binding cache file holds the binding. The MN is frozen (SIGSTOP: its
#     kernel state stays, it can send no BU), the HA stopped with SIGTERM (it
#     removes its kernel state, writes the file once more) and started again:
#     the binding is back (tunnel, route, proxy entry) and the CN's ping to the
#     home address is answered with no BU received; the time from the HA's
#     start to the first answered ping is reported.
#     Then the HA is killed (SIGKILL) and its binding's kernel state removed, as by
#     a crash and a reboot: the next start restores the binding from the file.
#  2. The binding expires at the restarted HA; the file saved in 1, its entry
#     now expired, is put back: the next start restores nothing.
#  3. The file with one byte changed, then cut short: each is reported and the
#     HA starts empty.
# What it sees goes out as "fact KEY=VALUE" lines; the Rust test decides.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
CACHE=/var/lib/mip6d/binding-cache
mip6d_lab_up a
mip6d_wait_mn_on_link_a
vm_fact lab up
# The guest's root is a throw-away overlay: this is the guest's own file.
rm -f "$CACHE"

mip6d_ha_conf 'NonVolatileBindingCache enabled;' 'HaMaxBindingLife 24;'
mip6d_mn_conf
ha_before=$(vm_kernel_state ha)

# Starts the home agent as mip6d_start_ha does, with its log kept per run.
start_ha() {
  [ -e "$VM_LAB/ha-d.log" ] && mv "$VM_LAB/ha-d.log" "$VM_LAB/ha-d-$1.log"
  mip6d_start_ha
}

# --- 1. register, freeze the MN, restart the HA -----------------------------------
start_ha first
mip6d_start_mn
vm_fact_log ha.ba ha-d 'BA to 2001:db8:1::100 via 2001:db8:a:.*status 0' 30
wait_for 50 grep -q "^binding $HOA " "$CACHE" || vm_die "no binding written to $CACHE"
vm_fact_lines saved.file "$(cat "$CACHE")"
vm_fact saved.mode "$(stat -c %a "$CACHE")"
mn_pid=$(cat "$VM_LAB/mn-d.pid")
kill -STOP "$mn_pid"
mip6d_stop ha-d
vm_fact_log saved.at_exit ha-d 'binding cache saved to /var/lib/mip6d/binding-cache \(1 bindings\)' 1
vm_fact stopped.proxy "$(ip -n ha -6 neigh show proxy)"
cp "$CACHE" "$VM_LAB/cache.saved"
mv "$VM_LAB/ha-d.log" "$VM_LAB/ha-d-first.log"

started=$(date +%s.%N)
vm_spawn ha-d ha "$MIP6D" -c "$VM_LAB/ha.conf"
deadline=$((SECONDS + 15))
until vm_ns cn ping -6 -n -c 1 -W 0.2 "$HOA" >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "the CN's ping was not answered 15 s after the restart"
done
vm_fact restore.first_ping_ms "$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", (b - a) * 1000 }')"
vm_fact_log restore.restored ha-d 'binding 2001:db8:1::100 -> 2001:db8:a:.* restored' 5
vm_fact_log restore.summary ha-d 'restored [0-9]+ bindings, skipped [0-9]+' 5
vm_fact restore.bu_received "$(vm_count_log ha-d 'BU from|BA to|refreshed')"
vm_fact_lines restore.proxy "$(ip -n ha -6 neigh show proxy)"
vm_fact_lines restore.route "$(ip -n ha -6 route show)"
vm_fact_lines restore.tunnel "$(ip -n ha -6 tunnel show)"
vm_ping_fact restore.ping cn "$HOA" 3

# --- 1b. killed with SIGKILL: what it wrote before is restored ------------------------
# A crash and a reboot: the HA killed, its binding's tunnel and proxy entry gone with
# the kernel's state, proxy_ndp back to its boot value (the rules and XFRM state it
# left are taken over, and removed at exit, by the next start).
ha_pid=$(cat "$VM_LAB/ha-d.pid")
kill -KILL "$ha_pid"
wait "$ha_pid" 2>/dev/null || true
# (The shared datapath's one device, or the per-binding devices' group.)
if ip -n ha link show mip6tnl >/dev/null 2>&1; then
  ip -n ha link del mip6tnl
else
  ip -n ha link del group 6275
fi
ip -n ha -6 neigh del proxy "$HOA" dev eth0
vm_ns ha sysctl -qw net.ipv6.conf.eth0.proxy_ndp=0
vm_fact killed.proxy "$(ip -n ha -6 neigh show proxy)"
mv "$VM_LAB/ha-d.log" "$VM_LAB/ha-d-restored.log"
vm_spawn ha-d ha "$MIP6D" -c "$VM_LAB/ha.conf"
vm_fact_log killed.summary ha-d 'restored [0-9]+ bindings, skipped [0-9]+' 10
vm_ping_fact killed.ping cn "$HOA" 3

# --- 2. an expired binding is not restored -----------------------------------------
# The restarted HA lets it expire (the MN stays frozen)...
vm_fact_log expire.at_ha ha-d 'binding 2001:db8:1::100 .* expired' 30
mip6d_stop ha-d
# ...and the file from before, whose entry has expired too, is not restored.
expires=$(awk '$1 == "binding" { print $8 }' "$VM_LAB/cache.saved")
vm_fact expire.now_after "$(($(date +%s) >= expires))"
cp "$VM_LAB/cache.saved" "$CACHE"
start_ha expired
vm_fact_log expire.skipped ha-d 'binding 2001:db8:1::100 .* not restored: expired' 5
vm_fact_log expire.summary ha-d 'restored [0-9]+ bindings, skipped [0-9]+' 5
vm_fact expire.proxy "$(ip -n ha -6 neigh show proxy)"
mip6d_stop ha-d

# --- 3. a changed or truncated file is reported and ignored --------------------------
sed 's/^binding 2001:db8:1::100 /binding 2001:db8:1::101 /' "$VM_LAB/cache.saved" >"$CACHE"
start_ha corrupt
vm_fact_log corrupt.reported ha-d "$CACHE: checksum mismatch.*starting with an empty binding cache" 5
vm_fact corrupt.proxy "$(ip -n ha -6 neigh show proxy)"
mip6d_stop ha-d
head -c 80 "$VM_LAB/cache.saved" >"$CACHE"
start_ha truncated
vm_fact_log truncated.reported ha-d "$CACHE: truncated.*starting with an empty binding cache" 5
mip6d_stop ha-d
mip6d_state_fact ha.state_at_end "$ha_before" "$(vm_kernel_state ha)"

# The frozen MN is ours; the lab's namespaces and what it set up go with it.
kill -KILL "$mn_pid"
wait "$mn_pid" 2>/dev/null || true
rm -f "$VM_LAB/mn-d.pid" "$CACHE"
vm_topology_down
vm_fact finished yes
