# shellcheck shell=bash
# The table of scripts/bench-relay.sh (sourced): per metric the median (min–max) over the
# rounds for the plain IPv4 path, Debian's relay and ours, and ours/debian. Needs RES (the
# results: METRIC<TAB>IMPL<TAB>VALUE lines), SIZES, LOSS_MAX and ALL_CPUS.

# relay_rows: "METRIC|LABEL" lines, in table order.
relay_rows() {
    local len
    echo "tcp_relay|TCP through the relay (Mbit/s)"
    echo "retr_relay|TCP retransmitted segments (%)"
    echo "cpu_relay|relay CPU per GB, TCP (s/GB)"
    echo "rtt_med_relay|ping RTT during TCP, median (ms)"
    echo "rtt_p99_relay|ping RTT during TCP, p99 (ms)"
    echo "rtt_loss_relay|pings unanswered during TCP (%)"
    for len in ${SIZES//,/ }; do
        echo "udp_$len|$len-byte UDP: highest rate with ≤ $LOSS_MAX % loss, relay on CPUs $ALL_CPUS (packets/s)"
        echo "udp_cpu_$len|$len-byte UDP: relay CPU per million packets at that rate (s)"
    done
    echo "udp1_64|64-byte UDP: highest rate with ≤ $LOSS_MAX % loss, relay pinned to 1 CPU (packets/s)"
    echo "udp1_cpu_64|64-byte UDP, relay on 1 CPU: CPU per million packets (s)"
    echo "pair1_64|64-byte UDP from two clients at once (NATs of different loops), ≤ $LOSS_MAX % loss, relay with 1 packet loop (packets/s)"
    echo "pair1_cpu_64|the same, relay with 1 loop: CPU per million packets (s)"
    echo "pairn_64|64-byte UDP from the same two clients, relay with ${LOOPS_ALL:-its} packet loops (packets/s)"
    echo "pairn_cpu_64|the same, relay with ${LOOPS_ALL:-its} loops: CPU per million packets (s)"
    echo "rss_idle|relay RSS, idle after set-up (MB)"
    echo "anon_idle|relay anonymous memory (RssAnon), idle (MB)"
    echo "rss_load|relay RSS after the rounds (MB)"
    echo "anon_load|relay anonymous memory (RssAnon) after the rounds (MB)"
    echo "hwm_load|relay peak RSS (VmHWM) after the rounds (MB)"
}

# median_of METRIC IMPL: the median of IMPL's figures for METRIC ("" without any).
median_of() {
    awk -F'\t' -v m="$1" -v i="$2" '$1 == m && $2 == i && $3 ~ /^[0-9.]+$/ { print $3 }' "$RES" |
        sort -g | awk '{ v[++n] = $1 } END { if (n) print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

# growth FROM TO IMPL: median of TO over median of FROM, for IMPL ("n/a" without both).
growth() {
    local a b
    a=$(median_of "$1" "$3")
    b=$(median_of "$2" "$3")
    if [[ -n $a && -n $b ]]; then
        awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f\n", b / a; else print "n/a" }'
    else
        echo n/a
    fi
}

relay_table() {
    echo "| metric | plain IPv4 (ceiling) | debian | ours | ours/debian |"
    echo "|---|---|---|---|---|"
    local m label
    while IFS='|' read -r m label; do
        grep -q "^$m	" "$RES" || continue
        awk -F'\t' -v m="$m" -v label="$label" '
            $1 == m && $3 != "na" && $3 != "" { v[$2] = v[$2] " " $3 }
            function sorted(s, a,   n, i, j, t) {
                n = split(s, a, " ")
                for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
                return n
            }
            function med(s,   a, n) {
                n = sorted(s, a); if (!n) return ""
                return (n % 2) ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            function num(x) {
                x += 0
                return sprintf(x >= 100 ? "%.0f" : x >= 10 ? "%.1f" : "%.2f", x)
            }
            function cell(s,   a, n, x) {
                n = sorted(s, a); if (!n) return "n/a"
                x = num(med(s))
                if (n > 1) x = x " (" num(a[1]) "–" num(a[n]) ")"
                return x
            }
            END {
                d = med(v["debian"]); o = med(v["ours"])
                ratio = (d != "" && o != "" && d + 0 != 0) ? sprintf("%.2f", o / d) : "—"
                p = ("plain" in v) ? cell(v["plain"]) : "—"
                printf "| %s | %s | %s | %s | %s |\n", label, p, cell(v["debian"]), cell(v["ours"]), ratio
            }' "$RES"
    done < <(relay_rows)
}
