//! NEMO (RFC 3963) with mip6d on a kernel with Mobile IPv6: a mobile router with a
//! mobile network prefix and a host behind it, our home agent accepting mobile routers,
//! in the VM of `scripts/vm.sh` (`scripts/vm/mip6d-nemo.sh` on the lab of
//! `scripts/vm/guest-lib.sh`).
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::GuestRun;

#[test]
fn vm_mip6d_mobile_router_carries_its_prefix_through_the_home_tunnel() -> Result<()> {
    GuestRun {
        script: "scripts/vm/mip6d-nemo.sh",
        args: &[],
        // About 30 s on an idle machine; the rest is room for a loaded one.
        timeout_s: 300,
        echo_prefix: "mip6d: ",
    }
    .expect(&[
        "mip6d: ok registered with 2001:db8:5::/64: rules 1000/1005 on the MR, the prefix routed into the HA's tunnel",
        "mip6d: ok CN -> host behind the MR answered through the home tunnel",
        "mip6d: ok host behind the MR -> CN answered",
        "mip6d: ok after SIGTERM the kernel state of MR and HA equals the state before start",
        "mip6d: ok after a move to link B, CN -> host behind the MR answered",
        "mip6d: all checks passed (nemo)",
    ])?;
    Ok(())
}
