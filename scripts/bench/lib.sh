# shellcheck shell=bash
# scripts/bench/lib.sh: functions for scripts/bench-client.sh and scripts/bench-relay.sh
# (sourced, not run).
#
# Needs: LAB_SH (path of scripts/lab.sh), WORK (the benchmark's work directory),
# OURS_BIN (our miredo binary), LAB_STATE_ROOT_EFF (lab.sh's state root).
#
# Times: integers in microseconds since the epoch ("us"), or ISO local timestamps as
# `ip -ts monitor` prints them ("iso", YYYY-MM-DDTHH:MM:SS.ffffff, compared as strings).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRV_IP=192.0.2.1
export TARGET_IP6=2001:db8:1::1 # used by bench-client.sh

blog() {
    printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2
}

# lab PREFIX SUBCOMMAND...: scripts/lab.sh on one lab.
lab() {
    local p=$1
    shift
    "$LAB_SH" --prefix "$p" "$@"
}

# lab_up PREFIX UP-OPTIONS...: build a lab (recorded in $WORK/labs for the exit trap).
lab_up() {
    local p=$1
    shift
    echo "$p" >>"$WORK/labs"
    lab "$p" up --owner "$BENCH_OWNER" "$@" >/dev/null 2>>"$WORK/lab-$p.log"
}

# lab_down PREFIX: keep the lab's logs in $WORK/logs/PREFIX, then tear it down.
lab_down() {
    local p=$1 st
    st=$LAB_STATE_ROOT_EFF/$p
    [[ -d $st ]] || return 0
    mkdir -p "$WORK/logs/$p"
    cp -r "$st/logs/." "$WORK/logs/$p/" 2>/dev/null || true
    lab "$p" down 2>>"$WORK/lab-$p.log" || true
}

now_us() {
    local t=$EPOCHREALTIME
    echo "${t/./}"
}

iso_to_us() {
    date -d "$1" +%s%6N
}

us_to_iso() {
    local us=$1
    date -d "@${us:0:${#us}-6}.${us: -6}" +%Y-%m-%dT%H:%M:%S.%6N
}

# fmt_us_diff A B UNIT: (B - A) in ms or s, 1 or 3 decimals.
fmt_us_diff() {
    awk -v a="$1" -v b="$2" -v u="$3" 'BEGIN {
        d = b - a
        if (u == "ms") printf "%.1f\n", d / 1000; else printf "%.3f\n", d / 1e6 }'
}

# sleep_until_us US
sleep_until_us() {
    local d
    d=$(($1 - $(now_us)))
    ((d > 0)) || return 0
    sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1e6 }')"
}

# addr_events FILE: `ip -ts monitor address` output as "ISO KIND DEV FAMILY ADDRESS" lines.
addr_events() {
    [[ -f $1 ]] || return 0
    awk '$1 ~ /^\[/ {
        ts = substr($1, 2, length($1) - 2); i = 2; kind = "add"
        if ($2 == "Deleted") { kind = "del"; i = 3 }
        a = $(i + 3); sub(/\/.*/, "", a)
        print ts, kind, $(i + 1), $(i + 2), a }' "$1"
}

# first_event FILE AFTER_ISO KIND DEV FAMILY [EXCLUDE_ADDR]: the first matching global
# address event strictly after AFTER_ISO, as "ISO ADDRESS"; nothing when none yet.
first_event() {
    addr_events "$1" | awk -v after="$2" -v kind="$3" -v dev="$4" -v fam="$5" -v not="${6:-}" '
        $1 > after && $2 == kind && $3 == dev && $4 == fam && $5 !~ /^fe80:/ &&
        (not == "" || $5 != not) { print $1, $5; exit }'
}

