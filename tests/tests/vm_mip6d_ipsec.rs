//! mip6d with `UseMnHaIPsec enabled` in the VM of `scripts/vm.sh` (docs/vm.md):
//! `scripts/vm/mip6d-ipsec.sh` adds static ESP SAs with `ip xfrm state add` on
//! the mobile node and the home agent; mip6d installs the XFRM policies of an
//! `IPsecPolicySet` (HomeRegBinding in transport mode, TunnelPayload in tunnel
//! mode) and moves the tunnel-mode ones with the care-of address.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::{GuestReport, GuestRun};

const HA: &str = "2001:db8:1::2";

/// Fact KEY (an SA's packet count) grew from fact BEFORE.
fn grew(g: &GuestReport, before: &str, key: &str, what: &str) -> Result<()> {
    let (b, a) = (g.num(before)?, g.num(key)?);
    g.check(a > b, format!("{what} ({before} {b} -> {key} {a})"))
}

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
    vm_mip6d_ipsec_static_sas_on("shared")
}

/// The same on the per-binding datapath (`HaTunnelDatapath per-binding`).
#[test]
fn vm_mip6d_ipsec_static_sas_per_binding() -> Result<()> {
    vm_mip6d_ipsec_static_sas_on("per-binding")
}

fn vm_mip6d_ipsec_static_sas_on(datapath: &str) -> Result<()> {
    let g = GuestRun {
        script: "scripts/vm/mip6d-ipsec.sh",
        args: &[],
        timeout_s: 420,
        echo_prefix: "fact ",
    }
    .run_with_env(&[("VM_HA_DATAPATH", datapath)])?;
    let nonzero = |key: &str, what: &str| -> Result<()> {
        let n = g.num(key)?;
        g.check(n > 0, format!("{what} ({key} = {n})"))
    };
    let equal = |key: &str, want: &str, what: &str| -> Result<()> {
        let v = g.fact(key)?;
        g.check(v == want, format!("{what}: {key} is {v:?}, not {want:?}"))
    };
    g.check_prefix("lab", "up")?;
    // 1. BU and BA through the transport SAs on both nodes.
    for key in ["ha.policies", "mn.ba", "mn.registered"] {
        g.fact(key)?;
    }
    for ns in ["mn", "ha"] {
        for reqid in [11, 12] {
            nonzero(
                &format!("reg.{ns}.sa{reqid}"),
                &format!("{ns}: no packet through the transport SA reqid {reqid}"),
            )?;
        }
    }
    // Tunnel-mode policies and SAs moved to the CoA on both nodes.
    let coa_a = g.fact("coa_a")?;
    g.check(
        g.lines("mn.policy")
            .iter()
            .any(|l| l.contains(&format!("tmpl src {coa_a} dst {HA}"))),
        format!("the MN's tunnel policy is not at the CoA {coa_a}"),
    )?;
    equal(
        "mn.sa14",
        &format!("src {coa_a} dst {HA}"),
        "MN's tunnel SA not migrated",
    )?;
    g.fact("ha.tunnel_follows")?;
    equal(
        "ha.sa15",
        &format!("src {HA} dst {coa_a}"),
        "HA's tunnel SA not migrated",
    )?;
    // The CN's ping through the ESP tunnel.
    nonzero("ping1", "CN -> home address not answered")?;
    for ns in ["mn", "ha"] {
        for reqid in [14, 15] {
            nonzero(
                &format!("ping1.{ns}.sa{reqid}"),
                &format!("{ns}: no packet through the tunnel SA reqid {reqid}"),
            )?;
        }
    }
    // A home address no policy covers: 129, and nothing installed.
    let refusal = g.fact("nopolicy300.refused")?;
    g.check(
        refusal.ends_with(
            "BU from 2001:db8:1::300 (CoA 2001:db8:a::99, seq 7) refused: status 129 \
             (Administratively prohibited), no IPsec policy protects it",
        ),
        format!("not the refusal with 129 for ::300: {refusal}"),
    )?;
    equal("nopolicy300.objects", "", "state installed for ::300")?;
    equal(
        "nopolicy300.tunnels_after",
        g.fact("nopolicy300.tunnels_before")?,
        "a tunnel was added for ::300",
    )?;
    // The handover to link B: its BU through ESP, the tunnel SAs follow.
    g.fact("handover.done")?;
    let coa_b = g.fact("coa_b")?;
    grew(
        &g,
        "handover.mn.sa11_before",
        "handover.mn.sa11_after",
        "the handover's BU did not go through ESP",
    )?;
    equal(
        "handover.mn.sa14",
        &format!("src {coa_b} dst {HA}"),
        "MN's tunnel SA did not follow",
    )?;
    equal(
        "handover.ha.sa15",
        &format!("src {HA} dst {coa_b}"),
        "HA's tunnel SA did not follow",
    )?;
    nonzero("ping2", "CN -> home address not answered on link B")?;
    grew(
        &g,
        "ping2.mn.sa15_before",
        "ping2.mn.sa15_after",
        "the ping on link B did not come through the ESP tunnel",
    )?;
    g.check_prefix("ha.state_after_stop", "same")?;
    g.check_prefix("mn.xfrm_after_stop", "same")?;
    // 2. No SAs: BUs tried but none leaves (XfrmOutNoStates), the HA sees none.
    g.fact("nosa.bu_tried")?;
    g.check(
        g.num("nosa.bus_tried")? >= 3,
        "no BU retransmissions without SAs",
    )?;
    grew(
        &g,
        "nosa.out_no_states_before",
        "nosa.out_no_states_after",
        "XfrmOutNoStates did not grow",
    )?;
    equal("nosa.ha_bus", "0", "the HA received a BU")?;
    equal("nosa.mn_bas", "0", "the MN got a BA without SAs")?;
    // 3. No matching policy: UMIP's line, and no BU.
    g.fact("nopolicy.lacks")?;
    g.fact("nopolicy.away")?;
    equal(
        "nopolicy.bus_sent",
        "0",
        "a BU was sent without an IPsec policy",
    )?;
    // 4. A BU in clear: refused by the HA's inbound policy.
    g.check(
        g.num("clear.bus_sent")? >= 3,
        "no BU retransmissions in clear",
    )?;
    grew(
        &g,
        "clear.in_refused_before",
        "clear.in_refused_after",
        "the HA's XfrmInTmplMismatch did not grow",
    )?;
    equal("clear.ha_bus", "0", "the HA accepted a BU in clear")?;
    // 5. The HA found by DHAAD: the same protection.
    g.fact("dhaad.found")?;
    g.fact("dhaad.registered")?;
    grew(
        &g,
        "dhaad.mn.sa11_before",
        "dhaad.mn.sa11_after",
        "the BU to the discovered HA did not go through ESP",
    )?;
    equal("dhaad.lacks", "0", "'lacks' logged with DHAAD")?;
    let coa = g.fact("dhaad.coa")?;
    equal(
        "dhaad.mn.sa14",
        &format!("src {coa} dst {HA}"),
        "MN's tunnel SA not at the CoA with DHAAD",
    )?;
    // 6. A spoofed deregistration in clear from the home link: dropped by the
    // HA's inbound policy, the binding stays; the MN's own one at home comes
    // through ESP.
    g.fact("spoof.registered")?;
    let (before, after) = (
        g.num("spoof.in_refused_before")?,
        g.num("spoof.in_refused_after")?,
    );
    g.check(
        after >= before + 3,
        format!("XfrmInTmplMismatch did not grow by 3 ({before} -> {after})"),
    )?;
    equal(
        "spoof.ha_deregistrations",
        "0",
        "a spoofed deregistration in clear removed the binding",
    )?;
    nonzero("spoof.proxy_entries", "the MN's proxy entry went")?;
    g.fact("home.deregistered")?;
    g.fact("home.ha_deregistered")?;
    grew(
        &g,
        "home.ha.sa11_before",
        "home.ha.sa11_after",
        "the deregistration at home did not come through ESP",
    )?;
    // 7. HaMaxBindings 1: a second home address refused with 130, nothing
    // installed; the first still refreshes.
    g.fact("cap.installed_300")?;
    let refusal = g.fact("cap.refused_301")?;
    g.check(
        refusal.ends_with(
            "BU from 2001:db8:1::301 (CoA 2001:db8:a::98, seq 7) refused: status 130 \
             (Insufficient resources), HaMaxBindings reached",
        ),
        format!("not the refusal with 130 for ::301: {refusal}"),
    )?;
    equal("cap.objects_301", "", "state installed for ::301")?;
    g.fact("cap.refreshed_300")?;
    g.check_prefix("finished", "yes")?;
    g.exited_ok()
}
