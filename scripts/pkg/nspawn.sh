# shellcheck shell=bash
# shellcheck disable=SC2034 # ct_state and ct_boot_ms are read by the scripts sourcing this
# scripts/pkg/nspawn.sh: boots a Debian root with systemd as PID 1 under
# systemd-nspawn, for scripts/test-systemd.sh (on the host) and
# scripts/vm/systemd-mip6d.sh (in the VM). Sourced after scripts/lib.sh:
#
#   ct_boot ROOT NETNS      boot; sets ct_leader (PID 1 of the container, as seen
#                           here), ct_state (what `systemctl is-system-running --wait`
#                           said) and ct_boot_ms
#   in_ct COMMAND...        run COMMAND in all the container's namespaces
#   ct_poweroff             ask its systemd to power off; waits up to 30 s; returns
#                           nspawn's exit status (124 when it did not stop)
#   ct_leftover_pids        PIDs still in the container's cgroups (none after poweroff)
#   ct_cleanup              kill what is left, remove the cgroups; for an EXIT trap
#
# The nspawn options, and why:
#   --boot                     the root's /lib/systemd/systemd is PID 1 of a new PID
#                              namespace, with its own journald and dbus.service;
#   --network-namespace-path   a network namespace the caller made (/run/netns/NETNS):
#                              the container never sees the host's interfaces, and
#                              what the daemons leave in it can be checked after the
#                              container is gone;
#   --capability=CAP_NET_ADMIN nspawn grants it only with --private-network; the
#                              daemons need it, in that namespace;
#   --register=no --keep-unit  no machined and no host systemd are asked (the host's
#                              PID 1 may not be systemd); nspawn and the container go
#                              under a cgroup made here (ct_cgroups), removed after;
#   SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1  the container gets the unified cgroup
#                              hierarchy, as a booted Debian 12 has, whatever the host's.

ct_nspawn_pid=
ct_leader=
ct_state=
ct_boot_ms=
ct_cgroups=()
ct_made_run_dir=

ct_boot() {
  local root=$1 netns=$2 name started d
  name=miredo-rs-ct-${root##*[./]}
  command -v systemd-nspawn >/dev/null ||
    die "systemd-nspawn not found (package systemd-container; scripts/deps.sh installs it)"
  [ -e /run/systemd/nspawn ] || ct_made_run_dir=1
  # A cgroup of our own on every hierarchy nspawn uses: it puts itself and the
  # container under the cgroup it is started in.
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    ct_cgroups=(/sys/fs/cgroup/"$name")
  else
    [ -d /sys/fs/cgroup/unified ] && ct_cgroups+=(/sys/fs/cgroup/unified/"$name")
    [ -d /sys/fs/cgroup/systemd ] && ct_cgroups+=(/sys/fs/cgroup/systemd/"$name")
  fi
  [ ${#ct_cgroups[@]} -gt 0 ] || die "no cgroup hierarchy for the container under /sys/fs/cgroup"
  started=$(date +%s%N)
  (
    for d in "${ct_cgroups[@]}"; do
      mkdir "$d"
      echo "$BASHPID" >"$d/cgroup.procs"
    done
    exec env SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn --quiet --boot --directory="$root" \
      --machine="$name" --register=no --keep-unit --network-namespace-path="/run/netns/$netns" \
      --capability=CAP_NET_ADMIN --console=pipe
  ) </dev/null >"$root.console" 2>&1 &
  ct_nspawn_pid=$!
  wait_for 100 ct_find_leader || die "systemd-nspawn started no container: $(cat "$root.console")"
  # systemctl needs PID 1's private socket before it can wait for the boot to end.
  wait_for 600 nsenter --target "$ct_leader" --all test -S /run/systemd/private ||
    die "the container's systemd never opened /run/systemd/private: $(cat "$root.console")"
  ct_state=$(timeout 120 nsenter --target "$ct_leader" --all systemctl is-system-running --wait 2>&1) || true
  ct_boot_ms=$((($(date +%s%N) - started) / 1000000))
}

# PID 1 of the container: nspawn's child that is PID 1 of its own PID namespace (an
# intermediate child comes and goes first).
ct_find_leader() {
  local p
  for p in $(cat "/proc/$ct_nspawn_pid/task/$ct_nspawn_pid/children" 2>/dev/null); do
    if [ "$(awk '$1 == "NSpid:" { print $NF }' "/proc/$p/status" 2>/dev/null)" = 1 ]; then
      ct_leader=$p
      return 0
    fi
  done
  return 1
}

in_ct() {
  nsenter --target "$ct_leader" --all env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

ct_poweroff() {
  local status=0
  [ -n "$ct_nspawn_pid" ] || return 0
  # SIGTERM to nspawn asks the container's systemd to power off (SIGRTMIN+3).
  kill -TERM "$ct_nspawn_pid" 2>/dev/null
  wait_for 300 bash -c "! kill -0 $ct_nspawn_pid" || return 124
  wait "$ct_nspawn_pid" || status=$?
  ct_nspawn_pid=
  ct_leader=
  return "$status"
}

ct_leftover_pids() {
  local d
  for d in "${ct_cgroups[@]}"; do
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
}

ct_cleanup() {
  local d
  # The container's PID 1 first: SIGKILL to it ends the whole PID namespace.
  [ -n "$ct_leader" ] && kill -KILL "$ct_leader" 2>/dev/null
  if [ -n "$ct_nspawn_pid" ] && kill -0 "$ct_nspawn_pid" 2>/dev/null; then
    kill -KILL "$ct_nspawn_pid" 2>/dev/null
    wait "$ct_nspawn_pid" 2>/dev/null
  fi
  for d in "${ct_cgroups[@]}"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  [ -n "$ct_made_run_dir" ] && rm -rf --one-file-system /run/systemd/nspawn
  return 0
}