# teredo_public_ip ADDR: the (de-obfuscated) public IPv4 that a Teredo address embeds.
teredo_public_ip() {
    local a=$1 g1 g2 v
    g2=${a##*:}
    a=${a%:*}
    g1=${a##*:}
    v=$(((((16#$g1) << 16 | (16#$g2)) ^ 0xffffffff) & 0xffffffff))
    printf '%d.%d.%d.%d\n' $((v >> 24 & 255)) $((v >> 16 & 255)) $((v >> 8 & 255)) $((v & 255))
}

# first_teredo_embedding FILE AFTER_ISO IPV4: first Teredo address added after AFTER_ISO
# that embeds IPV4, as "ISO ADDRESS".
first_teredo_embedding() {
    local iso kind dev fam a
    while read -r iso kind dev fam a; do
        [[ $iso > $2 && $kind == add && $dev == teredo && $fam == inet6 && $a != fe80:* ]] ||
            continue
        if [[ $(teredo_public_ip "$a") == "$3" ]]; then
            echo "$iso $a"
            return 0
        fi
    done < <(addr_events "$1")
}

# ping_recovered FILE AFTER_US: from `ping -D` output, the time (us) of the first echo reply
# to a request sent after AFTER_US (send time = reply time - RTT) that starts a run of 20
# consecutive answered requests (0.2 s at -i 0.01): a straggler sent just after the change
# that still got through on the old path does not count as "works again".
ping_recovered() {
    [[ -f $1 ]] || return 0
    awk -v t="$2" '/bytes from/ {
        ts = substr($1, 2, length($1) - 2); rtt = 0; seq = -1
        for (i = 2; i <= NF; i++) {
            if ($i ~ /^time=/) rtt = substr($i, 6)
            if ($i ~ /^icmp_seq=/) seq = substr($i, 10) + 0
        }
        split(ts, p, ".")
        us = p[1] * 1000000 + p[2]
        if (us - rtt * 1000 <= t) next
        if (n > 0 && seq == last + 1) n++; else { n = 1; first = us }
        last = seq
        if (n >= 20) { printf "%.0f\n", first; exit } }' "$1"
}

# proc_alive PID: running and not a zombie.
proc_alive() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    [[ ${s:0:1} != Z ]]
}

# proc_tree PID: PID and all its descendants.
proc_tree() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { kids[$2] = kids[$2] " " $1 }
        END {
            q[1] = root; n = 1; h = 1
            while (h <= n) {
                p = q[h++]; print p
                m = split(kids[p], k, " ")
                for (i = 1; i <= m; i++) q[++n] = k[i]
            } }'
}

# cpu_ticks PID...: utime + stime summed (clock ticks; a vanished PID counts 0).
cpu_ticks() {
    local p s f sum=0
    for p in "$@"; do
        s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        s=${s##*) }
        read -r -a f <<<"$s"
        sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}

# rss_kb PID...: VmRSS summed, kB.
rss_kb() {
    status_kb VmRSS "$@"
}

# status_kb FIELD PID...: a kB field of /proc/PID/status (VmRSS, RssAnon, VmHWM) summed.
status_kb() {
    local field=$1 p k v sum=0
    shift
    for p in "$@"; do
        while read -r k v _; do
            if [[ $k == "$field:" ]]; then sum=$((sum + v)); fi
        done <"/proc/$p/status" 2>/dev/null || true
    done
    echo "$sum"
}

# cpu_busy_pct: how busy the machine's CPUs are over one second, in percent.
cpu_busy_pct() {
    local a b
    a=$(head -n1 /proc/stat)
    sleep 1
    b=$(head -n1 /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {
        split(a, x, " "); split(b, y, " "); tot = 0; idle = 0
        for (i = 2; i <= 9; i++) tot += y[i] - x[i]
        idle = (y[5] - x[5]) + (y[6] - x[6])
        printf "%.0f\n", tot ? 100 * (tot - idle) / tot : 0 }'
}

kb_to_mb() {
    awk -v k="$1" 'BEGIN { printf "%.1f\n", k / 1024 }'
}

# impl_bin IMPL / impl_args IMPL: how to run a client implementation.
impl_bin() {
    case $1 in
    debian) echo /usr/sbin/miredo ;;
    *) echo "$OURS_BIN" ;;
    esac
}

impl_args() {
    case $1 in
    debian) ;;
    ours) echo --client-hook /nonexistent ;;
    ours+hook) echo --client-hook /etc/miredo/client-hook ;;
    *) return 1 ;;
    esac
}

# impl_available IMPL
impl_available() {
    [[ $1 == debian ]] && return 0
    [[ -x $OURS_BIN ]] && "$OURS_BIN" -V >/dev/null 2>&1
}

# start_client PREFIX N IMPL NAME: run a Teredo client in clN; its exec time (us) goes to
# $WORK/t0.PREFIX.NAME (written by the wrapper right before it execs the daemon).
start_client() {
    local p=$1 n=$2 impl=$3 name=$4 st conf bin t0file
    local -a extra
    st=$LAB_STATE_ROOT_EFF/$p
    conf=$st/conf/$name.conf
    t0file=$WORK/t0.$p.$name
    rm -f "$t0file"
    printf 'ServerAddress %s\nInterfaceName teredo\n' "$SRV_IP" >"$conf"
    bin=$(impl_bin "$impl")
    read -r -a extra <<<"$(impl_args "$impl")"
    # shellcheck disable=SC2016 # expanded by the inner bash
    lab "$p" start "cl$n" "$name" bash -c \
        'printf "%s" "${EPOCHREALTIME/./}" >"$1"; shift; exec "$@"' bench-exec "$t0file" \
        "$bin" -f -p "$st/run/$name.pid" -c "$conf" "${extra[@]}" >/dev/null
}

