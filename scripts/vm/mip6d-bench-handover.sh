#!/usr/bin/env bash
# Benchmark (guest side; run with scripts/vm.sh run scripts/vm/mip6d-bench-handover.sh [N]):
# link switch -> Binding Acknowledgement for the new care-of address, N times
# (default 10), alternating between foreign links A and B. The clock starts when
# the switch ports change and stops when mip6d logs "handover completed"; it
# covers the kernel's RS/RA, SLAAC and DAD on the new link, mip6d's movement
# detection, the tunnel and XFRM update, and the BU/BA round trip.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
vm_in_guest
mip6d_check_binary
runs=${1:-10}
vm_load_modules
vm_topology_up a
mkdir -p "$VM_LAB"
vm_wait_addr mn eth-a "$VM_A_PREFIX" 20 >/dev/null || vm_die "the MN got no address on link A"
mip6d_ha_conf
mip6d_mn_conf
mip6d_start_ha
mip6d_start_mn
vm_wait_log mn-d 'registered: 2001:db8:1::100 via 2001:db8:a:' 30 >/dev/null || vm_die "MN not registered on A"
times=()
for i in $(seq 1 "$runs"); do
  if [ $((i % 2)) -eq 1 ]; then to=b; else to=a; fi
  t0=$(date +%s.%N)
  vm_mn_move "$to"
  deadline=$((SECONDS + 30))
  until [ "$(grep -c 'handover completed' "$VM_LAB/mn-d.log")" -ge "$i" ]; do
    [ "$SECONDS" -lt "$deadline" ] || vm_die "handover $i (to link $to) did not complete"
    sleep 0.02
  done
  t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  times+=("$t")
  echo "mip6d-bench: handover $i to link $to: ${t}s"
  sleep 1
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
min=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
max=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)
echo "mip6d-bench: link switch -> BA: median ${median}s, min ${min}s, max ${max}s over $runs handovers"
mip6d_stop mn-d
mip6d_stop ha-d
vm_topology_down
