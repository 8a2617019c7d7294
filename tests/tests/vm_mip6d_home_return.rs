//! The L flag and the return home (RFC 6275 §10.4.1, §11.5.4) with
//! `MnFlushAllAtHome`, in the VM of `scripts/vm.sh` (docs/vm.md):
//! `scripts/vm/mip6d-home-return.sh` runs mip6d as home agent and mobile node
//! and reports `fact KEY=VALUE` lines; the checks are below.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::GuestRun;

/// The BU carries L when the home link holds fe80::100: the HA runs DAD for
/// it, proxies it (the router's neighbour entry for it names the HA) and
/// drops the entry on deregistration. At home the MN probes both addresses;
/// an unanswered probe means no deregistration BU, unless `MnFlushAllAtHome`
/// (then one is sent); with it, a never-acknowledged registration is dropped.
#[test]
fn vm_mip6d_link_local_flag_and_home_return() -> Result<()> {
    let g = GuestRun {
        script: "scripts/vm/mip6d-home-return.sh",
        args: &[],
        timeout_s: 300,
        echo_prefix: "fact ",
    }
    .run()?;
    g.check_prefix("lab", "up")?;
    // 1. The L flag.
    g.fact("mn.l_flag")?;
    g.fact("ha.dad_both")?;
    g.fact("mn.registered")?;
    g.check(g.num("ha.proxy_hoa")? == 1, "no proxy entry for the HoA")?;
    g.check(g.num("ha.proxy_ll")? == 1, "no proxy entry for fe80::100")?;
    let mac = g.fact("ha.mac")?;
    let neigh = g.fact("rtr.ll_neigh")?;
    g.check(
        !mac.is_empty() && neigh.contains(mac),
        format!("the router's entry for fe80::100 ({neigh}) does not name the HA ({mac})"),
    )?;
    // 2. Home: probe answered, deregistration, proxies gone.
    for key in [
        "mn.probe",
        "mn.defended",
        "mn.deregistered",
        "ha.deregistered",
    ] {
        g.fact(key)?;
    }
    g.check(
        g.num("ha.proxy_ll_after_dereg")? == 0,
        "the HA still proxies fe80::100 after the deregistration",
    )?;
    g.check(
        g.num("ha.proxy_hoa_after_dereg")? == 0,
        "the HA still proxies the HoA after the deregistration",
    )?;
    // 3. Unanswered, MnFlushAllAtHome off.
    g.fact("mn.unanswered")?;
    g.check(
        g.num("noflush.dereg_bus")? == 0,
        "a deregistration BU went out although nobody defended the home address",
    )?;
    // 4. Unanswered, MnFlushAllAtHome on.
    g.fact("mn.reload")?;
    g.fact("mn.flush_dereg")?;
    g.check(
        g.num("flush.dereg_bus")? >= 1,
        "no deregistration BU with MnFlushAllAtHome",
    )?;
    g.check(
        g.num("flush.ha_deregistrations")? >= 1,
        "the HA did not deregister the binding",
    )?;
    // 5. Never acknowledged.
    g.fact("mn.uncertain_dropped")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
