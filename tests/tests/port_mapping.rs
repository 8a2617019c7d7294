//! Port mapping on the NAT (`PortMapping`, our extension) against a real
//! miniupnpd in the lab: the mapping's life (made with PCP, or UPnP when the
//! gateway speaks nothing else; renewed; deleted at stop; lost with the
//! gateway), and the cells of the NAT matrix it opens.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use e2e::portmap::{Gateway, GatewayOpts, Lease};
use e2e::{client_ip, nat_public_ip, Lab, LabOpts, Nat, TeredoAddr, TARGET_IP6, TEREDO_IFACE};

/// The shortest PCP lifetime miniupnpd grants: it raises `min_lifetime` to
/// 120 s whatever the configuration says, and refuses to start unless
/// `max_lifetime` is above it. The client renews at half of it.
const SHORT_LIFETIME: &str = "max_lifetime=121";
const LIFETIME: Duration = Duration::from_secs(121);

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

/// The one lease on the gateway.
fn one_lease(gw: &Gateway) -> Result<Lease> {
    let leases = gw.lease_entries();
    match leases.as_slice() {
        [l] => Ok(l.clone()),
        _ => anyhow::bail!("want one lease, have {leases:?}: {:?}", gw.leases()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[test]
fn behind_a_upnp_only_gateway_the_mapping_is_made_with_upnp_used_and_deleted() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::Symmetric, Nat::PortRestricted]))?;
    lab.start_debian_server()?;
    let opts = GatewayOpts {
        upnp_only: true,
        ..GatewayOpts::default()
    };
    let gw = Gateway::start_with(&lab, 1, &opts)?;
    let c1 = lab.start_our_client(1, &Lab::client_conf())?;
    let c2 = lab.start_our_client(2, &Lab::client_conf())?;

    // PCP, then NAT-PMP, go unanswered (1.75 s each), then UPnP.
    let log =
        wait_log(&lab, &c1, "Port mapping on the NAT: upnp", 25).with_context(|| gw.log_text())?;
    ensure!(log.contains("NAT type: symmetric"), "{log}");
    ensure!(
        !log.contains("Port mapping on the NAT: pcp")
            && !log.contains("Port mapping on the NAT: nat-pmp"),
        "{log}"
    );
    let rules = gw.udp_mappings()?;
    ensure!(rules.len() == 1, "one mapping on the NAT: {rules:?}");
    let (port, internal) = rules[0];
    ensure!(*internal.ip() == client_ip(1), "{rules:?}");
    let lease = one_lease(&gw)?;
    ensure!(
        lease.description == "miredo-rs Teredo client" && lease.external_port == port,
        "{lease:?}"
    );
    // UPnP mapped the endpoint the server sees, which the address names.
    let want = SocketAddrV4::new(nat_public_ip(1), port);
    lab.wait_for(
        "the address to name the mapping",
        Duration::from_secs(5),
        || Ok(mapping(&lab, "cl1")? == Some(want)),
    )
    .with_context(|| c1.log_text())?;

    // The mapping works as PCP's does: port-restricted <-> symmetric.
    let a1 = lab.wait_teredo_addr("cl1", Duration::from_secs(5))?;
    let a2 = lab.wait_teredo_addr("cl2", Duration::from_secs(5))?;
    lab.wait_ping6("cl2", a1, Duration::from_secs(8))
        .with_context(|| format!("port-restricted -> symmetric with UPnP\n{}", c2.log_text()))?;
    lab.wait_ping6("cl1", a2, Duration::from_secs(8))
        .with_context(|| format!("symmetric with UPnP -> port-restricted\n{}", c1.log_text()))?;

    // Deleted at stop (DeletePortMapping).
    lab.stop(&c1)?;
    let rules = gw.udp_mappings()?;
    ensure!(
        rules.is_empty(),
        "mapping left on the NAT: {rules:?}\n{}",
        gw.log_text()
    );
    ensure!(gw.lease_entries().is_empty(), "{}", gw.leases());
    drop(gw);
    lab.down()
}

