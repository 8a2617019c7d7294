//! Our miredo-server in the lab: Debian's clients and ours qualify against it, Debian
//! clients reach each other through it, and it answers and drops raw datagrams as
//! docs/protocol-notes.md#server says, counting each drop on D-Bus.
//!
//! Needs root; fails (does not skip) otherwise.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use e2e::{nat_public_ip, parse_st_dict, Daemon, Lab, LabOpts, Nat, TeredoAddr, SERVER_IP};
use teredo::addr::{CONE_LINK_LOCAL, DEFAULT_PREFIX};
use teredo::wire::{
    emit_rs, EchoKind, EchoRepr, RouterAdvertisement, RouterSolicitation, TeredoPrefixInfo,
};

const QUALIFY: Duration = Duration::from_secs(15);
const PING: Duration = Duration::from_secs(10);
const SERVER2_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const BUS_NAME: &str = "org.miredo_rs.Server1";
const BUS_PATH: &str = "/org/miredo_rs/Server1";
const BUS_IFACE: &str = "org.miredo_rs.Server1.Server";

/// A lab with `nats`, its private bus, and our server on it.
fn lab_with_our_server(nats: &[Nat]) -> Result<(Lab, Daemon)> {
    let lab = Lab::up(LabOpts {
        dbus: true,
        ..LabOpts::with_nats(nats)
    })?;
    let server = lab.start_our_server_bound()?;
    Ok((lab, server))
}

/// The address decodes to our server and to natN's public IPv4, with a port.
fn check_decodes(addr: Ipv6Addr, n: u8) -> Result<TeredoAddr> {
    ensure!(
        teredo::addr::is_teredo(&addr, DEFAULT_PREFIX),
        "{addr} is not in 2001::/32"
    );
    let t = TeredoAddr::from_ipv6(&addr);
    ensure!(t.server == SERVER_IP, "{addr}: server {}", t.server);
    ensure!(
        t.mapped_ip == nat_public_ip(n),
        "{addr}: mapped IPv4 {} != nat{n}'s {}",
        t.mapped_ip,
        nat_public_ip(n)
    );
    ensure!(t.mapped_port != 0, "{addr}: mapped port 0");
    Ok(t)
}

fn busctl(lab: &Lab, args: &[&str]) -> Result<String> {
    let bus = lab
        .dbus_address()
        .ok_or_else(|| anyhow!("lab bus not up"))?;
    Ok(e2e::busctl(&bus, args)?.trim().to_owned())
}

/// A `t` property of the server object.
fn counter(lab: &Lab, prop: &str) -> Result<u64> {
    let out = busctl(lab, &["get-property", BUS_NAME, BUS_PATH, BUS_IFACE, prop])?;
    out.strip_prefix("t ")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("{prop}: unexpected busctl output {out:?}"))
}

/// `DroppedByReason`, e.g. `a{st} 2 "malformed" 1 "too_long" 0`.
fn drops(lab: &Lab) -> Result<BTreeMap<String, u64>> {
    let out = busctl(
        lab,
        &[
            "get-property",
            BUS_NAME,
            BUS_PATH,
            BUS_IFACE,
            "DroppedByReason",
        ],
    )?;
    let map = parse_st_dict(&out)?;
    ensure!(!map.is_empty(), "no drop reasons in {out:?}");
    Ok(map)
}

/// Waits until the (once a second) published counter `prop` reaches `min`.
fn wait_counter(lab: &Lab, server: &Daemon, prop: &str, min: u64) -> Result<u64> {
    let mut last = 0;
    lab.wait_for(
        &format!("{prop} >= {min} on D-Bus"),
        Duration::from_secs(5),
        || {
            last = counter(lab, prop)?;
            Ok(last >= min)
        },
    )
    .with_context(|| format!("server log:\n{}", server.log_text()))?;
    Ok(last)
}

