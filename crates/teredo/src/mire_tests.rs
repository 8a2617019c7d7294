//! One test per rule of the responder (the module comment of `mire.rs`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use super::*;
use crate::wire::icmpv6::{fill_checksum, verify_icmpv6_checksum, ErrorRepr};
use crate::wire::{emit_origin, EchoKind, EchoRepr};

/// The client: a Teredo address behind 203.0.113.1.
const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0, 0xc000, 0x201, 0, 0x4066, 0x34ff, 0x8efe);
/// The responder's Teredo address: 198.51.100.1, port 3545.
const MIRE: Ipv6Addr = Ipv6Addr::new(0x2001, 0, 0xc633, 0x6401, 0, 0xf226, 0x39cc, 0x9bfe);

fn sender() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 1), 49049)
}

fn packet(next_header: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = Ipv6Header::new(CLIENT, MIRE, next_header, hop_limit, payload);
    h.traffic_class = 0x12;
    h.flow_label = 0x3_4567;
    h.to_vec()
}

fn echo_request(data: &[u8]) -> Vec<u8> {
    let echo = EchoRepr {
        kind: EchoKind::Request,
        ident: 0x271d,
        seq: 3,
        data,
    };
    let mut msg = Vec::new();
    echo.emit(&CLIENT, &MIRE, &mut msg);
    packet(NEXT_HEADER_ICMPV6, 64, &msg)
}

fn answer(socket: MireSocket, datagram: &[u8]) -> (Verdict, Vec<u8>) {
    let mut out = vec![0xee; 3]; // stale bytes: must be cleared
    let v = handle_datagram(socket, sender(), datagram, &mut out);
    (v, out)
}

#[test]
fn bubble_on_3544_is_answered_with_a_fresh_swapped_bubble() {
    let bubble = packet(NEXT_HEADER_NONE, 17, &[]);
    let (v, out) = answer(MireSocket::Server, &bubble);
    assert_eq!(v, Verdict::Reply);
    // Traffic class, flow label and hop limit are not copied: a bubble as any
    // Teredo node sends it, from the mire's address to the sender's.
    assert_eq!(out, emit_bubble(MIRE, CLIENT));
    assert_eq!(out.len(), 40);
}

#[test]
fn bubble_with_auth_origin_and_trailing_bytes_is_answered() {
    let mut d = vec![0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0];
    emit_origin(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 3544), &mut d);
    d.extend_from_slice(&packet(NEXT_HEADER_NONE, 0, &[]));
    d.extend_from_slice(b"trailing");
    let (v, out) = answer(MireSocket::Server, &d);
    assert_eq!(v, Verdict::Reply);
    assert_eq!(out, emit_bubble(MIRE, CLIENT));
}

#[test]
fn bubble_from_non_global_ipv4_is_not_answered() {
    let bubble = packet(NEXT_HEADER_NONE, 0, &[]);
    for ip in [
        [127, 0, 0, 1],
        [10, 1, 2, 3],
        [192, 168, 0, 1],
        [224, 0, 0, 1],
    ] {
        let from = SocketAddrV4::new(Ipv4Addr::from(ip), 3544);
        let mut out = Vec::new();
        let v = handle_datagram(MireSocket::Server, from, &bubble, &mut out);
        assert_eq!(v, Verdict::Ignored(Ignored::NonGlobalSender), "{from}");
        assert!(out.is_empty());
    }
    // An echo request from the same addresses is answered (port 3545).
    let from = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 3544);
    let mut out = Vec::new();
    let v = handle_datagram(MireSocket::Peer, from, &echo_request(b"x"), &mut out);
    assert_eq!(v, Verdict::Reply);
}

#[test]
fn anything_but_a_bubble_on_3544_is_ignored() {
    for d in [
        echo_request(b"ping"),
        packet(NEXT_HEADER_NONE, 0, b"data"),
        packet(17, 64, &[0; 8]),
    ] {
        let (v, out) = answer(MireSocket::Server, &d);
        assert_eq!(v, Verdict::Ignored(Ignored::NotBubble));
        assert!(out.is_empty());
    }
}

