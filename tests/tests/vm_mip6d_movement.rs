//! The mobile node's movement directives on a kernel with the Mobile IPv6
//! datapath: the VM of `scripts/vm.sh` (docs/vm.md) runs
//! `scripts/vm/mip6d-movement.sh PART` on the lab of `scripts/vm/guest-lib.sh`.
//! Several `MnHomeLink` blocks, `MnRouterProbes` (with a reload) and
//! `OptimisticHandoff`, each against what the directive exists for.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::{GuestReport, GuestRun};

const HOA: &str = "2001:db8:1::100";
const HOA2: &str = "2001:db8:1::101";

fn run(part: &'static str) -> Result<GuestReport> {
    let args: &'static [&'static str] = match part {
        "homes" => &["homes"],
        "routers" => &["routers"],
        _ => &["optimistic"],
    };
    GuestRun {
        script: "scripts/vm/mip6d-movement.sh",
        args,
        // 1-2 min on an idle machine; room for a loaded one.
        timeout_s: 480,
        echo_prefix: "fact ",
    }
    .run()
}

fn seconds(g: &GuestReport, key: &str) -> Result<f64> {
    let v = g.fact(key)?;
    v.parse()
        .map_err(|e| anyhow::anyhow!("{key}={v}: not a number of seconds: {e}"))
}

/// Two `MnHomeLink` blocks, each with its own home agent: both home
/// addresses register from link A (each agent's BA, proxy entry, a tunnel
/// to each, one source-specific default route per home address, two binding
/// update list entries on D-Bus), the CN reaches both; after the move to
/// link B both bindings move; at home both are deregistered and both
/// addresses sit on the home link.
#[test]
fn vm_mip6d_two_home_links_register_move_and_return_each() -> Result<()> {
    let g = run("homes")?;
    g.check_prefix("lab", "up")?;
    for key in ["a.ba1", "a.ba2", "a.ha_ba", "a.ha2_ba"] {
        g.fact(key)?;
    }
    let has = |key: &str, needle: &str| g.lines(key).iter().any(|l| l.contains(needle));
    g.check(
        has("a.ha_proxy", &format!("{HOA} dev eth0 proxy")),
        "HA 1 does not proxy the first home address",
    )?;
    g.check(
        has("a.ha2_proxy", &format!("{HOA2} dev eth0 proxy")),
        "HA 2 does not proxy the second home address",
    )?;
    for ha in ["remote 2001:db8:1::2 ", "remote 2001:db8:1::3 "] {
        g.check(has("a.mn_tunnels", ha), format!("no MN tunnel with {ha}"))?;
    }
    for hoa in [HOA, HOA2] {
        g.check(
            has("a.mn_table252", &format!("default from {hoa} dev ip6tnl")),
            format!("no default route from {hoa} into a tunnel in table 252"),
        )?;
        g.check(
            has("a.bul", hoa),
            format!("mip6ctl bul does not list {hoa}"),
        )?;
    }
    g.check(
        g.num("a.ping1")? > 0,
        "CN -> first home address not answered",
    )?;
    g.check(
        g.num("a.ping2")? > 0,
        "CN -> second home address not answered",
    )?;
    g.fact("b.ha_moves")?;
    g.fact("b.ha2_moves")?;
    g.check(
        g.num("b.handovers")? == 2,
        "not both home addresses completed the handover to link B",
    )?;
    g.check(
        g.num("b.ping1")? > 0,
        "CN -> first home address lost on link B",
    )?;
    g.check(
        g.num("b.ping2")? > 0,
        "CN -> second home address lost on link B",
    )?;
    g.fact("home.dereg1")?;
    g.fact("home.dereg2")?;
    for hoa in [HOA, HOA2] {
        g.check(
            has("home.mn_addr", &format!("inet6 {hoa}/64")),
            format!("{hoa} is not on the home link at home"),
        )?;
    }
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}

