//! Binding Updates arriving while the home agent restores a saved binding
//! cache of many bindings (`NonVolatileBindingCache`), in the VM of
//! `scripts/vm.sh` (`scripts/vm/mip6d-restore-busy.sh`): the restore's kernel
//! work takes turns with the sockets, so a refresh and a move for bindings
//! still waiting for their kernel state are answered before the restore is
//! done, and each binding ends with one route and one tunnel (on the default
//! shared-tunnel datapath: one encap route).
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::GuestRun;

/// Simulated mobile nodes: enough that the restore takes seconds under TCG.
const NODES: i64 = 300;

#[test]
fn vm_mip6d_ha_answers_bus_during_a_restore() -> Result<()> {
    restore_busy("shared")
}

#[test]
fn vm_mip6d_ha_answers_bus_during_a_restore_per_binding() -> Result<()> {
    restore_busy("per-binding")
}

fn restore_busy(datapath: &str) -> Result<()> {
    let nodes = NODES.to_string();
    let g = GuestRun {
        script: "scripts/vm/mip6d-restore-busy.sh",
        args: &[&nodes],
        timeout_s: 600,
        echo_prefix: "fact ",
    }
    .run_with_env(&[("VM_HA_DATAPATH", datapath)])?;
    g.check_prefix("lab", "up")?;
    g.check(
        g.num("saved.count")? == NODES,
        "not every binding was saved before the restart",
    )?;
    g.check(
        g.fact("restoring")?
            .contains(&format!("restoring {NODES} bindings")),
        "the restart did not queue every saved binding",
    )?;
    g.check(
        g.fact("summary")?
            .contains(&format!("restored {NODES} bindings, skipped 0")),
        "the restore did not install every binding",
    )?;
    g.fact("refresh.ba")?;
    g.fact("move.ba")?;
    g.check(
        g.num("refresh.before_summary")? == 1,
        "the refresh was answered only after the restore was done",
    )?;
    g.check(
        g.num("move.before_summary")? == 1,
        "the move was answered only after the restore was done",
    )?;
    g.check(
        g.num("kernel_bindings")? == NODES,
        format!(
            "{} bindings in the kernel (tunnels or encap routes) for {NODES} bindings",
            g.num("kernel_bindings")?
        ),
    )?;
    g.check(
        g.num("proxies")? == NODES,
        format!("{} proxy entries for {NODES} bindings", g.num("proxies")?),
    )?;
    g.check(
        g.num("refresh.routes")? == 1,
        "not exactly one route to the refreshed home address",
    )?;
    g.check(
        g.num("move.routes")? == 1,
        "not exactly one route to the moved home address",
    )?;
    g.check(
        g.num("move.tunnel_to_new")? == 1 && g.num("move.tunnel_to_old")? == 0,
        "the moved binding's tunnel does not lead to its new care-of address alone",
    )?;
    g.check_prefix("ha.state_at_end", "same")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
