#!/usr/bin/env bash
# Benchmark (guest side; scripts/vm.sh run scripts/vm/mip6d-bench-restart.sh [N]): a
# restart of our home agent with NonVolatileBindingCache holding N bindings (default
# 200). `mh_send bulk` registers N simulated mobile nodes from the home link (as
# mip6d-bench-ha.sh; their BAs go into a dummy device), the file is awaited with N
# bindings in it, the HA is stopped with SIGTERM and started again. The last node's
# care-of address is made real: a namespace `far` behind a veth from the HA holds it,
# with an ip6ip6 tunnel to the HA carrying the node's home address, so the
# correspondent's ping to that home address is answered while the binding is
# installed. Measured: the file's size, the time SIGTERM takes (kernel state removed,
# the file written once more), and from the new start (no BU sent): the time until
# the correspondent's ping to the last node's home address (the last restored) is
# answered, and until the log line that says N bindings are restored (each: an ip6ip6
# tunnel, a route, a proxy entry, an unsolicited NA). VM_BENCH_DATAPATH (shared or
# per-binding) is written into the configuration as `HaTunnelDatapath`.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
CACHE=/var/lib/mip6d/binding-cache
mh_send_check
vm_in_guest
mip6d_check_binary
n=${1:-200}
mip6d_bulk_lab_up 2001:db8:a::1:0/112
rm -f "$CACHE"
datapath=()
[ -n "${VM_BENCH_DATAPATH:-}" ] && datapath=("HaTunnelDatapath $VM_BENCH_DATAPATH;")
mip6d_ha_conf "HaMaxBindings $((n > 10000 ? n : 10000));" 'NonVolatileBindingCache enabled;' "${datapath[@]}"
sed -i 's/^DebugLevel 10;/DebugLevel 1;/' "$VM_LAB/ha.conf"
mip6d_start_ha
sent=$(vm_ns mn "$MH_SEND" bulk eth-home "$VM_HA_ADDR" "$n" 1 900 1000)
echo "mip6d-bench-restart: sender: $sent"
saved() {
  local c
  c=$(grep -c '^binding ' "$CACHE" 2>/dev/null) || true
  echo "${c:-0}"
}
deadline=$((SECONDS + n / 5 + 120))
until [ "$(saved)" -ge "$n" ] || [ "$SECONDS" -ge "$deadline" ]; do
  sleep 1
done
[ "$(saved)" -ge "$n" ] || vm_die "only $(saved) of $n bindings saved"
echo "mip6d-bench-restart: file: $(saved) bindings, $(stat -c %s "$CACHE") bytes"
# The last node, for real: its care-of address in `far`, reached from the HA over a
# veth (link-local next hops, no DAD), decapsulating what the HA tunnels to it and
# answering from its home address through a tunnel back to the HA.
last_hoa=$(printf '2001:db8:1::1:%x' $((n - 1)))
last_coa=$(printf '2001:db8:a::1:%x' $((n - 1)))
ip netns add far
ip netns exec far sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
ip link add far0 netns ha type veth peer name eth0 netns far
ip -n ha link set far0 up
ip -n ha -6 addr add fe80::1/64 dev far0 nodad
ip -n ha -6 route add "$last_coa/128" via fe80::2 dev far0
ip -n far link set lo up
ip -n far link set eth0 up
ip -n far -6 addr add fe80::2/64 dev eth0 nodad
ip -n far -6 addr add "$last_coa/128" dev eth0 nodad
ip -n far -6 route add "$VM_HA_ADDR/128" via fe80::1 dev eth0
ip -n far link add tnl type ip6tnl mode ip6ip6 local "$last_coa" remote "$VM_HA_ADDR"
ip -n far link set tnl up
ip -n far -6 addr add "$last_hoa/128" dev tnl nodad
ip -n far -6 route add "$VM_C_PREFIX/64" dev tnl
wait_for 50 vm_ns cn ping -6 -n -c 1 -W 0.2 "$last_hoa" >/dev/null ||
  vm_die "the CN's ping to $last_hoa is not answered before the restart"
t0=$(date +%s.%N)
# Not mip6d_stop's 10 s: removing a thousand tunnels takes longer under TCG.
vm_stop ha-d TERM 300 || vm_die "the HA did not exit cleanly on SIGTERM"
echo "mip6d-bench-restart: SIGTERM to exit with $n bindings: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
mv "$VM_LAB/ha-d.log" "$VM_LAB/ha-d-first.log"
t0=$(date +%s.%N)
vm_spawn ha-d ha "$MIP6D" -c "$VM_LAB/ha.conf"
deadline=$((SECONDS + n / 5 + 60))
until vm_ns cn ping -6 -n -c 1 -W 0.2 "$last_hoa" >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "the CN's ping to $last_hoa was not answered after the restart"
done
echo "mip6d-bench-restart: start to the CN's ping to the last restored home address answered: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s (BUs received: $(vm_count_log ha-d 'BA to'))"
line=$(vm_wait_log ha-d 'restored [0-9]+ bindings, skipped [0-9]+' $((n / 5 + 60))) ||
  vm_die "no restore line"
t1=$(date +%s.%N)
echo "mip6d-bench-restart: ${line#*: }"
echo "mip6d-bench-restart: start to all $n restored: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s ($(awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) * 1000 / n }') ms per binding)"
echo "mip6d-bench-restart: tunnels: $(ip -n ha -o link show type ip6tnl | grep -c .), proxy entries: $(ip -n ha -6 neigh show proxy | grep -c .)"
vm_stop ha-d TERM 300 || echo "mip6d-bench-restart: the HA took over 300 s to exit"
rm -f "$CACHE"
ip netns del far
vm_topology_down