#[test]
fn the_mapping_is_renewed_at_half_its_lifetime() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::Symmetric]))?;
    lab.start_debian_server()?;
    let opts = GatewayOpts {
        conf_extra: SHORT_LIFETIME.into(),
        ..GatewayOpts::default()
    };
    let gw = Gateway::start_with(&lab, 1, &opts)?;
    let c1 = lab.start_our_client(1, &Lab::client_conf())?;
    wait_log(&lab, &c1, "Port mapping on the NAT: pcp", 15).with_context(|| gw.log_text())?;
    let granted = Instant::now();
    let first = one_lease(&gw)?;
    let left = first.expires.saturating_sub(unix_now());
    ensure!(
        (LIFETIME.as_secs() - 5..=LIFETIME.as_secs()).contains(&left),
        "the lease should expire in {LIFETIME:?}: {first:?} (now {})",
        unix_now()
    );

    // The renewal rewrites the lease with a later expiry, at about 60 s.
    let mut renewed = None;
    lab.wait_for(
        "a renewal (a later expiry in the lease file)",
        LIFETIME / 2 + Duration::from_secs(10),
        || {
            renewed = gw
                .lease_entries()
                .into_iter()
                .find(|l| l.expires > first.expires);
            Ok(renewed.is_some())
        },
    )
    .with_context(|| format!("{}\n{}", c1.log_text(), gw.log_text()))?;
    let after = granted.elapsed();
    ensure!(
        after >= LIFETIME / 2 - Duration::from_secs(5),
        "renewed after {after:?}, long before half of {LIFETIME:?}"
    );
    let renewed = renewed.unwrap_or_else(|| first.clone());
    ensure!(
        renewed.external_port == first.external_port && renewed.internal == first.internal,
        "the renewal moved the mapping: {first:?} -> {renewed:?}"
    );
    ensure!(gw.udp_mappings()?.len() == 1, "{:?}", gw.udp_mappings());
    let log = c1.log_text();
    ensure!(
        !log.contains("No port mapping on the NAT")
            && log.matches("Port mapping on the NAT: ").count() == 1,
        "a renewal is no new mapping: {log}"
    );
    drop(gw);
    lab.down()
}

/// The gateway stops while the client holds a mapping: its forwarding rule
/// goes with it. The client cannot know before the renewal goes unanswered,
/// and gives the mapping up only at its expiry (renewal at half the lifetime,
/// retried halfway to the expiry, RFC 6887 §11.2.1): with the shortest
/// lifetime miniupnpd grants (121 s) the test takes a little over 2 min.
/// Meanwhile the client must work as without a mapping, through the relay.
#[test]
fn when_the_gateway_goes_away_the_relay_path_keeps_working() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::Symmetric]))?;
    lab.start_our_server_bound()?;
    let relay = lab.start_our_relay(&format!("RelayType relay\nInterfaceName {TEREDO_IFACE}\n"))?;
    lab.wait_for(
        "our relay to route 2001::/32",
        Duration::from_secs(5),
        || {
            let routes =
                lab.exec_ok("relay", &["ip", "-6", "route", "show", "dev", TEREDO_IFACE])?;
            Ok(routes.contains("2001::/32"))
        },
    )
    .with_context(|| relay.log_text())?;
    let opts = GatewayOpts {
        conf_extra: SHORT_LIFETIME.into(),
        ..GatewayOpts::default()
    };
    let gw = Gateway::start_with(&lab, 1, &opts)?;
    let c1 =
        lab.start_our_client_with_hook(1, &Lab::client_conf(), Some(Path::new("/nonexistent")))?;
    wait_log(&lab, &c1, "Port mapping on the NAT: pcp", 15).with_context(|| gw.log_text())?;
    let granted = Instant::now();
    let addr = lab.wait_teredo_addr("cl1", Duration::from_secs(5))?;

    // Nothing has gone to the relay yet: the path to it is made after the
    // gateway is gone, through a NAT that forwards nothing, while the client
    // still believes its port is forwarded (and sends no direct bubble).
    drop(gw);
    let table = lab.exec("nat1", &["nft", "list", "table", "inet", "miniupnpd"])?;
    ensure!(
        !table.status.success(),
        "the forwarding rules outlived the gateway: {}",
        String::from_utf8_lossy(&table.stdout)
    );
    lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(8))
        .with_context(|| {
            format!(
                "the IPv6 host through the relay, gateway gone\n{}",
                c1.log_text()
            )
        })?;
    ensure!(
        !c1.log_text().contains("No port mapping on the NAT"),
        "noticed before the expiry? {}",
        c1.log_text()
    );

    // The client notices at the expiry, and keeps its address and its path.
    let left = LIFETIME.saturating_sub(granted.elapsed());
    wait_log(
        &lab,
        &c1,
        "No port mapping on the NAT",
        (left + Duration::from_secs(10)).as_secs(),
    )?;
    ensure!(
        granted.elapsed() >= LIFETIME - Duration::from_secs(5),
        "gave the mapping up after {:?}, before its expiry",
        granted.elapsed()
    );
    ensure!(
        lab.teredo_addr("cl1")? == Some(addr),
        "the address changed: {addr} -> {:?}",
        lab.teredo_addr("cl1")?
    );
    lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(8))
        .with_context(|| {
            format!(
                "the IPv6 host through the relay, mapping given up\n{}",
                c1.log_text()
            )
        })?;
    lab.down()
}
