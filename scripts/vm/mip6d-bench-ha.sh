#!/usr/bin/env bash
# Benchmark (guest side; scripts/vm.sh run scripts/vm/mip6d-bench-ha.sh [N] [RATE]): our
# home agent on the kernel datapath with N simulated mobile nodes (default 10000).
# `mh_send bulk` (crates/mip6/examples/mh_send.rs) sends from the home link one home BU per mobile node
# (home address 2001:db8:1::1:<i>, care-of address 2001:db8:a::1:<i>), paced at RATE
# per second (default 1000), then, once every binding is installed, VM_BENCH_ROUNDS
# (default 5) rounds of N refreshing BUs, each as fast as it can. Measured: new
# bindings per second (each one: DAD for the home address, an ip6ip6 tunnel, a route,
# a proxy neighbour entry, the BA), refreshes per second (BA only) and HA CPU per
# refresh in each round and their medians (the shared host makes single runs vary by
# ±50 %), the home agent's RSS and the guest's used memory per binding, the time a
# SIGHUP (configuration unchanged) takes until the HA logs the reload applied, and the
# time SIGTERM takes, with the HA namespace's kernel state after the exit compared to
# the state before the start (VM_BENCH_EXIT=skip leaves the exit out).
# VM_BENCH_DATAPATH (shared or per-binding; unset: the configuration's default) is
# written into the configuration as `HaTunnelDatapath`.
# The BAs to the simulated care-of addresses go into a dummy device in the HA's
# namespace (VM_BENCH_VIA=rtr: through the lab's router instead, see below).
# With VM_PERF=1 the home agent runs under `perf record` (cpu-clock) for
# VM_PERF_SECONDS (default 8) from the first BU, and the report's top lines are
# printed after the refreshes; VM_PERF=all records the whole guest from the first BU,
# VM_PERF=refresh the whole guest from the refreshes' start. `perf record -a` slows
# the guest down (under TCG the install took three times as long with it), so figures
# from a profiled run are not benchmark figures. VM_BENCH_TRACE=1 prints the count
# reached and the HA's CPU ticks at every poll.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
# shellcheck source=scripts/vm/mip6d-lib.sh
. "$(dirname "$0")/mip6d-lib.sh"
mh_send_check
vm_in_guest
mip6d_check_binary
n=${1:-10000}
rate=${2:-1000}
vm_load_modules
# Under TCG ten thousand tunnels take minutes: the home prefix (which caps the
# binding lifetime) and the BUs' lifetimes (units of 4 s) outlast the run.
export VM_HOME_VALID_LIFETIME=7200
units=900
vm_topology_up home
mkdir -p "$VM_LAB"
# The simulated care-of addresses do not exist: routed via the lab's router, every BA
# would make it resolve a phantom neighbour on link A (NS retries, a full neighbour
# table, ICMPv6 errors back), all on the guest's one emulated CPU and partly charged to
# the HA. On a real home agent that is the far routers' work. So, unless VM_BENCH_VIA=rtr,
# the BAs leave the HA into a dummy device, as onto a wire.
if [ "${VM_BENCH_VIA:-sink}" = sink ]; then
  ip -n ha -batch - <<EOF
link add sink type dummy
link set dev sink up
route add 2001:db8:a::1:0/112 dev sink
EOF
fi
# Every simulated mobile node has its own source address, so only the cap on
# bindings (default 10,000) could stand in the way.
datapath=()
[ -n "${VM_BENCH_DATAPATH:-}" ] && datapath=("HaTunnelDatapath $VM_BENCH_DATAPATH;")
echo "mip6d-bench-ha: datapath: ${VM_BENCH_DATAPATH:-default}"
# The snapshot once eth0's link-local address has passed DAD (its local route).
deadline=$((SECONDS + 20))
until ip -n ha -6 -o addr show dev eth0 scope link -tentative | grep -q fe80; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "no link-local address on ha:eth0"
  sleep 0.2
