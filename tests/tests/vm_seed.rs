//! The seed scenario (docs/mobile-ipv6-over-teredo.md) end to end in the
//! VM of `scripts/vm.sh` (docs/vm.md): a mobile node with `eth0`, `wlan0` and a
//! `teredo` interface marked `Tunnel enabled`, miredo giving the Teredo care-of address
//! on IPv4-only networks behind NATs, our home agent, a correspondent pinging the home
//! address. The lab is `scripts/vm/seed-lib.sh`, the steps `scripts/vm/seed-scenario.sh`.
//!
//! Needs root and `scripts/deps.sh` (plus Debian's miredo and miredo-server, nftables,
//! dbus); fails, never skips, without them.

use anyhow::Result;
use e2e::vm::{GuestReport, GuestRun};

/// Runs `seed-scenario.sh ARGS` in the VM; the caller checks what it reported.
fn run_seed(args: &[&str]) -> Result<GuestReport> {
    GuestRun {
        script: "scripts/vm/seed-scenario.sh",
        args,
        // About 1 min (ours) and 1.5 min (Debian's, whose refresh is 30 s) on an idle
        // machine; the rest is room for a loaded CI machine under TCG.
        timeout_s: 420,
        echo_prefix: "fact ",
    }
    .run()
}

/// The Teredo care-of addresses of our lab's server (192.0.2.1).
const TEREDO: &str = "2001:0:c000:201:";

/// Steps 1 and 2, common to both miredos: registered on link A; eth0 lost,
/// wlan0 on IPv4 network 1, the Teredo CoA registered and the CN's ping flowing
/// through it; the MTUs (1280-byte packets through the home tunnel both ways);
/// the network change to a new Teredo address.
fn check_native_to_teredo_and_network_change(g: &GuestReport) -> Result<()> {
    g.fact("lab")?;
    g.fact("a.registered")?;
    g.check_prefix("a.state", "mip6d registered, CoA 2001:db8:a:")?;
    g.check_prefix("1.wlan0", "198.18.1.")?;
    g.check_prefix("1.coa", TEREDO)?;
    g.check_prefix("1.ping_flowing", "yes")?;
    g.fact("1.ping")?;
    g.check_prefix("1.state", &format!("mip6d registered, CoA {TEREDO}"))?;
    // The MN's teredo gets the configured MTU, the home tunnel 40 bytes less (at
    // least 1280); from 1320 up that carries 1280-byte packets through the home
    // tunnel (docs/mobile-ipv6-over-teredo.md).
    let mtu = g.num("mtu.configured")?;
    g.check_prefix("mtu.mn_teredo", &format!("mtu {mtu}"))?;
    g.check_prefix("mtu.mn_tunnel", &format!("mtu {}", (mtu - 40).max(1280)))?;
    for dir in ["cn-to-hoa", "hoa-to-cn"]
        .into_iter()
        .filter(|_| mtu >= 1320)
    {
        for size in [1192, 1232] {
            let key = format!("mtu.{dir}.{size}");
            let got = g.num(&key)?;
            g.check(got >= 2, format!("{key}: only {got}/3 pings answered"))?;
        }
    }
    g.check_prefix("2.wlan0", "198.18.2.")?;
    let (coa1, coa2) = (g.fact("1.coa")?, g.fact("2.coa")?);
    g.check(
        coa2.starts_with(TEREDO) && coa2 != coa1,
        format!("no new Teredo CoA after the network change: {coa1} -> {coa2}"),
    )?;
    g.check_prefix("2.ping_flowing", "yes")?;
    g.check_prefix("2.state", &format!("mip6d registered, CoA {TEREDO}"))
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
    let g = run_seed(&["ours", "1400"])?;
    check_native_to_teredo_and_network_change(&g)?;
    // mip6ctl on the MN's bus: "care-of address <the Teredo CoA> on teredo".
    let coa1 = g.fact("1.coa")?;
    g.check(
        g.lines("1.mip6ctl").iter().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() == 5
                && w[..2] == ["care-of", "address"]
                && w[2] == coa1
                && w[3..] == ["on", "teredo"]
        }),
        "mip6ctl status does not show the Teredo CoA on teredo",
    )?;
    g.check(
        g.lines("1.mip6ctl")
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["registration", "registered"]),
        "mip6ctl status shows no registration",
    )?;
    // 3. eth0 back: its CoA replaces the Teredo binding; miredo stays up.
    g.check(
        g.num("3.ping")? > 0,
        "CN -> HoA not answered back on link A",
    )?;
    g.check_prefix("3.state", "mip6d registered, CoA 2001:db8:a:")?;
    g.check_prefix("3.miredo_state", "up")?;
    // 4. The server lost: no Teredo address, miredo not up, mip6d without a CoA
    // on the bus; back: re-registered.
    g.check_prefix("4.coa", TEREDO)?;
    g.check_prefix("4.address_gone", "yes")?;
    let state = g.fact("4.miredo_state")?;
    g.check(
        state == "down" || state == "qualifying",
        format!("miredo's State is {state:?} without an address"),
    )?;
    g.check(
        g.fact("4.mip6d_coa")?.is_empty(),
        "mip6d still publishes a CoA the kernel no longer has",
    )?;
    g.check_prefix("4.coa_back", TEREDO)?;
    g.check(
        g.num("4.ping")? > 0,
        "CN -> HoA not answered after the server came back",
    )?;
    g.check_prefix("4.state", &format!("mip6d registered, CoA {TEREDO}"))?;
    g.check(
        g.fact("namespaces_left")?.is_empty(),
        "namespaces left after seed_down",
    )?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}

/// Debian's miredo (netlink only, no D-Bus) in place of ours: the MN still moves from
/// native IPv6 to its Teredo CoA, and follows an IPv4 network change once that miredo's
/// 30 s refresh notices it. The MTU as in the seed how-to: the server advertises 1280,
/// a client hook sets 1400 on `teredo` and the relay accepts 1400, so 1280-byte packets
/// to and from the home address cross the home tunnel.
#[test]
fn vm_seed_debian_miredo_native_to_teredo_and_network_change() -> Result<()> {
    let g = run_seed(&["debian", "hook:1400"])?;
    g.check_prefix("debian.qualified", TEREDO)?;
    check_native_to_teredo_and_network_change(&g)?;
    g.check(
        g.fact("namespaces_left")?.is_empty(),
        "namespaces left after seed_down",
    )?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
