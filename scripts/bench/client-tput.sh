# shellcheck shell=bash
# Metric 5 of scripts/bench-client.sh, and the TCP runs of scripts/bench-relay.sh (sourced
# by both): TCP throughput, CPU per GB, ping RTT under load, RSS, and the same path without
# the tunnel as the ceiling. Needs from the
# caller: WORK, LAB_SH, TCP_SECS, SLOW_RUNS, RELAY_IMPL, SOCKBUF, TXQLEN, OURS_BIN and the
# functions result, blog, wait_quiet, lab*, start_client, start_relay, tune_daemon.

PLAIN_DEST=198.51.100.1 # the relay node's IPv4: cl1 -> nat1 -> wan -> relay, no tunnel

# relay_impl_for IMPL: the relay that goes with a client implementation.
relay_impl_for() {
    if [[ $RELAY_IMPL == debian || $1 == debian ]]; then echo debian; else echo ours; fi
}

# tput_run PREFIX PATH DEST RESFILE IMPL PID...: one iperf3 run from cl1 to DEST with a
# ping (-i 0.01) to DEST alongside; CPU counted over PID... and their descendants.
tput_run() {
    local p=$1 path=$2 dest=$3 res=$4 impl=$5 json c0 c1 bps bytes retr mss fam=-6 pinglog ping_pid
    shift 5
    local -a pids=()
    local q
    for q in "$@"; do mapfile -t -O "${#pids[@]}" pids < <(proc_tree "$q"); done
    [[ $dest == *:* ]] || fam=-4
    json=$WORK/jobs/iperf.$p.$impl.$path.$(now_us).json
    pinglog=${json%.json}.ping
    c0=$(cpu_ticks "${pids[@]}")
    # The ping starts 1 s in (after slow start) and ends 1 s before the transfer.
    (sleep 1 && exec "$LAB_SH" --prefix "$p" exec cl1 ping "$fam" -n -i 0.01 \
        -w $((TCP_SECS > 3 ? TCP_SECS - 2 : 1)) "$dest") >"$pinglog" 2>&1 &
    ping_pid=$!
    timeout $((TCP_SECS + 30)) "$LAB_SH" --prefix "$p" exec cl1 \
        iperf3 "$fam" -c "$dest" -t "$TCP_SECS" -J >"$json" 2>&1 || true
    c1=$(cpu_ticks "${pids[@]}")
    wait "$ping_pid" || true
    bps=$(jq -r '.end.sum_received.bits_per_second // empty' "$json" 2>/dev/null || true)
    bytes=$(jq -r '.end.sum_received.bytes // empty' "$json" 2>/dev/null || true)
    retr=$(jq -r '.end.sum_sent.retransmits // 0' "$json" 2>/dev/null || echo 0)
    mss=$(jq -r '.start.tcp_mss_default // 1208' "$json" 2>/dev/null || echo 1208)
    if [[ -z $bps || -z $bytes || $bytes == 0 ]]; then
        blog "tput/$impl: $path: iperf3 failed ($(head -c 300 "$json" | tr '\n' ' '))"
        local m
        for m in tcp retr cpu rtt_med rtt_p99 rtt_loss; do result "$res" "${m}_$path" "$impl" na; done
        return 0
    fi
    local out med p99 got sent
    out=$(awk -v bps="$bps" -v by="$bytes" -v r="$retr" -v mss="$mss" -v c="$((c1 - c0))" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN {
            printf "%.0f %.1f %.2f\n", bps / 1e6, 100 * r * mss / by, (c / hz) / (by / 1e9) }')
    read -r bps retr c0 <<<"$out"
    read -r med p99 got sent <<<"$(ping_stats "$pinglog")"
    [[ $med == n/a ]] && med=na p99=na
    result "$res" "tcp_$path" "$impl" "$bps"
    result "$res" "retr_$path" "$impl" "$retr"
    ((${#pids[@]})) && result "$res" "cpu_$path" "$impl" "$c0"
    result "$res" "rtt_med_$path" "$impl" "$med"
    result "$res" "rtt_p99_$path" "$impl" "$p99"
    result "$res" "rtt_loss_$path" "$impl" "$(awk -v g="$got" -v s="$sent" 'BEGIN { printf "%.1f", s ? 100 * (s - g) / s : 0 }')"
    blog "tput/$impl: $path: $bps Mbit/s, $retr % retransmitted, $c0 CPU s/GB," \
        "ping $med / $p99 ms (median / p99, $got of $sent answered)"
}

# rtt_idle PREFIX DEST RESFILE IMPL: 100 pings at 0.01 s on the idle path.
rtt_idle() {
    local p=$1 dest=$2 res=$3 impl=$4 log med fam=-6
    [[ $dest == *:* ]] || fam=-4
    log=$WORK/jobs/ping-idle.$p.$impl.$(now_us)
    "$LAB_SH" --prefix "$p" exec cl1 ping "$fam" -n -i 0.01 -c 100 "$dest" >"$log" 2>&1 || true
    read -r med _ <<<"$(ping_stats "$log")"
    [[ $med == n/a ]] && med=na
    result "$res" rtt_idle "$impl" "$med"
}

# tput_setup IMPL PREFIX: a lab with two qualified clients of IMPL and the relay that goes
# with it, iperf3 servers in tgt, cl2 and relay, paths warmed by a ping; the lab stays up and
# $WORK/tput.IMPL.env says "PREFIX PID1 PID2 ADDR2 RELAY_OK C2C_OK RELAY_PID". On failure
# the lab goes down.
tput_setup() {
    local impl=$1 p=$2 mon1 mon2 t0 pid1 pid2 rpid ev addr2 relay_ok=1 c2c_ok=1 rimpl
    # shellcheck disable=SC2064 # expand the prefix now
    trap "rc=\$?; ((rc == 0)) || lab_down '$p'" EXIT
    trap 'exit 143' TERM INT
    rimpl=$(relay_impl_for "$impl")
    lab_up "$p" --nats full,full
    lab "$p" start-debian-server >/dev/null
    rpid=$(start_relay "$rimpl" "$p")
    mon1=$(start_monitor "$p" cl1 mon1)
    mon2=$(start_monitor "$p" cl2 mon2)
    start_client "$p" 1 "$impl" client1
    start_client "$p" 2 "$impl" client2
    t0=$(client_t0 "$p" client1)
    pid1=$(client_pid "$p" client1)
    ev=$(wait_addr "$mon1" "$(us_to_iso "$t0")" add 20 "$pid1")
    [[ $ev == *:* ]] || { blog "tput/$impl: client 1 did not qualify ($ev)"; return 1; }
    t0=$(client_t0 "$p" client2)
    pid2=$(client_pid "$p" client2)
    ev=$(wait_addr "$mon2" "$(us_to_iso "$t0")" add 20 "$pid2")
    [[ $ev == *:* ]] || { blog "tput/$impl: client 2 did not qualify ($ev)"; return 1; }
    addr2=${ev#* }
    tune_daemon "$pid1" "$SOCKBUF" "$TXQLEN" "$p" cl1
    tune_daemon "$pid2" "$SOCKBUF" "$TXQLEN" "$p" cl2
    tune_daemon "$rpid" "$SOCKBUF" "$TXQLEN" "$p" relay
    note "metric 5, $impl: txqueuelen of teredo: $(txqlen_of "$p" cl1) (cl1)," \
        "$(txqlen_of "$p" relay) (relay); UDP socket buffers: $(sockbufs_of "$pid1") (cl1)," \
        "$(sockbufs_of "$rpid") (relay)"
    lab "$p" start tgt iperf-tgt iperf3 -s >/dev/null
    lab "$p" start cl2 iperf-cl2 iperf3 -s >/dev/null
    lab "$p" start relay iperf-relay iperf3 -s >/dev/null
    sleep 0.3
    wait_ping_ok "$p" cl1 "$TARGET_IP6" 20 || { relay_ok=0; blog "tput/$impl: no ping via relay"; }
    wait_ping_ok "$p" cl1 "$addr2" 20 || { c2c_ok=0; blog "tput/$impl: no ping client -> client"; }
    echo "$p $pid1 $pid2 $addr2 $relay_ok $c2c_ok $rpid" >"$WORK/tput.$impl.env"
}

# tput_measure IMPL...: the iperf3 runs, the implementations interleaved (and their order
# alternated) run by run, so that a change in background load hits both alike; each round
# ends with the ceiling (plain IPv4 from cl1 to the relay node, in the first lab).
tput_measure() {
    local impl r path p pid1 pid2 addr2 relay_ok c2c_ok rpid res i first
    local -a order pids
    trap 'for impl in "${order[@]}"; do read -r p _ <"$WORK/tput.$impl.env"; lab_down "$p"; done' EXIT
    trap 'exit 143' TERM INT
    order=("$@")
    first=$1
    for impl in "${order[@]}"; do
        read -r p pid1 pid2 addr2 relay_ok c2c_ok rpid <"$WORK/tput.$impl.env"
        res=$WORK/res/tput.$impl.tsv
        ((relay_ok)) && rtt_idle "$p" "$TARGET_IP6" "$res" "$impl"
        result "$res" rss_idle "$impl" "$(kb_to_mb "$(tree_rss "$pid1")")"
        result "$res" relay_rss_idle "$impl" "$(kb_to_mb "$(tree_rss "$rpid")")"
    done
    read -r p _ <"$WORK/tput.$first.env"
    rtt_idle "$p" "$PLAIN_DEST" "$WORK/res/tput.plain.tsv" plain
    for ((r = 1; r <= SLOW_RUNS; r++)); do
        wait_quiet "metric 5 round $r"
        for path in relay c2c; do
            for impl in "${order[@]}"; do
                read -r p pid1 pid2 addr2 relay_ok c2c_ok rpid <"$WORK/tput.$impl.env"
                res=$WORK/res/tput.$impl.tsv
                if ! proc_alive "$pid1" || ! proc_alive "$pid2"; then
                    blog "tput/$impl: a client died"
                elif [[ $path == relay ]]; then
                    if ((relay_ok)); then
                        tput_run "$p" relay "$TARGET_IP6" "$res" "$impl" "$pid1" "$rpid"
                    fi
                elif ((c2c_ok)); then
                    tput_run "$p" c2c "$addr2" "$res" "$impl" "$pid1" "$pid2"
                fi
            done
        done
        read -r p _ <"$WORK/tput.$first.env"
        tput_run "$p" relay "$PLAIN_DEST" "$WORK/res/tput.plain.tsv" plain
        for impl in "${order[@]}"; do
            read -r p pid1 _ _ _ _ rpid <"$WORK/tput.$impl.env"
            if proc_alive "$pid1"; then
                res=$WORK/res/tput.$impl.tsv
                mapfile -t pids < <(proc_tree "$pid1")
                result "$res" rss_load "$impl" "$(kb_to_mb "$(rss_kb "${pids[@]}")")"
                result "$res" hwm_load "$impl" "$(kb_to_mb "$(tree_hwm "$pid1")")"
                result "$res" relay_rss_load "$impl" "$(kb_to_mb "$(tree_rss "$rpid")")"
                result "$res" relay_hwm_load "$impl" "$(kb_to_mb "$(tree_hwm "$rpid")")"
            fi
        done
        # reverse the order for the next round
        local -a rev=()
        for ((i = ${#order[@]} - 1; i >= 0; i--)); do rev+=("${order[i]}"); done
        order=("${rev[@]}")
    done
}

# tput_main: set up a lab per implementation of IMPLS, then measure them interleaved.
tput_main() {
    local impl m
    local -a ready=()
    for impl in "${IMPLS[@]}"; do
        for m in tcp_relay tcp_c2c retr_relay retr_c2c cpu_relay cpu_c2c rtt_med_relay \
            rtt_p99_relay rtt_loss_relay rtt_med_c2c rtt_p99_c2c rtt_loss_c2c rss_load hwm_load relay_rss_load \
            relay_hwm_load; do
            plan "$m" "$impl" "$SLOW_RUNS"
        done
        plan rtt_idle "$impl" 1
        plan rss_idle "$impl" 1
        plan relay_rss_idle "$impl" 1
        impl_available "$impl" || continue
        next_prefix
        run_job "metric 5 setup ($impl)" tput_setup "$impl" "$NEXT_P"
        [[ -s $WORK/tput.$impl.env ]] && ready+=("$impl")
    done
    if ((${#ready[@]})); then
        for m in tcp_relay retr_relay rtt_med_relay rtt_p99_relay rtt_loss_relay; do plan "$m" plain "$SLOW_RUNS"; done
        plan rtt_idle plain 1
        blog "metric 5 (throughput): ${ready[*]}, $SLOW_RUNS × 2 × ${TCP_SECS} s each, and the ceiling"
        run_job "metric 5" tput_measure "${ready[@]}"
    fi
}