done
state_before=$(vm_kernel_state ha)
mip6d_ha_conf "HaMaxBindings $((n > 10000 ? n : 10000));" "${datapath[@]}"
sed -i 's/^DebugLevel 10;/DebugLevel 1;/' "$VM_LAB/ha.conf"
mip6d_start_ha
pid=$(cat "$VM_LAB/ha-d.pid")
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
avail() { awk '/^MemAvailable/ { print $2 }' /proc/meminfo; }
# Lines matching PATTERN written to the HA's log after byte OFFSET.
count_after() { tail -c +$(($2 + 1)) "$VM_LAB/ha-d.log" | grep -c "$1" || true; }
# The home agent's CPU time so far (user + system), in clock ticks.
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
# Milliseconds of HA CPU per item: per_item TICKS0 TICKS1 COUNT.
per_item() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { printf "%.2f", c ? (b - a) * 1000 / 100 / c : 0 }'; }
# Waits (bounded: TIMEOUT s) until N lines matching PATTERN follow byte OFFSET of the
# HA's log, polling every INTERVAL s; prints the seconds since T0 and the count reached:
# wait_lines PATTERN OFFSET T0 TIMEOUT INTERVAL.
wait_lines() {
  local pattern=$1 offset=$2 t0=$3 interval=$5 c=0 deadline=$((SECONDS + $4))
  while [ "$SECONDS" -lt "$deadline" ]; do
    c=$(count_after "$pattern" "$offset")
    [ "$c" -ge "$n" ] && break
    [ -n "${VM_BENCH_TRACE:-}" ] && echo "mip6d-bench-ha: trace: $SECONDS s: $c, HA CPU $(cpu) ticks" >&2
    sleep "$interval"
  done
  echo "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') $c"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
perf_pid=
perf_start() {
  local target=(-p "$pid")
  [ "$VM_PERF" = 1 ] || target=(-a)
  # For a fixed time (perf's workload form: stopped by SIGINT it recorded
  # nothing here).
  perf record -q -e cpu-clock -F 499 -o "$VM_LAB/perf.data" "${target[@]}" \
    -- sleep "${VM_PERF_SECONDS:-8}" 2>"$VM_LAB/perf.log" &
  perf_pid=$!
}
case ${VM_PERF:-} in 1 | all) perf_start ;; esac
rss0=$(rss) avail0=$(avail) cpu0=$(cpu)

t0=$(date +%s.%N)
sent=$(vm_ns mn "$MH_SEND" bulk eth-home "$VM_HA_ADDR" "$n" 1 "$units" "$rate")
# shellcheck disable=SC2046 # two words
set -- $(wait_lines ' installed (tunnel ' 0 "$t0" $((n / 10 + 120)) 1)
t_new=$1 c_new=$2
rss1=$(rss) avail1=$(avail) cpu1=$(cpu)
echo "mip6d-bench-ha: new bindings: $c_new of $n installed in ${t_new}s (sender: $sent) -> $(awk -v c="$c_new" -v t="$t_new" 'BEGIN { printf "%.0f", c / t }') per s"
echo "mip6d-bench-ha: HA CPU per new binding: $(per_item "$cpu0" "$cpu1" "$c_new") ms"
echo "mip6d-bench-ha: memory: HA RSS $rss0 -> $rss1 kB ($(awk -v a="$rss0" -v b="$rss1" -v c="$c_new" 'BEGIN { printf "%.0f", (b - a) * 1024 / (c ? c : 1) }') B per binding); guest used $(( (avail0 - avail1) / 1024 )) MB ($(awk -v a="$avail0" -v b="$avail1" -v c="$c_new" 'BEGIN { printf "%.1f", (a - b) / (c ? c : 1) }') kB per binding, kernel included)"
echo "mip6d-bench-ha: tunnels: $(ip -n ha -o link show type ip6tnl | grep -c .)"

