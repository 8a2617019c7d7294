#!/usr/bin/env bash
# scripts/bench-client.sh: Debian's miredo client and ours, side by side, in the netns lab.
#
# Usage: scripts/bench-client.sh [OPTIONS]
#   --impl debian|ours|both   which clients to measure (default both; the server is
#                             always Debian's, the relay: see --relay)
#   --runs N                  runs of metrics 1-3 (default 5)
#   --slow-runs M             runs of metrics 4-5 (default 5)
#   --metrics LIST            comma-separated subset of start,cip,nat,loss,tput (default all)
#   --jobs J                  labs run at once for the timer-bound metrics cip,nat,loss
#                             (default 16; 1 = strictly one after the other)
#   --tcp-seconds S           iperf3 duration (default 10)
#   --ours-hook builtin|script  how ours runs for metrics 2-5 (default builtin:
#                             --client-hook /nonexistent; script: Debian's hook script)
#   --bin PATH                our binary (default $MIREDO_BIN, else target/release/miredo)
#   --record                  append the results (date, machine, command) to docs/benchmarks.md
#   --quiet-wait S            before metric 1 and before each round of metric 5, wait up to
#                             S seconds (default 120) for the machine's CPUs to be at most
#                             --quiet-max percent busy (default 15) over one second
#   --keep                    keep the work directory (lab logs) even on success
#   --relay same|debian       metric 5's relay: the client's implementation (default same:
#                             our pair against Debian's pair) or always Debian's
#   --sockbuf BYTES           metric 5: set every daemon's IPv4 UDP socket buffers (SO_RCVBUF
#                             and SO_SNDBUF) to BYTES from outside (scripts/bench/sockbuf.py)
#   --txqlen N                metric 5: the teredo interfaces' txqueuelen
#
# Metrics (each over several runs; the table gives median, min, max, ours/debian):
#  1 start: exec of the daemon -> global Teredo address on the interface (ms), from
#    `ip -ts monitor address` in the client's namespace. Debian runs its stock hook; ours
#    runs once with no hook script (built-in netlink: --client-hook /nonexistent, row "ours")
#    and once with Debian's hook script (row "ours+hook"). One warm-up start each, not counted.
#  2 cip: the client's own IPv4 changes (lab.sh client-ip 1 198.18.1.20; the change time is
#    the old address's deletion as the monitor saw it) -> a ping (ping -i 0.01 running all
#    along) through the relay to 2001:db8:1::1 works again (the first reply, to a request
#    sent after the change, of 20 consecutive ones), and -> the Teredo address changes;
#    90 s cap ("never").
#  3 nat: the NAT's public IPv4 changes (lab.sh nat-ip 1 203.0.113.101) -> the Teredo address
#    embeds the new IPv4, and -> pings through the relay work again; 90 s cap.
#  4 loss: block-server -> the Teredo address is deleted (cap 120 s); then unblock-server ->
#    the address is back (cap 150 s).
#    For 2-4 the change comes at a staggered phase of the client's 30 s refresh cycle (run k
#    of N waits 1 + 30*k/N s after qualification), and every run has its own lab (port-
#    restricted cone NAT), several labs at once (--jobs): these metrics are timer-bound.
#    The idle RSS of the client's processes is sampled in each of these runs before the change.
#  5 tput: TCP (iperf3 -6, 10 s) client -> relay -> 2001:db8:1::1 and client -> client (two
#    full-cone NATs), Mbit/s and retransmitted segments (%), plus the daemons' CPU seconds
#    (utime+stime of the pidfile PID and all its descendants: Debian's monitor, worker and
#    privproc) per GB of payload received (via relay: client + relay; client -> client:
#    both clients), ping RTT (-i 0.01, median and p99) to the same destination during each
#    transfer and idle, VmRSS idle and after each round, VmHWM (peak) after each round, of
#    the client and of the relay. Row "plain": the same from cl1 to the relay node over
#    plain IPv4 (no tunnel), the ceiling.
#
# A client that is missing, fails to start or dies gives "n/a" for that run; never an abort.
# Every lab is torn down on exit (trap); only PIDs this script started are signalled.
# Needs root, scripts/lab.sh's tools, iperf3, jq.

