//! `teredo-mire` in the lab: Teredo clients (Debian's and ours) ping our
//! responder the way the responder is meant to be used, and our responder
//! answers crafted datagrams exactly as Debian's `/usr/bin/teredo-mire` does.
//!
//! Needs root; fails (does not skip) otherwise. Build the binaries first
//! (`cargo build -p miredo`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use e2e::teredo::addr::{DEFAULT_PREFIX, TEREDO_PORT};
use e2e::teredo::mire::MIRE_PORT;
use e2e::teredo::wire::{emit_bubble, emit_origin, EchoKind, EchoRepr, Ipv6Header};
use e2e::{our_bin, Daemon, Lab, LabOpts, Nat, TeredoAddr, RELAY_IP, SERVER_IP, TEREDO_IFACE};

const DEBIAN_MIRE: &str = "/usr/bin/teredo-mire";
const QUALIFY: Duration = Duration::from_secs(15);
const PING: Duration = Duration::from_secs(10);
/// How long a probe waits for the answer to its fence before failing.
const FENCE_WAIT: Duration = Duration::from_secs(3);

/// The Teredo address of a responder on `ip`: `ip` as server and mapped
/// address, port 3545, no flags (`man teredo-mire`, DIAGNOSTICS).
fn mire_addr(ip: Ipv4Addr) -> Ipv6Addr {
    TeredoAddr {
        prefix: DEFAULT_PREFIX,
        server: ip,
        flags: 0,
        mapped_port: MIRE_PORT,
        mapped_ip: ip,
    }
    .to_ipv6()
}

/// Starts a responder binary in `node` and waits until both ports are bound.
fn start_mire(lab: &Lab, node: &str, name: &str, bin: &str) -> Result<Daemon> {
    let d = lab.start(node, name, &[bin])?;
    lab.wait_for(
        &format!("{name} bound in {node}"),
        Duration::from_secs(5),
        || {
            let out = lab.exec_ok(node, &["ss", "-Hulnp"])?;
            let mine = |port: u16| {
                out.lines().any(|l| {
                    l.contains(&format!(":{port} ")) && l.contains(&format!("pid={},", d.pid))
                })
            };
            Ok(mine(TEREDO_PORT) && mine(MIRE_PORT))
        },
    )
    .with_context(|| format!("{name} log:\n{}", d.log_text()))?;
    Ok(d)
}

fn our_mire() -> Result<String> {
    let bin = our_bin("teredo-mire");
    ensure!(
        bin.exists(),
        "{} not found: build it first (`cargo build -p miredo`)",
        bin.display()
    );
    Ok(bin.to_string_lossy().into_owned())
}

/// What the responder is for: a client pings the responder's Teredo address.
/// The client's indirect bubble (to port 3544) must come back as a bubble from
/// port 3545, or the client never sends its echo request; then the echo
/// request must get its reply. Debian's client and ours, each behind a
/// port-restricted NAT, with Debian's server.
#[test]
fn debian_and_our_clients_ping_our_mire() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[
        Nat::PortRestricted,
        Nat::PortRestricted,
    ]))?;
    lab.start_debian_server()?;
    let mire = start_mire(&lab, "relay", "our-mire", &our_mire()?)?;
    let target = mire_addr(RELAY_IP);

    let debian = lab.start_debian_client(1)?;
    lab.wait_teredo_addr("cl1", QUALIFY)
        .with_context(|| format!("Debian client log:\n{}", debian.log_text()))?;
    lab.wait_ping6("cl1", target, PING)
        .with_context(|| format!("Debian client -> our mire {target}"))?;

    let ours = lab.start_our_client(2, &Lab::client_conf())?;
    lab.wait_teredo_addr("cl2", QUALIFY)
        .with_context(|| format!("our client log:\n{}", ours.log_text()))?;
    lab.wait_ping6("cl2", target, PING)
        .with_context(|| format!("our client -> our mire {target}\n{}", ours.log_text()))?;
    ensure!(mire.is_running(), "the mire exited:\n{}", mire.log_text());
    Ok(())
}