[ "${VM_PERF:-}" = refresh ] && perf_start
rounds=${VM_BENCH_ROUNDS:-5}
rates='' cpu_ms=''
for r in $(seq 1 "$rounds"); do
  # Round r's BUs carry sequence number r + 1; the HA's BA line names it.
  pattern=" seq $((r + 1)) lifetime "
  offset=$(stat -c %s "$VM_LAB/ha-d.log")
  cpu_a=$(cpu)
  t0=$(date +%s.%N)
  sent=$(vm_ns mn "$MH_SEND" bulk eth-home "$VM_HA_ADDR" "$n" $((r + 1)) "$units" 0)
  # shellcheck disable=SC2046 # two words
  set -- $(wait_lines "$pattern" "$offset" "$t0" $((n / 20 + 120)) 0.25)
  t_ref=$1 c_ref=$2 cpu_b=$(cpu)
  rate=$(awk -v c="$c_ref" -v t="$t_ref" 'BEGIN { printf "%.0f", c / t }')
  ms=$(per_item "$cpu_a" "$cpu_b" "$c_ref")
  echo "mip6d-bench-ha: refresh round $r: $c_ref of $n answered in ${t_ref}s (sender: $sent) -> $rate per s; HA CPU $ms ms per refresh"
  rates="$rates $rate" cpu_ms="$cpu_ms $ms"
done
rate=$(tr ' ' '\n' <<<"$rates" | grep . | median)
ms=$(tr ' ' '\n' <<<"$cpu_ms" | grep . | median)
echo "mip6d-bench-ha: refreshes, median of $rounds rounds: $rate per s; HA CPU $ms ms per refresh -> $(awk -v m="$ms" 'BEGIN { printf "%.0f", (m > 0 ? 1000 / m : 0) }') refreshes per CPU-second"
echo "mip6d-bench-ha: HA CPU: $(awk '{ printf "%.1f s user, %.1f s system", $14 / 100, $15 / 100 }' "/proc/$pid/stat")"
if [ -n "$perf_pid" ]; then
  wait "$perf_pid" || true
  for sort in comm dso,symbol; do
    perf report -i "$VM_LAB/perf.data" --stdio --no-children --sort "$sort" 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -25 || true
  done
fi
# SIGHUP with the configuration unchanged: the time until the reload is applied.
offset=$(stat -c %s "$VM_LAB/ha-d.log")
t0=$(date +%s.%N)
kill -HUP "$pid"
deadline=$((SECONDS + 300))
until [ "$(count_after 'reload applied' "$offset")" -ge 1 ]; do
  [ "$SECONDS" -lt "$deadline" ] || vm_die "no 'reload applied' line 300 s after SIGHUP"
  sleep 0.05
done
echo "mip6d-bench-ha: SIGHUP to reload applied with $c_new bindings: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
if [ "${VM_BENCH_EXIT:-}" = skip ]; then
  echo "mip6d-bench-ha: exit not measured (VM_BENCH_EXIT=skip)"
  exit 0
fi
t0=$(date +%s.%N)
vm_stop ha-d TERM 300 || echo "mip6d-bench-ha: the HA took over 300 s to exit"
echo "mip6d-bench-ha: SIGTERM to exit with $c_new bindings: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
echo "mip6d-bench-ha: exit steps: $(grep -m1 -o 'binding state removed in .*' "$VM_LAB/ha-d.log" || echo -)"
echo "mip6d-bench-ha: tunnels after SIGTERM: $(ip -n ha -o link show type ip6tnl | grep -c . || true)"
if [ "$(vm_kernel_state ha)" = "$state_before" ]; then
  echo "mip6d-bench-ha: kernel state after SIGTERM: same as before the start"
else
  echo "mip6d-bench-ha: kernel state after SIGTERM: DIFFERENT from before the start:"
  # (No /dev/fd in the guest: no process substitution.)
  echo "$state_before" >"$VM_LAB/state-before"
  vm_kernel_state ha >"$VM_LAB/state-after"
  diff "$VM_LAB/state-before" "$VM_LAB/state-after" | head -20 || true
fi
vm_topology_down
