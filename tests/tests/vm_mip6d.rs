//! mip6d as home agent and mobile node on a kernel with the Mobile IPv6 datapath:
//! the VM of `scripts/vm.sh` (docs/vm.md) runs `scripts/vm/mip6d-*.sh` on the lab of
//! `scripts/vm/guest-lib.sh` (home link with the HA and radvd, foreign links A and B,
//! a correspondent on link C).
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::{is_binding_route, GuestRun};

const HOA: &str = "2001:db8:1::100";
const HA: &str = "2001:db8:1::2";

/// A run of `script`, which reports facts; 240 s leaves room for a loaded machine.
fn guest(script: &str) -> GuestRun<'_> {
    GuestRun {
        script,
        args: &[],
        timeout_s: 240,
        echo_prefix: "fact ",
    }
}

/// Home registration from foreign link A (BA status 0 at both ends, tunnels,
/// home address, proxy entry, the CN's ping answered), clean SIGTERM on both
/// nodes (kernel dumps equal to those before start), then (state on D-Bus, read
/// with mip6ctl) a move to link B with a running ping, and the return home (deregistration, proxy entries gone).
#[test]
fn vm_mip6d_register_move_return_home() -> Result<()> {
    register_move_return_home("shared")
}

/// The same on the per-binding datapath (`HaTunnelDatapath per-binding`).
#[test]
fn vm_mip6d_register_move_return_home_per_binding() -> Result<()> {
    register_move_return_home("per-binding")
}

fn register_move_return_home(datapath: &str) -> Result<()> {
    let g = guest("scripts/vm/mip6d-home-reg.sh").run_with_env(&[("VM_HA_DATAPATH", datapath)])?;
    let any = |key: &str, pred: &dyn Fn(&str) -> bool, what: &str| -> Result<()> {
        g.check(g.lines(key).iter().any(|l| pred(l)), what)
    };
    g.check_prefix("lab", "up")?;
    // 1. Registered from link A: BA status 0 at both ends, the MN's tunnel to
    // the HA with the home address on it, the HA's proxy entry and route.
    for key in ["mn.ba", "mn.registered", "ha.ba"] {
        g.fact(key)?;
    }
    any(
        "mn.tunnel",
        &|l| l.contains(&format!("remote {HA} local 2001:db8:a:")),
        "no MN tunnel to the HA",
    )?;
    any(
        "mn.addr",
        &|l| l.contains(&format!("inet6 {HOA}/128 scope global nodad home")),
        "home address not on the tunnel",
    )?;
    any(
        "ha.proxy",
        &|l| l.contains(&format!("{HOA} dev eth0 proxy")),
        "no proxy entry on the HA",
    )?;
    any(
        "ha.route",
        &|l| is_binding_route(datapath, l, HOA),
        "no HA route to the home address",
    )?;
    g.check(g.num("ping1")? > 0, "CN -> home address not answered")?;
    // 2. SIGTERM: deregistered, both kernels as before start.
    g.fact("ha.deregistered_at_exit")?;
    g.check_prefix("mn.state_after_stop", "same")?;
    g.check_prefix("ha.state_after_stop", "same")?;
    // 3. D-Bus (mip6ctl): the MN's CoA on eth-a and its registration, the HA's
    // binding; the CN's ping keeps being answered across the move to link B.
    g.fact("bus.registered")?;
    g.fact("bus.published")?;
    any(
        "bus.mn_status",
        &|l| {
            // "care-of address +2001:db8:a:… on eth-a"
            let w: Vec<&str> = l.split_whitespace().collect();
            w.windows(5).any(|w| {
                w[..2] == ["care-of", "address"]
                    && w[2].starts_with("2001:db8:a:")
                    && w[3..] == ["on", "eth-a"]
            })
        },
        "mip6ctl status shows no CoA on eth-a",
    )?;
    any(
        "bus.mn_status",
        &|l| l.split_whitespace().collect::<Vec<_>>() == ["registration", "registered"],
        "mip6ctl status shows no registration",
    )?;
    g.check(
        g.fact("bus.ha_bc")?.contains(&format!("\"{HOA}\"")),
        "mip6ctl bc (HA) shows no binding for the home address",
    )?;
    for key in ["move.ping_on_a", "move.handover", "move.ha_moves"] {
        g.fact(key)?;
    }
    g.check(
        g.num("move.seq_after")? > g.num("move.seq_before")? + 5,
        "the CN's ping stopped being answered after the move to link B",
    )?;
    // 4. Home: deregistration, no proxy entry, the router's neighbour entry
    // back at the MN's MAC, the CN's ping answered; the HA's state restored.
    for key in ["home.seen", "home.deregistered", "home.ha_deregistered"] {
        g.fact(key)?;
    }
    g.check(
        g.lines("home.ha_proxy").iter().all(|l| l.trim().is_empty()),
        "proxy entries left on the HA after deregistration",
    )?;
    let mac = g.fact("home.mn_mac")?;
    g.check(
        !mac.is_empty() && g.fact("home.rtr_neigh")?.contains(&format!("lladdr {mac}")),
        "the router's neighbour entry for the home address is not the MN's MAC",
    )?;
    g.check(
        g.num("ping_home")? > 0,
        "CN -> home address at home not answered",
    )?;
    g.check_prefix("ha.state_at_end", "same")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}