/// Sends `payload` from `bind` to `to` and returns the reply's source and bytes, if one
/// comes within a second.
fn exchange(
    bind: SocketAddrV4,
    to: SocketAddrV4,
    payload: &[u8],
) -> Result<Option<(SocketAddrV4, Vec<u8>)>> {
    let s = UdpSocket::bind(bind).with_context(|| format!("binding {bind}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.send_to(payload, to)?;
    let mut buf = [0u8; 2048];
    match s.recv_from(&mut buf) {
        Ok((n, std::net::SocketAddr::V4(from))) => Ok(Some((from, buf[..n].to_vec()))),
        Ok(_) => bail!("IPv6 reply on an IPv4 socket"),
        // No answer in time, or nothing listening (ICMP port unreachable).
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

#[test]
fn debian_clients_qualify_behind_every_nat_type() -> Result<()> {
    let (lab, server) = lab_with_our_server(&[
        Nat::FullCone,
        Nat::PortRestricted,
        Nat::RestrictedCone,
        Nat::Symmetric,
    ])?;
    let clients = (1..=4)
        .map(|n| lab.start_debian_client(n))
        .collect::<Result<Vec<_>>>()?;
    for (n, c) in (1u8..).zip(&clients) {
        let addr = lab
            .wait_teredo_addr(&format!("cl{n}"), QUALIFY)
            .with_context(|| {
                format!(
                    "client log:\n{}\nserver log:\n{}",
                    c.log_text(),
                    server.log_text()
                )
            })?;
        check_decodes(addr, n)?;
    }
    wait_counter(&lab, &server, "RsAnswered", 4)?;
    let intro = busctl(&lab, &["introspect", BUS_NAME, BUS_PATH])?;
    for member in ["ForwardedTeredo", "ForwardedNative", "Dropped", "Status"] {
        ensure!(intro.contains(member), "introspection lacks {member}");
    }
    ensure!(server.is_running(), "server died:\n{}", server.log_text());
    lab.down()
}

#[test]
fn our_clients_qualify_behind_every_nat_type() -> Result<()> {
    let (lab, server) = lab_with_our_server(&[
        Nat::PortRestricted,
        Nat::FullCone,
        Nat::RestrictedCone,
        Nat::Symmetric,
    ])?;
    let clients = (1..=4)
        .map(|n| lab.start_our_client(n, &Lab::client_conf()))
        .collect::<Result<Vec<_>>>()?;
    for (n, c) in (1u8..).zip(&clients) {
        let addr = lab
            .wait_teredo_addr(&format!("cl{n}"), QUALIFY)
            .with_context(|| {
                format!(
                    "client log:\n{}\nserver log:\n{}",
                    c.log_text(),
                    server.log_text()
                )
            })?;
        check_decodes(addr, n)?;
    }
    wait_counter(&lab, &server, "RsAnswered", 4)?;
    lab.down()
}

/// The same RS, answered by Debian's miredo-server and then by ours: the same bytes.
#[test]
fn router_advertisement_is_byte_identical_to_debians() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::PortRestricted]))?;
    let primary = SocketAddrV4::new(SERVER_IP, 3544);
    let peer = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 254), 40004);
    let solicit = |lab: &Lab| -> Result<Vec<Vec<u8>>> {
        let mut replies = Vec::new();
        for cone in [false, true] {
            let mut rs = Vec::new();
            teredo::wire::AuthRepr::with_nonce([7; 8]).emit(&mut rs);
            let source = if cone {
                CONE_LINK_LOCAL
            } else {
                RouterSolicitation::TEREDO_CLIENT.source
            };
            rs.extend(
                RouterSolicitation {
                    source,
                    ..RouterSolicitation::TEREDO_CLIENT
                }
                .emit(),
            );
            let (from, ra) = lab
                .in_netns("wan", move || exchange(peer, primary, &rs))?
                .context("no RA")?;
            let mut tagged = from.to_string().into_bytes();
            tagged.extend(ra);
            replies.push(tagged);
        }
        Ok(replies)
    };
    let debian = lab.start_debian_server()?;
    let theirs = solicit(&lab).with_context(|| debian.log_text())?;
    lab.stop(&debian)?;
    let ours = lab.start_our_server_bound()?;
    let mine = solicit(&lab).with_context(|| ours.log_text())?;
    ensure!(theirs == mine, "Debian's {theirs:02x?}\nours {mine:02x?}");
    lab.down()
}

