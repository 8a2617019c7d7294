# shellcheck shell=bash
# The UDP rate search of scripts/bench-relay.sh (sourced): the highest packet rate that
# crosses a path with at most LOSS_MAX % loss. Needs LAB_SH, WORK, UDP_SECS, LOSS_MAX and
# the functions of scripts/bench/lib.sh.

# udp_trial PREFIX DEST LEN PPS PID: one iperf3 -u run from cl1 to DEST (LEN-byte payloads
# offered at PPS packets/s); CPU counted over PID and its descendants (PID "" = none).
# -w 2M gives both iperf3 ends 2 MiB socket buffers, so that the receiving iperf3 being
# descheduled for a moment does not count as the path's loss.
# Prints "RX_PPS LOSS_PCT CPU_S_PER_MPKT" (the receiver's count: sum_received), or "fail".
udp_trial() {
    local p=$1 dest=$2 len=$3 pps=$4 pid=$5 json fam=-6 c0=0 c1=0
    [[ $dest == *:* ]] || fam=-4
    json=$WORK/udp.$p.$len.$pps.$(now_us).json
    [[ -n $pid ]] && c0=$(tree_cpu "$pid")
    timeout $((UDP_SECS + 20)) "$LAB_SH" --prefix "$p" exec cl1 iperf3 "$fam" -u \
        -w 2M -b $((pps * len * 8)) -l "$len" -c "$dest" -t "$UDP_SECS" -J >"$json" 2>&1 || true
    [[ -n $pid ]] && c1=$(tree_cpu "$pid")
    jq -r --arg c "$((c1 - c0))" --arg hz "$(getconf CLK_TCK)" '
        (.end.sum_received // .end.sum) | select(.packets != null and .packets > 0 and .seconds > 0)
        | ((.packets - .lost_packets) / .seconds) as $rx
        | "\($rx | floor) \(.lost_percent) \(if $rx > 0 then (($c | tonumber) / ($hz | tonumber)) / ($rx * .seconds / 1e6) else 0 end)"
        ' "$json" 2>/dev/null | grep . || echo fail
}

# udp_trial_pair PREFIX DEST LEN PPS PID: udp_trial from two clients at once, cl1 and cl3
# (behind nat1 and nat3, whose public addresses belong to different loops of a relay
# with two), each offering PPS/2 to its own iperf3 server on DEST (ports 5201, 5202).
# Prints the sums as udp_trial does: received packets/s of both, the loss over both, CPU
# per million packets received.
udp_trial_pair() {
    local p=$1 dest=$2 len=$3 pps=$4 pid=$5 fam=-6 c0=0 c1=0 n port t
    local -a waits=() files=()
    [[ $dest == *:* ]] || fam=-4
    t=$(now_us)
    [[ -n $pid ]] && c0=$(tree_cpu "$pid")
    for n in 1 3; do
        port=$((n == 1 ? 5201 : 5202))
        files+=("$WORK/udp2.$p.$len.$pps.$t.cl$n.json")
        timeout $((UDP_SECS + 20)) "$LAB_SH" --prefix "$p" exec "cl$n" iperf3 "$fam" -u \
            -w 2M -b $((pps * len * 8 / 2)) -l "$len" -c "$dest" -p "$port" -t "$UDP_SECS" \
            -J >"${files[-1]}" 2>&1 &
        waits+=($!)
    done
    wait "${waits[@]}" || true
    [[ -n $pid ]] && c1=$(tree_cpu "$pid")
    jq -r '(.end.sum_received // .end.sum)
        | select(.packets != null and .packets > 0 and .seconds > 0)
        | "\(.packets) \(.lost_packets) \(.seconds)"' "${files[@]}" 2>/dev/null |
        awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" '
            { pk += $1; lost += $2; rx += ($1 - $2) / $3; secs = $3; n++ }
            END {
                if (n != 2 || pk == 0) { print "fail"; exit }
                printf "%d %.4f %s\n", rx, 100 * lost / pk, (rx > 0) ? (c / hz) / (rx * secs / 1e6) : 0
            }'
}

loss_ok() { # LOSS_PCT: within LOSS_MAX
    awk -v l="$1" -v m="$LOSS_MAX" 'BEGIN { exit !(l <= m) }'
}

# udp_search PREFIX DEST LEN PID START_PPS: double the offered rate from START_PPS while the
# loss stays within LOSS_MAX %, then bisect between the last good and the first bad rate
# to within 10 % (a rate is bad when two trials at it lose more). Prints "RX_PPS
# CPU_S_PER_MPKT NOTE" of the good trial that received the most (RX_PPS = the rate
# received; NOTE is "sender" when iperf3 could not offer more than 0.9 × the rate asked,
# twice, so the figure is the sender's limit, else "-"), or "na na fail". UDP_TRIAL names
# the trial function (default udp_trial; udp_trial_pair for two senders).
udp_search() {
    local p=$1 dest=$2 len=$3 pid=$4 rate=$5 lo=0 hi=0 best="" out rx loss cpu n note=-
    local trial=${UDP_TRIAL:-udp_trial}
    for ((n = 0; n < 14; n++)); do
        out=$("$trial" "$p" "$dest" "$len" "$rate" "$pid")
        if [[ $out == fail ]]; then
            blog "udp $len B to $dest at $rate pps: iperf3 failed"
            break
        fi
        read -r rx loss cpu <<<"$out"
        blog "udp $len B to $dest: offered $rate pps, received $rx pps, loss $loss %"
        if ! loss_ok "$loss" || ((rx * 10 < rate * 9)); then
            # A loss, or a sender that fell short, can be a moment of other load on the
            # machine: a rate counts as too high (or beyond the sender) only when a second
            # trial at it says so too.
            out=$("$trial" "$p" "$dest" "$len" "$rate" "$pid")
            [[ $out == fail ]] || read -r rx loss cpu <<<"$out"
            blog "udp $len B to $dest: offered $rate pps again, received $rx pps, loss $loss %"
        fi
        if loss_ok "$loss"; then
            lo=$rate
            if [[ -z $best ]] || ((rx > ${best%% *})); then best="$rx $cpu"; fi
            if ((rx * 10 < rate * 9)); then
                note=sender
                break
            fi
            if ((hi == 0)); then rate=$((rate * 2)); else rate=$(((lo + hi) / 2)); fi
        else
            hi=$rate
            rate=$(((lo + hi) / 2))
        fi
        ((hi > 0 && (hi - lo) * 10 <= hi)) && break
        ((rate >= 1000)) || break
    done
    if [[ -z $best ]]; then
        echo "na na fail"
    else
        echo "$best $note"
    fi
}

# pin_tree PID CPUS: restrict PID, its threads and its descendants to CPUS (taskset list).
pin_tree() {
    local q
    for q in $(proc_tree "$1"); do
        taskset -a -p -c "$2" "$q" >/dev/null 2>&1 || blog "taskset $2 on pid $q failed"
    done
}
