#!/usr/bin/env bash
# scripts/bench-seed.sh: the seed scenario's handover benchmark, in the VM rig.
#
# Usage: scripts/bench-seed.sh [--runs N] [--impl ours|debian|both] [--profile release|debug]
#                              [--record]
#   --runs N       IPv4 network changes per implementation (default 10)
#   --impl         the mobile node's miredo: ours (on D-Bus with mip6d), debian
#                  (/usr/sbin/miredo, netlink only), or both in the same VM run (default)
#   --profile      which build of our binaries the guest runs (default release)
#   --record       append the table, date and command to docs/benchmarks.md
#
# The mobile node (our mip6d) is on an IPv4-only network with its Teredo care-of address
# registered; each run moves wlan0 to the other IPv4 network (new private address, new
# NAT). From the moment the new network is configured (its default route) the guest
# measures: the BA for the new Teredo CoA (mip6d's HandoverCompleted signal), the new
# Teredo address, and the traffic outage a correspondent sees pinging the home address
# every 50 ms. See scripts/vm/seed-bench.sh; needs root and scripts/deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10 impl=both profile=release record=
while [ $# -gt 0 ]; do
  case $1 in
  --runs) runs=$2; shift 2 ;;
  --impl) impl=$2; shift 2 ;;
  --profile) profile=$2; shift 2 ;;
  --record) record=1; shift ;;
  *) sed -n '4,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
case $impl in ours | debian) impls=$impl ;; both) impls="ours debian" ;; *) echo "bad --impl $impl" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "bench-seed.sh: run as root" >&2; exit 1; }

flag=
[ "$profile" = release ] && flag=--release
cargo build $flag -p miredo -p mip6d --bins >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "bench-seed: $runs runs each of: $impls ($profile build), in the VM; this takes minutes" >&2
VM_BIN_DIR=$PWD/target/$profile VM_TIMEOUT=$((600 + runs * 200)) \
  scripts/vm.sh run scripts/vm/seed-bench.sh "$impls" "$runs" | tee "$out" | grep '^seed-bench:' >&2

# median and max of one metric for one implementation ("never" counts as the maximum).
stats() {
  local impl=$1 key=$2
  grep "^seed-bench: $impl run " "$out" | grep -o " $key=[^ ]*" | cut -d= -f2 |
    awk '$1 == "never" { never++; next } { v[n++] = $1 }
      END {
        if (n == 0) { print "– | –"; exit }
        for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        med = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
        max = never ? "never (" never ")" : sprintf("%.2f", v[n - 1])
        printf "%.2f | %s\n", med, max
      }'
}

table=$(
  echo "| mobile node's miredo | runs | BA for the new CoA, median / max (s) | new Teredo address, median / max (s) | CN ping outage, median / max (s) |"
  echo "|---|---|---|---|---|"
  for i in $impls; do
    n=$(grep -c "^seed-bench: $i run " "$out" || true)
    name=$i
    [ "$i" = ours ] && name="ours (D-Bus + netlink)"
    [ "$i" = debian ] && name="Debian's 1.2.6 (netlink only)"
    echo "| $name | $n | $(stats "$i" ba | sed 's/ | / \/ /') | $(stats "$i" addr | sed 's/ | / \/ /') | $(stats "$i" outage | sed 's/ | / \/ /') |"
  done
)
echo "$table"
if [ -n "$record" ]; then
  {
    echo
    echo "### Seed scenario: IPv4 network change → BA ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, VM under TCG)"
    echo
    echo "Command: \`scripts/bench-seed.sh --runs $runs --impl $impl --profile $profile\`"
    echo
    echo "$table"
  } >>docs/benchmarks.md
  echo "bench-seed: recorded in docs/benchmarks.md" >&2
fi
