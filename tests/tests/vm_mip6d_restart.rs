//! The home agent with `NonVolatileBindingCache` restarted under a registered
//! mobile node, in the VM of `scripts/vm.sh` (`scripts/vm/mip6d-restart.sh`):
//! the binding is back without a Binding Update (after SIGTERM, and after
//! SIGKILL with the kernel state lost), an expired one is not, a
//! changed or truncated file is reported and ignored.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::{is_binding_route, GuestRun};

const HOA: &str = "2001:db8:1::100";

#[test]
fn vm_mip6d_ha_restart_restores_the_binding_cache() -> Result<()> {
    vm_mip6d_ha_restart_restores_the_binding_cache_on("shared")
}

/// The same on the per-binding datapath (`HaTunnelDatapath per-binding`).
#[test]
fn vm_mip6d_ha_restart_restores_the_binding_cache_per_binding() -> Result<()> {
    vm_mip6d_ha_restart_restores_the_binding_cache_on("per-binding")
}

fn vm_mip6d_ha_restart_restores_the_binding_cache_on(datapath: &str) -> Result<()> {
    let g = GuestRun {
        script: "scripts/vm/mip6d-restart.sh",
        args: &[],
        timeout_s: 300,
        echo_prefix: "fact ",
    }
    .run_with_env(&[("VM_HA_DATAPATH", datapath)])?;
    let any = |key: &str, pred: &dyn Fn(&str) -> bool, what: &str| -> Result<()> {
        g.check(g.lines(key).iter().any(|l| pred(l)), what)
    };
    g.check_prefix("lab", "up")?;
    // 1. The file: our magic and version, the binding, root-only.
    g.fact("ha.ba")?;
    let file = g.lines("saved.file");
    g.check(
        file.first() == Some(&"mip6d-binding-cache 1"),
        "the saved file does not start with its magic and version",
    )?;
    any(
        "saved.file",
        &|l| l.starts_with(&format!("binding {HOA} 2001:db8:a:")) && l.ends_with(" eth0 -"),
        "the saved file holds no binding for the home address on eth0",
    )?;
    g.check(
        g.fact("saved.mode")? == "600",
        "the saved file is readable by others",
    )?;
    g.fact("saved.at_exit")?;
    g.check(
        g.fact("stopped.proxy")?.trim().is_empty(),
        "the stopped HA left its proxy entry",
    )?;
    // Restarted with the MN frozen: restored, answered, no BU received.
    g.fact("restore.restored")?;
    g.check(
        g.fact("restore.summary")?
            .contains("restored 1 bindings, skipped 0"),
        "the restart did not restore exactly the one binding",
    )?;
    g.check(
        g.num("restore.bu_received")? == 0,
        "the restarted HA received a BU: the restore was not what answered",
    )?;
    any(
        "restore.proxy",
        &|l| l.contains(&format!("{HOA} dev eth0 proxy")),
        "no proxy entry after the restart",
    )?;
    any(
        "restore.route",
        &|l| is_binding_route(datapath, l, HOA),
        "no route to the home address after the restart",
    )?;
    if datapath == "shared" {
        any(
            "restore.route",
            &|l| is_binding_route(datapath, l, HOA) && l.contains(" dst 2001:db8:a:"),
            "the route to the home address does not encapsulate to the care-of address",
        )?;
    } else {
        any(
            "restore.tunnel",
            &|l| l.contains("remote 2001:db8:a:"),
            "no tunnel to the care-of address after the restart",
        )?;
    }
    let ms = g.num("restore.first_ping_ms")?;
    g.check(
        ms > 0 && ms < 15_000,
        format!("first answered ping {ms} ms after the start"),
    )?;
    g.check(
        g.num("restore.ping")? > 0,
        "CN -> home address not answered",
    )?;
    // 2. Expired while down: not restored.
    g.fact("expire.at_ha")?;
    g.check(
        g.num("expire.now_after")? == 1,
        "the saved entry had not expired yet",
    )?;
    g.fact("expire.skipped")?;
    g.check(
        g.fact("expire.summary")?
            .contains("restored 0 bindings, skipped 1"),
        "an expired binding was restored",
    )?;
    g.check(
        g.fact("expire.proxy")?.trim().is_empty(),
        "a proxy entry for an expired binding",
    )?;
    // 3. A changed or truncated file: reported, the HA starts empty.
    g.fact("corrupt.reported")?;
    g.check(
        g.fact("corrupt.proxy")?.trim().is_empty(),
        "a proxy entry from a changed file",
    )?;
    g.fact("truncated.reported")?;
    g.check_prefix("ha.state_at_end", "same")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