/// The other use: a native IPv6 host pings the responder's Teredo address
/// through a Teredo relay, Debian's and then ours. The responder runs on the
/// `wan` router's 203.0.113.254 (the relay node is taken by the relay).
#[test]
fn native_host_pings_our_mire_through_debians_and_our_relay() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::None]))?;
    let mire = start_mire(&lab, "wan", "our-mire", &our_mire()?)?;
    let target = mire_addr(Ipv4Addr::new(203, 0, 113, 254));

    let debian = lab.start_debian_relay()?;
    lab.wait_ping6("tgt", target, PING)
        .with_context(|| format!("tgt -> Debian's relay -> our mire {target}"))?;
    lab.stop(&debian)?;

    let bus = lab.dbus_up()?;
    let conf = format!("RelayType relay\nInterfaceName {TEREDO_IFACE}\n");
    let ours = lab.start_ours_on_bus("relay", "our-relay", "miredo", &conf, &[], Some(&bus))?;
    lab.wait_for("our relay to route 2001::/32", PING, || {
        let routes = lab.exec_ok("relay", &["ip", "-6", "route", "show", "dev", TEREDO_IFACE])?;
        Ok(routes.contains("2001::/32"))
    })
    .with_context(|| ours.log_text())?;
    lab.wait_ping6("tgt", target, PING)
        .with_context(|| format!("tgt -> our relay -> our mire {target}\n{}", ours.log_text()))?;
    ensure!(mire.is_running(), "the mire exited:\n{}", mire.log_text());
    Ok(())
}

/// The same datagrams to Debian's responder (in `srv`, 192.0.2.1) and ours (in
/// `relay`, 198.51.100.1), sent from `wan`: the replies must be byte for byte
/// the same, except where docs/compat.md lists a deliberate difference.
#[test]
fn our_mire_answers_crafted_datagrams_as_debians() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::None]))?;
    let debian = start_mire(&lab, "srv", "debian-mire", DEBIAN_MIRE)?;
    let ours = start_mire(&lab, "relay", "our-mire", &our_mire()?)?;

    for case in cases() {
        let (name, port, datagram, expect) = (case.name, case.port, case.datagram, case.expect);
        let d = datagram.clone();
        let theirs = lab.in_netns("wan", move || replies(SERVER_IP, port, &d))?;
        let mine = lab.in_netns("wan", move || replies(RELAY_IP, port, &datagram))?;
        match expect {
            Expect::Same => ensure!(
                theirs == mine,
                "{name}: Debian's replies {} differ from ours {}",
                hex_all(&theirs),
                hex_all(&mine)
            ),
            // RFC 4443 §2.4 (e.3), (e.6) and RFC 4291 §2.7: docs/compat.md.
            Expect::DebianOnly => ensure!(
                theirs.len() == 1 && mine.is_empty(),
                "{name}: expected a reply from Debian's only, got {} and {}",
                hex_all(&theirs),
                hex_all(&mine)
            ),
        }
        if let Some(n) = case.replies {
            ensure!(
                theirs.len() == n,
                "{name}: {} replies, not {n}",
                theirs.len()
            );
        }
    }

    // A bubble from a non-global IPv4 (loopback) is not answered; an echo
    // request from there is.
    for (node, ip, who) in [("srv", SERVER_IP, "Debian's"), ("relay", RELAY_IP, "ours")] {
        let (n, echo_ok) = lab.in_netns(node, move || from_loopback(ip))?;
        ensure!(
            n == 1 && echo_ok,
            "{who} from 127.0.0.1: {n} replies (want only the echo reply)"
        );
    }
    ensure!(debian.is_running() && ours.is_running(), "a mire exited");
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Same,
    DebianOnly,
}

struct Case {
    name: &'static str,
    port: u16,
    datagram: Vec<u8>,
    expect: Expect,
    /// How many replies Debian's must give, where that is the point.
    replies: Option<usize>,
}

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0, 0xc000, 0x201, 0, 0x4066, 0x34ff, 0x8efe);
/// Where a fence is sent from: its reply is recognised by this destination.
const FENCE_SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 1);

fn ip6(nh: u8, hop: u8, payload: &[u8]) -> Vec<u8> {
    ip6_between(CLIENT, mire_addr(RELAY_IP), nh, hop, payload)
}

fn ip6_between(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hop: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = Ipv6Header::new(src, dst, nh, hop, payload);
    h.traffic_class = 0xb8;
    h.flow_label = 0x1_2345;
    h.to_vec()
}

fn echo_between(src: Ipv6Addr, dst: Ipv6Addr, ident: u16, data: &[u8]) -> Vec<u8> {
    let mut msg = Vec::new();
    EchoRepr {
        kind: EchoKind::Request,
        ident,
        seq: 1,
        data,
    }
    .emit(&src, &dst, &mut msg);
    ip6_between(src, dst, 58, 64, &msg)
}