set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
LAB_SH=$SCRIPT_DIR/lab.sh
LAB_STATE_ROOT_EFF=${LAB_STATE_ROOT:-/run/miredo-lab}
BENCH_OWNER=$$
# shellcheck source=scripts/bench/lib.sh
source "$SCRIPT_DIR/bench/lib.sh"
# shellcheck source=scripts/bench/client-report.sh
source "$SCRIPT_DIR/bench/client-report.sh"
# shellcheck source=scripts/bench/client-tput.sh
source "$SCRIPT_DIR/bench/client-tput.sh"

IMPL=both
RUNS=5
SLOW_RUNS=5
METRICS=start,cip,nat,loss,tput
JOBS=16
TCP_SECS=10
OURS_HOOK=builtin
OURS_BIN=${MIREDO_BIN:-$REPO_ROOT/target/release/miredo}
RECORD=0
KEEP=0
QUIET_WAIT=120
QUIET_MAX=15
RELAY_IMPL=same
SOCKBUF=
TXQLEN=
ARGS=("$@")

# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"
LIB_DIE_STATUS=2

while (($#)); do
    case $1 in
    --impl) IMPL=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --slow-runs) SLOW_RUNS=$2; shift 2 ;;
    --metrics) METRICS=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --tcp-seconds) TCP_SECS=$2; shift 2 ;;
    --ours-hook) OURS_HOOK=$2; shift 2 ;;
    --bin) OURS_BIN=$2; shift 2 ;;
    --record) RECORD=1; shift ;;
    --keep) KEEP=1; shift ;;
    --quiet-wait) QUIET_WAIT=$2; shift 2 ;;
    --quiet-max) QUIET_MAX=$2; shift 2 ;;
    --relay) RELAY_IMPL=$2; shift 2 ;;
    --sockbuf) SOCKBUF=$2; shift 2 ;;
    --txqlen) TXQLEN=$2; shift 2 ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
