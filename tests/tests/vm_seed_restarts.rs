//! The seed scenario's D-Bus wiring (docs/mobile-ipv6-over-teredo.md) survives restarts,
//! in the VM of `scripts/vm.sh`: `scripts/vm/seed-restarts.sh` on the lab of
//! `scripts/vm/seed-lib.sh` restarts the mobile node's bus, its miredo and its mip6d in
//! turn, and checks that a Teredo server loss reported `down` on D-Bus moves the
//! binding off a preferred Teredo interface.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::GuestRun;

/// The Teredo care-of addresses of our lab's server (192.0.2.1).
const TEREDO: &str = "2001:0:c000:201:";

#[test]
fn vm_seed_survives_bus_miredo_and_mip6d_restarts_and_acts_on_down() -> Result<()> {
    let g = GuestRun {
        script: "scripts/vm/seed-restarts.sh",
        args: &[],
        // About 50 s on an idle machine; the rest is room for a loaded one.
        timeout_s: 420,
        echo_prefix: "fact ",
    }
    .run()?;
    let answered = |key: &str| -> Result<()> {
        g.check(g.num(key)? > 0, format!("{key}: CN -> HoA not answered"))
    };
    let equal = |key: &str, want: &str| -> Result<()> {
        let v = g.fact(key)?;
        g.check(
            v == want,
            format!("{key} is {v:?} on the bus, not {want:?}"),
        )
    };
    // On IPv4 network 1, registered via Teredo.
    let coa = g.fact("coa")?;
    g.check(coa.starts_with(TEREDO), format!("not a Teredo CoA: {coa}"))?;
    g.fact("registered")?;
    answered("ping.registered")?;
    // 1. The bus restarted: both publish again, and mip6d's watcher hears
    // miredo's AddressChanged for network 2.
    equal("1.miredo_address", coa)?;
    equal("1.mip6d_coa", coa)?;
    for key in ["1.watching", "1.heard", "1.handover"] {
        g.fact(key)?;
    }
    answered("ping.after_bus_restart")?;
    // 2. miredo restarted (new teredo interface): registered again.
    g.fact("2.registered")?;
    answered("ping.after_miredo_restart")?;
    equal("2.mip6d_interface", "teredo")?;
    // 3. mip6d restarted: reads miredo's state from the bus.
    g.fact("3.read_state")?;
    g.fact("3.registered")?;
    answered("ping.after_mip6d_restart")?;
    // 4. Teredo preferred, server lost: miredo's down moves the binding to eth0.
    for key in ["4.registered_teredo", "4.heard_down", "4.handover"] {
        g.fact(key)?;
    }
    answered("ping.on_eth0")?;
    equal("4.mip6d_interface", "eth0")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
