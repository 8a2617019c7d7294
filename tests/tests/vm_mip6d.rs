//! mip6d as home agent and mobile node on a kernel with the Mobile IPv6 datapath:
//! the VM of `scripts/vm.sh` (docs/vm.md) runs `scripts/vm/mip6d-*.sh` on the lab of
//! `scripts/vm/guest-lib.sh` (home link with the HA and radvd, foreign links A and B,
//! a correspondent on link C).
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::{ensure, Result};
use e2e::vm::GuestRun;

/// A run of `script`; 240 s leaves room for a loaded machine.
fn guest(script: &str) -> GuestRun<'_> {
    GuestRun {
        script,
        args: &[],
        timeout_s: 240,
        echo_prefix: "mip6d: ok",
    }
}

/// Home registration from foreign link A (BA status 0 at both ends, tunnels,
/// home address, proxy entry, the CN's ping answered), clean SIGTERM on both
/// nodes (kernel dumps equal to those before start), then (state on D-Bus, read
/// with mip6ctl) a move to link B with a running ping, and the return home (deregistration, proxy entries gone).
#[test]
fn vm_mip6d_register_move_return_home() -> Result<()> {
    guest("scripts/vm/mip6d-home-reg.sh").expect(&[
            "mip6d: ok lab up, MN on link A",
            "mip6d: ok mip6d[",
            "mip6d: ok tunnels, home address, proxy entry and routes installed",
            "mip6d: ok ping from the CN to the home address answered",
            "mip6d: ok after SIGTERM the kernel state of MN and HA equals the state before start",
            "mip6d: ok D-Bus: mip6ctl shows the MN registered with its CoA on eth-a and the HA's binding",
            "mip6d: ok ping kept working across the move to link B",
            "mip6d: ok returned home: deregistered, proxy entries gone",
            "mip6d: ok the router's neighbour entry for the home address is the MN's MAC again",
            "mip6d: ok ping from the CN to the home address answered at home",
            "mip6d: ok home agent state restored after SIGTERM",
            "mip6d: all checks passed",
        ])?;
    Ok(())
}

/// The home agent's refusals (129 for an ACL deny, 132 for a home address outside
/// its prefixes, 135 for an old sequence number), and a `Tunnel enabled` interface
/// whose address a script sets: it becomes the CoA in MnIfPreference order, the MN
/// goes back to eth-a when the address goes, and never solicits a router on it.
#[test]
fn vm_mip6d_ha_status_codes_and_tunnel_interface() -> Result<()> {
    guest("scripts/vm/mip6d-status-tunnel.sh")
        .expect(&[
            "mip6d: ok lab up, MN on the home link",
            "mip6d: ok mip6d[",
            "mip6d: ok a binding left unrefreshed expired after its 8 s lifetime; its proxy entry went",
            "mip6d: ok SIGHUP reloads the configuration",
            "mip6d: ok registered through eth-a while tnl0 has no address",
            "mip6d: ok the Tunnel interface's default route got metric 996",
            "mip6d: ok the Tunnel interface's scripted address became the CoA",
            "mip6d: ok ping from the CN to the home address through tnl0",
            "mip6d: ok back to eth-a when the Tunnel interface's address was removed",
            "mip6d: ok no Router Solicitation on the Tunnel interface",
            "mip6d: all checks passed",
        ])
        .and_then(|out| {
        for status in ["status 129 ", "status 132 ", "status 135 "] {
            ensure!(
                out.lines()
                    .any(|l| l.starts_with("mip6d: ok") && l.contains(status)),
                "no refusal with {status}in:\n{out}"
            );
        }
        Ok(())
    })
}

/// The home agent with 200 simulated mobile nodes: all register (tunnels named
/// in device group 6275, proxy entries), a burst of refreshes is answered in
/// full, 200 bindings expiring together are removed between messages without
/// leftovers, and SIGTERM removes the tunnel group in one request, leaving the
/// kernel state as before start.
#[test]
fn vm_mip6d_home_agent_with_many_bindings() -> Result<()> {
    guest("scripts/vm/mip6d-many.sh").expect(&[
        "mip6d: ok lab up, home agent running",
        "mip6d: ok 200 bindings installed: 200 tunnels in group 6275, 200 proxy entries",
        "mip6d: ok a burst of 200 refreshes was answered in full",
        "mip6d: ok 200 bindings expired together and left no tunnel or proxy entry",
        "mip6d: ok SIGTERM with 200 bindings removed the tunnel group at once; kernel state as before start",
        "mip6d: all checks passed",
    ])?;
    Ok(())
}
