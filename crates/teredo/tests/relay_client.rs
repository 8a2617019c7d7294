//! Client ↔ client through bubbles (RFC 4380 §5.2.3, §5.2.4), in simulated time.

mod relay_harness;

use std::net::{Ipv6Addr, SocketAddrV4};

use relay_harness::*;
use teredo::addr::TeredoAddr;
use teredo::peers::QUEUE_BUDGET;
use teredo::relay::{Outputs, OwnAddress};
use teredo::wire::{emit_bubble, emit_with_origin, Ipv6Header};

fn ep(s: &str) -> SocketAddrV4 {
    s.parse().expect("endpoint")
}

fn two_clients() -> (Lab, usize, usize) {
    let mut lab = Lab::new();
    let a = lab.client(ep("198.51.100.10:40000"));
    let b = lab.client(ep("203.0.113.20:50000"));
    (lab, a, b)
}

#[test]
fn bubble_exchange_then_queued_packet_delivered() {
    let (mut lab, a, b) = two_clients();
    let (ta, tb) = (lab.addr(a), lab.addr(b));
    let pkt = ipv6_packet(ta, tb, 100, 0xab);
    lab.send_from_tun(a, &pkt);

    // A sent a direct bubble to B's mapping and an indirect one to the server.
    let b_pub = lab.nodes[b].outbound;
    assert_eq!(bubbles_to(&lab.wire_log, b_pub), 1, "direct");
    assert_eq!(bubbles_to(&lab.wire_log, SERVER_EP), 1, "indirect");
    assert_eq!(
        bubbles_to(&lab.wire_log, lab.nodes[a].outbound),
        2,
        "B's answers to the direct and the forwarded bubble"
    );
    // B answered the forwarded bubble with a direct bubble; A trusted B and
    // flushed its queue; B accepted A's packet (Teredo source matches).
    assert_eq!(lab.nodes[b].tun, vec![pkt.clone()]);
    assert!(lab.nodes[a].tun.is_empty(), "bubbles are not delivered");
    let peer = lab.tunnel(a).peers().get(&tb).expect("peer B");
    assert!(peer.trusted);
    assert_eq!(peer.mapping, b_pub);
    assert!(lab
        .tunnel(b)
        .peers()
        .get(&ta)
        .is_some_and(|p| p.trusted && p.mapping == lab.nodes[a].outbound));
    assert_eq!(lab.tunnel(a).stats().bubbles_sent, 2);
    assert_eq!(
        lab.tunnel(b).stats().bubbles_received,
        2,
        "A's direct bubble (answered too) and the forwarded one"
    );
    assert_eq!(lab.tunnel(b).stats().dropped_link_local, 0);

    // From now on: straight to the mapping, both ways, no more bubbles.
    lab.wire_log.clear();
    lab.advance(secs(5));
    let reply = ipv6_packet(tb, ta, 10, 0xcd);
    lab.send_from_tun(b, &reply);
    lab.send_from_tun(a, &pkt);
    assert_eq!(lab.wire_log.len(), 2);
    assert_eq!(lab.nodes[a].tun, vec![reply]);
    assert_eq!(lab.nodes[b].tun.len(), 2);
}

#[test]
fn with_a_port_mapping_only_the_indirect_bubble_is_sent() {
    let (mut lab, a, b) = two_clients();
    lab.nodes[a].tunnel.set_inbound_open(true);
    let (ta, tb) = (lab.addr(a), lab.addr(b));
    let pkt = ipv6_packet(ta, tb, 100, 0xab);
    lab.send_from_tun(a, &pkt);
    let b_pub = lab.nodes[b].outbound;
    assert_eq!(bubbles_to(&lab.wire_log, b_pub), 0, "no direct bubble");
    assert_eq!(bubbles_to(&lab.wire_log, SERVER_EP), 1, "indirect");
    // B's answer to the forwarded bubble reaches A, which then sends.
    assert_eq!(lab.nodes[b].tun, vec![pkt]);
    assert_eq!(lab.tunnel(a).stats().bubbles_sent, 1);
}

