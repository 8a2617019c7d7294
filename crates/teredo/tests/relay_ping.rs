//! Client ↔ native IPv6 through ping tests (docs/protocol-notes.md#sending step 6,
//! docs/protocol-notes.md#receiving
//! steps 3 and 5), in simulated time.

mod relay_harness;

use std::net::{Ipv6Addr, SocketAddrV4};

use relay_harness::*;
use teredo::wire::{icmpv6_error, EchoKind, EchoRepr, Ipv6Header};

const PID: u16 = 1000; // node 0's pid in the harness

fn ep(s: &str) -> SocketAddrV4 {
    s.parse().expect("endpoint")
}

fn native() -> Ipv6Addr {
    "2001:db8::1".parse().expect("v6")
}

fn relay_ep() -> SocketAddrV4 {
    ep("198.18.0.5:3545")
}

/// The last echo request the server sent to native IPv6, as the native host
/// would answer it.
fn reply_to_last_ping(lab: &Lab) -> Vec<u8> {
    let req = lab.native.last().expect("a ping test");
    let (h, echo) = EchoRepr::parse_ipv6(req).expect("valid echo request");
    EchoRepr {
        kind: EchoKind::Reply,
        ..echo
    }
    .emit_ipv6(h.dst, h.src, 64)
}

#[test]
fn ping_test_format_and_valid_reply() {
    let mut lab = Lab::new();
    let a = lab.client(ep("198.51.100.10:40000"));
    let ta = lab.addr(a);
    let pkt = ipv6_packet(ta, native(), 30, 9);
    lab.send_from_tun(a, &pkt);

    // One echo request through the server, 66 bytes of UDP payload.
    assert_eq!(lab.wire_log.len(), 1);
    let (_, dst, payload) = &lab.wire_log[0];
    assert_eq!(*dst, SERVER_EP);
    assert_eq!(payload.len(), 66);
    let (h, echo) = EchoRepr::parse_ipv6(payload).expect("echo request");
    assert_eq!((h.src, h.dst, h.hop_limit), (ta, native(), 128));
    assert_eq!(echo.kind, EchoKind::Request);
    assert_eq!(echo.ident, PID);
    assert_eq!(echo.seq, UNIX0 as u16);
    assert_eq!(echo.data.len(), 18);
    assert_eq!(echo.data[..2], ((UNIX0 >> 16) as u16).to_be_bytes());
    assert_eq!(lab.native.len(), 1);

    // The native host answers; its reply reaches A through relay R.
    lab.advance(secs(1));
    let reply = reply_to_last_ping(&lab);
    lab.wire_log.clear();
    lab.inject(a, relay_ep(), &reply);
    let peer = lab.tunnel(a).peers().get(&native()).expect("peer");
    assert!(peer.trusted);
    assert_eq!(peer.mapping, relay_ep());
    assert!(
        lab.nodes[a].tun.is_empty(),
        "the reply itself is not delivered"
    );
    assert_eq!(lab.wire_log.len(), 1);
    assert_eq!(lab.wire_log[0].1, relay_ep());
    assert_eq!(lab.wire_log[0].2, pkt, "queued packet flushed to the relay");

    // Then straight to the relay, no ping.
    lab.wire_log.clear();
    lab.send_from_tun(a, &pkt);
    assert_eq!(lab.wire_log.len(), 1);
    assert_eq!(lab.wire_log[0].1, relay_ep());
    assert_eq!(lab.tunnel(a).stats().pings_sent, 1);
}

