# shellcheck shell=bash
# The report of scripts/bench-client.sh: the metrics table (median, min, max and
# ours/debian per metric and implementation) and the machine line. Sourced by
# bench-client.sh, which provides WORK, IMPL, LOAD_START, OURS_BIN, OURS_ORIG
# and impl_available.

METRIC_TABLE='start|start → Teredo address on the interface|ms
cip_ping|client IPv4 change → ping via relay answered again|s
cip_addr|client IPv4 change → Teredo address changes|s
nat_addr|NAT public IPv4 change → address embeds the new IPv4|s
nat_ping|NAT public IPv4 change → ping via relay answered again|s
loss_down|server blocked → address removed|s
loss_up|server unblocked → address back|s
tcp_relay|TCP client → relay → IPv6 host|Mbit/s
tcp_c2c|TCP client → client|Mbit/s
retr_relay|TCP retransmitted segments, via relay|%
retr_c2c|TCP retransmitted segments, client → client|%
cpu_relay|CPU per GB, client + relay, via relay|s/GB
cpu_c2c|CPU per GB, both clients, client → client|s/GB
rtt_idle|ping RTT via relay, idle, median|ms
rtt_med_relay|ping RTT via relay during TCP, median|ms
rtt_p99_relay|ping RTT via relay during TCP, p99|ms
rtt_loss_relay|pings unanswered via relay during TCP|%
rtt_med_c2c|ping RTT client → client during TCP, median|ms
rtt_p99_c2c|ping RTT client → client during TCP, p99|ms
rtt_loss_c2c|pings unanswered client → client during TCP|%
rss_idle|RSS of the client processes, idle|MB
rss_load|RSS of the client processes, after TCP|MB
hwm_load|peak RSS (VmHWM) of the client processes, after TCP|MB
relay_rss_idle|RSS of the relay, idle|MB
relay_rss_load|RSS of the relay, after TCP|MB
relay_hwm_load|peak RSS (VmHWM) of the relay, after TCP|MB'

report() {
    cat "$WORK"/res/*.tsv 2>/dev/null >"$WORK/results.tsv" || true
    awk -F'\t' -v table="$METRIC_TABLE" '
        function fmt(v, unit) {
            if (v == "never" || v == "n/a") return v
            if (unit == "ms" && v < 10) return sprintf("%.2f", v)
            if (unit == "ms" || unit == "MB" || unit == "%") return sprintf("%.1f", v)
            if (unit == "Mbit/s") return sprintf("%.0f", v)
            if (unit == "s") return sprintf("%.3f", v)
            return sprintf("%.2f", v)
        }
        FILENAME == ARGV[1] { planned[$1, $2] += $3; next }
        { n = ++cnt[$1, $2]; val[$1, $2, n] = $3 }
        END {
            nm = split(table, lines, "\n")
            ni = split("plain debian ours ours+hook", impls, " ")
            print "| metric | impl | runs ok | median | min | max | ours/debian |"
            print "|---|---|---|---|---|---|---|"
            for (i = 1; i <= nm; i++) {
                split(lines[i], f, "|"); m = f[1]; label = f[2]; unit = f[3]
                dmed = ""
                for (j = 1; j <= ni; j++) {
                    im = impls[j]
                    if (!((m, im) in planned)) continue
                    # numbers sorted, then the "never"s
                    k = 0; nev = 0; delete a
                    for (x = 1; x <= cnt[m, im]; x++) {
                        v = val[m, im, x]
                        if (v == "never") nev++
                        else if (v != "na" && v != "") a[++k] = v + 0
                    }
                    for (x = 2; x <= k; x++) {
                        t = a[x]
                        for (y = x - 1; y >= 1 && a[y] > t; y--) a[y + 1] = a[y]
                        a[y + 1] = t
                    }
                    for (x = 1; x <= nev; x++) a[k + x] = "never"
                    tot = k + nev
                    if (tot == 0) { med = "n/a"; mn = "n/a"; mx = "n/a" }
                    else {
                        mn = a[1]; mx = a[tot]
                        if (tot % 2) med = a[(tot + 1) / 2]
                        else {
                            lo = a[tot / 2]; hi = a[tot / 2 + 1]
                            med = (lo == "never" || hi == "never") ? "never" : (lo + hi) / 2
                        }
                    }
                    ratio = ""
                    if (im == "debian") dmed = med
                    else if (dmed != "" && dmed != "n/a" && dmed != "never" && med != "n/a" &&
                             med != "never" && dmed + 0 > 0)
                        ratio = sprintf(med / dmed < 0.1 ? "%.2g" : "%.2f", med / dmed)
                    else if (dmed != "") ratio = "—"
                    printf "| %s (%s) | %s | %d/%d | %s | %s | %s | %s |\n", label, unit, im,
                        tot, planned[m, im], fmt(med, unit), fmt(mn, unit), fmt(mx, unit), ratio
                }
            }
        }' "$WORK/planned" "$WORK/results.tsv"
}

machine_info() {
    local cpu
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    echo "- machine: $(uname -srm), ${cpu:-unknown CPU} × $(nproc)," \
        "Debian $(cat /etc/debian_version 2>/dev/null || echo '?')," \
        "load average at start $LOAD_START"
    echo "- debian: $(dpkg-query -W -f '${Package} ${Version}' miredo 2>/dev/null || echo miredo)" \
        "(/usr/sbin/miredo), server and relay: Debian's miredo-server / miredo"
    if [[ $IMPL != debian ]]; then
        if impl_available ours; then
            echo "- ours: $OURS_ORIG ($("$OURS_BIN" -V 2>&1 | head -n1); built" \
                "$(date -u -r "$OURS_BIN" '+%Y-%m-%d %H:%M UTC'), sha256" \
                "$(sha256sum "$OURS_BIN" | cut -c1-12))"
        else
            echo "- ours: $OURS_ORIG not runnable: its rows are n/a"
        fi
    fi
}