#[test]
fn queue_budget_is_1280_bytes_and_flushes_in_order() {
    let mut lab = Lab::new();
    let a = lab.client(ep("198.51.100.10:40000"));
    // C does not exist yet: nothing answers the bubbles.
    let c_pub = ep("203.0.113.30:3000");
    let tc = teredo_of(c_pub);
    let ta = lab.addr(a);
    let pkts: Vec<_> = (0..3u8).map(|i| ipv6_packet(ta, tc, 500 - 40, i)).collect();
    for p in &pkts {
        lab.send_from_tun(a, p);
    }
    let s = *lab.tunnel(a).stats();
    assert_eq!(s.queued, 2);
    assert_eq!(s.dropped_queue_full, 1);
    let peer = lab.tunnel(a).peers().get(&tc).expect("peer C");
    assert_eq!(peer.queued_bytes(), 1000);
    assert!(peer.queued_bytes() <= QUEUE_BUDGET);

    // C appears and answers with a bubble: the two queued packets leave, oldest first.
    let c = lab.client(c_pub);
    lab.wire_log.clear();
    lab.inject(a, c_pub, &emit_bubble(tc, ta));
    let sent: Vec<_> = lab
        .wire_log
        .iter()
        .filter(|(_, d, _)| *d == c_pub)
        .map(|(_, _, p)| p.clone())
        .collect();
    assert_eq!(sent, pkts[..2].to_vec(), "FIFO flush");
    assert_eq!(lab.nodes[c].tun, pkts[..2].to_vec());
}

#[test]
fn bubble_rate_limit_four_spaced_then_300_s_block() {
    let mut lab = Lab::new();
    let a = lab.client(ep("198.51.100.10:40000"));
    let ta = lab.addr(a);
    let tc = teredo_of(ep("203.0.113.30:3000")); // never answers
    let pkt = ipv6_packet(ta, tc, 8, 1);
    let bubbles = |lab: &Lab| lab.tunnel(a).stats().bubbles_sent;

    lab.send_from_tun(a, &pkt);
    assert_eq!(bubbles(&lab), 2, "direct + indirect");
    lab.advance(secs(2));
    lab.send_from_tun(a, &pkt);
    assert_eq!(bubbles(&lab), 2, "not more than 2 s later");
    for (k, t) in [(2, 1), (3, 3), (4, 3)] {
        lab.advance(secs(t));
        lab.send_from_tun(a, &pkt);
        assert_eq!(bubbles(&lab), 2 * k, "bubble {k}");
    }
    assert!(lab.nodes[a].icmp.is_empty());
    // Four bubbles sent: now unreachable, for 300 s after the last one.
    lab.advance(secs(3));
    lab.send_from_tun(a, &pkt);
    assert_eq!(bubbles(&lab), 8);
    assert_eq!(lab.nodes[a].icmp.len(), 1);
    let (dst, err) = &lab.nodes[a].icmp[0];
    assert_eq!(*dst, ta);
    let h = Ipv6Header::parse(err).expect("icmp error");
    assert_eq!((h.payload[0], h.payload[1]), (1, 3), "unreachable, address");
    assert_eq!(&h.payload[8..], &pkt[..]);
    // Keep the peer alive (lookups refresh it) until the block ends.
    let mut elapsed = 3;
    while elapsed < 280 {
        lab.advance(secs(20));
        elapsed += 20;
        lab.send_from_tun(a, &pkt);
    }
    lab.advance(secs(300 - elapsed));
    lab.send_from_tun(a, &pkt);
    assert_eq!(bubbles(&lab), 8, "still blocked 300 s after the 4th bubble");
    assert_eq!(lab.tunnel(a).stats().dropped_rate_limited, 1 + 14 + 1);
    assert_eq!(lab.nodes[a].icmp.len(), 16);
    lab.advance(secs(1)); // 301 s after the 4th bubble
    lab.send_from_tun(a, &pkt);
    assert_eq!(bubbles(&lab), 10, "counter reset after 300 s");
}

