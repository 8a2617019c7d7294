#!/usr/bin/env bash
# scripts/bench-ha.sh: the home agent with many mobile nodes, on both tunnel
# datapaths (`HaTunnelDatapath per-binding` and `shared`), in the VM rig, with the
# figures side by side.
#
# Usage: scripts/bench-ha.sh [--nodes N] [--rate R] [--rounds K] [--profile release|debug]
#                            [--datapaths "per-binding shared"] [--no-restart]
#   --nodes N      simulated mobile nodes (default 10000)
#   --rate R       new-binding BUs per second (default 1000)
#   --rounds K     refresh rounds at N bindings (default 3)
#   --profile      which build the guest runs (default release)
#   --datapaths    which datapaths, in this order (default both; `default` writes no
#                  HaTunnelDatapath line, so the configuration's default applies)
#   --no-restart   leave out the restart benchmark (NonVolatileBindingCache, 1 and N)
#
# For each datapath: scripts/vm/mip6d-bench-ha.sh N R (time until all N are installed,
# HA CPU per new binding, refresh rate at N, SIGHUP, SIGTERM and the kernel state
# after it), then scripts/vm/mip6d-bench-restart.sh with 1 and with N bindings (time
# from the restarted HA's start until the correspondent's ping to a home address is
# answered, no BU sent). Needs root and scripts/deps.sh; each VM run's whole output is
# kept in a temporary directory whose path is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=10000 rate=1000 rounds=3 profile=release datapaths="per-binding shared" restart=1
while [ $# -gt 0 ]; do
  case $1 in
  --nodes) nodes=$2; shift 2 ;;
  --rate) rate=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --profile) profile=$2; shift 2 ;;
  --datapaths) datapaths=$2; shift 2 ;;
  --no-restart) restart=; shift ;;
  *) sed -n '6,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench-ha.sh: run as root" >&2; exit 1; }
flag=
[ "$profile" = release ] && flag=--release
cargo build $flag -p mip6d --bins >&2
cargo build $flag -p mip6d -p mip6 --example mh_send >&2
out=$(mktemp -d)
echo "bench-ha: $nodes nodes at $rate BU/s on: $datapaths ($profile build); outputs in $out" >&2

# Runs one guest script for DATAPATH into $out/NAME.log: vm_run DATAPATH NAME SCRIPT ARGS...
vm_run() {
  local datapath=$1 name=$2
  shift 2
  echo "bench-ha: $name ($datapath)" >&2
  [ "$datapath" = default ] && datapath=
  VM_BENCH_DATAPATH=$datapath VM_BIN_DIR=$PWD/target/$profile VM_BENCH_ROUNDS=$rounds \
    VM_TIMEOUT=$((1200 + nodes / 4)) VM_MEM=$((nodes > 3000 ? 2048 : 1024)) \
    scripts/vm.sh run "$@" >"$out/$name-${datapath:-default}.log" 2>&1 ||
    echo "bench-ha: $name (${datapath:-default}) failed, see $out/$name-${datapath:-default}.log" >&2
}

# The text after PREFIX on the first line of FILE that has it (or "-").
field() {
  local v
  v=$(grep -m1 -F -- "$2" "$1" 2>/dev/null | sed "s/.*$2//") || true
  echo "${v:--}"
}

for d in $datapaths; do
  vm_run "$d" ha scripts/vm/mip6d-bench-ha.sh "$nodes" "$rate"
  if [ -n "$restart" ]; then
    vm_run "$d" restart-1 scripts/vm/mip6d-bench-restart.sh 1
    vm_run "$d" restart-n scripts/vm/mip6d-bench-restart.sh "$nodes"
  fi
done

rows=(
  "all N installed|ha|mip6d-bench-ha: new bindings: "
  "HA CPU per new binding|ha|mip6d-bench-ha: HA CPU per new binding: "
  "refreshes at N (median)|ha|mip6d-bench-ha: refreshes, median of $rounds rounds: "
  "SIGHUP at N|ha|mip6d-bench-ha: SIGHUP to reload applied with "
  "SIGTERM at N|ha|mip6d-bench-ha: SIGTERM to exit with "
  "kernel state after SIGTERM|ha|mip6d-bench-ha: kernel state after SIGTERM: "
  "restart, 1 binding: ping answered|restart-1|answered: "
  "restart, N bindings: ping answered|restart-n|answered: "
  "restart, N bindings: all restored|restart-n|mip6d-bench-restart: start to all "
)
printf '\n| %s (N = %s) |' "measure" "$nodes"
for d in $datapaths; do printf ' %s |' "$d"; done
printf '\n|---|'
for _ in $datapaths; do printf -- '---|'; done
printf '\n'
for row in "${rows[@]}"; do
  IFS='|' read -r label name prefix <<<"$row"
  [ -z "$restart" ] && [ "$name" != ha ] && continue
  printf '| %s |' "$label"
  for d in $datapaths; do printf ' %s |' "$(field "$out/$name-$d.log" "$prefix")"; done
  printf '\n'
done
