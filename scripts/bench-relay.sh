#!/usr/bin/env bash
# scripts/bench-relay.sh: Debian's miredo relay and ours, side by side, in the netns lab.
#
# Usage: scripts/bench-relay.sh [--runs N] [--seconds S] [--bin PATH] [--record]
#   --runs N      rounds (default 5); each round measures both relays, in alternating order
#   --seconds S   length of each iperf3 run (default 10)
#   --bin PATH    our miredo (default $MIREDO_BIN, else target/release/miredo)
#   --record      append the table (date, machine, command) to docs/benchmarks.md
#
# One lab per relay implementation, identical otherwise: Debian's miredo-server, a Debian
# miredo client in cl1 behind a full-cone NAT, the relay under test in `relay`, the
# IPv6-only host tgt. Per round and relay:
#   tcp    iperf3 -6 TCP cl1 -> tgt through the relay: Mbit/s, and the relay process's
#          CPU seconds (utime+stime) per GB received
#   udp    iperf3 -6 -u, 64-byte payloads, unlimited rate, cl1 -> tgt: packets per second
#          received by tgt (the small-packet rate), and the relay's CPU per million packets
# The table gives medians (min–max) and ours/debian. The client is Debian's in both labs,
# so only the relay differs. Memory and forwarding rate of a large peer table are measured
# by `cargo bench -p teredo --bench relay_peers` (sans-IO, no kernel).
#
# Every lab is torn down on exit; only PIDs this script started are signalled.
# Needs root, scripts/lab.sh's tools, iperf3, jq.

set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
LAB_SH=$SCRIPT_DIR/lab.sh
LAB_STATE_ROOT_EFF=${LAB_STATE_ROOT:-/run/miredo-lab}
BENCH_OWNER=$$
RUNS=5
SECS=10
OURS_BIN=${MIREDO_BIN:-$REPO_ROOT/target/release/miredo}
RECORD=0
ARGS=("$@")

# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"
LIB_DIE_STATUS=2

