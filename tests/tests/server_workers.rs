//! Our miredo-server with several packet loops (`ServerWorkers`): every loop
//! has its own sockets on UDP 3544 of both addresses (`SO_REUSEPORT`), the
//! kernel spreads the clients over them by source address and port, and every
//! loop answers: Router Solicitations from many source ports all get their
//! RA, and the counters on D-Bus are the sum over the loops. A second server
//! on the same addresses still fails to start, as with one socket per address.
//!
//! Needs root; fails (does not skip) otherwise.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use e2e::{Lab, LabOpts, Nat, SERVER_IP};
use teredo::wire::{emit_rs, TeredoPacket};

const WORKERS: usize = 4;
/// Clients (source ports) soliciting: with 4 sockets, the chance that the
/// hash leaves one socket without any is 4 × (3/4)^64 ≈ 4·10⁻⁸.
const CLIENTS: u16 = 64;

/// Inodes of the UDP sockets bound to port 3544 in the caller's namespace.
fn teredo_socket_inodes(pid: u32) -> Result<HashSet<String>> {
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/udp"))?;
    Ok(table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = f.get(1)?;
            local
                .ends_with(":0DD8")
                .then(|| f.get(9).map(|s| (*s).to_owned()))?
        })
        .collect())
}

/// How many of `pid`'s descriptors are UDP 3544 sockets.
fn sockets_on_3544(pid: u32) -> Result<usize> {
    let inodes = teredo_socket_inodes(pid)?;
    let mut n = 0;
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let target = std::fs::read_link(fd?.path())?;
        let t = target.to_string_lossy();
        if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
            n += usize::from(inodes.contains(inode));
        }
    }
    Ok(n)
}

/// Sends an RS from each of `CLIENTS` ports of `peer_ip` and checks that each
/// gets its RA, with its own mapping in the origin indication.
fn solicit_from_many_ports(peer_ip: Ipv4Addr) -> Result<Vec<u16>> {
    let server = SocketAddrV4::new(SERVER_IP, 3544);
    let mut unanswered = Vec::new();
    let sockets: Vec<(SocketAddrV4, UdpSocket)> = (0..CLIENTS)
        .map(|i| {
            let local = SocketAddrV4::new(peer_ip, 42000 + i);
            let s = UdpSocket::bind(local).with_context(|| format!("binding {local}"))?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            Ok((local, s))
        })
        .collect::<Result<_>>()?;
    for (i, (_, s)) in sockets.iter().enumerate() {
        s.send_to(&emit_rs([i as u8; 8]), server)?;
    }
    let mut buf = [0u8; 2048];
    for (i, (local, s)) in sockets.iter().enumerate() {
        match s.recv_from(&mut buf) {
            Ok((n, _)) => {
                let p = TeredoPacket::parse(&buf[..n]).context("reply is not Teredo")?;
                ensure!(
                    p.origin == Some(*local),
                    "RA to {local}: origin {:?}",
                    p.origin
                );
                ensure!(buf[4..12] == [i as u8; 8], "RA to {local}: another nonce");
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => unanswered.push(local.port()),
            Err(e) => bail!("receiving on {local}: {e}"),
        }
    }
    Ok(unanswered)
}

#[test]
fn every_worker_has_its_sockets_and_answers() -> Result<()> {
    let lab = Lab::up(LabOpts {
        dbus: true,
        ..LabOpts::with_nats(&[Nat::PortRestricted])
    })?;
    let bus = lab.dbus_address();
    let server = lab.start_ours_on_bus(
        "srv",
        "our-server",
        "miredo-server",
        &format!(
            "ServerBindAddress 192.0.2.1\nServerBindAddress2 192.0.2.2\nServerWorkers {WORKERS}\n"
        ),
        &["-u", "miredo-server"],
        bus.as_deref(),
    )?;
    let mut bound = 0;
    lab.wait_for(
        "a socket per worker on both addresses",
        Duration::from_secs(10),
        || {
            bound = sockets_on_3544(server.pid)?;
            Ok(bound == 2 * WORKERS)
        },
    )
    .with_context(|| format!("{bound} sockets on 3544; log:\n{}", server.log_text()))?;

    // A second server on the same addresses is refused, as a plain bind would
    // be, although the first one's sockets share their port.
    let conf = lab.write_conf(
        "second-server.conf",
        "ServerBindAddress 192.0.2.1\nServerBindAddress2 192.0.2.2\nServerWorkers 2\n",
    )?;
    let pidfile = lab.state_dir().join("run").join("second-server.pid");
    let bin = e2e::our_bin("miredo-server");
    let second = lab.exec(
        "srv",
        &[
            "timeout".as_ref(),
            "10".as_ref(),
            bin.as_os_str(),
            "-f".as_ref(),
            "-u".as_ref(),
            "miredo-server".as_ref(),
            "-p".as_ref(),
            pidfile.as_os_str(),
            "-c".as_ref(),
            conf.as_os_str(),
        ] as &[&std::ffi::OsStr],
    )?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&second.stdout),
        String::from_utf8_lossy(&second.stderr)
    );
    ensure!(
        second.status.code() == Some(1),
        "second server: {:?}\n{text}",
        second.status
    );
    ensure!(
        text.contains("Error (192.0.2.1): Address already in use")
            && text.contains("Make sure another instance of the program is not already running."),
        "second server's messages:\n{text}"
    );

    // The wan router's address on the NATs' side: global for miredo.
    let peer_ip = Ipv4Addr::new(203, 0, 113, 254);
    let unanswered = lab.in_netns("wan", move || solicit_from_many_ports(peer_ip))?;
    ensure!(
        unanswered.is_empty(),
        "no RA to ports {unanswered:?}; log:\n{}",
        server.log_text()
    );

    // The counters on D-Bus add up every worker's.
    let bus = bus.ok_or_else(|| anyhow!("lab bus not up"))?;
    let mut answered = String::new();
    lab.wait_for(
        "RsAnswered to count every RA",
        Duration::from_secs(5),
        || {
            let out = std::process::Command::new("busctl")
                .arg(format!("--address={bus}"))
                .args([
                    "get-property",
                    "org.miredo_rs.Server1",
                    "/org/miredo_rs/Server1",
                    "org.miredo_rs.Server1.Server",
                    "RsAnswered",
                ])
                .output()?;
            answered = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            Ok(answered == format!("t {CLIENTS}"))
        },
    )
    .with_context(|| format!("RsAnswered: {answered:?}"))?;
    lab.stop(&server)?;
    lab.down()
}
