//! netcfg's Mobile IPv6 kernel operations on a kernel that has them: the VM of
//! `scripts/vm.sh` (docs/vm.md) runs `scripts/vm/kernel-ops.sh`, which drives
//! `crates/netcfg/examples/kernel_ops` through the feature probe, installing a mobile
//! node's kernel state (ip6ip6 tunnel, home address, table 252, rules 1001/1003,
//! proxy entry, XFRM sub-policies, route2/hao RO states), a handover, and removal,
//! comparing `ip`'s view at each step; then Mobility Header sockets through the
//! kernel's HAO (XFRM hao state) and RH2 (ancillary data) processing, and the XFRM
//! REPORT for a HAO no policy admits.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use std::process::Command;

use anyhow::{ensure, Context, Result};
use e2e::repo_root;
use e2e::vm::GuestRun;

/// Builds the example the guest runs (the guest sees the host's target directory).
fn build_kernel_ops() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args(["build", "-p", "netcfg", "--example", "kernel_ops"])
        .current_dir(repo_root())
        .output()
        .with_context(|| format!("cannot run {cargo}"))?;
    ensure!(
        out.status.success(),
        "cargo build -p netcfg --example kernel_ops failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn vm_kernel_ops_install_handover_remove_and_mh_sockets() -> Result<()> {
    build_kernel_ops()?;
    GuestRun {
        script: "scripts/vm/kernel-ops.sh",
        args: &[],
        timeout_s: 240,
        echo_prefix: "kops: ok",
    }
    .expect_built(&[
        "kops: probe CONFIG_IPV6_MIP6: present",
        "kops: probe CONFIG_IPV6_TUNNEL: present",
        "kops: probe CONFIG_XFRM_SUB_POLICY: present",
        "kops: ok probe: every feature present",
        "kops: ok probe in place: every feature present",
        "kops: ok tunnel add ip6tnl1 2001:db8:a::100 -> 2001:db8:1::2",
        "kops: ok tunnel add with the same endpoints refused (EEXIST)",
        "kops: ok home address on the tunnel",
        "kops: ok table 252 routes, rules 1001 and 1003 (blackhole)",
        "kops: ok proxy neighbour",
        "kops: ok xfrm sub-policies and route2/hao states with coa",
        "kops: ok tunnel change ip6tnl1 -> local 2001:db8:b::100",
        "kops: ok xfrm state update to the new coa",
        "kops: ok ip sees tunnel, home address, routes, rules, proxy entry, policies and states",
        "kops: ok xfrm policies and states removed by owner",
        "kops: ok proxy, rules, tunnel (and its routes) removed",
        "kops: ok state after remove equals the state before install",
        "kops: ok BU from 2001:db8:1::100 arrived with a HAO carrying 2001:db8:a::100 (xfrm hao state)",
        "kops: ok BA to 2001:db8:1::100 via 2001:db8:a::100 arrived with an RH2 (ancillary data)",
        "kops: ok HAO without an inbound policy reported (hao, 2001:db8:1::100 -> 2001:db8:1::2, addr 2001:db8:a::100)",
        "kops: ok xfrm flush of sub policies and route2/hao states",
        "kops: all checks passed",
    ])?;
    Ok(())
}