#[test]
fn symmetric_nat_peer_accepted_through_bubble_hmac() {
    let mut lab = Lab::new();
    let a = lab.client(ep("198.51.100.10:40000"));
    // B's NAT maps its replies to another port than the one in its address.
    let b_embedded = ep("203.0.113.20:50000");
    let b_real = ep("203.0.113.20:50001");
    let b = lab.client_with(b_embedded, b_real, 64);
    let (ta, tb) = (lab.addr(a), lab.addr(b));
    let pkt = ipv6_packet(ta, tb, 20, 7);
    lab.send_from_tun(a, &pkt);
    let peer = lab.tunnel(a).peers().get(&tb).expect("peer B");
    assert!(peer.trusted);
    assert_eq!(peer.mapping, b_real, "mapping learnt from the outer source");
    assert_eq!(lab.nodes[b].tun, vec![pkt]);

    // The same bubble from an unexpected port without our HMAC is refused.
    let mut lab = Lab::new();
    let a = lab.client(ep("198.51.100.10:40000"));
    let ta = lab.addr(a);
    lab.inject(a, b_real, &emit_bubble(tb, "fe80::1".parse().expect("v6")));
    assert_eq!(lab.tunnel(a).stats().dropped_unauthenticated, 1);
    assert!(lab.tunnel(a).peers().is_empty());
    // A packet from there is held back while B's address is bubbled
    // (tests/relay_symmetric.rs), not delivered.
    lab.inject(a, b_real, &ipv6_packet(tb, ta, 10, 0));
    assert!(lab.nodes[a].tun.is_empty());
    assert!(lab.tunnel(a).peers().get(&tb).is_some_and(|p| !p.trusted));
}

#[test]
fn anti_spoofing() {
    let (mut lab, a, b) = two_clients();
    let (ta, tb) = (lab.addr(a), lab.addr(b));
    let b_pub = lab.nodes[b].outbound;
    // Link-local inner source (a forged RA, say): dropped.
    let ll: Ipv6Addr = "fe80::1".parse().expect("v6");
    lab.inject(a, b_pub, &ipv6_packet(ll, ta, 10, 0));
    assert_eq!(lab.tunnel(a).stats().dropped_link_local, 1);
    // Multicast destination: dropped.
    lab.inject(
        a,
        b_pub,
        &ipv6_packet(tb, "ff02::1".parse().expect("v6"), 10, 0),
    );
    assert_eq!(lab.tunnel(a).stats().dropped_multicast, 1);

    // B becomes a trusted peer of A.
    lab.send_from_tun(a, &ipv6_packet(ta, tb, 10, 0));
    assert!(lab.tunnel(a).peers().get(&tb).is_some_and(|p| p.trusted));
    // A packet claiming B's address from another endpoint is refused.
    let spoofer = ep("203.0.113.99:50000");
    lab.inject(a, spoofer, &ipv6_packet(tb, ta, 10, 0));
    assert_eq!(lab.tunnel(a).stats().dropped_unauthenticated, 1);
    assert!(lab.nodes[a].tun.is_empty());
    assert_eq!(
        lab.tunnel(a).peers().get(&tb).map(|p| p.mapping),
        Some(b_pub)
    );
    // The genuine one is delivered.
    lab.inject(a, b_pub, &ipv6_packet(tb, ta, 10, 0));
    assert_eq!(lab.nodes[a].tun.len(), 1);
}

