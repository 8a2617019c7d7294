#!/usr/bin/env bash
# Benchmark (guest side; scripts/vm.sh run scripts/vm/mip6d-bench-restart.sh [N]): a
# restart of our home agent with NonVolatileBindingCache holding N bindings (default
# 200). `mh_send bulk` registers N simulated mobile nodes from the home link (as
# mip6d-bench-ha.sh; their BAs go into a dummy device), the file is awaited with N
# bindings in it, the HA is stopped with SIGTERM and started again. Measured: the
# file's size, the time SIGTERM takes (kernel state removed, the file written once
# more), and the time from the new start to the log line that says N bindings are
# restored (each: an ip6ip6 tunnel, a route, a proxy entry, an unsolicited NA).
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
vm_load_modules
export VM_HOME_VALID_LIFETIME=7200
vm_topology_up home
mkdir -p "$VM_LAB"
ip -n ha -batch - <<EOF
link add sink type dummy
link set dev sink up
route add 2001:db8:a::1:0/112 dev sink
EOF
rm -f "$CACHE"
mip6d_ha_conf "HaMaxBindings $((n > 10000 ? n : 10000));" 'NonVolatileBindingCache enabled;'
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
t0=$(date +%s.%N)
# Not mip6d_stop's 10 s: removing a thousand tunnels takes longer under TCG.
vm_stop ha-d TERM 300 || vm_die "the HA did not exit cleanly on SIGTERM"
echo "mip6d-bench-restart: SIGTERM to exit with $n bindings: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
mv "$VM_LAB/ha-d.log" "$VM_LAB/ha-d-first.log"
t0=$(date +%s.%N)
vm_spawn ha-d ha "$MIP6D" -c "$VM_LAB/ha.conf"
line=$(vm_wait_log ha-d 'restored [0-9]+ bindings, skipped [0-9]+' $((n / 5 + 60))) ||
  vm_die "no restore line"
t1=$(date +%s.%N)
echo "mip6d-bench-restart: ${line#*: }"
echo "mip6d-bench-restart: start to all $n restored: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s ($(awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) * 1000 / n }') ms per binding)"
echo "mip6d-bench-restart: tunnels: $(ip -n ha -o link show type ip6tnl | grep -c .), proxy entries: $(ip -n ha -6 neigh show proxy | grep -c .)"
vm_stop ha-d TERM 300 || echo "mip6d-bench-restart: the HA took over 300 s to exit"
rm -f "$CACHE"
vm_topology_down
