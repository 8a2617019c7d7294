//! The mobile node told that a peer has no Mobile IPv6 (RFC 6275 §11.3.6), in
//! the VM of `scripts/vm.sh` (docs/vm.md): `scripts/vm/mip6d-ro-errors.sh`
//! drives mip6d as home agent, mobile node and correspondent node (and the
//! correspondent's kernel without it), sends the crafted errors with
//! `mh_send`, and reports `fact KEY=VALUE` lines; the checks are below.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::{GuestReport, GuestRun};

fn count(g: &GuestReport, key: &str) -> Result<i64> {
    g.num(key)
}

/// A correspondent whose kernel answers the HoTI with a Parameter Problem
/// (code 1, Mobility Header) is left alone (one HoTI, not the resend 5 s
/// later); a Parameter Problem at the Home Address option after return
/// routability worked draws UMIP's "CN participated in RO but can't handle
/// HAO" and removes the HAO state; a Binding Error status 2 removes it too;
/// the home agent's Parameter Problem is discarded with
/// `MnDiscardHaParamProb` and honoured without it.
#[test]
fn vm_mip6d_route_optimisation_errors() -> Result<()> {
    let g = GuestRun {
        script: "scripts/vm/mip6d-ro-errors.sh",
        args: &[],
        timeout_s: 300,
        echo_prefix: "fact ",
    }
    .run()?;
    g.check_prefix("lab", "up")?;
    g.fact("mn.registered")?;
    // 1. Kernel without mip6d: code 1 at the MH, no second HoTI.
    let hotis = count(&g, "mn.hotis_c4")?;
    g.check(
        hotis == 1,
        format!("{hotis} HoTIs to the host without Mobile IPv6 (one expected)"),
    )?;
    g.check(
        count(&g, "mn.pp_mh")? == 1,
        "the MN did not log the host as without Mobile IPv6 (once)",
    )?;
    // 2. Code 2 at the HAO after a binding.
    g.fact("mn.ba_c2")?;
    g.check(
        count(&g, "mn.hao_states_c2_before")? >= 1,
        "no HAO state for c::2 after the binding",
    )?;
    g.fact("mn.cant_handle_hao")?;
    g.fact("mn.pp_hao")?;
    g.check(
        count(&g, "mn.hao_states_c2_after")? == 0,
        "the HAO state for c::2 stayed after the Parameter Problem",
    )?;
    // 3. Binding Error status 2.
    g.fact("mn.ba_c3")?;
    g.fact("mn.be2")?;
    g.check(
        count(&g, "mn.hao_states_c3_after")? == 0,
        "the HAO state for c::3 stayed after the Binding Error status 2",
    )?;
    // 4. The home agent's Parameter Problem.
    g.fact("mn.ha_pp_discarded")?;
    g.check(
        count(&g, "mn.abandoned_while_discarding")? == 0,
        "the registration was abandoned with MnDiscardHaParamProb on",
    )?;
    g.fact("mn.ha_pp_honoured")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
