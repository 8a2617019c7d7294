# shellcheck shell=bash
# Helpers for the mip6d guest scripts (sourced after guest-lib.sh): the daemon
# binary, configuration files for the lab's home agent and mobile node, starting
# and stopping the daemons, and mip6d_state_fact for the Rust tests.

MIP6D=${MIP6D_BIN:-${VM_BIN_DIR:-${CARGO_TARGET_DIR:-$VM_REPO/target}/debug}/mip6d}
HOA=2001:db8:1::100

# Sends Mobility Header messages built by the mip6 crate (crates/mip6/examples/mh_send.rs):
# a crafted home BU, BUs of many simulated mobile nodes, a flood of unauthenticated
# messages.
MH_SEND=${MH_SEND_BIN:-$(dirname "$MIP6D")/examples/mh_send}

mip6d_check_binary() {
  [ -x "$MIP6D" ] || vm_die "no $MIP6D: build it first (cargo build -p mip6d)"
}

# For the scripts that send crafted messages (the others, the demo among them,
# run from a build without the examples).
mh_send_check() {
  [ -x "$MH_SEND" ] || vm_die "no $MH_SEND: build it first (cargo build -p mip6 --example mh_send)"
}

# The common start of a mip6d guest script: in the guest, with the binary and
# the kernel modules, the lab up (`vm_topology_up WHERE`) and $VM_LAB made.
mip6d_lab_up() {
  vm_in_guest
  mip6d_check_binary
  vm_load_modules
  vm_topology_up "$1"
  mkdir -p "$VM_LAB"
}

# Waits (bounded) until the MN has its address and default route on link A.
mip6d_wait_mn_on_link_a() {
  vm_wait_addr mn eth-a "$VM_A_PREFIX" 20 >/dev/null || vm_die "the MN got no address on link A"
  vm_wait_default_route mn eth-a 10 || vm_die "no default route on link A"
}

# Writes the home agent's configuration to $VM_LAB/ha.conf; extra lines
# (e.g. BindingAclPolicy) come as arguments. VM_HA_DATAPATH (shared or
# per-binding) sets HaTunnelDatapath; unset, the daemon's default.
mip6d_ha_conf() {
  {
    echo 'NodeConfig HA;'
    echo 'DebugLevel 10;'
    echo 'UseMnHaIPsec disabled;'
    echo 'Interface "eth0";'
    if [ -n "${VM_HA_DATAPATH:-}" ]; then echo "HaTunnelDatapath $VM_HA_DATAPATH;"; fi
    for line in "$@"; do echo "$line"; done
  } >"$VM_LAB/ha.conf"
}

# Writes the mobile node's configuration to $VM_LAB/mn.conf: eth-a preferred
# to eth-b, home address $HOA; extra lines are added at the top level.
mip6d_mn_conf() {
  {
    echo 'NodeConfig MN;'
    echo 'DebugLevel 10;'
    echo 'UseMnHaIPsec disabled;'
    echo 'InterfaceInitialInitDelay 0.5;'
    # Below the home prefix's preferred lifetime (120 s): status 0, not 1.
    echo 'MnMaxHaBindingLife 60;'
    echo 'Interface "eth-home" { MnIfPreference 1; }'
    echo 'Interface "eth-a" { MnIfPreference 2; }'
    echo 'Interface "eth-b" { MnIfPreference 3; }'
    for line in "$@"; do echo "$line"; done
    echo 'MnHomeLink "eth-home" {'
    echo "  HomeAgentAddress $VM_HA_ADDR;"
    echo "  HomeAddress $HOA/64;"
    echo '}'
  } >"$VM_LAB/mn.conf"
}

# shellcheck disable=SC2034 # used by the scripts that source this library
MIP6CTL=${MIP6CTL_BIN:-$(dirname "$MIP6D")/mip6ctl}

