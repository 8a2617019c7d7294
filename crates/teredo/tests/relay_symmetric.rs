//! A client behind a symmetric NAT initiating contact (docs/nat-traversal.md):
//! its peer answers its direct bubble where it came from, and bubbles a
//! Teredo source seen at an unexpected endpoint through that address's
//! server before trusting it there. Driven packet by packet with `inject`,
//! since the harness does not model NAT filtering.

mod relay_harness;

use std::net::{Ipv6Addr, SocketAddrV4};

use relay_harness::*;
use teredo::relay::Output;
use teredo::wire::{emit_bubble, TeredoPacket};

fn ep(s: &str) -> SocketAddrV4 {
    s.parse().expect("endpoint")
}

/// B, a client at a cone mapping; A's address (embedded mapping) and the
/// endpoint A's symmetric NAT uses towards B.
fn setup() -> (Lab, usize, Ipv6Addr, SocketAddrV4, SocketAddrV4) {
    let mut lab = Lab::new();
    let b = lab.client(ep("203.0.113.20:50000"));
    let a_embedded = ep("198.51.100.10:40000");
    let a_towards_b = ep("198.51.100.10:61234");
    (lab, b, teredo_of(a_embedded), a_embedded, a_towards_b)
}

/// The datagrams node `node` sent: (destination, inner IPv6 packet).
fn sent_by(lab: &Lab, node: usize) -> Vec<(SocketAddrV4, Vec<u8>)> {
    let from = lab.nodes[node].outbound;
    lab.wire_log
        .iter()
        .filter(|(f, _, _)| *f == from)
        .filter_map(|(_, d, p)| Some((*d, TeredoPacket::parse(p).ok()?.ipv6.to_vec())))
        .collect()
}

#[test]
fn direct_bubble_is_answered_where_it_came_from() {
    let (mut lab, b, _, _, a_towards_b) = setup();
    let tb = lab.addr(b);
    let a_bubble_src: Ipv6Addr = "fe80::8a3:1f00:42:17".parse().expect("v6");
    lab.inject(b, a_towards_b, &emit_bubble(a_bubble_src, tb));
    // Addresses swapped, to the endpoint the bubble came from.
    assert_eq!(
        sent_by(&lab, b),
        vec![(a_towards_b, emit_bubble(tb, a_bubble_src).to_vec())]
    );
    let st = lab.tunnel(b).stats();
    assert_eq!((st.bubbles_received, st.dropped_link_local), (1, 0));
    assert!(lab.tunnel(b).peers().is_empty(), "no state for a bubble");
    assert!(lab.nodes[b].tun.is_empty());

    // Not addressed to us, or not a bubble: still a link-local source, dropped.
    lab.wire_log.clear();
    let other: Ipv6Addr = "2001:0:c000:201::1".parse().expect("v6");
    lab.inject(b, a_towards_b, &emit_bubble(a_bubble_src, other));
    lab.inject(b, a_towards_b, &ipv6_packet(a_bubble_src, tb, 8, 0));
    assert!(sent_by(&lab, b).is_empty());
    assert_eq!(lab.tunnel(b).stats().dropped_link_local, 2);
}

#[test]
fn unexpected_endpoint_is_bubbled_then_trusted_on_the_keyed_reply() {
    let (mut lab, b, ta, a_embedded, a_towards_b) = setup();
    let tb = lab.addr(b);
    let data = ipv6_packet(ta, tb, 20, 0x5a);
    lab.inject(b, a_towards_b, &data);
    assert!(
        lab.nodes[b].tun.is_empty(),
        "not delivered before the proof"
    );
    let sent = sent_by(&lab, b);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let dsts: Vec<_> = sent.iter().map(|(d, _)| *d).collect();
    assert_eq!(dsts, vec![a_embedded, SERVER_EP]);
    // The bubbles carry B's keyed source for A's embedded mapping.
    let src = teredo::wire::Ipv6Header::parse(&sent[1].1).expect("v6").src;
    let peer = lab.tunnel(b).peers().get(&ta).expect("peer A");
    assert!(!peer.trusted);
    assert_eq!(peer.mapping, a_embedded);

    // A answers the forwarded bubble from the endpoint its NAT uses towards
    // B: trusted there, and the queued packet (from that endpoint) delivered.
    lab.inject(b, a_towards_b, &emit_bubble(ta, src));
    let peer = lab.tunnel(b).peers().get(&ta).expect("peer A");
    assert!(peer.trusted);
    assert_eq!(peer.mapping, a_towards_b);
    assert_eq!(lab.nodes[b].tun, vec![data.clone()]);
    // From now on A's packets from there go straight through, and B's go
    // back to that endpoint.
    lab.inject(b, a_towards_b, &data);
    assert_eq!(lab.nodes[b].tun.len(), 2);
    lab.wire_log.clear();
    lab.send_from_tun(b, &ipv6_packet(tb, ta, 8, 1));
    assert_eq!(sent_by(&lab, b).first().map(|(d, _)| *d), Some(a_towards_b));
}