#[test]
fn debian_clients_behind_cone_nats_ping_each_other_through_our_server() -> Result<()> {
    let (lab, server) = lab_with_our_server(&[Nat::FullCone, Nat::RestrictedCone])?;
    let c1 = lab.start_debian_client(1)?;
    let c2 = lab.start_debian_client(2)?;
    let a1 = lab.wait_teredo_addr("cl1", QUALIFY)?;
    let a2 = lab.wait_teredo_addr("cl2", QUALIFY)?;
    check_decodes(a1, 1)?;
    check_decodes(a2, 2)?;
    let logs = || {
        format!(
            "cl1:\n{}\ncl2:\n{}\nserver:\n{}",
            c1.log_text(),
            c2.log_text(),
            server.log_text()
        )
    };
    lab.wait_ping6("cl1", a2, PING).with_context(logs)?;
    lab.wait_ping6("cl2", a1, PING).with_context(logs)?;
    // The first contact went through the server: indirect bubbles (or the echo
    // request itself) forwarded with an origin indication.
    wait_counter(&lab, &server, "ForwardedTeredo", 1)?;
    lab.down()
}

#[test]
fn answers_and_drops_raw_datagrams_as_specified() -> Result<()> {
    let (lab, server) = lab_with_our_server(&[Nat::PortRestricted])?;
    let primary = SocketAddrV4::new(SERVER_IP, 3544);
    let secondary = SocketAddrV4::new(SERVER2_IP, 3544);
    // The wan router's address on the NATs' side: global for miredo.
    let peer = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 254), 40001);

    // An RS gets the 117-byte RA from the address it was sent to...
    let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
    let rs = emit_rs(nonce);
    let (from, ra) = lab
        .in_netns("wan", move || exchange(peer, primary, &rs))?
        .with_context(|| format!("no RA; server log:\n{}", server.log_text()))?;
    ensure!(from == primary, "RA from {from}");
    ensure!(ra.len() == 117, "RA of {} bytes", ra.len());
    ensure!(ra[4..12] == nonce, "nonce not echoed");
    let p = teredo::wire::TeredoPacket::parse(&ra)?;
    ensure!(p.origin == Some(peer), "origin {:?}", p.origin);
    let adv = RouterAdvertisement::parse(p.ipv6)?;
    ensure!(adv.prefix().map(|x| x.server()) == Some(SERVER_IP));
    // ...and a cone RS from the other one.
    let mut cone_rs = Vec::new();
    teredo::wire::AuthRepr::with_nonce(nonce).emit(&mut cone_rs);
    cone_rs.extend(
        RouterSolicitation {
            source: CONE_LINK_LOCAL,
            ..RouterSolicitation::TEREDO_CLIENT
        }
        .emit(),
    );
    let (from, _) = lab
        .in_netns("wan", move || exchange(peer, primary, &cone_rs))?
        .context("no RA to the cone RS")?;
    ensure!(from == secondary, "cone RA from {from}");

    // Drops: a non-global source, an over-long ping test, a non-Teredo source to a
    // native host (no open relay), garbage, a spoofed mapping.
    let rs = emit_rs(nonce);
    let local = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40002);
    ensure!(lab
        .in_netns("srv", move || exchange(local, primary, &rs))?
        .is_none());
    let teredo_src = TeredoAddr {
        prefix: DEFAULT_PREFIX,
        server: SERVER_IP,
        flags: 0,
        mapped_port: peer.port(),
        mapped_ip: *peer.ip(),
    }
    .to_ipv6();
    let target: Ipv6Addr = e2e::TARGET_IP6;
    let ping = |src: Ipv6Addr, len: usize| {
        let data = vec![0x42; len];
        EchoRepr {
            kind: EchoKind::Request,
            ident: 1,
            seq: 1,
            data: &data,
        }
        .emit_ipv6(src, target, 64)
    };
    // A Teredo source claiming someone else's mapping.
    let spoofed = TeredoAddr {
        mapped_port: peer.port() + 1,
        ..TeredoAddr::from_ipv6(&teredo_src)
    }
    .to_ipv6();
    let datagrams = vec![
        ping(teredo_src, 100),
        ping("2001:db8:ff02::99".parse()?, 8),
        b"not a teredo packet".to_vec(),
        ping(spoofed, 8),
        ping(teredo_src, 18),
    ];
    // None of these gets an answer: send them all from one socket.
    lab.in_netns("wan", move || {
        let s = UdpSocket::bind(peer)?;
        for d in datagrams {
            s.send_to(&d, primary)?;
        }
        Ok(())
    })?;
    wait_counter(&lab, &server, "ForwardedNative", 1)?;
    let mut seen = BTreeMap::new();
    lab.wait_for("drops on D-Bus", Duration::from_secs(5), || {
        seen = drops(&lab)?;
        Ok(seen.values().sum::<u64>() >= 5)
    })
    .with_context(|| format!("server log:\n{}", server.log_text()))?;
    for reason in [
        "source_not_global",
        "too_long",
        "not_for_this_server",
        "malformed",
        "mapping_mismatch",
    ] {
        ensure!(seen.get(reason) == Some(&1), "{reason}: {seen:?}");
    }
    ensure!(counter(&lab, "Dropped")? == 5);
    lab.down()
}

