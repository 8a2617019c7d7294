//! The seed scenario's D-Bus wiring (docs/mobile-ipv6-over-teredo.md) survives restarts,
//! in the VM of `scripts/vm.sh`: `scripts/vm/seed-restarts.sh` on the lab of
//! `scripts/vm/seed-lib.sh` restarts the mobile node's bus, its miredo and its mip6d in
//! turn, and checks that a Teredo server loss reported `down` on D-Bus moves the
//! binding off a preferred Teredo interface.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::GuestRun;

#[test]
fn vm_seed_survives_bus_miredo_and_mip6d_restarts_and_acts_on_down() -> Result<()> {
    GuestRun {
        script: "scripts/vm/seed-restarts.sh",
        args: &[],
        // About 50 s on an idle machine; the rest is room for a loaded one.
        timeout_s: 420,
        echo_prefix: "seed: ",
    }
    .expect(&[
        "seed: ok on IPv4 network 1, registered via Teredo 2001:0:c000:201:",
        "seed: ok 1. bus restarted: miredo and mip6d published again",
        "seed: ok 1. after the restart, miredo's AddressChanged reached mip6d",
        "seed: ok 2. miredo restarted (new teredo interface): registered again",
        "seed: ok 3. mip6d restarted: read miredo's state from the bus",
        "seed: ok 4. Teredo preferred, server lost: miredo's down on D-Bus moved the binding to eth0",
        "seed: all checks passed (restarts)",
    ])?;
    Ok(())
}