# Starts a private system bus NAME (scripts/lab/dbus-system.conf.in with the
# project's policy files) whose socket is $VM_LAB/NAME.sock; prints its address.
mip6d_start_bus() {
  local name=$1 sock="$VM_LAB/$1.sock"
  sed -e "s|@SOCKET@|$sock|" -e "s|@POLICY_DIR@|$VM_REPO/conf|" \
    "$VM_REPO/scripts/lab/dbus-system.conf.in" >"$VM_LAB/$name.conf"
  dbus-daemon --config-file="$VM_LAB/$name.conf" --nofork >"$VM_LAB/$name.log" 2>&1 &
  echo $! >"$VM_LAB/$name.pid"
  wait_for 100 test -S "$sock" ||
    vm_die "dbus-daemon $name did not start: $(cat "$VM_LAB/$name.log")"
  echo "unix:path=$sock"
}

# Starts the home agent and waits until it knows the home prefix. With
# MIP6D_HA_BUS set, it publishes on that bus.
mip6d_start_ha() {
  vm_spawn ha-d ha env ${MIP6D_HA_BUS:+DBUS_SYSTEM_BUS_ADDRESS="$MIP6D_HA_BUS"} \
    "$MIP6D" -c "$VM_LAB/ha.conf"
  vm_wait_log ha-d 'home prefix 2001:db8:1::/64 learned on eth0' 20 >/dev/null ||
    vm_die "the home agent did not learn the home prefix"
}

mip6d_start_mn() {
  vm_spawn mn-d mn env ${MIP6D_MN_BUS:+DBUS_SYSTEM_BUS_ADDRESS="$MIP6D_MN_BUS"} \
    "$MIP6D" -c "$VM_LAB/mn.conf"
}

# Stops daemon NAME with SIGTERM; it must exit 0 within 10 s.
mip6d_stop() {
  local status=0
  vm_stop "$1" TERM 10 || status=$?
  [ "$status" -eq 0 ] || vm_die "$1 exited with status $status on SIGTERM: $(vm_log_of "$1")"
}

# Reports fact KEY: "same" if two kernel-state dumps are equal, else
# "differs" (the difference goes to stderr): mip6d_state_fact KEY BEFORE AFTER.
mip6d_state_fact() {
  local key=$1 before=$2 after=$3
  if [ "$before" = "$after" ]; then
    vm_fact "$key" same
    return
  fi
  echo "guest: $key: the kernel state differs:" >&2
  echo "$before" >"$VM_LAB/$key-before.txt"
  echo "$after" >"$VM_LAB/$key-after.txt"
  diff "$VM_LAB/$key-before.txt" "$VM_LAB/$key-after.txt" >&2 || true
  vm_fact "$key" differs
}

# The lab for many simulated mobile nodes registering from the home link (`mh_send
# bulk`): the home prefix valid for 2 h (it caps the bindings' lifetimes) and a dummy
# device `sink` in the HA's namespace routing ROUTE (the simulated care-of addresses),
# so the BAs leave the HA as onto a wire instead of waiting on neighbour resolution.
mip6d_bulk_lab_up() {
  vm_load_modules
  export VM_HOME_VALID_LIFETIME=7200
  vm_topology_up home
  mkdir -p "$VM_LAB"
  ip -n ha -batch - <<EOF
link add sink type dummy
link set dev sink up
route add $1 dev sink
EOF
}

# On failure, show what the daemons said (vm_wait_log shows only the one it waited on).
_mip6d_on_exit() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    for name in ha-d mn-d; do
      [ -e "$VM_LAB/$name.log" ] || continue
      echo "guest: --- last lines of $name's log ---" >&2
      tail -n 40 "$VM_LAB/$name.log" >&2
    done
    echo "guest: --- mn: ip -6 route show table all; rules ---" >&2
    ip -n mn -6 route show table all >&2 2>/dev/null || true
    ip -n mn -6 rule >&2 2>/dev/null || true
  fi
  return "$status"
}
trap _mip6d_on_exit EXIT
