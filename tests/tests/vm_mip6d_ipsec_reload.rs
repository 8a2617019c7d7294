//! `IPsecPolicySet` applied on SIGHUP, in the VM of `scripts/vm.sh`
//! (docs/vm.md): `scripts/vm/mip6d-ipsec-reload.sh` runs mip6d as home agent
//! and mobile node with static ESP SAs and reports `fact KEY=VALUE` lines; the
//! checks are below.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::GuestRun;

/// Started without a set: no policies, no BU from the MN, a BU in clear
/// refused with 129. Reloaded with one: the transport policies appear on
/// both nodes, the MN registers through ESP, a BU in clear is dropped by the
/// HA's policy (the binding stays). Reloaded without: the policies are gone.
/// SIGTERM: the XFRM state as before start.
#[test]
fn vm_mip6d_ipsec_policy_set_reload() -> Result<()> {
    let g = GuestRun {
        script: "scripts/vm/mip6d-ipsec-reload.sh",
        args: &[],
        timeout_s: 240,
        echo_prefix: "fact ",
    }
    .run()?;
    g.check_prefix("lab", "up")?;
    // 1. No set.
    g.fact("start.lacks")?;
    g.check(
        g.num("start.ha_policies")? == 0,
        "HA policies before the reload",
    )?;
    g.check(
        g.num("start.mn_policies")? == 0,
        "MN policies before the reload",
    )?;
    g.fact("start.clear_refused")?;
    // 2. With the set.
    g.fact("add.ha_reload")?;
    g.fact("add.mn_reload")?;
    g.check(
        g.num("add.ha_policies")? >= 2,
        "the HA's policies did not appear on reload",
    )?;
    g.check(
        g.num("add.mn_policies")? >= 2,
        "the MN's policies did not appear on reload",
    )?;
    g.fact("add.registered")?;
    g.check(
        g.num("add.mn_sa11_after")? > g.num("add.mn_sa11_before")?,
        "the MN's BU did not go through ESP",
    )?;
    g.check(
        g.num("add.ha_sa12")? > 0,
        "the HA's BA did not go through ESP",
    )?;
    g.check(
        g.num("add.in_refused_after")? > g.num("add.in_refused_before")?,
        "the BU in clear was not dropped by the HA's inbound policy",
    )?;
    g.check(
        g.num("add.ha_deregistrations")? == 0,
        "the BU in clear deregistered the binding",
    )?;
    // 3. Without the set.
    g.fact("remove.ha_reload")?;
    g.fact("remove.mn_reload")?;
    g.check(
        g.num("remove.ha_policies")? == 0,
        "the HA's policies stayed after the reload without the set",
    )?;
    g.check(
        g.num("remove.mn_policies")? == 0,
        "the MN's policies stayed after the reload without the set",
    )?;
    // 4. Exit.
    g.check_prefix("ha.xfrm_after_stop", "same")?;
    g.check_prefix("mn.xfrm_after_stop", "same")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
