//! NEMO (RFC 3963) with mip6d on a kernel with Mobile IPv6: a mobile router with a
//! mobile network prefix and a host behind it, our home agent accepting mobile routers,
//! in the VM of `scripts/vm.sh` (`scripts/vm/mip6d-nemo.sh` on the lab of
//! `scripts/vm/guest-lib.sh`).
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::{is_binding_route, GuestRun};

const MNP: &str = "2001:db8:5::/64";

#[test]
fn vm_mip6d_mobile_router_carries_its_prefix_through_the_home_tunnel() -> Result<()> {
    vm_mip6d_mobile_router_carries_its_prefix_through_the_home_tunnel_on("shared")
}

/// The same on the per-binding datapath (`HaTunnelDatapath per-binding`).
#[test]
fn vm_mip6d_mobile_router_carries_its_prefix_through_the_home_tunnel_per_binding() -> Result<()> {
    vm_mip6d_mobile_router_carries_its_prefix_through_the_home_tunnel_on("per-binding")
}

fn vm_mip6d_mobile_router_carries_its_prefix_through_the_home_tunnel_on(
    datapath: &str,
) -> Result<()> {
    let g = GuestRun {
        script: "scripts/vm/mip6d-nemo.sh",
        args: &[],
        // About 30 s on an idle machine; the rest is room for a loaded one.
        timeout_s: 300,
        echo_prefix: "fact ",
    }
    .run_with_env(&[("VM_HA_DATAPATH", datapath)])?;
    g.check_prefix("lab", "up")?;
    // 1. Registered with the prefix: rules 1000 and 1005 on the MR, the prefix
    // routed into the tunnel in the HA's table 252.
    g.fact("mr.registered")?;
    g.fact("ha.binding")?;
    let rules = g.lines("mr.rule");
    g.check(
        rules.iter().any(|r| {
            r.starts_with("1000:") && r.contains(&format!("from all to {MNP} lookup main"))
        }),
        format!("no rule 1000 to {MNP} on the MR"),
    )?;
    g.check(
        rules
            .iter()
            .any(|r| r.starts_with("1005:") && r.contains(&format!("from {MNP} lookup 252"))),
        format!("no rule 1005 from {MNP} on the MR"),
    )?;
    g.check(
        g.lines("ha.table252")
            .iter()
            .any(|r| is_binding_route(datapath, r, MNP) && r.contains("metric 192")),
        format!("no route to {MNP} through a tunnel (metric 192) in the HA's table 252"),
    )?;
    // 2. Both directions through the home tunnel.
    g.check(
        g.num("ping.cn_to_mnn")? > 0,
        "CN -> host behind the MR not answered",
    )?;
    g.check(
        g.num("ping.mnn_to_cn")? > 0,
        "host behind the MR -> CN not answered",
    )?;
    // 3. SIGTERM: deregistered, kernel state as before start.
    g.fact("ha.deregistered")?;
    g.check_prefix("mr.state_after_stop", "same")?;
    g.check_prefix("ha.state_after_stop", "same")?;
    // 4. After a move to link B the mobile network is still reached.
    g.fact("mr.registered_again")?;
    g.fact("mr.handover_b")?;
    g.check(
        g.num("ping.cn_to_mnn_b")? > 0,
        "after a move to link B, CN -> host behind the MR not answered",
    )?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
