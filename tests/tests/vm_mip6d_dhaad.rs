//! Dynamic home agent address discovery between mip6d mobile node and home
//! agents, on a kernel with the Mobile IPv6 datapath: the VM of `scripts/vm.sh`
//! (docs/vm.md) runs `scripts/vm/mip6d-dhaad.sh` on the lab of
//! `scripts/vm/guest-lib.sh`, plus a second home agent on the home link.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::GuestRun;

const HA: &str = "2001:db8:1::2";
const HA2: &str = "2001:db8:1::3";

/// `HomeAgentAddress` left out: the MN finds its HA by DHAAD from its CoA and
/// registers (CN ping answered), the HA's anycast address and kernel state go
/// at SIGTERM; `MnResetDhaadAtHome` makes it ask again after a visit home;
/// with two HAs on the home link the preferred one is chosen, and when it
/// refuses (129) the next candidate is. Then mobile prefix discovery: a BA
/// with status 1 makes the MN solicit, and the HA's advertisement lists the
/// home prefix; a second prefix on the home link brings the MN an unsolicited
/// advertisement, which it answers with a solicitation, and the answer lists
/// both prefixes.
#[test]
fn vm_mip6d_dhaad_finds_the_preferred_home_agent() -> Result<()> {
    let g = GuestRun {
        script: "scripts/vm/mip6d-dhaad.sh",
        args: &[],
        // 60-90 s on an idle machine, about 3 min on a loaded one.
        timeout_s: 480,
        echo_prefix: "fact ",
    }
    .run()?;
    g.check_prefix("lab", "up")?;
    // 1. One HA: anycast joined, itself listed, found by DHAAD from the CoA.
    g.fact("ha.anycast_joined")?;
    g.check_prefix("ha.anycast", "yes")?;
    g.fact("ha.lists_itself")?;
    g.fact("mn.dhaad_request")?;
    let reply = g.fact("mn.dhaad_reply")?;
    g.check(
        reply.ends_with(&format!("home agents [{HA}]")),
        format!("the DHAAD reply does not list exactly {HA}: {reply}"),
    )?;
    g.fact("mn.registered")?;
    g.check(g.num("ping1")? > 0, "CN -> home address not answered")?;
    g.fact("ha.deregistered")?;
    g.check_prefix("ha.anycast_after_stop", "no")?;
    g.check_prefix("mn.state_after_stop", "same")?;
    g.check_prefix("ha.state_after_stop", "same")?;
    // 2. MnResetDhaadAtHome: forgotten at home, DHAAD and a registration again
    // back on link A.
    for key in ["reset.registered", "reset.deregistered", "reset.forgotten"] {
        g.fact(key)?;
    }
    g.check(
        g.num("reset.requests_after")? > g.num("reset.requests_at_home")?,
        "no new DHAAD request after leaving home",
    )?;
    g.check(
        g.num("reset.registrations_a")? >= 2,
        "no new registration after leaving home",
    )?;
    // 3. Two HAs: both list both; the reply is in preference order and the MN
    // registers with the preferred one.
    for key in [
        "two.ha-d.lists_ha2",
        "two.ha-d.lists_ha",
        "two.ha2-d.lists_ha2",
        "two.ha2-d.lists_ha",
    ] {
        g.fact(key)?;
    }
    let reply = g.fact("two.dhaad_reply")?;
    g.check(
        reply.ends_with(&format!("home agents [{HA2}, {HA}]")),
        format!("the DHAAD reply does not list {HA2} then {HA}: {reply}"),
    )?;
    let reg = g.fact("two.registered")?;
    g.check(
        reg.contains(&format!(" with {HA2},")),
        format!("not registered with the preferred HA {HA2}: {reg}"),
    )?;
    g.fact("two.ha2_ba")?;
    g.check(
        g.num("ping3")? > 0,
        "CN -> home address via ha2 not answered",
    )?;
    // 4. The preferred HA refuses (129): the next candidate.
    g.fact("refused.by_ha2")?;
    g.fact("refused.next")?;
    let reg = g.fact("refused.registered")?;
    g.check(
        reg.contains(&format!(" with {HA},")),
        format!("not registered with the next candidate {HA}: {reg}"),
    )?;
    g.check(
        g.num("ping4")? > 0,
        "CN -> home address via ha not answered",
    )?;
    // 5. BA status 1 -> MPS -> MPA with the home prefix; the MPS policy.
    g.fact("mpd.ba_status_1")?;
    g.fact("mpd.mps")?;
    let mpa = g.fact("mpd.ha_mpa")?;
    g.check(
        mpa.contains("MPA with 2001:db8:1::/64"),
        format!("the HA's MPA does not carry the home prefix: {mpa}"),
    )?;
    g.fact("mpd.mn_prefix")?;
    g.check(
        g.lines("mpd.mn_policy")
            .iter()
            .any(|l| l.contains("proto ipv6-icmp type 146")),
        "no MPS policy on the MN",
    )?;
    // 6. A second home prefix: unsolicited MPA, the MN solicits, the answer
    // lists both prefixes.
    g.fact("unsol.learned")?;
    for key in ["unsol.mpa", "unsol.ha_mpa"] {
        let mpa = g.fact(key)?;
        g.check(
            mpa.contains("2001:db8:1::/64, 2001:db8:5::/64"),
            format!("{key}: not both prefixes: {mpa}"),
        )?;
    }
    g.fact("unsol.solicit")?;
    g.fact("unsol.mn_prefix")?;
    g.check_prefix("mn.xfrm_after_stop", "same")?;
    g.check_prefix("ha.state_at_end", "same")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
