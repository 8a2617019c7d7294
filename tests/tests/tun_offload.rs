//! TCP through our client and relay with the TUN's segmentation offloads on
//! (super-segments split on read, segments coalesced on write) and forced
//! off with `MIREDO_TUN_OFFLOAD=0` (docs/tun-offload.md): a few MB each way,
//! to the IPv6-only host through our relay and to Debian's client directly,
//! every byte compared.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use e2e::{
    our_bin, tunnel_counter, tunnel_counters, Daemon, Lab, LabOpts, Nat, TARGET_IP6, TEREDO_IFACE,
};

const BYTES: usize = 4 << 20;

/// Starts our `miredo` in `node` as `name`, with `MIREDO_TUN_OFFLOAD=0`
/// in its environment unless `offload`, and on `bus` if given.
fn start_ours(
    lab: &Lab,
    node: &str,
    name: &str,
    conf: &str,
    offload: bool,
    bus: Option<&str>,
) -> Result<Daemon> {
    let conf = lab.write_conf(&format!("{name}.conf"), conf)?;
    let pidfile = lab.state_dir().join("run").join(format!("{name}.pid"));
    let bin = our_bin("miredo");
    ensure!(
        bin.exists(),
        "{} not found: cargo build -p miredo",
        bin.display()
    );
    let switch = if offload {
        "MIREDO_TUN_OFFLOAD=1"
    } else {
        "MIREDO_TUN_OFFLOAD=0"
    };
    let bus = bus.map(|b| format!("DBUS_SYSTEM_BUS_ADDRESS={b}"));
    let mut cmd = vec![OsStr::new("/usr/bin/env"), OsStr::new(switch)];
    cmd.extend(bus.as_deref().map(OsStr::new));
    cmd.extend([
        bin.as_os_str(),
        OsStr::new("-f"),
        OsStr::new("-p"),
        pidfile.as_os_str(),
        OsStr::new("-c"),
        conf.as_os_str(),
    ]);
    lab.start(node, name, &cmd)
}

/// The lab with Debian's server, our relay (on the lab's bus) and our client
/// in `cl1`, all with offloads on or off, and Debian's client in `cl2`.
fn lab_with(offload: bool) -> Result<(Lab, Daemon, Daemon)> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::FullCone, Nat::RestrictedCone]))?;
    let bus = lab.dbus_up()?;
    lab.start_debian_server()?;
    let relay_conf = format!("RelayType relay\nInterfaceName {TEREDO_IFACE}\n");
    let relay = start_ours(&lab, "relay", "our-relay", &relay_conf, offload, Some(&bus))?;
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
    let client = start_ours(
        &lab,
        "cl1",
        "our-client1",
        &Lab::client_conf(),
        offload,
        None,
    )?;
    Ok((lab, relay, client))
}

/// Runs `f` on a new thread inside `node`'s network namespace.
fn spawn_in<T: Send + 'static>(
    lab: &Lab,
    node: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> std::thread::JoinHandle<Result<T>> {
    let path = format!("/run/netns/{}", lab.netns(node));
    std::thread::spawn(move || -> Result<T> {
        let ns = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
        // SAFETY: setns on a valid namespace fd; it affects only this thread.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!("setns {path}: {}", std::io::Error::last_os_error());
        }
        f()
    })
}