/// The home agent's refusals (129 for an ACL deny, 132 for a home address outside
/// its prefixes, 135 for an old sequence number), and a `Tunnel enabled` interface
/// whose address a script sets: it becomes the CoA in MnIfPreference order, the MN
/// goes back to eth-a when the address goes, and never solicits a router on it.
#[test]
fn vm_mip6d_ha_status_codes_and_tunnel_interface() -> Result<()> {
    vm_mip6d_ha_status_codes_and_tunnel_interface_on("shared")
}

/// The same on the per-binding datapath (`HaTunnelDatapath per-binding`).
#[test]
fn vm_mip6d_ha_status_codes_and_tunnel_interface_per_binding() -> Result<()> {
    vm_mip6d_ha_status_codes_and_tunnel_interface_on("per-binding")
}

fn vm_mip6d_ha_status_codes_and_tunnel_interface_on(datapath: &str) -> Result<()> {
    let g =
        guest("scripts/vm/mip6d-status-tunnel.sh").run_with_env(&[("VM_HA_DATAPATH", datapath)])?;
    g.check_prefix("lab", "up")?;
    // 1. The refusals, each with its status.
    for (key, status) in [
        ("refused.acl", "status 129 "),
        ("refused.foreign", "status 132 "),
        ("refused.old_seq", "status 135 "),
    ] {
        let line = g.fact(key)?;
        g.check(
            line.contains(status),
            format!("{key}: not {status}: {line}"),
        )?;
    }
    g.fact("accepted")?;
    g.fact("deregistered")?;
    // A binding left unrefreshed expires after 8 s and takes its proxy entry.
    g.fact("short.installed")?;
    g.check(
        g.lines("short.proxy")
            .iter()
            .any(|l| l.contains("2001:db8:1::201 dev eth0 proxy")),
        "no proxy entry for ::201",
    )?;
    g.fact("short.expired")?;
    g.check(
        g.lines("short.proxy_after")
            .iter()
            .all(|l| l.trim().is_empty()),
        "proxy entries left after the expiry",
    )?;
    g.fact("reloaded")?;
    // 2. The Tunnel interface: registered through eth-a while tnl0 has no
    // address; tnl0's default route rewritten to 1023 - 3 x (10 - 1) = 996 at
    // link-up; its scripted address becomes the CoA (preference 1 over 2), the
    // CN's ping goes through it; back to eth-a when it goes; no RS on tnl0.
    g.fact("tnl.registered_a")?;
    let router = g.fact("tnl.router")?;
    let routes = g.lines("tnl.default_route");
    g.check(
        routes.len() == 1 && routes[0].contains(&format!("via {router} proto static metric 996 ")),
        format!("tnl0's default route is not one route with metric 996: {routes:?}"),
    )?;
    g.fact("tnl.coa")?;
    g.check(
        g.num("tnl.ping")? > 0,
        "CN -> home address through tnl0 not answered",
    )?;
    g.fact("tnl.back_to_a")?;
    g.check(
        g.num("tnl.rs_on_tnl0")? == 0,
        "mip6d sent a Router Solicitation on the Tunnel interface",
    )?;
    g.check(
        g.num("tnl.rs_on_eth_a")? > 0,
        "no RS logged on eth-a (the check above would prove nothing)",
    )?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}

/// The home agent with 200 simulated mobile nodes: all register (tunnels named
/// in device group 6275, proxy entries), a burst of refreshes is answered in
/// full, 200 bindings expiring together are removed between messages without
/// leftovers, and SIGTERM removes the tunnel group in one request, leaving the
/// kernel state as before start.
#[test]
fn vm_mip6d_home_agent_with_many_bindings() -> Result<()> {
    let g = guest("scripts/vm/mip6d-many.sh").run()?;
    g.check_prefix("lab", "up")?;
    let n = g.num("n")?;
    let expect = |key: &str, want: i64, what: &str| -> Result<()> {
        let got = g.num(key)?;
        g.check(got == want, format!("{what}: {got}, not {want}"))
    };
    expect("installed", n, "bindings installed")?;
    expect("group", n, "tunnels in group 6275")?;
    expect("proxies", n, "proxy entries")?;
    expect("refreshed", n, "refreshes of a burst answered")?;
    expect("short_lived", n, "8 s bindings")?;
    expect("expired", n, "bindings expired together")?;
    expect("group_after_expiry", 0, "tunnels left after the expiry")?;
    expect(
        "proxies_after_expiry",
        0,
        "proxy entries left after the expiry",
    )?;
    expect("installed_total", 2 * n, "bindings installed in all")?;
    expect(
        "exit_status",
        0,
        "the home agent's status after SIGTERM (60 s)",
    )?;
    expect(
        "group_removals",
        1,
        "the tunnel group removed at once at SIGTERM (lines)",
    )?;
    g.check_prefix("state_after_stop", "same")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
