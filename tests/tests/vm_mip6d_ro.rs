//! Route optimisation with mip6d as home agent, mobile node and correspondent
//! node on a kernel with the Mobile IPv6 datapath: the VM of `scripts/vm.sh`
//! (docs/vm.md) runs `scripts/vm/mip6d-ro.sh` on the lab of
//! `scripts/vm/guest-lib.sh`. The script drives the lab and reports what it
//! saw as `fact KEY=VALUE` lines; the checks are the ones below.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::{GuestReport, GuestRun};

const HOA: &str = "2001:db8:1::100";

/// Where a CN -> HoA ping of the guest (`ping_facts KEY`) must have gone.
enum Path {
    /// Through the HA's tunnel: its counters grew by at least this many packets.
    Tunnel(i64),
    /// Straight to the CoA: the HA's tunnel counters stay put (2 packets of slack).
    Direct,
}

/// The ping KEY was answered and went along PATH.
fn ping(g: &GuestReport, key: &str, path: Path) -> Result<()> {
    let received = g.num(&format!("{key}.received"))?;
    let before = g.num(&format!("{key}.tunnel_before"))?;
    let after = g.num(&format!("{key}.tunnel_after"))?;
    g.check(
        received > 0,
        format!("{key}: the CN's ping was not answered"),
    )?;
    match path {
        Path::Tunnel(n) => g.check(
            after >= before + n,
            format!("{key}: not through the HA's tunnel ({before} -> {after} packets)"),
        ),
        Path::Direct => g.check(
            after <= before + 2,
            format!("{key}: through the HA's tunnel ({before} -> {after} packets)"),
        ),
    }
}

/// Return routability started by the CN's ping (HoTI/HoT, CoTI/CoT, BU/BA with
/// the A flag), the CN's RH2 state to the CoA, a direct ping (the HA's tunnel
/// counters stay put) and the binding on D-Bus, its refresh within a 16 s lifetime,
/// the same after a move to link B,
/// a CN restart (Binding Error status 1, return routability again), the
/// deregistration at the CN back home, a BU refused with status 130 once
/// `CnMaxBindings 0` is loaded by SIGHUP (no RH2 state, traffic through the
/// HA), a flood of HoTIs and unknown MH types from one address answered but
/// logged at most 10 times per kind of line, and SIGTERM restoring
/// the kernel state (the MN's XFRM state and rules: its routes follow its link).
#[test]
fn vm_mip6d_route_optimisation() -> Result<()> {
    let g = GuestRun {
        script: "scripts/vm/mip6d-ro.sh",
        args: &[],
        timeout_s: 300,
        echo_prefix: "fact ",
    }
    .run()?;
    // 1. Registration from link A; the first ping goes through the HA and
    // starts return routability, which ends in a binding at the CN.
    g.check_prefix("lab", "up")?;
    g.fact("mn.registered_a")?;
    ping(&g, "ping1", Path::Tunnel(2))?;
    for key in [
        "mn.hoti",
        "cn.hot",
        "cn.cot",
        "mn.hot",
        "mn.cot",
        "mn.bu",
        "cn.binding_a",
        "mn.ba",
    ] {
        g.fact(key)?;
    }
    // 2. The CN's RH2 state to the CoA on link A, the binding on D-Bus, the
    // direct path.
    g.check_prefix("cn.rh2_coa_a", "2001:db8:a:")?;
    let coa_a = g.fact("cn.rh2_coa_a")?;
    let bc = g.fact("cn.bc_json")?;
    g.check(
        bc.contains(&format!("\"{HOA}\"")) && bc.contains(&format!("\"{coa_a}\"")),
        format!("mip6ctl bc --json does not show the binding {HOA} -> {coa_a}"),
    )?;
    ping(&g, "ping2", Path::Direct)?;
    // 2b. Refreshed within its 16 s lifetime while the ping runs.
    g.check(
        g.num("cn.bindings_to_coa_a")? >= 2,
        "the CN's binding was not refreshed within its 16 s lifetime",
    )?;
    g.check(
        g.num("refresh_ping.replies")? > 0,
        "the ping during the refresh was not answered",
    )?;
    // 3. After the handover to link B: return routability again, the RH2
    // state follows the CoA, direct traffic.
    for key in ["mn.handover_b", "mn.coti_b", "cn.binding_b"] {
        g.fact(key)?;
    }
    g.check_prefix("cn.rh2_coa_b", "2001:db8:b:")?;
    ping(&g, "ping3", Path::Direct)?;
    // 4. The restarted CN sends a Binding Error (status 1); return
    // routability runs again and traffic is direct again.
    for key in ["cn.restarted", "cn.be", "mn.be", "cn.binding_restarted"] {
        g.fact(key)?;
    }
    ping(&g, "ping4", Path::Direct)?;
    // 5. At home: deregistration at the CN, no RH2 state left.
    for key in ["mn.home", "mn.dereg_bu", "cn.dereg"] {
        g.fact(key)?;
    }
    g.check(
        g.num("cn.rh2_states_home")? == 0,
        "RH2 state left on the CN at home",
    )?;
    g.check(
        g.num("ping5.received")? > 0,
        "the CN's ping at home was not answered",
    )?;
    // 5b. Past CnMaxBindings (loaded by SIGHUP): status 130, no RH2 state,
    // traffic through the HA.
    for key in ["cn.reload", "cn.refused", "mn.ba_130"] {
        g.fact(key)?;
    }
    g.check(
        g.num("cn.rh2_states_refused")? == 0,
        "RH2 state on the CN past CnMaxBindings",
    )?;
    ping(&g, "ping6", Path::Tunnel(1))?;
    // 5c. The flood is answered, but logged at most 10 times per kind of line
    // (three kinds) for its source.
    g.check(
        g.num("flood.hots")? >= 50,
        "the CN answered few of the flood's HoTIs",
    )?;
    let lines = g.num("cn.flood_lines")?;
    g.check(
        lines <= 30,
        format!("the CN logged {lines} lines for the flood's source"),
    )?;
    // 6. SIGTERM restores every node.
    for key in [
        "cn.state_after_stop",
        "mn.xfrm_after_stop",
        "ha.state_after_stop",
    ] {
        g.check_prefix(key, "same")?;
    }
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
