//! The lab itself, proven with Debian's miredo and miredo-server only.
//!
//! Needs root; fails (does not skip) otherwise.

use std::net::Ipv6Addr;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use e2e::{nat_public_ip, teredo, Lab, LabOpts, Nat, TeredoAddr, SERVER_IP, TARGET_IP6};

const QUALIFY: Duration = Duration::from_secs(15);
const PING: Duration = Duration::from_secs(10);

/// The address decodes to the lab's server and to natN's public IPv4.
fn check_decodes(addr: Ipv6Addr, n: u8) -> Result<TeredoAddr> {
    ensure!(
        teredo::addr::is_teredo(&addr, teredo::addr::DEFAULT_PREFIX),
        "{addr} is not in 2001::/32"
    );
    let t = TeredoAddr::from_ipv6(&addr);
    ensure!(
        t.server == SERVER_IP,
        "{addr}: server {} != {SERVER_IP}",
        t.server
    );
    ensure!(
        t.mapped_ip == nat_public_ip(n),
        "{addr}: mapped IPv4 {} != nat{n}'s {}",
        t.mapped_ip,
        nat_public_ip(n)
    );
    ensure!(
        !t.is_cone(),
        "{addr}: a 1.2.6 client never sets the cone flag"
    );
    Ok(t)
}

/// (a) A Debian client behind a port-restricted cone NAT qualifies against Debian's
/// server and reaches an IPv6-only host through Debian's relay.
#[test]
fn debian_client_behind_port_restricted_nat_reaches_native_ipv6() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::PortRestricted]))?;
    let server = lab.start_debian_server()?;
    let relay = lab.start_debian_relay()?;
    let client = lab.start_debian_client(1)?;

    let addr = lab
        .wait_teredo_addr("cl1", QUALIFY)
        .with_context(|| format!("client log:\n{}", client.log_text()))?;
    let t = check_decodes(addr, 1)?;
    ensure!(t.mapped_port != 0, "mapped port is 0");

    lab.wait_ping6("cl1", TARGET_IP6, PING).with_context(|| {
        format!(
            "client log:\n{}\nrelay log:\n{}\nserver log:\n{}",
            client.log_text(),
            relay.log_text(),
            server.log_text()
        )
    })?;
    // The target sees the client's Teredo address as the source: it answers it too.
    ensure!(lab.ping6("tgt", addr)?, "tgt could not ping {addr} back");

    // The daemons are still running, and `stop` works on recorded PIDs.
    ensure!(server.is_running() && relay.is_running() && client.is_running());
    lab.stop(&client)?;
    ensure!(!client.is_running(), "client still running after stop");
    lab.down()
}

/// (b) Two Debian clients behind cone NATs (full and restricted) ping each other.
#[test]
fn debian_clients_behind_cone_nats_ping_each_other() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::FullCone, Nat::RestrictedCone]))?;
    lab.start_debian_server()?;
    let c1 = lab.start_debian_client(1)?;
    let c2 = lab.start_debian_client(2)?;
    let a1 = lab
        .wait_teredo_addr("cl1", QUALIFY)
        .with_context(|| c1.log_text())?;
    let a2 = lab
        .wait_teredo_addr("cl2", QUALIFY)
        .with_context(|| c2.log_text())?;
    check_decodes(a1, 1)?;
    check_decodes(a2, 2)?;
    lab.wait_ping6("cl1", a2, PING)?;
    lab.wait_ping6("cl2", a1, PING)?;
    Ok(())
}

/// The lab's knobs: renumbering, blocking the server, the private bus.
#[test]
fn lab_controls_work() -> Result<()> {
    let lab = Lab::up(LabOpts {
        nats: vec![Nat::PortRestricted],
        udp_timeout: Some(20),
        dbus: true,
        pairs: Vec::new(),
    })?;
    let out = lab.exec_ok(
        "nat1",
        &["sysctl", "-n", "net.netfilter.nf_conntrack_udp_timeout"],
    )?;
    ensure!(out.trim() == "20", "conntrack timeout {out:?}");

    ensure!(lab.ping4("cl1", SERVER_IP)?, "cl1 cannot reach the server");
    lab.block_server()?;
    ensure!(
        !lab.ping4("cl1", SERVER_IP)?,
        "server still reachable when blocked"
    );
    lab.unblock_server()?;
    lab.unblock_server()?; // idempotent
    ensure!(
        lab.ping4("cl1", SERVER_IP)?,
        "server unreachable after unblock"
    );

    lab.set_client_ip(1, "198.18.1.11".parse()?)?;
    lab.set_nat_ip(1, "203.0.113.101".parse()?)?;
    let addrs = lab.exec_ok("cl1", &["ip", "-4", "-o", "addr", "show", "dev", "eth0"])?;
    ensure!(
        addrs.contains("198.18.1.11/24") && !addrs.contains("198.18.1.10/"),
        "{addrs}"
    );
    ensure!(lab.ping4("cl1", SERVER_IP)?, "no route after renumbering");

    // The private bus answers, and its default policy denies owning names.
    let bus = lab.dbus_address().context("no bus address")?;
    let out = std::process::Command::new("busctl")
        .args([
            "--system",
            "call",
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
        ])
        .args(["org.freedesktop.DBus", "GetId"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus)
        .output()?;
    ensure!(out.status.success(), "busctl GetId failed: {out:?}");
    let out = std::process::Command::new("busctl")
        .args([
            "--system",
            "call",
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
        ])
        .args([
            "org.freedesktop.DBus",
            "RequestName",
            "su",
            "org.example.E2e",
            "0",
        ])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus)
        .output()?;
    ensure!(
        !out.status.success(),
        "default policy let anyone own a name"
    );

    // A spawned process is stopped when its handle drops.
    let child = lab.spawn("cl1", &["sleep", "60"])?;
    let pid = child.pid();
    drop(child);
    ensure!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "spawned process {pid} survived its handle"
    );
    let state = lab.state_dir().to_path_buf();
    let ns = lab.netns("cl1");
    drop(lab);
    ensure!(!state.exists(), "{} left behind", state.display());
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()?;
    ensure!(
        !String::from_utf8_lossy(&list.stdout).contains(&ns),
        "namespace {ns} left behind"
    );
    Ok(())
}
