//! The home agent's check of tunnelled packets (RFC 6275 §10.4.5): a packet that
//! reaches it through the MN–HA tunnel is forwarded only when its outer source is
//! the registered care-of address of its inner source's home address. Guest side:
//! `scripts/vm/mip6d-spoof.sh` (crafted ip6ip6 packets from link A, a UDP sink on
//! the correspondent counting what the HA forwarded); docs/home-agent-datapath.md.
//!
//! Needs root and `scripts/deps.sh`; fails, never skips, without them.

use anyhow::Result;
use e2e::vm::{GuestReport, GuestRun};

fn run(datapath: &str) -> Result<GuestReport> {
    let g = GuestRun {
        script: "scripts/vm/mip6d-spoof.sh",
        args: &[],
        timeout_s: 240,
        echo_prefix: "fact ",
    }
    .run_with_env(&[("VM_HA_DATAPATH", datapath)])?;
    g.check_prefix("lab", "up")?;
    g.fact("ha.ba")?;
    g.check(
        g.fact("ha.datapath")?
            .contains(&format!("({datapath} tunnel datapath)")),
        format!("the home agent does not run the {datapath} datapath"),
    )?;
    let sent = g.num("sent")?;
    g.check(
        g.num("cn.genuine")? == sent,
        "not every genuine tunnelled datagram was forwarded",
    )?;
    g.check(
        g.num("cn.outer")? == 0,
        "a datagram whose outer source is not the CoA was forwarded",
    )?;
    Ok(g)
}

/// On the shared datapath the tc filters of the shared device decide: a wrong
/// outer source is dropped, and so is another inner source from the CoA.
#[test]
fn vm_mip6d_spoofed_tunnel_packets_dropped_shared() -> Result<()> {
    let g = run("shared")?;
    g.check(
        g.num("cn.inner")? == 0,
        "a datagram from the CoA with an inner source other than the home address was forwarded",
    )?;
    g.fact("finished")?;
    g.exited_ok()
}

/// For comparison, per-binding devices: the kernel finds no device for a wrong
/// outer source and drops the packet. (It does not look at the inner source:
/// `cn.inner` is reported, not checked.)
#[test]
fn vm_mip6d_spoofed_tunnel_packets_dropped_per_binding() -> Result<()> {
    let g = run("per-binding")?;
    g.fact("finished")?;
    g.exited_ok()
}
