//! The lab's NATs for port prediction (RFC 6081 §3.3, §3.4), measured with
//! real UDP: `clN` sends from one port to 192.0.2.1 and then to 192.0.2.2;
//! `srv` answers each datagram with the source it saw, after a datagram to
//! that source from a third endpoint (192.0.2.3), which the NAT must drop.

use std::net::SocketAddrV4;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use e2e::{nat_public_ip, Lab, LabOpts, Nat, SERVER2_IP, SERVER_IP, SERVER_IP2};

/// The client's inside UDP port.
const INSIDE_PORT: u16 = 40000;
/// The port `srv` listens on (on each of its addresses).
const SRV_PORT: u16 = 7000;

/// In `srv`: `third IP...`. For each datagram to IP:7000, sends `unsolicited`
/// to its source from `third`:7000, then `seen SRC` back from IP:7000.
const RESPONDER: &str = r#"
import select, socket, sys
def bound(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 7000))
    return s
third = bound(sys.argv[1])
socks = [bound(ip) for ip in sys.argv[2:]]
print("ready", flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        data, src = s.recvfrom(2048)
        print("%s saw %s:%d" % (s.getsockname()[0], src[0], src[1]), flush=True)
        third.sendto(b"unsolicited", src)
        s.sendto(("seen %s:%d" % src).encode(), src)
"#;

/// In `clN`: `port DST...`. From 0.0.0.0:port, sends to each DST in turn and
/// waits (5 s at most) for its answer; prints every datagram received as
/// `SRC PAYLOAD`.
const PROBE: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(5)
for dst in sys.argv[2:]:
    ip, port = dst.split(":")
    s.sendto(b"probe", (ip, int(port)))
    while True:
        try:
            data, src = s.recvfrom(2048)
        except socket.timeout:
            sys.exit("no answer from %s" % dst)
        print("%s:%d %s" % (src[0], src[1], data.decode()), flush=True)
        if src == (ip, int(port)):
            break
"#;

/// Probes through `natN` to both server addresses; the public source each saw,
/// in the order sent.
fn probe(lab: &Lab, n: u8) -> Result<[SocketAddrV4; 2]> {
    let node = format!("cl{n}");
    let dsts = [SERVER_IP, SERVER_IP2].map(|ip| SocketAddrV4::new(ip, SRV_PORT));
    let out = lab
        .exec_ok(
            &node,
            &[
                "python3".to_string(),
                "-c".into(),
                PROBE.into(),
                INSIDE_PORT.to_string(),
                dsts[0].to_string(),
                dsts[1].to_string(),
            ],
        )
        .with_context(|| format!("probing through nat{n}"))?;
    ensure!(
        !out.contains("unsolicited"),
        "nat{n} let a datagram from a third endpoint ({SERVER2_IP}:{SRV_PORT}) through:\n{out}"
    );
    let mut seen = Vec::new();
    for dst in dsts {
        let prefix = format!("{dst} seen ");
        let Some(line) = out.lines().find(|l| l.starts_with(&prefix)) else {
            bail!("no answer from {dst} in:\n{out}");
        };
        let addr: SocketAddrV4 = line[prefix.len()..]
            .trim()
            .parse()
            .with_context(|| format!("parsing {line:?}"))?;
        ensure!(
            *addr.ip() == nat_public_ip(n),
            "{dst} saw {addr}, not nat{n}'s address"
        );
        seen.push(addr);
    }
    Ok([seen[0], seen[1]])
}

#[test]
fn preserving_and_sequential_nats_map_as_rfc6081_says() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::PortPreserving, Nat::Sequential]))?;
    let responder = lab.spawn(
        "srv",
        &[
            "python3".to_string(),
            "-c".into(),
            RESPONDER.into(),
            SERVER2_IP.to_string(),
            SERVER_IP.to_string(),
            SERVER_IP2.to_string(),
        ],
    )?;
    lab.wait_for("the responder in srv", Duration::from_secs(5), || {
        Ok(responder.log_text().contains("ready"))
    })
    .with_context(|| responder.log_text())?;

    let [first, second] = probe(&lab, 1)?;
    println!("preserving: {SERVER_IP} saw {first}, {SERVER_IP2} saw {second}");
    ensure!(
        first.port() == INSIDE_PORT,
        "preserving: the first mapping should keep the inside port {INSIDE_PORT}, got {first}"
    );
    ensure!(
        second.port() != INSIDE_PORT,
        "preserving: the second destination should get another port, got {second}"
    );

    let [first, second] = probe(&lab, 2)?;
    println!("sequential: {SERVER_IP} saw {first}, {SERVER_IP2} saw {second}");
    ensure!(
        u32::from(second.port()) == u32::from(first.port()) + 1,
        "sequential: consecutive mappings should get consecutive ports, got {first} then {second}"
    );

    drop(responder);
    lab.down()
}
