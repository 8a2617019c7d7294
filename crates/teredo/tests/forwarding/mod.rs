//! Established forwarding paths through [`TeredoTunnel`], for measuring what
//! forwarding one packet costs (allocations, time) once the peer is known.
//!
//! Three paths, each in both directions (tunnel → UDP and UDP → tunnel):
//! a relay and a Teredo client it has confirmed with a direct bubble
//! (RFC 4380 §5.4.1), a client and a Teredo peer confirmed by a packet from
//! the mapping its address carries (§5.2.3), and a client and a native IPv6
//! host confirmed by a ping test through a relay (§5.2.4).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::time::Instant;

use teredo::addr::{TeredoAddr, CLIENT_LINK_LOCAL, TEREDO_PORT};
use teredo::relay::{Action, Config, Mode, Outputs, OwnAddress, TeredoTunnel};
use teredo::security::Secret;
use teredo::wire::{emit_bubble, EchoKind, EchoRepr, Ipv6Header};

const PREFIX: u32 = 0x2001_0000;
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PID: u32 = 4242;
/// The wall clock of the ping-test HMAC, fixed.
pub const UNIX: u32 = 1_700_000_000;

/// A tunnel with one established peer and packets to forward to and from it.
pub struct Path {
    /// What the path is, for reports.
    pub name: &'static str,
    /// The tunnel.
    pub tunnel: TeredoTunnel,
    /// Read from the tunnel interface: each must become one datagram.
    pub from_tun: Vec<u8>,
    /// Received on the Teredo socket, with its source: each must become
    /// one packet for the tunnel.
    pub from_udp: (SocketAddrV4, Vec<u8>),
}

fn teredo_addr(mapping: SocketAddrV4) -> Ipv6Addr {
    TeredoAddr {
        prefix: PREFIX,
        server: SERVER,
        flags: 0,
        mapped_port: mapping.port(),
        mapped_ip: *mapping.ip(),
    }
    .to_ipv6()
}

/// A UDP-in-IPv6 packet of `len` payload bytes.
pub fn packet(src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> Vec<u8> {
    Ipv6Header::new(src, dst, 17, 64, &vec![0x5a; len]).to_vec()
}

fn drain_expecting(out: &mut Outputs, what: &str) {
    assert!(!out.is_empty(), "{what}: produced nothing");
    out.clear();
}

/// A relay and a Teredo client behind 203.0.113.7:40000, confirmed.
pub fn relay_and_client(now: Instant, len: usize) -> Path {
    let mode = Mode::Relay {
        cone: true,
        prefix: PREFIX,
    };
    let mut tunnel = TeredoTunnel::new(Config::new(mode, PID, Secret::new([7; 16])), now);
    let mapping = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 7), 40000);
    let client = teredo_addr(mapping);
    let native: Ipv6Addr = "2001:db8:1::1".parse().expect("literal");
    let mut out = Outputs::new();
    tunnel.handle_tun_packet(now, UNIX, &packet(native, client, len), &mut out);
    drain_expecting(&mut out, "relay: first packet to the client");
    let bubble = emit_bubble(client, CLIENT_LINK_LOCAL);
    tunnel.handle_udp_packet(now, UNIX, mapping, &bubble, &mut out);
    drain_expecting(&mut out, "relay: the client's bubble");
    Path {
        name: "relay <-> Teredo client",
        tunnel,
        from_tun: packet(native, client, len),
        from_udp: (mapping, packet(client, native, len)),
    }
}

fn client_tunnel(now: Instant, own: Ipv6Addr) -> TeredoTunnel {
    let mut tunnel = TeredoTunnel::new(Config::new(Mode::Client, PID, Secret::new([9; 16])), now);
    tunnel.set_state(Some(OwnAddress {
        addr: own,
        server: SERVER,
        mtu: 1280,
    }));
    tunnel
}

fn own_address() -> Ipv6Addr {
    teredo_addr(SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 50000))
}

/// A client and a Teredo peer behind 203.0.113.9:41000, confirmed.
pub fn client_and_teredo_peer(now: Instant, len: usize) -> Path {
    let own = own_address();
    let mut tunnel = client_tunnel(now, own);
    let mapping = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 41000);
    let peer = teredo_addr(mapping);
    let mut out = Outputs::new();
    tunnel.handle_udp_packet(now, UNIX, mapping, &packet(peer, own, len), &mut out);
    drain_expecting(&mut out, "client: first packet from the peer");
    Path {
        name: "client <-> Teredo peer",
        tunnel,
        from_tun: packet(own, peer, len),
        from_udp: (mapping, packet(peer, own, len)),
    }
}

/// A client and a native host behind the relay 198.18.0.1:3544, confirmed
/// by a ping test.
pub fn client_and_native_host(now: Instant, len: usize) -> Path {
    let own = own_address();
    let mut tunnel = client_tunnel(now, own);
    let native: Ipv6Addr = "2001:db8:2::2".parse().expect("literal");
    let relay = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), TEREDO_PORT);
    let mut out = Outputs::new();
    tunnel.handle_tun_packet(now, UNIX, &packet(own, native, len), &mut out);
    drain_expecting(&mut out, "client: the ping test");
    let data = Secret::new([9; 16]).ping_payload(&own, &native, PID, UNIX);
    let reply = EchoRepr {
        kind: EchoKind::Reply,
        ident: PID as u16,
        seq: UNIX as u16,
        data: &data,
    }
    .emit_ipv6(native, own, 64);
    tunnel.handle_udp_packet(now, UNIX, relay, &reply, &mut out);
    drain_expecting(
        &mut out,
        "client: the ping reply releases the queued packet",
    );
    Path {
        name: "client <-> native host via relay",
        tunnel,
        from_tun: packet(own, native, len),
        from_udp: (relay, packet(native, own, len)),
    }
}

/// Every path.
pub fn all(now: Instant, len: usize) -> Vec<Path> {
    vec![
        relay_and_client(now, len),
        client_and_teredo_peer(now, len),
        client_and_native_host(now, len),
    ]
}

/// Forwards `rounds` packets, alternating the two directions, through
/// `out`, which is cleared every `batch` packets as a driver does. Panics
/// unless each packet gives exactly the one output its direction should.
pub fn forward(path: &mut Path, now: Instant, rounds: u32, batch: u32, out: &mut Outputs) {
    let (from, ref udp) = path.from_udp;
    for i in 0..rounds {
        let before = out.len();
        let expect_transmit = i % 2 == 0;
        if expect_transmit {
            path.tunnel
                .handle_tun_packet(now, UNIX, &path.from_tun, out);
        } else {
            path.tunnel.handle_udp_packet(now, UNIX, from, udp, out);
        }
        let got = out.get(before).map(|o| o.action);
        let ok = match got {
            Some(Action::Transmit(_)) => expect_transmit,
            Some(Action::ToTun) => !expect_transmit,
            _ => false,
        };
        assert!(
            ok && out.len() == before + 1,
            "{}: packet {i} gave {got:?}, {} outputs",
            path.name,
            out.len() - before
        );
        if (i + 1) % batch == 0 {
            out.clear();
        }
    }
    out.clear();
}
