//! mip6d with `UseMnHaIPsec enabled` in the VM of `scripts/vm.sh` (docs/vm.md):
//! `scripts/vm/mip6d-ipsec.sh` adds static ESP SAs with `ip xfrm state add` on
//! the mobile node and the home agent; mip6d installs the XFRM policies of an
//! `IPsecPolicySet` (HomeRegBinding in transport mode, TunnelPayload in tunnel
//! mode) and moves the tunnel-mode ones with the care-of address.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::{ensure, Result};
use e2e::vm::GuestRun;

/// Registration with BU/BA through ESP (SA packet counters on both nodes),
/// tunnel-mode policies and SAs at the CoA, the CN's ping through the ESP
/// tunnel, a handover to link B that they follow, the state before start back
/// after SIGTERM; without SAs no BU leaves the MN; without a matching policy
/// UMIP's "MN lacks the necessary IPsec policies" and no BU; the HA refuses
/// a BU in clear; with the home agent found by DHAAD, the same protection.
/// Attacks from a host on the home link: a BU in clear for a home address no
/// policy covers (129, no tunnel, route or proxy entry); with HomeRegBinding
/// alone, a spoofed deregistration in clear as sent at home (dropped by the
/// HA's inbound policy, the binding stays) while the MN's own deregistration
/// at home comes through ESP; a binding past `HaMaxBindings` (130).
#[test]
fn vm_mip6d_ipsec_static_sas() -> Result<()> {
    GuestRun {
        script: "scripts/vm/mip6d-ipsec.sh",
        args: &[],
        timeout_s: 420,
        echo_prefix: "mip6d: ok",
    }
    .expect(&[
        "mip6d: ok lab up, MN on link A",
        "mip6d: ok registered from link A with BU and BA through ESP",
        "mip6d: ok tunnel-mode policies and SAs moved to the CoA",
        "mip6d: ok ping from the CN to the home address answered through the ESP tunnel (",
        "mip6d: ok mip6d[",
        "mip6d: ok no tunnel, route or proxy entry for ::300",
        "mip6d: ok handover to link B: BU through ESP, tunnel-mode policies and SAs follow",
        "mip6d: ok ping from the CN to the home address answered through the ESP tunnel on link B",
        "mip6d: ok after SIGTERM policies and SAs of the MN, and the whole state of the HA, are as before start",
        "mip6d: ok without SAs no BU leaves the MN",
        "mip6d: ok UseMnHaIPsec without a matching policy",
        "mip6d: ok a BU in clear is refused by the HA's inbound policy",
        "mip6d: ok home agent found by DHAAD: BU through ESP, tunnel-mode SAs at the CoA",
        "mip6d: ok a spoofed deregistration in clear from the home link is dropped by the HA's inbound policy",
        "mip6d: ok back home: the MN's deregistration comes through ESP and the HA takes it",
        "mip6d: ok mip6d[",
        "mip6d: ok HaMaxBindings 1: a second home address refused with 130",
        "mip6d: all checks passed",
    ])
    .and_then(|out| {
        for refusal in [
            "BU from 2001:db8:1::300 (CoA 2001:db8:a::99, seq 7) refused: status 129 (Administratively prohibited), no IPsec policy protects it",
            "BU from 2001:db8:1::301 (CoA 2001:db8:a::98, seq 7) refused: status 130 (Insufficient resources), HaMaxBindings reached",
        ] {
            ensure!(
                out.lines()
                    .any(|l| l.starts_with("mip6d: ok") && l.contains(refusal)),
                "no line with {refusal:?} in:\n{out}"
            );
        }
        Ok(())
    })?;
    Ok(())
}