#[test]
fn echo_request_on_3545_gets_an_echo_reply() {
    let req = echo_request(b"abcdefgh0123");
    let (v, out) = answer(MireSocket::Peer, &req);
    assert_eq!(v, Verdict::Reply);
    let h = Ipv6Header::parse(&out).unwrap();
    assert_eq!((h.src, h.dst), (MIRE, CLIENT), "addresses swapped");
    assert_eq!(h.hop_limit, REPLY_HOP_LIMIT);
    assert_eq!((h.traffic_class, h.flow_label), (0x12, 0x3_4567), "kept");
    let (_, echo) = EchoRepr::parse_ipv6(&out).unwrap();
    assert_eq!(echo.kind, EchoKind::Reply);
    assert_eq!((echo.ident, echo.seq), (0x271d, 3));
    assert_eq!(echo.data, b"abcdefgh0123");
    assert_eq!(out.len(), req.len());
}

#[test]
fn echo_request_code_and_checksum_are_not_checked() {
    let good = echo_request(b"data");
    let (_, want) = answer(MireSocket::Peer, &good);
    let mut bad = good.clone();
    bad[41] = 7; // code
    bad[42] ^= 0x55; // checksum
    let (v, out) = answer(MireSocket::Peer, &bad);
    assert_eq!(v, Verdict::Reply);
    assert_eq!(out, want, "a fresh reply: code 0, its own checksum");
    let h = Ipv6Header::parse(&out).unwrap();
    assert!(verify_icmpv6_checksum(&h.src, &h.dst, h.payload));
}

#[test]
fn echo_request_without_data_is_answered_and_shorter_is_malformed() {
    let (v, out) = answer(MireSocket::Peer, &echo_request(b""));
    assert_eq!(v, Verdict::Reply);
    assert_eq!(out.len(), 48);
    let req = echo_request(b"");
    for n in 0..8 {
        let mut short = packet(NEXT_HEADER_ICMPV6, 64, &req[40..40 + n]);
        fill_checksum(&CLIENT, &MIRE, &mut short[40..]);
        let (v, out) = answer(MireSocket::Peer, &short);
        assert_eq!(v, Verdict::Malformed(WireError::Truncated), "{n} octets");
        assert!(out.is_empty());
    }
}

#[test]
fn other_icmpv6_on_3545_is_ignored() {
    for t in [1u8, 4, 129, 135] {
        let mut d = echo_request(b"zz");
        d[40] = t;
        let (v, out) = answer(MireSocket::Peer, &d);
        assert_eq!(v, Verdict::Ignored(Ignored::NotEchoRequest), "type {t}");
        assert!(out.is_empty());
    }
}

#[test]
fn unknown_next_header_gets_parameter_problem_code_1_pointer_6() {
    for nh in [17u8, 6, 0, 44, 60, 255] {
        let d = packet(nh, 64, b"\x00\x01\x00\x02\x00\x0cabcd1234");
        let (v, out) = answer(MireSocket::Peer, &d);
        assert_eq!(v, Verdict::Reply, "next header {nh}");
        let h = Ipv6Header::parse(&out).unwrap();
        assert_eq!((h.src, h.dst), (MIRE, CLIENT));
        assert_eq!(h.next_header, NEXT_HEADER_ICMPV6);
        assert_eq!(h.hop_limit, 255);
        assert_eq!((h.traffic_class, h.flow_label), (0, 0), "not copied");
        assert!(verify_icmpv6_checksum(&h.src, &h.dst, h.payload));
        let e = ErrorRepr::parse(h.payload).unwrap();
        assert_eq!((e.msg_type, e.code, e.param), (4, 1, 6));
        assert_eq!(e.quoted, d.as_slice(), "the whole offending packet");
    }
}

