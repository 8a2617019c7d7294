//! Relay mode (docs/protocol-notes.md#relay-mode): native host ↔ Teredo client through a relay.

mod relay_harness;

use std::net::{Ipv6Addr, SocketAddrV4};

use relay_harness::*;
use teredo::wire::{EchoKind, EchoRepr, Ipv6Header};

fn ep(s: &str) -> SocketAddrV4 {
    s.parse().expect("endpoint")
}

fn native() -> Ipv6Addr {
    "2001:db8::1".parse().expect("v6")
}

#[test]
fn native_host_to_client_through_cone_relay() {
    let mut lab = Lab::new();
    let r = lab.relay(ep("198.18.0.5:3545"), true);
    let b = lab.client(ep("203.0.113.20:50000"));
    let (r_pub, b_pub) = (lab.nodes[r].outbound, lab.nodes[b].outbound);
    let tb = lab.addr(b);
    let pkt = ipv6_packet(native(), tb, 60, 5);

    // The kernel routes N's packet into the relay's tunnel.
    lab.send_from_tun(r, &pkt);
    // Cone relay: only the indirect bubble.
    assert_eq!(bubbles_to(&lab.wire_log, b_pub), 0);
    assert_eq!(bubbles_to(&lab.wire_log, SERVER_EP), 1);
    // B answered with a direct bubble; R trusted B and sent the packet; B
    // queued it and ping-tested N through its server.
    assert!(lab.tunnel(r).peers().get(&tb).is_some_and(|p| p.trusted));
    assert!(lab.nodes[b].tun.is_empty());
    assert_eq!(lab.tunnel(b).stats().pings_sent, 1);
    let req = lab.native.last().expect("ping test").clone();

    // N answers the echo; the reply enters the relay and reaches B directly.
    let (h, echo) = EchoRepr::parse_ipv6(&req).expect("echo");
    let reply = EchoRepr {
        kind: EchoKind::Reply,
        ..echo
    }
    .emit_ipv6(h.dst, h.src, 64);
    lab.wire_log.clear();
    lab.send_from_tun(r, &reply);
    assert_eq!(lab.wire_log.len(), 1, "direct, no bubble");
    assert_eq!(lab.nodes[b].tun, vec![pkt], "queued packet delivered");
    let peer = lab.tunnel(b).peers().get(&native()).expect("peer N");
    assert!(peer.trusted);
    assert_eq!(peer.mapping, r_pub);

    // B answers N: straight to the relay, which hands it to its kernel.
    let back = ipv6_packet(tb, native(), 20, 6);
    lab.send_from_tun(b, &back);
    assert_eq!(lab.nodes[r].tun, vec![back]);
}

#[test]
fn restricted_relay_also_sends_direct_bubbles() {
    let mut lab = Lab::new();
    let r = lab.relay(ep("198.18.0.5:3545"), false);
    let b = lab.client(ep("203.0.113.20:50000"));
    let b_pub = lab.nodes[b].outbound;
    lab.send_from_tun(r, &ipv6_packet(native(), lab.addr(b), 10, 0));
    assert_eq!(bubbles_to(&lab.wire_log, b_pub), 1);
    assert_eq!(bubbles_to(&lab.wire_log, SERVER_EP), 1);
}

#[test]
fn relay_accepts_only_known_peers() {
    let mut lab = Lab::new();
    let r = lab.relay(ep("198.18.0.5:3545"), true);
    let b_pub = ep("203.0.113.20:50000");
    let tb = teredo_of(b_pub);
    // Unsolicited, although the Teredo source matches the outer address.
    lab.inject(r, b_pub, &ipv6_packet(tb, native(), 10, 0));
    lab.inject(r, b_pub, &teredo::wire::emit_bubble(tb, native()));
    assert_eq!(lab.tunnel(r).stats().dropped_unknown_peer, 2);
    // Non-Teredo source.
    lab.inject(r, b_pub, &ipv6_packet(native(), native(), 10, 0));
    assert_eq!(lab.tunnel(r).stats().dropped_foreign_prefix, 1);
    assert!(lab.nodes[r].tun.is_empty());
    assert!(lab.tunnel(r).peers().is_empty());
    // Once the relay has sent to B, B is accepted.
    lab.send_from_tun(r, &ipv6_packet(native(), tb, 10, 0));
    lab.inject(r, b_pub, &ipv6_packet(tb, native(), 10, 1));
    assert_eq!(lab.nodes[r].tun.len(), 1);
}

#[test]
fn relay_routing_errors() {
    let mut lab = Lab::new();
    let r = lab.relay(ep("198.18.0.5:3545"), true);
    // Non-Teredo destination: code 3 ("routing misconfigured").
    let other: Ipv6Addr = "2001:db8::2".parse().expect("v6");
    lab.send_from_tun(r, &ipv6_packet(native(), other, 10, 0));
    assert_eq!(lab.nodes[r].icmp.len(), 1);
    let (dst, err) = &lab.nodes[r].icmp[0];
    assert_eq!(*dst, native());
    let h = Ipv6Header::parse(err).expect("error");
    assert_eq!((h.payload[0], h.payload[1]), (1, 3));
    // Teredo destination with a non-global server: silently dropped.
    let bad = teredo::addr::TeredoAddr {
        server: "10.1.1.1".parse().expect("v4"),
        ..teredo::addr::TeredoAddr::from_ipv6(&teredo_of(ep("203.0.113.20:1")))
    }
    .to_ipv6();
    lab.send_from_tun(r, &ipv6_packet(native(), bad, 10, 0));
    assert_eq!(lab.tunnel(r).stats().dropped_non_global, 1);
    assert_eq!(lab.nodes[r].icmp.len(), 1);
    assert!(lab.wire_log.is_empty());
    // set_state is meaningless for a relay.
    lab.nodes[r].tunnel.set_state(None);
    lab.send_from_tun(
        r,
        &ipv6_packet(native(), teredo_of(ep("203.0.113.20:1")), 10, 0),
    );
    assert_eq!(lab.wire_log.len(), 1);
}