/// The RA's MTU option and PIO server address as `peer` in `wan` sees them when it
/// solicits `server`:3544 (`None`: no answer).
fn advertised(lab: &Lab, peer: SocketAddrV4, server: Ipv4Addr) -> Result<Option<(u32, Ipv4Addr)>> {
    let rs = emit_rs([9; 8]);
    let to = SocketAddrV4::new(server, 3544);
    let Some((_, ra)) = lab.in_netns("wan", move || exchange(peer, to, &rs))? else {
        return Ok(None);
    };
    let p = teredo::wire::TeredoPacket::parse(&ra)?;
    let ra = RouterAdvertisement::parse(p.ipv6)?;
    let pio = ra.prefix().map(|x| x.server()).context("no PIO")?;
    Ok(ra.mtu.map(|m| (m, pio)))
}

/// The RA's MTU option from the lab's primary address.
fn advertised_mtu(lab: &Lab, peer: SocketAddrV4) -> Result<Option<u32>> {
    Ok(advertised(lab, peer, SERVER_IP)?.map(|(m, _)| m))
}

/// Waits until RAs from the primary address advertise `mtu` (a busy machine may lose
/// or delay one exchange).
fn wait_mtu(lab: &Lab, server: &Daemon, peer: SocketAddrV4, mtu: u32) -> Result<()> {
    lab.wait_for(
        &format!("the RA to advertise MTU {mtu}"),
        Duration::from_secs(10),
        || Ok(advertised_mtu(lab, peer)? == Some(mtu)),
    )
    .with_context(|| server.log_text())
}

fn proc_status_field(pid: u32, field: &str) -> Result<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.trim().to_owned())
        .ok_or_else(|| anyhow!("no {field} in /proc/{pid}/status"))
}

