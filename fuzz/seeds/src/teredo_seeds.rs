//! Seeds for the Teredo targets: packets as the client, relay, server and
//! test responder receive them, built with `teredo::wire`'s emitters.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use teredo::wire::{emit_bubble, emit_ra_payload, emit_rs, emit_with_origin, EchoKind, EchoRepr};

use crate::{a6, Seeds};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const CLIENT_V6: &str = "2001:0:c000:201:0:f227:3cff:ffef";

fn echo(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    EchoRepr {
        kind: EchoKind::Request,
        ident: 1,
        seq: 1,
        data: b"ping",
    }
    .emit_ipv6(src, dst, 64)
}

pub(crate) fn teredo_packet() -> Seeds {
    let client = a6(CLIENT_V6);
    let origin = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 10), 40000);
    vec![
        (
            "bubble",
            emit_bubble(client, a6("2001:0:c000:201::1")).to_vec(),
        ),
        ("rs", emit_rs([5; 8])),
        (
            "ra",
            emit_ra_payload(
                [5; 8],
                origin,
                a6("fe80::8000:ffff:ffff:fffe"),
                SERVER,
                0x2001_0000,
                1280,
            ),
        ),
        (
            "origin_echo",
            emit_with_origin(origin, &echo(a6("2001:db8::1"), client)),
        ),
        ("echo", echo(client, a6("2001:db8::1"))),
    ]
}

pub(crate) fn teredo_server() -> Seeds {
    // 7 octets choose socket and source (see teredo_server.rs), then the datagram.
    let with = |head: [u8; 7], d: Vec<u8>| {
        let mut v = head.to_vec();
        v.extend(d);
        v
    };
    let from = [0x40, 198, 18, 0, 10, 0x9c, 0x40];
    let client = a6(CLIENT_V6);
    vec![
        ("rs_primary", with(from, emit_rs([5; 8]))),
        (
            "rs_secondary",
            with([0x41, 198, 18, 0, 10, 0x9c, 0x40], emit_rs([6; 8])),
        ),
        (
            "bubble",
            with(from, emit_bubble(client, a6("2001:0:c000:201::1")).to_vec()),
        ),
        ("echo", with(from, echo(client, a6("2001:db8::1")))),
    ]
}

pub(crate) fn teredo_mire() -> Seeds {
    // 1 octet: bit 0 the socket (0: 3544, 1: 3545), bit 1 a non-global
    // sender (see teredo_mire.rs); then the datagram.
    let with = |head: u8, d: Vec<u8>| [vec![head], d].concat();
    let client = a6(CLIENT_V6);
    let mire = a6("2001:0:c633:6401:0:f226:39cc:9bfe");
    let mut udp = teredo::wire::Ipv6Header::new(client, mire, 17, 64, &[0; 16]).to_vec();
    udp.extend_from_slice(b"trailing");
    vec![
        ("bubble", with(0, emit_bubble(client, mire).to_vec())),
        (
            "bubble_loopback",
            with(2, emit_bubble(client, mire).to_vec()),
        ),
        ("echo", with(1, echo(client, mire))),
        ("udp", with(1, udp)),
        (
            "echo_with_origin",
            with(
                1,
                emit_with_origin(
                    SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 3544),
                    &echo(client, mire),
                ),
            ),
        ),
    ]
}

pub(crate) fn teredo_relay() -> Seeds {
    // Records (see teredo_relay.rs): kind (0 UDP in, 1 tunnel out, 2 timer),
    // IPv4 source and port, length in 8-octet units, then the chunk.
    let record = |kind: u8, from: [u8; 6], chunk: &[u8]| {
        let mut v = vec![kind];
        v.extend(from);
        let units = chunk.len().div_ceil(8);
        v.push(units as u8);
        v.extend(chunk);
        v.resize(8 + units * 8, 0);
        v
    };
    let server = [192, 0, 2, 1, 0x0d, 0xd8];
    let peer = [198, 18, 0, 10, 0x9c, 0x40];
    let client = a6(CLIENT_V6);
    let peer_v6 = a6("2001:0:c000:201:0:63ed:39ff:fff5");
    let native = a6("2001:db8::1");
    let mut s = Seeds::new();
    s.push((
        "server_ra",
        record(
            0,
            server,
            &emit_ra_payload(
                [0; 8],
                SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 3544),
                a6("fe80::8000:ffff:ffff:fffe"),
                SERVER,
                0x2001_0000,
                1280,
            ),
        ),
    ));
    s.push((
        "peer_bubble",
        record(0, peer, &emit_bubble(peer_v6, client)),
    ));
    let mut both = record(1, [0; 6], &echo(client, peer_v6));
    both.extend(record(0, peer, &emit_bubble(peer_v6, client)));
    both.extend(record(0, peer, &echo(peer_v6, client)));
    both.extend(record(2, [0; 6], &[]));
    s.push(("tunnel_then_peer", both));
    s.push(("native_out", record(1, [0; 6], &echo(client, native))));
    s
}

/// The UDP offload target reads its input twice: octets 0–1 as a GRO segment
/// size over the rest, and as a count then (flags, 16-bit length) records of
/// a send batch (flags: bits 0–1 the destination, 0x04 a gap, 0x08 back to
/// offset 0, 0x40 a length ×22).
pub(crate) fn udp_batch() -> Seeds {
    let record = |flags: u8, len: u16| {
        let [hi, lo] = len.to_be_bytes();
        [flags, hi, lo]
    };
    let batch = |records: &[[u8; 3]]| {
        let mut v = vec![records.len() as u8];
        v.extend(records.iter().flatten());
        v
    };
    // A GRO buffer cut at 100 octets, the last datagram 50 (count octet 0:
    // no send batch).
    let mut gro = vec![0, 100];
    gro.extend((0..250u16).map(|i| i as u8));
    let mut mixed = vec![record(1, 1200); 3];
    mixed.extend([record(1, 300), record(2, 64), record(1, 64), record(5, 64)]);
    vec![
        ("gro_cut", gro),
        ("gso_mixed", batch(&mixed)),
        ("gso_segment_cap", batch(&[record(1, 10); 70])),
        ("gso_byte_cap", batch(&[record(0x41, 1400); 4])),
        ("gso_backwards", batch(&[record(1, 500), record(9, 500), record(1, 500)])),
    ]
}
