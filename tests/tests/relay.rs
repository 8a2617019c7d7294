//! Our miredo in relay mode (docs/protocol-notes.md#relay-mode), with Debian's miredo-server, and
//! Debian's and our clients going through it to the IPv6-only host.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::{
    nat_public_ip, tunnel_counter, tunnel_property, Daemon, Lab, LabOpts, Nat, TeredoAddr,
    RELAY_IP, RELAY_IP6, SERVER_IP, TARGET_IP6, TEREDO_IFACE,
};

/// Our relay listens here so a test can aim datagrams at it.
const RELAY_PORT: u16 = 3545;

fn relay_conf() -> String {
    format!("RelayType relay\nInterfaceName {TEREDO_IFACE}\nBindPort {RELAY_PORT}\n")
}

/// Starts our relay with the lab's private bus in its environment.
fn start_relay(lab: &Lab, bus: &str) -> Result<Daemon> {
    let d = lab.start_ours_on_bus(
        "relay",
        "our-relay",
        "miredo",
        &relay_conf(),
        &[],
        Some(bus),
    )?;
    lab.wait_for(
        "our relay to route 2001::/32",
        Duration::from_secs(5),
        || {
            let routes =
                lab.exec_ok("relay", &["ip", "-6", "route", "show", "dev", TEREDO_IFACE])?;
            Ok(routes.contains("2001::/32"))
        },
    )
    .with_context(|| d.log_text())?;
    Ok(d)
}

#[test]
fn our_relay_carries_debian_and_our_clients_to_the_ipv6_host() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::PortRestricted, Nat::FullCone]))?;
    let bus = lab.dbus_up()?;
    lab.start_debian_server()?;
    let relay = start_relay(&lab, &bus)?;

    // The interface as miredo's relay sets it up (docs/protocol-notes.md#relay-mode).
    let link = lab.exec_ok("relay", &["ip", "-d", "link", "show", "dev", TEREDO_IFACE])?;
    ensure!(
        link.contains("NOARP") && link.contains("mtu 1280") && link.contains(",UP"),
        "relay link: {link}"
    );
    let addrs = lab.exec_ok("relay", &["ip", "-6", "addr", "show", "dev", TEREDO_IFACE])?;
    ensure!(
        addrs.contains("fe80::ffff:ffff:ffff/64") && addrs.matches("inet6 ").count() == 1,
        "relay addresses: {addrs}"
    );
    let routes = lab.exec_ok("relay", &["ip", "-6", "route", "show", "dev", TEREDO_IFACE])?;
    ensure!(
        routes
            .lines()
            .any(|l| l.starts_with("2001::/32") && l.contains("metric 1024")),
        "{routes}"
    );
    let redirects = lab.exec_ok(
        "relay",
        &["sysctl", "-n", "net.ipv6.conf.teredo.accept_redirects"],
    )?;
    ensure!(redirects.trim() == "0", "accept_redirects {redirects}");
    ensure!(tunnel_property(&bus, "Mode")?.trim() == "s \"cone\"");
    ensure!(tunnel_property(&bus, "State")?.trim() == "s \"up\"");

    // A Debian client behind a port-restricted NAT, both directions.
    lab.start_debian_client(1)?;
    let deb = lab.wait_teredo_addr("cl1", Duration::from_secs(10))?;
    lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(10))
        .with_context(|| format!("Debian client -> host via our relay\n{}", relay.log_text()))?;
    lab.wait_ping6("tgt", deb, Duration::from_secs(10))
        .context("host -> Debian client via our relay")?;

    // Our client behind a full-cone NAT, both directions.
    let ours = lab.start_our_client(2, &Lab::client_conf())?;
    let addr = lab
        .wait_teredo_addr("cl2", Duration::from_secs(10))
        .with_context(|| ours.log_text())?;
    lab.wait_ping6("cl2", TARGET_IP6, Duration::from_secs(10))
        .context("our client -> host via our relay")?;
    lab.wait_ping6("tgt", addr, Duration::from_secs(10))
        .context("host -> our client via our relay")?;

    // Published at the relay's next counter tick (every 2 s).
    lab.wait_for(
        "peers and counters on D-Bus",
        Duration::from_secs(5),
        || {
            Ok(tunnel_property(&bus, "Peers")?.trim() != "u 0"
                && tunnel_counter(&bus, "to_tun")? > 0)
        },
    )?;
    lab.stop(&relay)?;
    let routes = lab.exec_ok("relay", &["ip", "-6", "route", "show"])?;
    ensure!(!routes.contains("2001::/32"), "route left behind: {routes}");
    Ok(())
}

