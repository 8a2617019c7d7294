#!/usr/bin/env bash
# Guest side of tests/tests/vm_kernel.rs: netcfg's Mobile IPv6 kernel operations on
# a kernel that has them. Runs crates/netcfg/examples/kernel_ops (built on the host)
# in a namespace of its own: the feature probe, then install (ip6ip6 tunnel, home
# address, table 252, rules 1001/1003, proxy entry, XFRM sub-policies and RO states,
# a handover), then remove; `ip` must see exactly what was installed, and the state
# dump after remove must equal the one before install. Then the Mobility Header
# socket through the kernel's HAO and RH2 processing (kernel_ops sockets).
#
# Each check prints "kops: ok ..."; the first failure exits non-zero.
set -euo pipefail
# shellcheck source=scripts/vm/guest-lib.sh
. "$(dirname "$0")/guest-lib.sh"
vm_in_guest

kops=${KOPS_BIN:-${CARGO_TARGET_DIR:-$VM_REPO/target}/debug/examples/kernel_ops}
[ -x "$kops" ] || vm_die "no $kops: build it first (cargo build -p netcfg --example kernel_ops)"

# Before any module is loaded: the probe's own operations load ip6_tunnel and
# xfrm_user on demand, as mip6d's first use would.
loaded() { grep -qw "$1" <<<"$(lsmod)"; }
! loaded ip6_tunnel || vm_die "ip6_tunnel already loaded before the probe"
"$kops" probe
loaded ip6_tunnel || vm_die "the probe did not get ip6_tunnel loaded"
vm_load_modules

ip netns add kops
trap 'ip netns del kops 2>/dev/null || true; ip netns del kops-mh 2>/dev/null || true' EXIT
in_ns() { ip netns exec kops "$@"; }

# install brings lo up (the tunnel's link); so does every real node.
in_ns ip link set lo up
before=$(vm_kernel_state kops)
# The probe without a throwaway namespace must leave nothing behind: the dump
# after remove is compared with the one before this.
in_ns "$kops" probe-here | grep -v '^kops: probe CONFIG'
in_ns "$kops" install
during=$(vm_kernel_state kops)
sed -n '/^# sysctls/q; s/^/kops: state: /p' <<<"$during"
expect() {
  grep -qF -- "$1" <<<"$during" || vm_die "the state dump misses '$1'"
}
expect 'remote 2001:db8:1::2 local 2001:db8:b::100 dev lo encaplimit none hoplimit 64'
expect '1001:	from 2001:db8:1::100 lookup 252'
expect '1003:	from 2001:db8:1::100 blackhole'
expect 'default dev ip6tnl1 table 252 metric 128'
expect '2001:db8:c::2 dev ip6tnl1 table 252'
expect '2001:db8:1::100 dev lo proxy'
expect 'src 2001:db8:1::100/128 dst 2001:db8:1::2/128 proto mobility-header type 5'
expect 'proto hao'
expect 'proto route2'
expect 'coa 2001:db8:b::100'
expect 'flag wildrecv'
addrs=$(in_ns ip -6 addr show dev ip6tnl1)
grep -qF 'inet6 2001:db8:1::100/128 scope global nodad home' <<<"$addrs" ||
  vm_die "no home address on ip6tnl1: $addrs"
echo "kops: ok ip sees tunnel, home address, routes, rules, proxy entry, policies and states"

in_ns "$kops" remove
after=$(vm_kernel_state kops)
if [ "$after" != "$before" ]; then
  echo "$before" >/tmp/kops-before.txt
  echo "$after" >/tmp/kops-after.txt
  vm_die "state dump differs after remove: $(diff /tmp/kops-before.txt /tmp/kops-after.txt)"
fi
echo "kops: ok state after remove equals the state before install"

ip netns add kops-mh
in_ns_mh() { ip netns exec kops-mh "$@"; }
in_ns_mh "$kops" sockets
ip netns del kops-mh
echo "kops: all checks passed"