while (($#)); do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --bin) OURS_BIN=$2; shift 2 ;;
    --record) RECORD=1; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown option $1" ;;
    esac
done
(($(id -u) == 0)) || die "needs root"
[[ -x $OURS_BIN ]] || die "$OURS_BIN not built (cargo build --release -p miredo)"
command -v iperf3 >/dev/null || die "iperf3 missing"
command -v jq >/dev/null || die "jq missing"

WORK=$(mktemp -d /tmp/bench-relay.XXXXXX)
# shellcheck source=scripts/bench/lib.sh
source "$SCRIPT_DIR/bench/lib.sh"
cp -p "$OURS_BIN" "$WORK/miredo-ours"
OURS_BIN=$WORK/miredo-ours
: >"$WORK/labs"
RES=$WORK/results.tsv
: >"$RES"

cleanup() {
    local p
    while read -r p; do lab_down "$p"; done <"$WORK/labs"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# setup IMPL PREFIX: the lab, with the relay of IMPL; prints the relay's PID.
setup() {
    local impl=$1 p=$2 st conf pid
    lab_up "$p" --nats full
    lab "$p" start-debian-server >/dev/null
    if [[ $impl == debian ]]; then
        lab "$p" start-debian-relay >/dev/null
        pid=$(lab "$p" pid debian-relay)
    else
        st=$LAB_STATE_ROOT_EFF/$p
        conf=$st/conf/our-relay.conf
        printf 'RelayType relay\nInterfaceName teredo\n' >"$conf"
        lab "$p" start relay our-relay "$OURS_BIN" -f -p "$st/run/our-relay.pid" -c "$conf" >/dev/null
        pid=$(lab "$p" pid our-relay)
        local i
        for ((i = 0; i < 100; i++)); do
            lab "$p" exec relay ip -6 route show dev teredo 2>/dev/null | grep -q '^2001::/32' && break
            sleep 0.1
        done
    fi
    lab "$p" start-debian-client 1 >/dev/null
    lab "$p" start tgt iperf-tgt iperf3 -s >/dev/null
    wait_ping_ok "$p" cl1 "$TARGET_IP6" 30 || die "$impl: no ping through the relay"
    echo "$pid"
}

# tree_cpu PID / tree_rss PID: CPU ticks / RSS (kB) of PID and its descendants.
tree_cpu() {
    local -a pids
    mapfile -t pids < <(proc_tree "$1")
    cpu_ticks "${pids[@]}"
}
tree_rss() {
    local -a pids
    mapfile -t pids < <(proc_tree "$1")
    rss_kb "${pids[@]}"
}

# run_tcp IMPL PREFIX PID / run_udp IMPL PREFIX PID: one measurement each.
run_tcp() {
    local impl=$1 p=$2 pid=$3 json c0 c1 bps bytes
    json=$WORK/tcp.$impl.$(now_us).json
    c0=$(tree_cpu "$pid")
    timeout $((SECS + 30)) "$LAB_SH" --prefix "$p" exec cl1 iperf3 -6 -c "$TARGET_IP6" -t "$SECS" -J >"$json" 2>&1 || true
    c1=$(tree_cpu "$pid")
    bps=$(jq -r '.end.sum_received.bits_per_second // empty' "$json" 2>/dev/null || true)
    bytes=$(jq -r '.end.sum_received.bytes // empty' "$json" 2>/dev/null || true)
    if [[ -z $bps || -z $bytes || $bytes == 0 ]]; then
        blog "$impl: tcp failed"
        return 0
    fi
    result "$RES" tcp "$impl" "$(awk -v b="$bps" 'BEGIN { printf "%.0f", b / 1e6 }')"
    result "$RES" tcp_cpu "$impl" "$(awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v by="$bytes" \
        'BEGIN { printf "%.2f", (c / hz) / (by / 1e9) }')"
}

run_udp() {
    local impl=$1 p=$2 pid=$3 json c0 c1 pkts lost secs
    json=$WORK/udp.$impl.$(now_us).json
    c0=$(tree_cpu "$pid")
    timeout $((SECS + 30)) "$LAB_SH" --prefix "$p" exec cl1 iperf3 -6 -u -b 0 -l 64 -c "$TARGET_IP6" -t "$SECS" -J >"$json" 2>&1 || true
    c1=$(tree_cpu "$pid")
    pkts=$(jq -r '.end.sum.packets // empty' "$json" 2>/dev/null || true)
    lost=$(jq -r '.end.sum.lost_packets // 0' "$json" 2>/dev/null || echo 0)
    secs=$(jq -r '.end.sum.seconds // empty' "$json" 2>/dev/null || true)
    if [[ -z $pkts || -z $secs || $pkts == 0 ]]; then
        blog "$impl: udp failed"
        return 0
    fi
    result "$RES" udp_pps "$impl" "$(awk -v n="$pkts" -v l="$lost" -v s="$secs" 'BEGIN { printf "%.0f", (n - l) / s }')"
    result "$RES" udp_cpu "$impl" "$(awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v n="$pkts" -v l="$lost" \
        'BEGIN { d = n - l; v = 0; if (d > 0) v = (c / hz) / (d / 1e6); printf "%.2f", v }')"
}

declare -A PREFIX PID
for impl in debian ours; do
    PREFIX[$impl]=br${impl:0:1}$$
    PID[$impl]=$(setup "$impl" "${PREFIX[$impl]}") || die "$impl: lab set-up failed"
    blog "$impl relay ready (pid ${PID[$impl]})"
done
order=(debian ours)
for ((r = 1; r <= RUNS; r++)); do
    for impl in "${order[@]}"; do run_tcp "$impl" "${PREFIX[$impl]}" "${PID[$impl]}"; done
    for impl in "${order[@]}"; do run_udp "$impl" "${PREFIX[$impl]}" "${PID[$impl]}"; done
    blog "round $r/$RUNS done"
    order=("${order[1]}" "${order[0]}")
done
for impl in debian ours; do
    result "$RES" rss "$impl" "$(kb_to_mb "$(tree_rss "${PID[$impl]}")")"
done

table() {
    echo "| metric | debian | ours | ours/debian |"
    echo "|---|---|---|---|"
    local m label
    for m in tcp tcp_cpu udp_pps udp_cpu rss; do
        case $m in
        tcp) label="TCP through the relay (Mbit/s)" ;;
        tcp_cpu) label="relay CPU per GB, TCP (s/GB)" ;;
        udp_pps) label="64-byte UDP through the relay (packets/s received)" ;;
        udp_cpu) label="relay CPU per million packets, UDP (s)" ;;
        rss) label="relay RSS after the runs (MB)" ;;
        esac
        awk -F'\t' -v m="$m" -v label="$label" '
            $1 == m && $3 != "na" { v[$2] = v[$2] " " $3 }
            function med(s,   a, n, i, j, t) {
                n = split(s, a, " "); if (!n) return ""
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            function rng(s,   a, n, i, lo, hi) {
                n = split(s, a, " "); if (n < 2) return ""
                lo = hi = a[1]; for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
                return sprintf(" (%s–%s)", lo, hi)
            }
            END {
                d = med(v["debian"]); o = med(v["ours"])
                ratio = (d != "" && o != "" && d + 0 != 0) ? sprintf("%.2f", o / d) : "n/a"
                printf "| %s | %s%s | %s%s | %s |\n", label, d, rng(v["debian"]), o, rng(v["ours"]), ratio
            }' "$RES"
    done
}
out=$(table)
echo "$out"
if ((RECORD)); then
    {
        echo
        echo "### Relay, $(date -u +%Y-%m-%d) on $(nproc) CPUs ($(uname -r))"
        echo
        echo "Command: \`scripts/bench-relay.sh $(record_args "$REPO_ROOT" "${ARGS[@]}")\` ($RUNS rounds, ${SECS} s each)"
        echo
        echo "$out"
    } >>"$REPO_ROOT/docs/benchmarks.md"
fi
