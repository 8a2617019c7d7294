//! The seed scenario (docs/mobile-ipv6-over-teredo.md) end to end in the
//! VM of `scripts/vm.sh` (docs/vm.md): a mobile node with `eth0`, `wlan0` and a
//! `teredo` interface marked `Tunnel enabled`, miredo giving the Teredo care-of address
//! on IPv4-only networks behind NATs, our home agent, a correspondent pinging the home
//! address. The lab is `scripts/vm/seed-lib.sh`, the steps `scripts/vm/seed-scenario.sh`.
//!
//! Needs root and `scripts/deps.sh` (plus Debian's miredo and miredo-server, nftables,
//! dbus); fails, never skips, without them.

use anyhow::Result;
use e2e::vm::GuestRun;

/// Runs `seed-scenario.sh ARGS` in the VM and checks that every line of `expected`
/// begins a line of its output; returns the output.
fn run_seed(args: &[&str], expected: &[&str]) -> Result<String> {
    GuestRun {
        script: "scripts/vm/seed-scenario.sh",
        args,
        // About 1 min (ours) and 1.5 min (Debian's, whose refresh is 30 s) on an idle
        // machine; the rest is room for a loaded CI machine under TCG.
        timeout_s: 420,
        echo_prefix: "seed: ",
    }
    .expect(expected)
}

/// Our miredo and our mip6d on one bus: native IPv6 → IPv4-only network (Teredo CoA
/// registered, BA status 0, CN→HoA ping through the tunnel); IPv4 network change (new
/// Teredo address, new BU/BA, ping keeps flowing); back on native IPv6 (eth0 preferred,
/// the Teredo binding replaced); Teredo server lost (miredo down, no CoA) and back
/// (re-registered); busctl's view of both daemons agrees with `ip` at every step. The
/// Teredo server and relay have `InterfaceMTU 1400`, so 1280-byte packets to and from
/// the home address cross the 40-byte home tunnel (docs/mobile-ipv6-over-teredo.md).
#[test]
fn vm_seed_ours_native_to_teredo_network_change_back_and_server_loss() -> Result<()> {
    run_seed(
        &["ours", "1400"],
        &[
            "seed: ok lab up",
            "seed: ok registered from link A: mip6d registered, CoA 2001:db8:a:",
            "seed: ok 1. eth0 lost, wlan0 198.18.1.",
            "seed: ok 1. CN -> HoA ping answered through the tunnel over Teredo",
            "seed: ok 1. state: mip6d registered, CoA 2001:0:c000:201:",
            "seed: ok 1. mip6ctl status: care-of address 2001:0:c000:201:",
            "seed: ok Teredo MTU 1400 (server and relay InterfaceMTU): mtu 1400",
            "seed: ok home tunnel MTU 1360 over teredo 1400",
            "seed: mtu cn-to-hoa inner 1280 bytes (ping -s 1232): ",
            "seed: mtu hoa-to-cn inner 1280 bytes (ping -s 1232): ",
            "seed: ok 2. wlan0 198.18.2.",
            "seed: ok 2. state: mip6d registered, CoA 2001:0:c000:201:",
            "seed: ok 3. eth0 back on link A: eth0 preferred, Teredo binding replaced",
            "seed: ok 4. eth0 lost again: on Teredo",
            "seed: ok 4. server blocked: miredo not up",
            "seed: ok 4. server back: Teredo 2001:0:c000:201:",
            "seed: all checks passed (ours)",
        ],
    )?;
    Ok(())
}

/// Debian's miredo (netlink only, no D-Bus) in place of ours: the MN still moves from
/// native IPv6 to its Teredo CoA, and follows an IPv4 network change once that miredo's
/// 30 s refresh notices it. The MTU as in the seed how-to: the server advertises 1280,
/// a client hook sets 1400 on `teredo` and the relay accepts 1400, so 1280-byte packets
/// to and from the home address cross the home tunnel.
#[test]
fn vm_seed_debian_miredo_native_to_teredo_and_network_change() -> Result<()> {
    run_seed(
        &["debian", "hook:1400"],
        &[
            "seed: ok lab up",
            "seed: ok Debian's miredo qualified on network 1",
            "seed: ok registered from link A: mip6d registered, CoA 2001:db8:a:",
            "seed: ok 1. eth0 lost, wlan0 198.18.1.",
            "seed: ok 1. CN -> HoA ping answered through the tunnel over Teredo",
            "seed: ok Teredo MTU 1400 from the client hook (relay InterfaceMTU 1400",
            "seed: mtu cn-to-hoa inner 1280 bytes (ping -s 1232): ",
            "seed: ok home tunnel MTU 1360 over teredo 1400",
            "seed: mtu hoa-to-cn inner 1280 bytes (ping -s 1232): ",
            "seed: ok 2. wlan0 198.18.2.",
            "seed: ok 2. state: mip6d registered, CoA 2001:0:c000:201:",
            "seed: all checks passed (debian)",
        ],
    )?;
    Ok(())
}
