#!/usr/bin/env bash
# scripts/bench-relay.sh: Debian's miredo relay and ours, side by side, in the netns lab.
#
# Usage: scripts/bench-relay.sh [OPTIONS]
#   --runs N          rounds (default 5); each measures every implementation, the order
#                     alternating round by round; medians over the rounds
#   --seconds S       length of each TCP run (default 10)
#   --udp-seconds S   length of each UDP trial of the rate search (default 3)
#   --sizes LIST      UDP payload sizes, comma-separated (default 64,1200)
#   --metrics LIST    subset of tcp,udp,cores,loops (default all)
#   --client same|debian  the client in cl1: the relay's implementation (default same: our
#                     pair against Debian's pair) or Debian's in both labs (only the relay
#                     differs)
#   --sockbuf BYTES   set the daemons' IPv4 UDP socket buffers to BYTES from outside
#   --txqlen N        the teredo interfaces' txqueuelen
#   --bin PATH        our miredo (default $MIREDO_BIN, else target/release/miredo)
#   --quiet-wait S / --quiet-max P  before each round wait up to S s (120) for the CPUs
#                     to be at most P % (15) busy
#   --quick           self-check: 1 round, 2 s TCP, 1 s UDP trials; fails (status 1)
#                     unless every row has a number for every implementation
#   --record          append the table (date, machine, command) to docs/benchmarks.md
#   --keep            keep the work directory (iperf3 JSON, ping logs, lab logs)
#   --perf            profile the client and the relay of each implementation (perf record
#                     -g) during the first round's TCP transfer; prints where the time goes
#
# One lab per relay implementation, identical otherwise: Debian's miredo-server, the client
# in cl1 behind a full-cone NAT, the relay under test in `relay`, the IPv6-only host tgt.
# Per round and implementation:
#   tcp    iperf3 -6 TCP cl1 -> tgt through the relay: Mbit/s, the relay's CPU seconds
#          (utime+stime of it and its descendants) per GB received, ping RTT (-i 0.01)
#          median and p99 during the transfer
#   udp    per payload size, the highest rate received with <= 1 % loss: iperf3 -6 -u
#          offered at a rate doubled from a start until the loss exceeds 1 % (in two
#          trials at one rate), then bisected to within 10 %; the relay's CPU per
#          million packets at that rate
#   cores  the 64-byte search again with the relay (all its threads) pinned to one CPU
#          (taskset), next to the udp row where it may use every CPU
#   loops  the 64-byte search with two senders at once, cl1 and cl3, behind NATs whose
#          public addresses belong to different packet loops of our relay (203.0.113.1
#          and .3); ours once with one loop (MIREDO_RELAY_LOOPS=1, a third lab) and once
#          with its default, one loop per CPU: how the relay's rate grows with its loops.
#          Debian's relay has one loop: its figure stands in both rows
# plus the relay's VmRSS idle (after set-up) and VmRSS/VmHWM after the rounds, and the
# anonymous part of VmRSS (RssAnon: heap, stacks, buffers; the rest is code). Column
# "plain IPv4": the same measurements from cl1 to the relay node over IPv4 without a
# tunnel (cl1 -> nat1 -> wan -> relay), the ceiling of the lab's path.
#
# Every lab is torn down on exit; only PIDs this script started are signalled.
# Needs root, scripts/lab.sh's tools, iperf3, jq, taskset, python3.

set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
LAB_SH=$SCRIPT_DIR/lab.sh
LAB_STATE_ROOT_EFF=${LAB_STATE_ROOT:-/run/miredo-lab}
BENCH_OWNER=$$
RUNS=5
TCP_SECS=10
UDP_SECS=3
SIZES=64,1200
METRICS=tcp,udp,cores,loops
CLIENT=same
SOCKBUF=
TXQLEN=
QUIET_WAIT=120
QUIET_MAX=15
QUICK=0
KEEP=0
PERF=0
LOSS_MAX=1
OURS_BIN=${MIREDO_BIN:-$REPO_ROOT/target/release/miredo}
RECORD=0
ARGS=("$@")

# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"
LIB_DIE_STATUS=2

while (($#)); do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --seconds) TCP_SECS=$2; shift 2 ;;
    --udp-seconds) UDP_SECS=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --metrics) METRICS=$2; shift 2 ;;
    --client) CLIENT=$2; shift 2 ;;
    --sockbuf) SOCKBUF=$2; shift 2 ;;
    --txqlen) TXQLEN=$2; shift 2 ;;
    --quiet-wait) QUIET_WAIT=$2; shift 2 ;;
    --quiet-max) QUIET_MAX=$2; shift 2 ;;
    --quick) QUICK=1 RUNS=1 TCP_SECS=2 UDP_SECS=1; shift ;;
    --bin) OURS_BIN=$2; shift 2 ;;
    --record) RECORD=1; shift ;;
    --keep) KEEP=1; shift ;;
    --perf) PERF=1; shift ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
for v in "$RUNS" "$TCP_SECS" "$UDP_SECS"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || die "counts and durations must be positive integers"
done
[[ $SIZES =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--sizes: comma-separated byte counts"
[[ $CLIENT =~ ^(same|debian)$ ]] || die "--client: same or debian"
[[ $SOCKBUF =~ ^([1-9][0-9]*)?$ && $TXQLEN =~ ^([0-9]+)?$ ]] || die "--sockbuf/--txqlen: integers"
[[ $QUIET_WAIT =~ ^[0-9]+$ && $QUIET_MAX =~ ^[0-9]+$ ]] || die "--quiet-*: integers"
for m in ${METRICS//,/ }; do [[ $m =~ ^(tcp|udp|cores|loops)$ ]] || die "unknown metric $m"; done
want() { [[ ,$METRICS, == *,$1,* ]]; }
(($(id -u) == 0)) || die "needs root"
[[ $OURS_BIN == /* ]] || OURS_BIN=$PWD/$OURS_BIN
[[ -x $OURS_BIN ]] || die "$OURS_BIN not built (cargo build --release -p miredo)"
((PERF == 0)) || command -v perf >/dev/null || die "--perf: perf missing"
for t in iperf3 jq taskset python3; do command -v "$t" >/dev/null || die "$t missing"; done

WORK=$(mktemp -d /tmp/bench-relay.XXXXXX)
# shellcheck source=scripts/bench/lib.sh
source "$SCRIPT_DIR/bench/lib.sh"
# shellcheck source=scripts/bench/udp-search.sh
source "$SCRIPT_DIR/bench/udp-search.sh"
# shellcheck source=scripts/bench/client-tput.sh
source "$SCRIPT_DIR/bench/client-tput.sh"
# shellcheck source=scripts/bench/relay-report.sh
source "$SCRIPT_DIR/bench/relay-report.sh"
cp -p "$OURS_BIN" "$WORK/miredo-ours"
OURS_BIN=$WORK/miredo-ours
mkdir -p "$WORK/jobs"
: >"$WORK/labs"
: >"$WORK/notes"
RES=$WORK/results.tsv
: >"$RES"

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    while read -r p; do lab_down "$p"; done <"$WORK/labs"
    if ((rc == 0 && KEEP == 0)); then
        rm -rf "$WORK"
    else
        echo "bench-relay.sh: work directory kept: $WORK" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# setup IMPL PREFIX [LOOPS]: the lab, with the relay (and with --client same, the client)
# of IMPL, LOOPS packet loops for ours (default one per CPU); prints the relay's PID. The
# client's PID is in $WORK/client.PREFIX. With the loops metric, a second client in cl3.
setup() {
    local impl=$1 p=$2 loops=${3:-} pid cimpl=debian cpid n
    local -a clients=(1)
    if want loops; then
        clients=(1 3)
        lab_up "$p" --nats full,full,full
    else
        lab_up "$p" --nats full
    fi
    lab "$p" start-debian-server >/dev/null
    pid=$(start_relay "$impl" "$p" "$loops")
    [[ $CLIENT == same ]] && cimpl=$impl
    for n in "${clients[@]}"; do start_client "$p" "$n" "$cimpl" "client$n"; done
    lab "$p" start tgt iperf-tgt iperf3 -s >/dev/null
    lab "$p" start relay iperf-relay iperf3 -s >/dev/null
    if want loops; then
        lab "$p" start tgt iperf-tgt2 iperf3 -s -p 5202 >/dev/null
        lab "$p" start relay iperf-relay2 iperf3 -s -p 5202 >/dev/null
    fi
    for n in "${clients[@]}"; do
        wait_ping_ok "$p" "cl$n" "$TARGET_IP6" 30 || die "$impl: no ping from cl$n through the relay"
        cpid=$(client_pid "$p" "client$n")
        tune_daemon "$cpid" "$SOCKBUF" "$TXQLEN" "$p" "cl$n"
        ((n > 1)) || echo "$cpid" >"$WORK/client.$p"
    done
    tune_daemon "$pid" "$SOCKBUF" "$TXQLEN" "$p" relay
    echo "$pid"
}

declare -A PREFIX PID LAST
IMPLS=(debian ours)
for impl in "${IMPLS[@]}"; do
    PREFIX[$impl]=br${impl:0:1}$$
    PID[$impl]=$(setup "$impl" "${PREFIX[$impl]}") || die "$impl: lab set-up failed"
    result "$RES" rss_idle "$impl" "$(kb_to_mb "$(tree_rss "${PID[$impl]}")")"
    result "$RES" anon_idle "$impl" "$(kb_to_mb "$(tree_anon "${PID[$impl]}")")"
    blog "$impl relay ready (pid ${PID[$impl]})"
done
LOOPS_ALL=$(nproc)
((LOOPS_ALL <= 4)) || LOOPS_ALL=4 # the relay's own cap (miredo/src/relayd/loops.rs)
if want loops; then
    # ours1: our relay with one packet loop, for the loops metric only.
    PREFIX[ours1]=br1$$
    PID[ours1]=$(setup ours "${PREFIX[ours1]}" 1) || die "ours, one loop: lab set-up failed"
    blog "our one-loop relay ready (pid ${PID[ours1]})"
fi
PLAIN_P=${PREFIX[debian]} # the plain IPv4 path is the same in both labs
ALL_CPUS=0-$(($(nproc) - 1))

# search IMPL PREFIX DEST LEN PID METRIC [AS [TRIAL]]: one rate search, recorded as
# METRIC_LEN (and METRIC_cpu_LEN) for AS (default IMPL); TRIAL is the trial function
# (udp_trial, or udp_trial_pair for two senders). Leaves the figures in SEARCH_RX and
# SEARCH_CPU.
search() {
    local impl=$1 p=$2 dest=$3 len=$4 pid=$5 m=$6 as=${7:-$1} trial=${8:-udp_trial}
    local start rx cpu how key
    key=$m.$impl.$p.$len
    start=$((len > 600 ? 10000 : 20000))
    [[ -n ${LAST[$key]:-} ]] && ((LAST[$key] / 2 > start)) && start=$((LAST[$key] / 2))
    read -r rx cpu how <<<"$(UDP_TRIAL=$trial udp_search "$p" "$dest" "$len" "$pid" "$start")"
    [[ $rx =~ ^[0-9]+$ ]] && LAST[$key]=$rx
    result "$RES" "${m}_$len" "$as" "$rx"
    [[ -n $pid ]] && result "$RES" "${m}_cpu_$len" "$as" "$cpu"
    [[ $how == sender ]] && note "$m $len B, $impl ($p): iperf3 could not offer more ($rx pps): the sender's limit"
    blog "$m $len B, $impl ($p): $rx pps with <= $LOSS_MAX % loss, $cpu CPU s per million packets"
    SEARCH_RX=$rx SEARCH_CPU=$cpu
}

order=("${IMPLS[@]}")
for ((r = 1; r <= RUNS; r++)); do
    wait_quiet "round $r"
    if want tcp; then
        for impl in "${order[@]}"; do
            if ((PERF && r == 1)); then
                perf_start "$WORK/perf.$impl.data" "$TCP_SECS" "${PID[$impl]}" \
                    "$(cat "$WORK/client.${PREFIX[$impl]}")"
            fi
            tput_run "${PREFIX[$impl]}" relay "$TARGET_IP6" "$RES" "$impl" "${PID[$impl]}"
            if ((PERF && r == 1)); then wait "$PERF_PID" || blog "$impl: perf record failed"; fi
        done
        tput_run "$PLAIN_P" relay "$PLAIN_DEST" "$RES" plain
    fi
    if want udp; then
        for len in ${SIZES//,/ }; do
            for impl in "${order[@]}"; do
                search "$impl" "${PREFIX[$impl]}" "$TARGET_IP6" "$len" "${PID[$impl]}" udp
            done
            search plain "$PLAIN_P" "$PLAIN_DEST" "$len" "" udp
        done
    fi
    if want cores; then
        for impl in "${order[@]}"; do
            pin_tree "${PID[$impl]}" 0
            search "$impl" "${PREFIX[$impl]}" "$TARGET_IP6" 64 "${PID[$impl]}" udp1
            pin_tree "${PID[$impl]}" "$ALL_CPUS"
        done
    fi
    if want loops; then
        # The one-loop lab goes last in odd rounds and first in even ones.
        lorder=("${order[@]}" ours1)
        ((r % 2)) || lorder=(ours1 "${order[@]}")
        for impl in "${lorder[@]}"; do
            case $impl in
            debian)
                search debian "${PREFIX[debian]}" "$TARGET_IP6" 64 "${PID[debian]}" pair1 \
                    debian udp_trial_pair
                result "$RES" pairn_64 debian "$SEARCH_RX"
                result "$RES" pairn_cpu_64 debian "$SEARCH_CPU"
                ;;
            ours1)
                search ours1 "${PREFIX[ours1]}" "$TARGET_IP6" 64 "${PID[ours1]}" pair1 \
                    ours udp_trial_pair
                ;;
            ours)
                search ours "${PREFIX[ours]}" "$TARGET_IP6" 64 "${PID[ours]}" pairn \
                    ours udp_trial_pair
                ;;
            esac
        done
        search plain "$PLAIN_P" "$PLAIN_DEST" 64 "" pair1 plain udp_trial_pair
        result "$RES" pairn_64 plain "$SEARCH_RX"
    fi
    blog "round $r/$RUNS done"
    order=("${order[1]}" "${order[0]}")
done
for impl in "${IMPLS[@]}"; do
    result "$RES" rss_load "$impl" "$(kb_to_mb "$(tree_rss "${PID[$impl]}")")"
    result "$RES" anon_load "$impl" "$(kb_to_mb "$(tree_anon "${PID[$impl]}")")"
    result "$RES" hwm_load "$impl" "$(kb_to_mb "$(tree_hwm "${PID[$impl]}")")"
done
if want loops; then
    note "loops: our relay's rate with two senders grew $(growth pair1_64 pairn_64 ours) × from 1 to $LOOPS_ALL packet loops (medians)"
fi

out=$(relay_table)
echo "$out"
sed 's/^/- /' "$WORK/notes"
if ((PERF)); then
    for impl in "${IMPLS[@]}"; do
        echo
        echo "Where the time goes, $impl client + relay, TCP through the relay (perf, self time):"
        echo
        perf_top "$WORK/perf.$impl.data" | sed 's/^/    /'
    done
fi
if ((RECORD)); then
    {
        echo
        echo "### Relay, $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs ($(uname -r))"
        echo
        echo "Command: \`scripts/bench-relay.sh $(record_args "$REPO_ROOT" "${ARGS[@]}")\`" \
            "($RUNS rounds; TCP ${TCP_SECS} s, UDP trials ${UDP_SECS} s; client: $CLIENT)"
        echo
        sed 's/^/- /' "$WORK/notes"
        echo
        echo "$out"
    } >>"$REPO_ROOT/docs/benchmarks.md"
fi
if ((QUICK)) && grep -q '| n/a' <<<"$out"; then
    echo "bench-relay.sh --quick: a measurement gave no number (n/a above)" >&2
    exit 1
fi
