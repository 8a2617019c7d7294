//! Route optimisation with mip6d as home agent, mobile node and correspondent
//! node on a kernel with the Mobile IPv6 datapath: the VM of `scripts/vm.sh`
//! (docs/vm.md) runs `scripts/vm/mip6d-ro.sh` on the lab of
//! `scripts/vm/guest-lib.sh`.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::GuestRun;

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
    GuestRun {
        script: "scripts/vm/mip6d-ro.sh",
        args: &[],
        timeout_s: 300,
        echo_prefix: "mip6d: ok",
    }
    .expect(&[
        "mip6d: ok lab up, MN on link A",
        "mip6d: ok MN registered from link A; CN running",
        "mip6d: ok the first ping went through the HA's tunnel",
        "mip6d: ok mip6d[",
        "mip6d: ok the CN's xfrm state: RH2 2001:db8:c::2 -> 2001:db8:1::100 coa 2001:db8:a:",
        "mip6d: ok D-Bus: mip6ctl bc shows the CN's binding 2001:db8:1::100 -> 2001:db8:a:",
        "mip6d: ok ping CN -> HoA answered directly",
        "mip6d: ok the CN's binding was refreshed before its 16 s lifetime ended",
        "mip6d: ok after the handover, ping CN -> HoA answered directly via link B",
        "mip6d: ok after the CN's restart, direct again",
        "mip6d: ok at home: the CN's RH2 state is gone and its ping is answered",
        "mip6d: ok past CnMaxBindings: no RH2 state on the CN, ping answered through the HA",
        "mip6d: ok MH flood from 2001:db8:c::1: sent 200 HoTI and 200 MH type 200; got ",
        "mip6d: ok after SIGTERM the kernel state of CN and HA, and the MN's XFRM state and rules, equal those before start",
        "mip6d: all checks passed",
    ])?;
    Ok(())
}