fn echo(data: &[u8]) -> Vec<u8> {
    echo_between(CLIENT, mire_addr(RELAY_IP), 0x271d, data)
}

fn cases() -> Vec<Case> {
    let origin = {
        let mut v = vec![0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        emit_origin(SocketAddrV4::new(SERVER_IP, 3544), &mut v);
        v
    };
    let with = |head: &[u8], body: Vec<u8>, tail: &[u8]| [head, &body, tail].concat();
    let mut bad_echo = echo(b"checksum and code");
    bad_echo[41] = 9;
    bad_echo[42] ^= 0x5a;
    let mut plen_beyond = ip6(17, 64, &[0; 20]);
    plen_beyond[4..6].copy_from_slice(&400u16.to_be_bytes());
    let mut plen_short = ip6(17, 64, &[7; 20]);
    plen_short[4..6].copy_from_slice(&4u16.to_be_bytes());
    let mut not_v6 = ip6(17, 64, &[0; 8]);
    not_v6[0] = 0x45;
    let mut err_msg = echo(b"e");
    err_msg[40] = 1;
    let mut echo_reply = echo(b"r");
    echo_reply[40] = 129;
    let ff02 = a6("ff02::1");
    let long: Vec<u8> = (0..1536u32).map(|i| i as u8).collect();
    let c = |name, port, datagram, replies: Option<usize>| Case {
        name,
        port,
        datagram,
        expect: Expect::Same,
        replies,
    };
    let s = TEREDO_PORT;
    let p = MIRE_PORT;
    let bubble = ip6(59, 0, &[]);
    vec![
        c("bubble", s, bubble.clone(), Some(1)),
        c("bubble, hop limit 17", s, ip6(59, 17, &[]), Some(1)),
        c(
            "bubble after auth, origin; trailing",
            s,
            with(&origin, bubble.clone(), b"tail"),
            Some(1),
        ),
        c(
            "next header 59 with payload on 3544",
            s,
            ip6(59, 0, b"data"),
            Some(0),
        ),
        c("echo request on 3544", s, echo(b"x"), Some(0)),
        c("UDP on 3544", s, ip6(17, 64, &[0; 8]), Some(0)),
        c("echo request", p, echo(b"abcdefgh"), Some(1)),
        c("echo request, bad checksum and code", p, bad_echo, Some(1)),
        c(
            "echo request after origin; trailing",
            p,
            with(&origin, echo(b"o"), b"tail"),
            Some(1),
        ),
        c("echo request without data", p, echo(b""), Some(1)),
        c(
            "echo request, 4-octet ICMPv6",
            p,
            ip6(58, 64, &echo(b"")[40..44]),
            Some(0),
        ),
        c("echo reply", p, echo_reply, Some(0)),
        c("ICMPv6 error", p, err_msg, Some(0)),
        c("bubble on 3545", p, bubble, Some(0)),
        c(
            "next header 59 with payload",
            p,
            ip6(59, 0, b"data"),
            Some(0),
        ),
        c(
            "UDP",
            p,
            ip6(17, 64, b"\x00\x01\x00\x02\x00\x0cabcd1234"),
            Some(1),
        ),
        c(
            "hop-by-hop options",
            p,
            ip6(0, 64, &[59, 0, 1, 4, 0, 0, 0, 0]),
            Some(1),
        ),
        c(
            "fragment header",
            p,
            ip6(44, 64, &[59, 0, 0, 0, 0, 0, 0, 1]),
            Some(1),
        ),
        c(
            "routing header",
            p,
            ip6(43, 64, &[59, 0, 0, 0, 0, 0, 0, 0]),
            Some(0),
        ),
        c(
            "UDP, 1576 octets (quote truncated)",
            p,
            ip6(17, 64, &long),
            Some(1),
        ),
        c(
            "UDP, 65000 octets",
            p,
            ip6(17, 64, &vec![0x78; 64960]),
            Some(1),
        ),
        c(
            "UDP, payload length short of the datagram",
            p,
            plen_short,
            Some(1),
        ),
        c(
            "payload length beyond the datagram",
            p,
            plen_beyond,
            Some(0),
        ),
        c("IPv4 packet", p, not_v6, Some(0)),
        c("39 octets", p, ip6(17, 64, &[])[..39].to_vec(), Some(0)),
        c("empty datagram", p, Vec::new(), Some(0)),
        Case {
            name: "UDP to multicast",
            port: p,
            datagram: ip6_between(CLIENT, ff02, 17, 64, &[0; 8]),
            expect: Expect::DebianOnly,
            replies: None,
        },
        Case {
            name: "UDP from multicast",
            port: p,
            datagram: ip6_between(ff02, mire_addr(RELAY_IP), 17, 64, &[0; 8]),
            expect: Expect::DebianOnly,
            replies: None,
        },
        Case {
            name: "UDP from ::",
            port: p,
            datagram: ip6_between(Ipv6Addr::UNSPECIFIED, mire_addr(RELAY_IP), 17, 64, &[0; 8]),
            expect: Expect::DebianOnly,
            replies: None,
        },
        Case {
            name: "echo request to multicast",
            port: p,
            datagram: echo_between(CLIENT, ff02, 1, b"m"),
            expect: Expect::DebianOnly,
            replies: None,
        },
    ]
}

/// The fence for `port`: a datagram the responder answers on the same socket,
/// after everything sent before it (each socket is served in order).
fn fence(port: u16) -> Vec<u8> {
    let mire = mire_addr(RELAY_IP);
    if port == TEREDO_PORT {
        emit_bubble(FENCE_SRC, mire).to_vec()
    } else {
        echo_between(FENCE_SRC, mire, 0xfe9c, b"fence")
    }
}

fn is_fence_reply(reply: &[u8]) -> bool {
    reply.get(24..40) == Some(&FENCE_SRC.octets()[..])
}

/// Sends `datagram` and then a fence to `ip:port` from one new socket; returns
/// the replies that came before the fence's. Every reply must come from 3545.
fn replies(ip: Ipv4Addr, port: u16, datagram: &[u8]) -> Result<Vec<Vec<u8>>> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    s.set_read_timeout(Some(FENCE_WAIT))?;
    s.send_to(datagram, (ip, port))?;
    s.send_to(&fence(port), (ip, port))?;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = s
            .recv_from(&mut buf)
            .with_context(|| format!("no answer from {ip}:{port} to the fence"))?;
        ensure!(from.port() == MIRE_PORT, "reply from {from}, not port 3545");
        let reply = buf[..n].to_vec();
        if is_fence_reply(&reply) {
            return Ok(got);
        }
        got.push(reply);
    }
}

