# shellcheck shell=bash
# The lab's recorded processes: signalling a PID only while it is still the
# process that was recorded (its start time in /proc guards against a recycled
# PID). Sourced by scripts/lab.sh, which provides log.

# starttime PID: field 22 of /proc/PID/stat (guards against killing a recycled PID);
# fails for a zombie.
starttime() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    # shellcheck disable=SC2086 # word splitting intended
    set -- $stat
    [[ $1 != Z ]] || return 1
    echo "${20}"
}

# alive PID STARTTIME: is that very process still there?
alive() {
    local st
    st=$(starttime "$1") || return 1
    [[ $st == "$2" ]]
}

# kill_all SIGNAL "PID STARTTIME"...: signal them all, wait up to 3 s, SIGKILL the rest
# and wait up to 2 s more. Prints the PIDs that survived; fails if any did.
kill_all() {
    local sig=$1 e pid st i left
    shift
    for e in "$@"; do
        read -r pid st <<<"$e"
        if alive "$pid" "$st"; then kill "-$sig" "$pid" 2>/dev/null || true; fi
    done
    for ((i = 0; i < 250; i++)); do
        left=()
        for e in "$@"; do
            read -r pid st <<<"$e"
            if alive "$pid" "$st"; then left+=("$e"); fi
        done
        ((${#left[@]})) || return 0
        if ((i == 150)); then
            log "SIG$sig ignored for 3 s by PIDs ${left[*]%% *}: SIGKILL"
            sig=KILL
            for e in "${left[@]}"; do kill -KILL "${e%% *}" 2>/dev/null || true; done
        fi
        sleep 0.02
    done
    echo "${left[*]%% *}"
    return 1
}

# kill_wait PID STARTTIME SIGNAL
kill_wait() {
    kill_all "$3" "$1 $2" >/dev/null
}
