//! Port mapping on the NAT (`PortMapping`, our extension) against a real
//! miniupnpd in the lab: the mapping's life, and the cells of the NAT matrix
//! it opens.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::portmap::Gateway;
use e2e::{client_ip, nat_public_ip, Lab, LabOpts, Nat, TeredoAddr, TARGET_IP6};

/// The Teredo address's mapping on `node`, if up.
fn mapping(lab: &Lab, node: &str) -> Result<Option<SocketAddrV4>> {
    Ok(lab.teredo_addr(node)?.map(|a| {
        let t = TeredoAddr::from_ipv6(&a);
        SocketAddrV4::new(t.mapped_ip, t.mapped_port)
    }))
}

/// Waits for `needle` in a daemon's log and returns the log.
fn wait_log(lab: &Lab, d: &e2e::Daemon, needle: &str, secs: u64) -> Result<String> {
    lab.wait_for(
        &format!("{needle:?} in the log"),
        Duration::from_secs(secs),
        || Ok(d.log_text().contains(needle)),
    )
    .with_context(|| d.log_text())?;
    Ok(d.log_text())
}

#[test]
fn behind_a_symmetric_nat_with_pcp_the_mapping_is_made_used_and_deleted() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::Symmetric, Nat::PortRestricted]))?;
    lab.start_debian_server()?;
    lab.start_debian_relay()?;
    let gw = Gateway::start(&lab, 1)?;
    let c1 = lab.start_our_client(1, &Lab::client_conf())?;
    let c2 = lab.start_our_client(2, &Lab::client_conf())?;

    let log = wait_log(&lab, &c1, "Port mapping on the NAT: pcp", 15)?;
    ensure!(log.contains("NAT type: symmetric"), "{log}");
    let rules = gw.udp_mappings()?;
    ensure!(rules.len() == 1, "one mapping on the NAT: {rules:?}");
    let (port, internal) = rules[0];
    ensure!(*internal.ip() == client_ip(1), "{rules:?}");
    // The address names the mapping.
    let want = SocketAddrV4::new(nat_public_ip(1), port);
    lab.wait_for(
        "the address to name the mapping",
        Duration::from_secs(5),
        || Ok(mapping(&lab, "cl1")? == Some(want)),
    )
    .with_context(|| c1.log_text())?;

    // The cell the mapping opens: port-restricted <-> symmetric, both ways
    // (without a mapping it fails, docs/nat-traversal.md).
    let a1 = lab.wait_teredo_addr("cl1", Duration::from_secs(5))?;
    let a2 = lab.wait_teredo_addr("cl2", Duration::from_secs(5))?;
    lab.wait_ping6("cl2", a1, Duration::from_secs(8))
        .with_context(|| format!("port-restricted -> symmetric with PCP\n{}", c2.log_text()))?;
    lab.wait_ping6("cl1", a2, Duration::from_secs(8))
        .with_context(|| format!("symmetric with PCP -> port-restricted\n{}", c1.log_text()))?;
    lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(5))
        .context("the IPv6 host through the relay")?;

    // The port-restricted NAT has no mapping service: asked, nothing, works
    // as before.
    let log2 = wait_log(&lab, &c2, "NAT type: restricted", 10)?;
    ensure!(!log2.contains("Port mapping on the NAT"), "{log2}");

    // Deleted at stop.
    lab.stop(&c1)?;
    let rules = gw.udp_mappings()?;
    ensure!(rules.is_empty(), "mapping left on the NAT: {rules:?}");
    ensure!(
        c1.log_text().contains("Port mapping on the NAT: pcp"),
        "logged once"
    );
    drop(gw);
    lab.down()
}

#[test]
fn port_mapping_off_asks_nothing() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::Symmetric]))?;
    lab.start_debian_server()?;
    let gw = Gateway::start(&lab, 1)?;
    let conf = format!("{}PortMapping off\n", Lab::client_conf());
    let c1 = lab.start_our_client(1, &conf)?;
    wait_log(&lab, &c1, "NAT type: symmetric", 15)?;
    std::thread::sleep(Duration::from_secs(1));
    ensure!(gw.udp_mappings()?.is_empty(), "{:?}", gw.udp_mappings());
    ensure!(gw.leases().is_empty(), "{}", gw.leases());
    let m = mapping(&lab, "cl1")?;
    ensure!(
        m.is_some_and(|m| *m.ip() == nat_public_ip(1) && m.ip() != &Ipv4Addr::UNSPECIFIED),
        "{m:?}"
    );
    drop(gw);
    lab.down()
}