# client_t0 PREFIX NAME: the exec time (us) recorded by start_client.
client_t0() {
    local t0file=$WORK/t0.$1.$2 i
    for ((i = 0; i < 100; i++)); do
        if [[ -s $t0file ]]; then
            cat "$t0file"
            return 0
        fi
        sleep 0.01
    done
    return 1
}

# client_pid PREFIX NAME
client_pid() {
    lab "$1" pid "$2" 2>/dev/null
}

# start_monitor PREFIX NODE NAME: `ip -ts monitor address` in NODE, logged; prints the log.
start_monitor() {
    local p=$1 node=$2 name=$3 log
    lab "$p" start "$node" "$name" ip -ts monitor address >/dev/null
    log=$(lab "$p" log "$name")
    sleep 0.1 # let it subscribe
    echo "$log"
}

# wait_addr MONLOG AFTER_ISO KIND CAP_S PID [EXCLUDE [POLL_S]]: wait for a global teredo
# address event; prints "ISO ADDRESS", or "never" at the cap, or "dead" when PID died
# first. The time comes from the monitor's timestamp: the poll interval (default 0.25 s)
# only sets how soon we notice.
wait_addr() {
    local mon=$1 after=$2 kind=$3 cap=$4 pid=$5 not=${6:-} poll=${7:-0.25} deadline ev
    deadline=$(($(now_us) + cap * 1000000))
    while :; do
        ev=$(first_event "$mon" "$after" "$kind" teredo inet6 "$not")
        if [[ -n $ev ]]; then
            echo "$ev"
            return 0
        fi
        if ! proc_alive "$pid"; then
            echo dead
            return 0
        fi
        if (($(now_us) > deadline)); then
            echo never
            return 0
        fi
        sleep "$poll"
    done
}