#[test]
fn server_packets_with_origin_get_a_direct_bubble() {
    let mut lab = Lab::new();
    let a = lab.client(ep("198.51.100.10:40000"));
    let ta = lab.addr(a);
    let x = ep("198.51.100.77:1234");
    let src = teredo_of(x);
    let mut out = Outputs::new();
    let bubble = emit_with_origin(x, &emit_bubble(src, ta));
    let mut t = teredo::relay::TeredoTunnel::new(
        teredo::relay::Config::new(teredo::relay::Mode::Client, 1, secret(9)),
        lab.now,
    );
    t.set_state(Some(OwnAddress {
        addr: ta,
        server: SERVER,
        mtu: 1280,
    }));
    t.handle_udp_packet(lab.now, UNIX0, SERVER_EP, &bubble, &mut out);
    let expect = teredo::relay::Output::Transmit {
        dst: x,
        payload: emit_bubble(ta, src).to_vec(),
    };
    assert_eq!(out.to_vec().as_slice(), std::slice::from_ref(&expect));
    assert_eq!(t.stats().bubbles_received, 1);
    // A server bubble without origin but with a Teredo source: mapping from
    // the source.
    out = Outputs::new();
    t.handle_udp_packet(lab.now, UNIX0, SERVER_EP, &emit_bubble(src, ta), &mut out);
    assert_eq!(out.to_vec().as_slice(), &[expect]);
    // A non-global origin gets nothing.
    out = Outputs::new();
    let private = ep("10.0.0.1:1");
    let b2 = emit_with_origin(private, &emit_bubble(src, ta));
    t.handle_udp_packet(lab.now, UNIX0, SERVER_EP, &b2, &mut out);
    assert!(out.is_empty());
    assert!(t.peers().is_empty(), "server bubbles create no peer");
}

#[test]
fn peers_expire_30_to_60_s_after_last_use() {
    let (mut lab, a, b) = two_clients();
    let (ta, tb) = (lab.addr(a), lab.addr(b));
    let pkt = ipv6_packet(ta, tb, 10, 0);
    lab.send_from_tun(a, &pkt);
    assert!(lab.tunnel(a).peers().get(&tb).is_some_and(|p| p.trusted));
    // Still valid 30 s after the last receive: sent directly.
    lab.advance(secs(30));
    lab.wire_log.clear();
    lab.send_from_tun(a, &pkt);
    assert_eq!(lab.wire_log.len(), 1);
    // 31 s after the last receive: stale, bubbles again (and revalidated).
    lab.advance(secs(1));
    lab.wire_log.clear();
    lab.send_from_tun(a, &pkt);
    assert!(bubbles_to(&lab.wire_log, SERVER_EP) == 1);
    assert!(lab.tunnel(a).peers().get(&tb).is_some_and(|p| p.trusted));
    // Unused: gone within 60 s, not before 30 s.
    lab.advance(secs(29));
    assert!(lab.tunnel(a).peers().contains(&tb));
    lab.advance(secs(31));
    assert!(!lab.tunnel(a).peers().contains(&tb));
    assert!(!lab.tunnel(b).peers().contains(&ta));
}

#[test]
fn new_address_clears_peers() {
    let (mut lab, a, b) = two_clients();
    let (ta, tb) = (lab.addr(a), lab.addr(b));
    lab.send_from_tun(a, &ipv6_packet(ta, tb, 10, 0));
    assert!(!lab.tunnel(a).peers().is_empty());
    let own = lab.tunnel(a).own_address();
    lab.nodes[a].tunnel.set_state(own);
    assert!(!lab.tunnel(a).peers().is_empty(), "same address: kept");
    let other = teredo_of(ep("198.51.100.10:40001"));
    lab.nodes[a].tunnel.set_state(Some(OwnAddress {
        addr: other,
        server: SERVER,
        mtu: 1280,
    }));
    assert!(lab.tunnel(a).peers().is_empty());
    assert_eq!(TeredoAddr::from_ipv6(&other).mapped_port, 40001);
}

#[test]
fn peer_list_capacity() {
    let mut lab = Lab::new();
    let a = lab.client_with(ep("198.51.100.10:40000"), ep("198.51.100.10:40000"), 2);
    let ta = lab.addr(a);
    for port in 1..=3 {
        let dst = teredo_of(SocketAddrV4::new("203.0.113.5".parse().expect("v4"), port));
        lab.send_from_tun(a, &ipv6_packet(ta, dst, 10, 0));
    }
    assert_eq!(lab.tunnel(a).peers().len(), 2);
    assert_eq!(lab.tunnel(a).stats().dropped_peer_list_full, 1);
    assert_eq!(lab.nodes[a].icmp.len(), 1);
}