[[ $IMPL =~ ^(debian|ours|both)$ ]] || die "--impl: debian, ours or both"
for v in "$RUNS" "$SLOW_RUNS" "$JOBS" "$TCP_SECS"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || die "counts and durations must be positive integers"
done
[[ $QUIET_WAIT =~ ^[0-9]+$ && $QUIET_MAX =~ ^[0-9]+$ ]] || die "--quiet-*: integers"
[[ $OURS_HOOK =~ ^(builtin|script)$ ]] || die "--ours-hook: builtin or script"
[[ $RELAY_IMPL =~ ^(same|debian)$ ]] || die "--relay: same or debian"
[[ $SOCKBUF =~ ^([1-9][0-9]*)?$ && $TXQLEN =~ ^([0-9]+)?$ ]] || die "--sockbuf/--txqlen: integers"
[[ $OURS_BIN == /* ]] || OURS_BIN=$PWD/$OURS_BIN
want() { [[ ,$METRICS, == *,$1,* ]]; }
for m in ${METRICS//,/ }; do
    [[ $m =~ ^(start|cip|nat|loss|tput)$ ]] || die "unknown metric $m"
done
[[ $(id -u) == 0 ]] || die "must run as root"
"$LAB_SH" check >/dev/null || die "lab.sh check failed"
for t in iperf3 jq ps awk; do command -v "$t" >/dev/null || die "missing $t"; done

OURS_MAIN=ours
[[ $OURS_HOOK == script ]] && OURS_MAIN=ours+hook
IMPLS=() # implementations for metrics 2-5
[[ $IMPL != ours ]] && IMPLS+=(debian)
[[ $IMPL != debian ]] && IMPLS+=("$OURS_MAIN")
START_IMPLS=()
[[ $IMPL != ours ]] && START_IMPLS+=(debian)
[[ $IMPL != debian ]] && START_IMPLS+=(ours ours+hook)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-client.XXXXXX")
# Recorded in docs/benchmarks.md as record_args (scripts/lib.sh) writes it: no
# machine's path lands in the docs.
OURS_ORIG=$(record_args "$REPO_ROOT" "$OURS_BIN")
# Our binary may be rebuilt while we run: measure one snapshot of it.
if [[ $IMPL != debian && -f $OURS_BIN ]]; then
    cp -p "$OURS_BIN" "$WORK/miredo-ours"
    OURS_BIN=$WORK/miredo-ours
fi
mkdir -p "$WORK/res" "$WORK/jobs" "$WORK/logs"
: >"$WORK/labs"
: >"$WORK/planned"
: >"$WORK/notes"
RUN_ID=$(tr -dc 'a-z0-9' </dev/urandom | head -c 4 || true)
LAB_SEQ=0
JOB_PIDS=()
T_START=$(now_us)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# next_prefix: a new lab prefix in NEXT_P (not printed: $(...) would lose the count).
next_prefix() {
    LAB_SEQ=$((LAB_SEQ + 1))
    printf -v NEXT_P 'bc%s%02d' "$RUN_ID" "$LAB_SEQ"
}

cleanup() {
    local rc=$? pid p
    trap - EXIT INT TERM
    # Our background jobs and everything they run (a job defers its TERM trap until its
    # current command, e.g. a 150 s wait in $(...), ends: so that command gets TERM too).
    # The lab daemons are not among them (lab.sh's daemons are re-parented): lab_down.
    local -a tree=()
    for pid in "${JOB_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then mapfile -t -O "${#tree[@]}" tree < <(proc_tree "$pid"); fi
    done
    if ((${#tree[@]})); then kill -TERM "${tree[@]}" 2>/dev/null || true; fi
    for pid in "${JOB_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    while read -r p; do
        [[ -n $p && -d $LAB_STATE_ROOT_EFF/$p ]] || continue
        lab_down "$p"
    done <"$WORK/labs"
    if ((rc == 0 && KEEP == 0)); then
        rm -rf "$WORK"
    else
        echo "bench-client.sh: work directory (lab logs) kept: $WORK" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

plan() { # METRIC IMPL COUNT
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$WORK/planned"
}

# job_traps PREFIX: inside a background job, tear its lab down however it ends.
job_traps() {
    # shellcheck disable=SC2064 # expand the prefix now
    trap "lab_down '$1'" EXIT
    trap 'exit 143' TERM INT
}

start_peers() { # PREFIX
    lab "$1" start-debian-server >/dev/null
    lab "$1" start-debian-relay >/dev/null
}

# run_job DESC FUNCTION ARGS...: run FUNCTION in a background subshell (so that set -e
# holds inside it, which it would not in a `(...) || ...` list) and wait for it.
run_job() {
    local desc=$1 pid
    shift
    ("$@") &
    pid=$!
    JOB_PIDS+=("$pid")
    if ! wait "$pid"; then blog "$desc ended early (see $WORK)"; fi
    JOB_PIDS=()
}

# ---- metric 1: start -> address -------------------------------------------------------

bench_start() {
    local p=$1 res=$WORK/res/start.tsv mon r impl name t0 pid ev us
    job_traps "$p"
    lab_up "$p" --nats port
    start_peers "$p"
    mon=$(start_monitor "$p" cl1 mon)
    for ((r = 0; r <= RUNS; r++)); do
        for impl in "${START_IMPLS[@]}"; do
            if ! impl_available "$impl"; then continue; fi
            name=c$r-${impl/+/-}
            if ! start_client "$p" 1 "$impl" "$name" 2>>"$WORK/jobs/start.log"; then
                ((r == 0)) || result "$res" start "$impl" na
                continue
            fi
            t0=$(client_t0 "$p" "$name")
            pid=$(client_pid "$p" "$name")
            ev=$(wait_addr "$mon" "$(us_to_iso "$t0")" add 10 "$pid" "" 0.01)
            case $ev in
            dead) us=na ;;
            never) us=never ;;
            *) us=$(fmt_us_diff "$t0" "$(iso_to_us "${ev%% *}")" ms) ;;
            esac
            blog "start: $impl run $r: $us ms"
            ((r == 0)) || result "$res" start "$impl" "$us"
            lab "$p" stop "$name" 2>/dev/null || true
            sleep 0.3
        done
    done
}

# ---- metrics 2-4: address changes, server loss (one lab per run) -----------------------

# bench_change METRIC IMPL K N PREFIX
bench_change() {
    local metric=$1 impl=$2 k=$3 n=$4 p=$5 res mon natmon ev addr qual_iso qual_us pid
    local t0 pinglog tc_iso tc_us deadline now got_ping="" got_addr="" e r dead=0 pids
    res=$WORK/res/$metric.$impl.$k.tsv
    job_traps "$p"
    lab_up "$p" --nats port
    start_peers "$p"
    mon=$(start_monitor "$p" cl1 mon)
    [[ $metric == nat ]] && natmon=$(start_monitor "$p" nat1 monnat)
    start_client "$p" 1 "$impl" client
    t0=$(client_t0 "$p" client)
    pid=$(client_pid "$p" client)
    ev=$(wait_addr "$mon" "$(us_to_iso "$t0")" add 20 "$pid")
    [[ $ev == *:* ]] || { blog "$metric/$impl/$k: client did not qualify ($ev)"; return 1; }
    qual_iso=${ev%% *} addr=${ev#* }
    qual_us=$(iso_to_us "$qual_iso")
    if [[ $metric != loss ]]; then
        lab "$p" start cl1 ping ping -6 -D -n -i 0.01 "$TARGET_IP6" >/dev/null
        pinglog=$(lab "$p" log ping)
        deadline=$(($(now_us) + 20000000))
        until [[ -n $(ping_recovered "$pinglog" 0) ]]; do
            (($(now_us) < deadline)) || { blog "$metric/$impl/$k: no ping reply"; return 1; }
            sleep 0.1
        done
    fi
    sleep_until_us $((qual_us + 1000000 + k * 30000000 / n))
    proc_alive "$pid" || { blog "$metric/$impl/$k: client died"; return 1; }
    mapfile -t pids < <(proc_tree "$pid")
    result "$res" rss_idle "$impl" "$(kb_to_mb "$(rss_kb "${pids[@]}")")"

    case $metric in
    cip | nat)
        if [[ $metric == cip ]]; then
            lab "$p" client-ip 1 198.18.1.20
            ev=$(first_event "$mon" "$qual_iso" del eth0 inet)
        else
            lab "$p" nat-ip 1 203.0.113.101
            ev=$(first_event "$natmon" "$qual_iso" del wan inet)
        fi
        [[ -n $ev ]] || { blog "$metric/$impl/$k: change not seen"; return 1; }
        tc_iso=${ev%% *}
        tc_us=$(iso_to_us "$tc_iso")
        deadline=$((tc_us + 90000000))
        while :; do
            if [[ -z $got_ping ]]; then
                r=$(ping_recovered "$pinglog" "$tc_us")
                [[ -z $r ]] || got_ping=$(fmt_us_diff "$tc_us" "$r" s)
            fi
            if [[ -z $got_addr ]]; then
                if [[ $metric == cip ]]; then
                    e=$(first_event "$mon" "$tc_iso" add teredo inet6 "$addr")
                else
                    e=$(first_teredo_embedding "$mon" "$tc_iso" 203.0.113.101)
                fi
                [[ -z $e ]] || got_addr=$(fmt_us_diff "$tc_us" "$(iso_to_us "${e%% *}")" s)
            fi
            [[ -n $got_ping && -n $got_addr ]] && break
            if ! proc_alive "$pid"; then dead=1; break; fi
            now=$(now_us)
            ((now < deadline)) || break
            sleep 0.25
        done
        if ((dead)); then
            got_ping=${got_ping:-na} got_addr=${got_addr:-na}
        else
            got_ping=${got_ping:-never} got_addr=${got_addr:-never}
        fi
        result "$res" "${metric}_ping" "$impl" "$got_ping"
        result "$res" "${metric}_addr" "$impl" "$got_addr"
        blog "$metric/$impl/$k: ping back $got_ping s, address $got_addr s"
        ;;
    loss)
        lab "$p" block-server
        tc_us=$(now_us)
        ev=$(wait_addr "$mon" "$(us_to_iso "$tc_us")" del 120 "$pid")
        case $ev in
        dead | never)
            result "$res" loss_down "$impl" "${ev/dead/na}"
            result "$res" loss_up "$impl" na
            blog "$metric/$impl/$k: down $ev"
            return 0
            ;;
        esac
        e=$(fmt_us_diff "$tc_us" "$(iso_to_us "${ev%% *}")" s)
        result "$res" loss_down "$impl" "$e"
        lab "$p" unblock-server
        tc_us=$(now_us)
        ev=$(wait_addr "$mon" "$(us_to_iso "$tc_us")" add 150 "$pid")
        case $ev in
        dead) r=na ;;
        never) r=never ;;
        *) r=$(fmt_us_diff "$tc_us" "$(iso_to_us "${ev%% *}")" s) ;;
        esac
        result "$res" loss_up "$impl" "$r"
        blog "$metric/$impl/$k: down after $e s, up after $r s"
        ;;
    esac
}

# ---- main -------------------------------------------------------------------------------

if [[ $IMPL != debian ]] && ! impl_available ours; then
    blog "our client $OURS_ORIG is missing or does not run (-V): its rows will be n/a"
fi

if want start; then
    for impl in "${START_IMPLS[@]}"; do plan start "$impl" "$RUNS"; done
    blog "metric 1 (start -> address): $RUNS runs + 1 warm-up of ${START_IMPLS[*]}"
    wait_quiet "metric 1"
    next_prefix
    run_job "metric 1" bench_start "$NEXT_P"
fi

if want tput; then
    tput_main
fi

# Timer-bound metrics: one lab per run, up to $JOBS at once, the longest first.
specs=()
for metric in loss cip nat; do
    want "$metric" || continue
    n=$RUNS
    [[ $metric == loss ]] && n=$SLOW_RUNS
    for impl in "${IMPLS[@]}"; do
        if [[ $metric == loss ]]; then
            plan loss_down "$impl" "$n"
            plan loss_up "$impl" "$n"
        else
            plan "${metric}_ping" "$impl" "$n"
            plan "${metric}_addr" "$impl" "$n"
        fi
        plan rss_idle "$impl" "$n"
        impl_available "$impl" || continue
        for ((k = 0; k < n; k++)); do specs+=("$metric $impl $k $n"); done
    done
done
if ((${#specs[@]})); then
    blog "metrics 2-4: ${#specs[@]} runs in their own labs, up to $JOBS at once (≤ ~5 min)"
    for spec in "${specs[@]}"; do
        while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
        read -r metric impl k n <<<"$spec"
        next_prefix
        (bench_change "$metric" "$impl" "$k" "$n" "$NEXT_P") \
            >"$WORK/jobs/$metric.$impl.$k.log" 2>&1 &
        JOB_PIDS+=($!)
    done
    for pid in "${JOB_PIDS[@]}"; do wait "$pid" || true; done
    JOB_PIDS=()
fi

TABLE=$(report)
WALL=$(awk -v a="$T_START" -v b="$(now_us)" 'BEGIN { printf "%.0f", (b - a) / 1e6 }')
echo "$TABLE"
echo
echo "(wall time ${WALL} s; runs: metrics 1-3 N=$RUNS, 4-5 N=$SLOW_RUNS)"
sed 's/^/- /' "$WORK/notes"

if ((RECORD)); then
    doc=$REPO_ROOT/docs/benchmarks.md
    mkdir -p "$(dirname "$doc")"
    {
        echo
        echo "### Run of $(date -u '+%Y-%m-%d %H:%M UTC') (impl $IMPL)"
        echo
        machine_info
        echo "- command: \`scripts/bench-client.sh $(record_args "$REPO_ROOT" "${ARGS[@]}")\` (wall time ${WALL} s;" \
            "metrics 1-3: $RUNS runs, 4-5: $SLOW_RUNS runs; iperf3 ${TCP_SECS} s)"
        sed 's/^/- /' "$WORK/notes"
        echo
        echo "$TABLE"
    } >>"$doc"
    blog "appended to $doc"
fi