/// Sends [`BYTES`] over TCP from `from` to a listener on `to_addr` in
/// `to`; fails unless every byte arrives unchanged.
fn tcp_transfer(lab: &Lab, from: &str, to: &str, to_addr: Ipv6Addr, port: u16) -> Result<()> {
    let data: Vec<u8> = (0..BYTES).map(|i| (i * 131 + i / 65521) as u8).collect();
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = spawn_in(lab, to, move || {
        let listener = TcpListener::bind(SocketAddrV6::new(to_addr, port, 0, 0))?;
        ready_tx.send(())?;
        let (mut conn, _) = listener.accept()?;
        conn.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut got = Vec::with_capacity(BYTES);
        conn.read_to_end(&mut got).context("reading the transfer")?;
        Ok(got)
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| anyhow!("listener in {to} not ready"))?;
    let sent = data.clone();
    spawn_in(lab, from, move || {
        let dst = SocketAddrV6::new(to_addr, port, 0, 0);
        let mut s = TcpStream::connect_timeout(&dst.into(), Duration::from_secs(10))
            .with_context(|| format!("connecting to {dst}"))?;
        s.set_write_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(&sent).context("sending the transfer")?;
        s.shutdown(std::net::Shutdown::Write)?;
        Ok(())
    })
    .join()
    .map_err(|_| anyhow!("sender panicked"))??;
    let got = server
        .join()
        .map_err(|_| anyhow!("receiver panicked"))?
        .with_context(|| format!("{from} -> {to}"))?;
    ensure!(
        got.len() == data.len(),
        "{from} -> {to}: {} of {} bytes",
        got.len(),
        data.len()
    );
    ensure!(got == data, "{from} -> {to}: the bytes arrived changed");
    Ok(())
}

/// The offloads line our daemon logs when it opened its TUN.
fn offload_line(d: &Daemon) -> Option<String> {
    d.log_text()
        .lines()
        .find(|l| l.contains("offloads: "))
        .map(str::to_owned)
}

/// The relay's `Counters` once they count the client -> host transfer
/// (published every 2 s): its segments, written to the relay's tunnel.
fn relay_counters_after_transfer(lab: &Lab) -> Result<BTreeMap<String, u64>> {
    let bus = lab.dbus_address().context("no bus")?;
    // BYTES in segments of at most 1220 bytes of payload.
    let segments = (BYTES / 1220) as u64;
    lab.wait_for(
        "the transfer in the relay's counters",
        Duration::from_secs(6),
        || Ok(tunnel_counter(&bus, "tun_write_packets")? >= segments),
    )
    .with_context(|| format!("{:?}", tunnel_counters(&bus)))?;
    tunnel_counters(&bus)
}

#[test]
fn tcp_through_our_client_and_relay_with_tun_offloads() -> Result<()> {
    let (lab, relay, ours) = lab_with(true)?;
    let _theirs = lab.start_debian_client(2)?;
    let a = lab
        .wait_teredo_addr("cl1", Duration::from_secs(10))
        .with_context(|| ours.log_text())?;
    let b = lab.wait_teredo_addr("cl2", Duration::from_secs(10))?;
    for d in [&relay, &ours] {
        let line =
            offload_line(d).with_context(|| format!("no offloads line:\n{}", d.log_text()))?;
        ensure!(line.contains("TSO6"), "{line}");
    }
    lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(10))?;
    lab.wait_ping6("cl1", b, Duration::from_secs(10))?;
    lab.wait_ping6("cl2", a, Duration::from_secs(10))?;

    tcp_transfer(&lab, "cl1", "tgt", TARGET_IP6, 5001).context("ours -> relay -> host")?;
    // The relay wrote the client's segments to its tunnel coalesced: fewer
    // writes than packets (D-Bus `Counters`, docs/dbus.md).
    let c = relay_counters_after_transfer(&lab)?;
    ensure!(
        c["tun_writes"] < c["tun_write_packets"],
        "no coalesced tunnel write: {c:?}"
    );
    tcp_transfer(&lab, "tgt", "cl1", a, 5002).context("host -> relay -> ours")?;
    tcp_transfer(&lab, "cl1", "cl2", b, 5003).context("ours -> Debian's client")?;
    tcp_transfer(&lab, "cl2", "cl1", a, 5004).context("Debian's client -> ours")?;
    Ok(())
}

#[test]
fn tcp_through_our_client_and_relay_with_tun_offloads_forced_off() -> Result<()> {
    let (lab, relay, ours) = lab_with(false)?;
    let a = lab
        .wait_teredo_addr("cl1", Duration::from_secs(10))
        .with_context(|| ours.log_text())?;
    for d in [&relay, &ours] {
        ensure!(offload_line(d).is_none(), "offloads on:\n{}", d.log_text());
    }
    lab.wait_ping6("cl1", TARGET_IP6, Duration::from_secs(10))?;
    tcp_transfer(&lab, "cl1", "tgt", TARGET_IP6, 5001).context("ours -> relay -> host")?;
    // Without offloads every packet is a write of its own, each way.
    let c = relay_counters_after_transfer(&lab)?;
    ensure!(
        c["tun_writes"] == c["tun_write_packets"] && c["tun_reads"] == c["tun_read_packets"],
        "a tunnel write or read of several packets with offloads off: {c:?}"
    );
    tcp_transfer(&lab, "tgt", "cl1", a, 5002).context("host -> relay -> ours")?;
    Ok(())
}