#[test]
fn spoofed_source_is_never_delivered() {
    let (mut lab, b, ta, a_embedded, _) = setup();
    let tb = lab.addr(b);
    // From another IPv4 than the one in A's address: dropped, no bubble, no
    // state (anyone could otherwise make B bubble a host of their choice).
    let elsewhere = ep("203.0.113.99:4444");
    lab.inject(b, elsewhere, &ipv6_packet(ta, tb, 20, 1));
    assert!(sent_by(&lab, b).is_empty());
    assert!(lab.tunnel(b).peers().is_empty());
    assert_eq!(lab.tunnel(b).stats().dropped_unauthenticated, 1);
    // From A's IPv4 but another port (a host behind A's NAT): bubbled.
    let spoofer = ep("198.51.100.10:4444");
    lab.inject(b, spoofer, &ipv6_packet(ta, tb, 20, 1));
    let src = teredo::wire::Ipv6Header::parse(&sent_by(&lab, b)[1].1)
        .expect("v6")
        .src;
    // The genuine A answers from its own endpoint: trusted there; the
    // spoofer's queued packet is discarded, not delivered.
    lab.inject(b, a_embedded, &emit_bubble(ta, src));
    assert!(lab.nodes[b].tun.is_empty());
    assert_eq!(lab.tunnel(b).stats().dropped_wrong_mapping, 1);
    assert_eq!(
        lab.tunnel(b).peers().get(&ta).map(|p| p.mapping),
        Some(a_embedded)
    );
    // A bubble from the spoofer without B's keyed hash proves nothing.
    lab.inject(b, spoofer, &emit_bubble(ta, tb));
    assert_eq!(
        lab.tunnel(b).peers().get(&ta).map(|p| p.mapping),
        Some(a_embedded)
    );
    // Once A is trusted, packets claiming A from elsewhere are dropped
    // without further bubbles.
    lab.wire_log.clear();
    lab.inject(b, spoofer, &ipv6_packet(ta, tb, 20, 1));
    assert!(sent_by(&lab, b).is_empty());
    assert!(lab.nodes[b].tun.is_empty());
}

#[test]
fn bubbles_for_unexpected_endpoints_are_rate_limited() {
    let (mut lab, b, ta, _, a_towards_b) = setup();
    let tb = lab.addr(b);
    let mut bubbles = 0;
    for _ in 0..20 {
        lab.wire_log.clear();
        lab.inject(b, a_towards_b, &ipv6_packet(ta, tb, 4, 0));
        bubbles += sent_by(&lab, b).len();
        lab.advance(secs(1));
    }
    // Four attempts (direct + indirect each), more than 2 s apart.
    assert_eq!(bubbles, 8);
    assert!(lab.nodes[b].tun.is_empty());
    assert!(lab.tunnel(b).stats().dropped_unauthenticated > 0);
    // No output other than bubbles.
    let mut out = teredo::relay::Outputs::new();
    let mut t = teredo::relay::TeredoTunnel::new(
        teredo::relay::Config::new(teredo::relay::Mode::Client, 7, secret(7)),
        lab.now,
    );
    t.set_state(Some(teredo::relay::OwnAddress {
        addr: tb,
        server: SERVER,
        mtu: 1280,
    }));
    t.handle_udp_packet(
        lab.now,
        UNIX0,
        a_towards_b,
        &ipv6_packet(ta, tb, 4, 0),
        &mut out,
    );
    assert!(out
        .to_vec()
        .iter()
        .all(|o| matches!(o, Output::Transmit { payload, .. }
            if TeredoPacket::parse(payload).is_ok_and(|p| p.is_bubble()))));
}

#[test]
fn relays_still_ignore_unknown_peers() {
    let mut lab = Lab::new();
    let r = lab.relay(ep("198.51.100.1:3545"), false);
    let ta = teredo_of(ep("198.51.100.10:40000"));
    let tr: Ipv6Addr = "2001:db8:1::1".parse().expect("v6");
    lab.inject(r, ep("198.51.100.10:61234"), &ipv6_packet(ta, tr, 8, 0));
    assert!(lab.wire_log.is_empty());
    assert!(lab.tunnel(r).peers().is_empty());
    assert_eq!(lab.tunnel(r).stats().dropped_unauthenticated, 1);
}