#[test]
fn parameter_problem_quotes_the_packet_trimmed_then_truncated_to_1232() {
    let big: Vec<u8> = (0..1536u32).map(|i| i as u8).collect();
    let d = packet(17, 64, &big);
    let (v, out) = answer(MireSocket::Peer, &d);
    assert_eq!(v, Verdict::Reply);
    assert_eq!(out.len(), 1280, "the IPv6 minimum MTU");
    let h = Ipv6Header::parse(&out).unwrap();
    assert_eq!(
        ErrorRepr::parse(h.payload).unwrap().quoted,
        &d[..MAX_QUOTED]
    );

    // Bytes past the payload length are not quoted.
    let mut d = packet(17, 64, b"abcd");
    d.extend_from_slice(b"not part of the packet");
    let (_, out) = answer(MireSocket::Peer, &d);
    let h = Ipv6Header::parse(&out).unwrap();
    assert_eq!(ErrorRepr::parse(h.payload).unwrap().quoted, &d[..44]);

    // An origin indication before the packet is not quoted either.
    let mut with_origin = Vec::new();
    emit_origin(
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 3544),
        &mut with_origin,
    );
    let inner = packet(17, 64, b"abcdefgh");
    with_origin.extend_from_slice(&inner);
    let (_, out) = answer(MireSocket::Peer, &with_origin);
    let h = Ipv6Header::parse(&out).unwrap();
    assert_eq!(
        ErrorRepr::parse(h.payload).unwrap().quoted,
        inner.as_slice()
    );
}

#[test]
fn bubbles_routing_headers_and_empty_no_next_header_on_3545_are_ignored() {
    let cases = [
        (packet(NEXT_HEADER_NONE, 0, &[]), Ignored::Bubble),
        (
            packet(NEXT_HEADER_NONE, 0, b"abcdefgh"),
            Ignored::NoNextHeader,
        ),
        (
            packet(NEXT_HEADER_ROUTING, 64, &[59, 0, 0, 0, 0, 0, 0, 0]),
            Ignored::RoutingHeader,
        ),
    ];
    for (d, why) in cases {
        let (v, out) = answer(MireSocket::Peer, &d);
        assert_eq!(v, Verdict::Ignored(why));
        assert!(out.is_empty());
    }
}

#[test]
fn no_reply_from_multicast_or_to_multicast_or_unspecified() {
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    for (src, dst) in [
        (CLIENT, all_nodes),
        (all_nodes, MIRE),
        (Ipv6Addr::UNSPECIFIED, MIRE),
    ] {
        let udp = Ipv6Header::new(src, dst, 17, 64, &[0; 8]).to_vec();
        let mut msg = vec![TYPE_ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1];
        fill_checksum(&src, &dst, &mut msg);
        let echo = Ipv6Header::new(src, dst, NEXT_HEADER_ICMPV6, 64, &msg).to_vec();
        for d in [udp, echo] {
            let (v, out) = answer(MireSocket::Peer, &d);
            assert_eq!(v, Verdict::Ignored(Ignored::NotUnicast), "{src} -> {dst}");
            assert!(out.is_empty());
        }
    }
}

#[test]
fn malformed_datagrams_are_dropped_with_the_reason() {
    let good = echo_request(b"abc");
    let mut v4 = good.clone();
    v4[0] = 0x45;
    let mut long_len = good.clone();
    long_len[5] += 1;
    let cases: [(&[u8], WireError); 5] = [
        (&[], WireError::Truncated),
        (&good[..39], WireError::Truncated),
        (&v4, WireError::NotIpv6(4)),
        (&long_len, WireError::BadPayloadLength),
        (&[0, 1, 0, 0], WireError::Truncated),
    ];
    for socket in [MireSocket::Server, MireSocket::Peer] {
        for (d, e) in cases {
            let (v, out) = answer(socket, d);
            assert_eq!(v, Verdict::Malformed(e), "{socket:?} {d:02x?}");
            assert!(out.is_empty());
        }
    }
}

#[test]
fn counters_count_each_verdict_once() {
    let mut c = MireCounters::default();
    let mut out = Vec::new();
    for (socket, d) in [
        (MireSocket::Server, packet(NEXT_HEADER_NONE, 0, &[])),
        (MireSocket::Peer, echo_request(b"1")),
        (MireSocket::Peer, packet(NEXT_HEADER_NONE, 0, &[])),
        (MireSocket::Peer, vec![0x60]),
    ] {
        c.count(&handle_datagram(socket, sender(), &d, &mut out));
    }
    assert_eq!(
        c,
        MireCounters {
            replied: 2,
            ignored: 1,
            malformed: 1
        }
    );
    assert_eq!(c.total(), 4);
    assert_eq!(MireSocket::Server.port(), 3544);
    assert_eq!(MireSocket::Peer.port(), 3545);
}