/// The UDP port the forged packets come from (a full-cone NAT keeps it).
const FORGER_PORT: u16 = 40000;

/// An ICMPv6 echo request inside UDP, as a Teredo peer would send it: its
/// Teredo source embeds the very mapping it comes from (so only the peer
/// list can tell it apart), but the relay never sent anything to it.
fn unsolicited_teredo_packet() -> Vec<u8> {
    let src = TeredoAddr {
        prefix: 0x2001_0000,
        server: SERVER_IP,
        flags: 0,
        mapped_port: FORGER_PORT,
        mapped_ip: nat_public_ip(1),
    }
    .to_ipv6();
    let mut p = Vec::new();
    p.extend_from_slice(&[0x60, 0, 0, 0, 0, 8, 58, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&TARGET_IP6.octets());
    // Echo request, checksum left 0: the relay must drop it before anyone looks.
    p.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1]);
    p
}

#[test]
fn our_relay_drops_teredo_traffic_from_peers_it_never_contacted() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::FullCone]))?;
    let bus = lab.dbus_up()?;
    lab.start_debian_server()?;
    let _relay = start_relay(&lab, &bus)?;
    let before_drop = tunnel_counter(&bus, "dropped_unknown_peer")?;
    let before_tun = tunnel_counter(&bus, "to_tun")?;

    let packet = unsolicited_teredo_packet();
    let hex: String = packet.iter().map(|b| format!("{b:02x}")).collect();
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.bind(('0.0.0.0',{FORGER_PORT}))\n\
         [s.sendto(bytes.fromhex('{hex}'),('{RELAY_IP}',{RELAY_PORT})) for _ in range(5)]\n"
    );
    lab.exec_ok("cl1", &["python3", "-c", &script])?;

    lab.wait_for(
        "five drops counted as unknown peer",
        Duration::from_secs(6),
        || Ok(tunnel_counter(&bus, "dropped_unknown_peer")? >= before_drop + 5),
    )?;
    ensure!(
        tunnel_counter(&bus, "to_tun")? == before_tun,
        "an unsolicited packet reached the tunnel"
    );
    Ok(())
}

#[test]
fn relay_reports_unreachable_from_a_routable_address() -> Result<()> {
    // A native destination routed into the relay's tunnel by mistake gets an
    // ICMPv6 Destination Unreachable (code 3) back to the sender. The relay
    // must send it from an address the sender can see, not the tunnel's
    // link-local one, which the kernel refuses to forward.
    let lab = Lab::up(LabOpts::with_nats(&[Nat::FullCone]))?;
    let bus = lab.dbus_up()?;
    lab.start_debian_server()?;
    let relay = start_relay(&lab, &bus)?;
    let lost = "2001:db8:dead::1";
    lab.exec_ok(
        "relay",
        &[
            "ip",
            "-6",
            "route",
            "add",
            "2001:db8:dead::/48",
            "dev",
            TEREDO_IFACE,
        ],
    )?;
    lab.exec_ok(
        "v6",
        &[
            "ip",
            "-6",
            "route",
            "add",
            "2001:db8:dead::/48",
            "via",
            "2001:db8:ff01::2",
        ],
    )?;
    let out = lab.exec("tgt", &["ping", "-6", "-n", "-c", "1", "-W", "3", lost])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let from = format!("From {RELAY_IP6} icmp_seq=1 Destination unreachable: Address unreachable");
    ensure!(
        text.contains(&from),
        "no error from the relay's address {RELAY_IP6}:\n{text}\n{}",
        relay.log_text()
    );
    lab.wait_for("the error counted", Duration::from_secs(5), || {
        Ok(tunnel_counter(&bus, "icmp_errors")? >= 1)
    })?;
    Ok(())
}