#[test]
fn forged_or_old_replies_are_rejected() {
    let mut lab = Lab::new();
    let a = lab.client(ep("198.51.100.10:40000"));
    let ta = lab.addr(a);
    lab.send_from_tun(a, &ipv6_packet(ta, native(), 30, 9));
    let good = reply_to_last_ping(&lab);
    let (h, echo) = EchoRepr::parse_ipv6(&good).expect("reply");
    let mut data = echo.data.to_vec();
    data[5] ^= 1;
    let forged = [
        EchoRepr {
            data: &data,
            ..echo
        }
        .emit_ipv6(h.src, h.dst, 64),
        EchoRepr {
            ident: echo.ident ^ 1,
            ..echo
        }
        .emit_ipv6(h.src, h.dst, 64),
        EchoRepr {
            seq: echo.seq.wrapping_sub(1),
            ..echo
        }
        .emit_ipv6(h.src, h.dst, 64),
    ];
    for f in &forged {
        lab.inject(a, relay_ep(), f);
    }
    let untrusted = |lab: &Lab| {
        lab.tunnel(a)
            .peers()
            .get(&native())
            .is_some_and(|p| !p.trusted)
    };
    assert!(untrusted(&lab));
    // A genuine reply 30 s later is too old.
    lab.advance(secs(30));
    lab.inject(a, relay_ep(), &good);
    assert!(untrusted(&lab));
    assert!(lab.nodes[a].tun.is_empty());
}

#[test]
fn ping_rate_limit_then_unreachable() {
    let mut lab = Lab::new();
    let a = lab.client(ep("198.51.100.10:40000"));
    let ta = lab.addr(a);
    let pkt = ipv6_packet(ta, native(), 8, 1);
    let pings = |lab: &Lab| lab.tunnel(a).stats().pings_sent;
    lab.send_from_tun(a, &pkt);
    lab.advance(secs(2));
    lab.send_from_tun(a, &pkt);
    assert_eq!(pings(&lab), 1);
    for (k, t) in [(2, 1), (3, 3), (4, 3)] {
        lab.advance(secs(t));
        lab.send_from_tun(a, &pkt);
        assert_eq!(pings(&lab), k);
    }
    assert!(lab.nodes[a].icmp.is_empty());
    lab.advance(secs(3));
    lab.send_from_tun(a, &pkt);
    assert_eq!(pings(&lab), 4);
    assert_eq!(lab.nodes[a].icmp.len(), 1);
    let h = Ipv6Header::parse(&lab.nodes[a].icmp[0].1).expect("error");
    assert_eq!((h.payload[0], h.payload[1]), (1, 3));
}

#[test]
fn incoming_native_packet_waits_for_ping_reply_from_same_relay() {
    let mut lab = Lab::new();
    let a = lab.client(ep("198.51.100.10:40000"));
    let ta = lab.addr(a);
    let first = ipv6_packet(native(), ta, 40, 1);
    let via_other = ipv6_packet(native(), ta, 40, 2);
    lab.inject(a, relay_ep(), &first);
    assert_eq!(lab.tunnel(a).stats().pings_sent, 1);
    assert_eq!(lab.native.len(), 1);
    assert!(lab.nodes[a].tun.is_empty());
    // Another copy through another relay is queued too, but never delivered.
    lab.inject(a, ep("198.18.0.6:3545"), &via_other);
    lab.inject(a, relay_ep(), &reply_to_last_ping(&lab));
    assert_eq!(lab.nodes[a].tun, vec![first]);
    assert_eq!(lab.tunnel(a).stats().dropped_wrong_mapping, 1);
    // Now trusted: delivered at once.
    let next = ipv6_packet(native(), ta, 40, 3);
    lab.inject(a, relay_ep(), &next);
    assert_eq!(lab.nodes[a].tun.last(), Some(&next));
}

#[test]
fn unreachable_quoting_our_ping_from_the_pinged_host_confirms() {
    let mut lab = Lab::new();
    let a = lab.client(ep("198.51.100.10:40000"));
    let ta = lab.addr(a);
    lab.send_from_tun(a, &ipv6_packet(ta, native(), 8, 1));
    let req = lab.native.last().expect("ping").clone();
    // From someone else: not accepted.
    let other: Ipv6Addr = "2001:db8::2".parse().expect("v6");
    let bad = icmpv6_error(1, 4, 0, other, &req).expect("error");
    lab.inject(a, relay_ep(), &bad);
    assert!(lab
        .tunnel(a)
        .peers()
        .get(&native())
        .is_some_and(|p| !p.trusted));
    let good = icmpv6_error(1, 4, 0, native(), &req).expect("error");
    lab.inject(a, relay_ep(), &good);
    assert!(lab
        .tunnel(a)
        .peers()
        .get(&native())
        .is_some_and(|p| p.trusted));
    assert!(lab.nodes[a].tun.is_empty());
}