/// `MnRouterProbes`: with 3, a second router on the link makes the MN probe
/// the one in use, which answers, and nothing moves; reloaded to 0, the second
/// router is used as soon as it is heard; reloaded to 3, a new router on a
/// link where the old one is gone is used only after the probes (3 × 1 s)
/// went unanswered; reloaded to 5 with `MnRouterProbeTimeout 1.5`, the
/// probing of a gone router ends at the cap.
#[test]
fn vm_mip6d_router_probes_decide_when_a_new_router_is_used() -> Result<()> {
    let g = run("routers")?;
    g.check_prefix("lab", "up")?;
    // 1. Lazy, old router reachable.
    g.fact("lazy.registered")?;
    g.fact("lazy.probing")?;
    g.fact("lazy.staying")?;
    g.check(g.num("lazy.probes_sent")? >= 1, "no probe was sent")?;
    g.check(
        g.num("lazy.handovers")? == 0 && g.num("lazy.bus_to_d")? == 0,
        "the MN moved to the new router though the old one answered",
    )?;
    // 2. Reloaded to 0: eager.
    g.check(
        g.fact("eager.reload")?.contains("applied"),
        "the reload did not apply MnRouterProbes",
    )?;
    g.check(
        g.num("eager.probing_lines")? == 0,
        "MnRouterProbes 0 still probed the old router",
    )?;
    let bu = seconds(&g, "eager.bu_after_router_s")?;
    g.check(
        bu < 1.0,
        format!("MnRouterProbes 0: the BU from the new router's prefix came {bu} s after it"),
    )?;
    g.fact("eager.handover")?;
    // 3. Reloaded to 3, old router gone.
    let probe = seconds(&g, "gone.probe_s")?;
    g.check(
        (2.5..6.0).contains(&probe),
        format!("the probes took {probe} s, not about 3 x 1 s"),
    )?;
    g.check(
        g.num("gone.probes_sent")? == 3,
        "not 3 probes of the old router",
    )?;
    g.check(
        seconds(&g, "gone.bu_after_probe_s")? >= 0.0,
        "the BU left before the probes ended",
    )?;
    g.fact("gone.handover")?;
    g.check(
        g.num("gone.ha_moves")? >= 1,
        "the HA's binding did not move",
    )?;
    // 4. Reloaded to 5 with MnRouterProbeTimeout 1.5: the cap ends the
    // probing long before 5 probes.
    let capped = seconds(&g, "capped.probe_s")?;
    g.check(
        (1.0..3.5).contains(&capped),
        format!("MnRouterProbeTimeout 1.5: the probing took {capped} s, not about 1.5 s"),
    )?;
    g.check(
        (1..=2).contains(&g.num("capped.probes_sent")?),
        "MnRouterProbeTimeout 1.5: not 1 or 2 probes of the old router",
    )?;
    g.fact("capped.handover")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}

/// `OptimisticHandoff`: on, the tunnel's default route is in place before any
/// BA and the BU from a new link leaves while the CoA is still in DAD; off,
/// neither (the BU waits for DAD's end). Its `optimistic_dad` and
/// `use_optimistic` are restored at exit.
#[test]
fn vm_mip6d_optimistic_handoff_uses_the_coa_before_dad_ends() -> Result<()> {
    let g = run("optimistic")?;
    g.check_prefix("lab", "up")?;
    let route = |key: &str| {
        g.lines(key)
            .iter()
            .any(|l| l.starts_with(&format!("default from {HOA} dev ip6tnl")))
    };
    // On.
    g.fact("on.first_bu")?;
    g.check(g.num("on.ba_before")? == 0, "a BA came with no home agent")?;
    g.check(
        route("on.route_before_ba"),
        "OptimisticHandoff: no route into the tunnel before the BA",
    )?;
    g.fact("on.registered")?;
    g.check(
        g.num("on.coa_tentative_at_bu")? == 1,
        "OptimisticHandoff: the BU waited for the end of DAD",
    )?;
    let early = seconds(&g, "on.dad_end_after_bu_s")?;
    g.check(
        early > 1.0,
        format!("OptimisticHandoff: DAD ended only {early} s after the BU"),
    )?;
    g.fact("on.handover")?;
    g.check(
        g.fact("on.optimistic_dad_after")?.trim() == "0 0",
        "optimistic_dad and use_optimistic not restored at exit",
    )?;
    // Off.
    g.fact("off.first_bu")?;
    g.check(
        !route("off.route_before_ba"),
        "without OptimisticHandoff: a route into the tunnel before the BA",
    )?;
    g.fact("off.registered")?;
    g.check(
        g.num("off.coa_tentative_at_bu")? == 0,
        "without OptimisticHandoff: the BU left during DAD",
    )?;
    let late = seconds(&g, "off.dad_end_after_bu_s")?;
    g.check(
        late <= 0.0,
        format!("without OptimisticHandoff: DAD ended {late} s after the BU"),
    )?;
    g.fact("off.handover")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