#[test]
fn runs_unprivileged_reloads_on_sighup_and_exits_cleanly() -> Result<()> {
    let (lab, server) = lab_with_our_server(&[Nat::PortRestricted])?;
    let peer = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 254), 40003);

    // Unprivileged, with no capability at all, and the pidfile holds its PID.
    let uid = std::process::Command::new("id")
        .args(["-u", "miredo-server"])
        .output()?;
    let uid = String::from_utf8_lossy(&uid.stdout).trim().to_owned();
    let uids = proc_status_field(server.pid, "Uid:")?;
    ensure!(
        uids.split_whitespace().all(|u| u == uid),
        "Uid {uids}, want {uid}"
    );
    ensure!(proc_status_field(server.pid, "CapEff:")? == "0000000000000000");
    ensure!(proc_status_field(server.pid, "CapPrm:")? == "0000000000000000");
    ensure!(std::fs::read_to_string(&server.pidfile)? == server.pid.to_string());
    wait_mtu(&lab, &server, peer, 1280)?;

    // SIGHUP applies a new configuration in place (same process, raw socket kept).
    lab.write_conf(
        "our-server.conf",
        "ServerBindAddress 192.0.2.1\nServerBindAddress2 192.0.2.2\nInterfaceMTU 1400\n",
    )?;
    lab.signal(&server, libc::SIGHUP)?;
    lab.wait_for(
        "the RA to advertise MTU 1400",
        Duration::from_secs(5),
        || Ok(advertised_mtu(&lab, peer)? == Some(1400)),
    )
    .with_context(|| server.log_text())?;
    ensure!(server.is_running());
    ensure!(server
        .log_text()
        .contains("Reloading configuration on signal 1 (Hangup)"));
    // Counters survive the reload.
    wait_counter(&lab, &server, "RsAnswered", 2)?;
    let mtu = busctl(
        &lab,
        &["get-property", BUS_NAME, BUS_PATH, BUS_IFACE, "Mtu"],
    )?;
    ensure!(mtu == "u 1400", "Mtu on D-Bus: {mtu}");

    // A configuration that does not load keeps the previous one.
    lab.write_conf("our-server.conf", "InterfaceMTU 1500\n")?;
    lab.signal(&server, libc::SIGHUP)?;
    lab.wait_for(
        "the reload failure to be logged",
        Duration::from_secs(5),
        || Ok(server.log_text().contains("Server address not specified")),
    )?;
    ensure!(
        server.is_running(),
        "died on a bad reload:\n{}",
        server.log_text()
    );
    wait_mtu(&lab, &server, peer, 1400)?;

    // Other addresses (the lab's second server's, unused here): the sockets
    // move to them.
    lab.write_conf("our-server.conf", "ServerBindAddress 192.0.2.3\n")?;
    lab.signal(&server, libc::SIGHUP)?;
    let moved = Ipv4Addr::new(192, 0, 2, 3);
    lab.wait_for("RAs from 192.0.2.3", Duration::from_secs(5), || {
        Ok(advertised(&lab, peer, moved)? == Some((1280, moved)))
    })
    .with_context(|| server.log_text())?;
    ensure!(
        advertised(&lab, peer, SERVER_IP)?.is_none(),
        "192.0.2.1 still answers"
    );

    // SIGTERM: clean exit, pidfile removed.
    lab.signal(&server, libc::SIGTERM)?;
    lab.wait_for("the server to exit", Duration::from_secs(5), || {
        Ok(!server.is_running())
    })?;
    let log = server.log_text();
    ensure!(log.contains("Exiting on signal 15 (Terminated)"), "{log}");
    ensure!(log.contains("Terminated with no error."), "{log}");
    ensure!(!server.pidfile.exists(), "pidfile left behind");
    lab.down()
}

/// A native peer is found through a ping test that our server sends out of its raw
/// IPv6 socket; the answer comes back through Debian's relay.
#[test]
fn debian_client_reaches_native_ipv6_via_our_servers_ping_test() -> Result<()> {
    let (lab, server) = lab_with_our_server(&[Nat::PortRestricted])?;
    let relay = lab.start_debian_relay()?;
    let client = lab.start_debian_client(1)?;
    let addr = lab.wait_teredo_addr("cl1", QUALIFY)?;
    check_decodes(addr, 1)?;
    lab.wait_ping6("cl1", e2e::TARGET_IP6, PING)
        .with_context(|| {
            format!(
                "client:\n{}\nrelay:\n{}\nserver:\n{}",
                client.log_text(),
                relay.log_text(),
                server.log_text()
            )
        })?;
    wait_counter(&lab, &server, "ForwardedNative", 1)?;
    lab.down()
}

/// Without `-f`: the launcher returns 0 once the daemon holds the pidfile; the daemon
/// serves, and its pidfile goes when it is killed.
#[test]
fn daemonizes_and_cleans_up_its_pidfile() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::PortRestricted]))?;
    let conf = lab.write_conf("bg-server.conf", "ServerBindAddress 192.0.2.1\n")?;
    let pidfile = lab.state_dir().join("run").join("bg-server.pid");
    let bin = e2e::our_bin("miredo-server");
    let out = lab.exec(
        "srv",
        &[
            bin.as_os_str(),
            "-u".as_ref(),
            "miredo-server".as_ref(),
            "-p".as_ref(),
            pidfile.as_os_str(),
            "-c".as_ref(),
            conf.as_os_str(),
        ],
    )?;
    ensure!(out.status.success(), "launcher: {out:?}");
    let pid: i32 = std::fs::read_to_string(&pidfile)?.parse()?;
    let peer = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 254), 40005);
    let served = advertised_mtu(&lab, peer);
    // SAFETY: kill(2) on the PID our own daemon wrote.
    let killed = unsafe { libc::kill(pid, libc::SIGTERM) } == 0;
    ensure!(served? == Some(1280), "no RA from the background server");
    ensure!(killed, "kill {pid}: {}", std::io::Error::last_os_error());
    lab.wait_for("the pidfile to go", Duration::from_secs(5), || {
        Ok(!pidfile.exists())
    })?;
    lab.down()
}