/// In a responder's own namespace: a bubble and an echo request from
/// 127.0.0.1, then a fence from the global address. Returns how many replies
/// 127.0.0.1 got and whether one of them is the echo reply.
fn from_loopback(global: Ipv4Addr) -> Result<(usize, bool)> {
    let lo = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let g = UdpSocket::bind((global, 0))?;
    g.set_read_timeout(Some(FENCE_WAIT))?;
    lo.set_read_timeout(Some(FENCE_WAIT))?;
    let request = echo(b"loopback");
    lo.send_to(&ip6(59, 0, &[]), (Ipv4Addr::LOCALHOST, TEREDO_PORT))?;
    lo.send_to(&request, (Ipv4Addr::LOCALHOST, MIRE_PORT))?;
    g.send_to(&fence(TEREDO_PORT), (global, TEREDO_PORT))?;
    let mut buf = vec![0u8; 2048];
    let (n, _) = g.recv_from(&mut buf).context("no answer to the fence")?;
    if !is_fence_reply(&buf[..n]) {
        bail!("unexpected reply to the fence: {}", hex(&buf[..n]));
    }
    // The bubble's answer, had there been one, was sent before the fence's.
    let mut replies = Vec::new();
    let mut echo_ok = false;
    while !echo_ok {
        let (n, _) = lo
            .recv_from(&mut buf)
            .context("no echo reply to 127.0.0.1")?;
        echo_ok = EchoRepr::parse_ipv6(&buf[..n]).is_ok_and(|(_, e)| e.kind == EchoKind::Reply);
        replies.push(buf[..n].to_vec());
    }
    lo.set_nonblocking(true)?;
    while let Ok((n, _)) = lo.recv_from(&mut buf) {
        replies.push(buf[..n].to_vec());
    }
    Ok((replies.len(), echo_ok))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hex_all(v: &[Vec<u8>]) -> String {
    let parts: Vec<String> = v.iter().map(|r| hex(r)).collect();
    format!("[{}]", parts.join(", "))
}