# wait_ping_ok PREFIX NODE DEST CAP_S: one ping succeeds within the cap.
wait_ping_ok() {
    local p=$1 node=$2 dest=$3 cap=$4 deadline
    deadline=$(($(now_us) + cap * 1000000))
    while (($(now_us) < deadline)); do
        if lab "$p" exec "$node" ping -6 -n -c 1 -W 1 "$dest" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# result FILE METRIC IMPL VALUE: one measurement (a number, "never" or "na").
result() {
    printf '%s\t%s\t%s\n' "$2" "$3" "$4" >>"$1"
}

# tree_pids PID / tree_cpu PID / tree_rss PID / tree_anon PID / tree_hwm PID: PID and its
# descendants; their CPU ticks, VmRSS (kB), RssAnon (the anonymous part of VmRSS: heap,
# stacks, buffers; the rest is file-backed code and data) and VmHWM (peak RSS, kB) summed.
tree_pids() {
    proc_tree "$1"
}
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
tree_anon() {
    local -a pids
    mapfile -t pids < <(proc_tree "$1")
    status_kb RssAnon "${pids[@]}"
}
tree_hwm() {
    local -a pids
    mapfile -t pids < <(proc_tree "$1")
    status_kb VmHWM "${pids[@]}"
}

# start_relay IMPL PREFIX [LOOPS]: the relay of IMPL (debian or ours) in the lab's relay
# node, running once it routes 2001::/32 into its tunnel; prints its PID. LOOPS sets our
# relay's packet loops (MIREDO_RELAY_LOOPS; default one per CPU).
start_relay() {
    local impl=$1 p=$2 loops=${3:-} st conf i
    local -a envv=()
    if [[ $impl == debian ]]; then
        lab "$p" start-debian-relay >/dev/null
        lab "$p" pid debian-relay
        return 0
    fi
    st=$LAB_STATE_ROOT_EFF/$p
    conf=$st/conf/our-relay.conf
    printf 'RelayType relay\nInterfaceName teredo\n' >"$conf"
    [[ -z $loops ]] || envv=(env "MIREDO_RELAY_LOOPS=$loops")
    lab "$p" start relay our-relay "${envv[@]}" "$OURS_BIN" -f -p "$st/run/our-relay.pid" \
        -c "$conf" >/dev/null
    for ((i = 0; i < 100; i++)); do
        lab "$p" exec relay ip -6 route show dev teredo 2>/dev/null | grep -q '^2001::/32' && break
        sleep 0.1
    done
    lab "$p" pid our-relay
}

# ping_stats FILE: "MEDIAN P99 REPLIES SENT" of the RTTs (ms) in a ping's output
# (nearest-rank percentiles); "n/a n/a 0 SENT" without replies.
ping_stats() {
    awk '/bytes from/ { for (i = 1; i <= NF; i++) if ($i ~ /^time=/) print substr($i, 6) + 0 }
         /packets transmitted/ { print "sent", $1 }' "$1" 2>/dev/null |
        sort -g | awk '
        $1 == "sent" { sent = $2; next }
        { v[++n] = $1 }
        END {
            if (!n) { printf "n/a n/a 0 %d\n", sent; exit }
            m = v[int((n + 1) / 2)]; q = int(0.99 * n + 0.999); if (q < 1) q = 1
            printf "%.3f %.3f %d %d\n", m, v[q], n, sent }'
}

# tune_daemon PID SOCKBUF TXQLEN PREFIX NODE: the experiment knobs for queueing delay.
# SOCKBUF (bytes, "" = leave) sets SO_RCVBUF/SO_SNDBUF of every IPv4 UDP socket of PID and
# its descendants from outside (pidfd_getfd, scripts/bench/sockbuf.py; the same for both
# implementations, no rebuild); TXQLEN ("" = leave) is the teredo interface's txqueuelen.
tune_daemon() {
    local pid=$1 buf=$2 txq=$3 p=$4 node=$5 q
    if [[ -n $buf ]]; then
        for q in $(proc_tree "$pid"); do
            python3 "$BENCH_DIR/sockbuf.py" "$q" "$buf" >>"$WORK/tune.log" 2>&1 ||
                blog "sockbuf $buf on pid $q failed (see $WORK/tune.log)"
        done
    fi
    if [[ -n $txq ]]; then
        lab "$p" exec "$node" ip link set dev teredo txqueuelen "$txq" ||
            blog "txqueuelen $txq on $node failed"
    fi
}

# note LINE: a line for the notes under the table ($WORK/notes).
note() {
    echo "$*" >>"$WORK/notes"
}

# wait_quiet LABEL: wait (up to QUIET_WAIT s) until the CPUs are at most QUIET_MAX % busy
# over a second; note what was seen.
wait_quiet() {
    local b waited=0
    while :; do
        b=$(cpu_busy_pct)
        if ((b <= QUIET_MAX)); then
            note "$1: CPUs $b % busy just before (waited ${waited} s for that)"
            return 0
        fi
        if ((waited >= QUIET_WAIT)); then
            note "$1: CPUs still $b % busy after waiting ${waited} s: figures disturbed"
            blog "$1: machine busy ($b %), measuring anyway"
            return 0
        fi
        ((waited == 0)) && blog "$1: CPUs $b % busy (other work); waiting up to ${QUIET_WAIT} s"
        sleep 4
        waited=$((waited + 5))
    done
}

# txqlen_of PREFIX NODE: the txqueuelen of NODE's teredo interface.
txqlen_of() {
    lab "$1" exec "$2" cat /sys/class/net/teredo/tx_queue_len 2>/dev/null || echo '?'
}

# sockbufs_of PID: "rcvbuf/sndbuf" (bytes, as the kernel reports them: twice the size
# asked) of the IPv4 UDP sockets of PID and its descendants, from /proc/net/udp's inodes
# and the sockets' skmem in `ss`; "?" when not found.
sockbufs_of() {
    local q out=""
    for q in $(proc_tree "$1"); do
        out+=$(nsenter -t "$q" -n ss -u -a -n -m -p 2>/dev/null | awk -v pid="pid=$q," '
            index($0, pid) { want = 1; next }
            want && /skmem/ { match($0, /rb[0-9]+/); r = substr($0, RSTART + 2, RLENGTH - 2)
                match($0, /tb[0-9]+/); t = substr($0, RSTART + 2, RLENGTH - 2)
                printf "%s/%s ", r, t; want = 0 }')
    done
    out=${out% }
    echo "${out:-?}"
}

# perf_start OUT SECS PID...: sample (perf record -g, 999 Hz) PID... and their descendants
# (their threads too) for SECS s into OUT, in the background; its PID is in PERF_PID.
perf_start() {
    local out=$1 secs=$2 q list=""
    shift 2
    for q in "$@"; do list+=$(proc_tree "$q" | paste -sd, -),; done
    perf record -q -F 999 -g -p "${list%,}" -o "$out" -- sleep "$secs" >/dev/null 2>&1 &
    # shellcheck disable=SC2034 # read by the caller
    PERF_PID=$!
}

# perf_top OUT: the symbols with at least 1 % of the samples in OUT (self time).
perf_top() {
    perf report -i "$1" --no-children -g none --sort comm,dso,sym --percent-limit 1 --stdio 2>/dev/null |
        grep -v '^#' | grep -v '^$' | grep -v '^ *|' | grep -v -- '---' | head -n 40
}
