//! Dynamic home agent address discovery between mip6d mobile node and home
//! agents, on a kernel with the Mobile IPv6 datapath: the VM of `scripts/vm.sh`
//! (docs/vm.md) runs `scripts/vm/mip6d-dhaad.sh` on the lab of
//! `scripts/vm/guest-lib.sh`, plus a second home agent on the home link.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::{ensure, Result};
use e2e::vm::GuestRun;

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
    let out = GuestRun {
        script: "scripts/vm/mip6d-dhaad.sh",
        args: &[],
        // 60-90 s on an idle machine, about 3 min on a loaded one.
        timeout_s: 480,
        echo_prefix: "mip6d: ok",
    }
    .expect(&[
            "mip6d: ok lab up, MN on link A",
            "mip6d: ok the HA joined the home-agents anycast address and lists itself (preference 10)",
            "mip6d: ok ",
            "mip6d: ok registered with the HA found by DHAAD; CN -> home address ping: ",
            "mip6d: ok after SIGTERM the anycast address is gone and the kernel state of MN and HA equals the state before",
            "mip6d: ok MnResetDhaadAtHome: back on link A the MN ran DHAAD again and registered",
            "mip6d: ok both home agents list 2001:db8:1::3 (preference 20) and 2001:db8:1::2 (preference 10)",
            "mip6d: ok registered with the preferred HA 2001:db8:1::3; CN -> home address ping: ",
            "mip6d: ok refused by 2001:db8:1::3, registered with 2001:db8:1::2; CN -> home address ping: ",
            "mip6d: ok mip6d[",
            "mip6d: ok the MN's prefix discovery policies are gone after SIGTERM",
            "mip6d: ok home agent state restored after SIGTERM",
            "mip6d: all checks passed",
        ])?;
    for seen in [
        "MPA with 2001:db8:1::/64",
        "MPA ",
        "prefix 2001:db8:1::/64 valid",
        "home prefix 2001:db8:5::/64 learned on eth0",
        "unsolicited MPA ",
        "was not solicited: soliciting",
        "MPA with 2001:db8:1::/64, 2001:db8:5::/64",
        "prefix 2001:db8:5::/64 valid",
    ] {
        ensure!(
            out.lines()
                .any(|l| l.starts_with("mip6d: ok") && l.contains(seen)),
            "no check line with {seen:?} in:\n{out}"
        );
    }
    Ok(())
}
