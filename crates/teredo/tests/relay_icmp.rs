//! ICMPv6 errors of the transmit path (RFC 4380 §5.2.4) and their
//! rate limit of 10 per second.

mod relay_harness;

use std::net::Ipv6Addr;
use std::time::Instant;

use relay_harness::*;
use teredo::relay::{Config, Mode, Output, Outputs, OwnAddress, TeredoTunnel};
use teredo::wire::{verify_icmpv6_checksum, Ipv6Header};

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("v6")
}

fn client(now: Instant, up: bool) -> TeredoTunnel {
    let mut t = TeredoTunnel::new(Config::new(Mode::Client, 7, secret(0)), now);
    if up {
        t.set_state(Some(OwnAddress {
            addr: own(),
            server: SERVER,
            mtu: 1280,
        }));
    }
    t
}

fn own() -> Ipv6Addr {
    teredo_of("198.51.100.10:40000".parse().expect("ep"))
}

/// (dst, type, code, quoted) of every ICMPv6 error, checking each packet.
fn errors(out: &Outputs) -> Vec<(Ipv6Addr, u8, u8, Vec<u8>)> {
    out.to_vec()
        .as_slice()
        .iter()
        .filter_map(|o| match o {
            Output::Icmpv6Error { dst, packet } => {
                let h = Ipv6Header::parse(packet).expect("error packet");
                assert_eq!(h.dst, *dst);
                assert!(verify_icmpv6_checksum(&h.src, &h.dst, h.payload));
                assert!(packet.len() <= 1280);
                Some((*dst, h.payload[0], h.payload[1], h.payload[8..].to_vec()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn not_qualified_gives_unreachable_code_3() {
    let now = Instant::now();
    let mut t = client(now, false);
    let pkt = ipv6_packet(v6("2001:db8::5"), v6("2001:db8::9"), 10, 0);
    let mut out = Outputs::new();
    t.handle_tun_packet(now, UNIX0, &pkt, &mut out);
    assert_eq!(errors(&out), vec![(v6("2001:db8::5"), 1, 3, pkt)]);
    assert_eq!(t.stats().dropped_not_qualified, 1);
    // Incoming datagrams are dropped while down.
    out = Outputs::new();
    let from = "203.0.113.1:1".parse().expect("ep");
    t.handle_udp_packet(now, UNIX0, from, &ipv6_packet(own(), own(), 0, 0), &mut out);
    assert!(out.is_empty());
    assert_eq!(t.stats().dropped_not_qualified, 2);
}

#[test]
fn non_teredo_source_to_native_is_prohibited() {
    let now = Instant::now();
    let mut t = client(now, true);
    let pkt = ipv6_packet(v6("2001:db8::5"), v6("2001:db8::9"), 10, 0);
    let mut out = Outputs::new();
    t.handle_tun_packet(now, UNIX0, &pkt, &mut out);
    assert_eq!(errors(&out), vec![(v6("2001:db8::5"), 1, 1, pkt)]);
    assert_eq!(t.stats().dropped_no_route, 1);
}

#[test]
fn silent_drops() {
    let now = Instant::now();
    let mut t = client(now, true);
    let mut out = Outputs::new();
    // Multicast destination.
    t.handle_tun_packet(
        now,
        UNIX0,
        &ipv6_packet(own(), v6("ff02::1"), 0, 0),
        &mut out,
    );
    // Short or non-IPv6 reads.
    t.handle_tun_packet(now, UNIX0, &[0x60; 39], &mut out);
    t.handle_tun_packet(now, UNIX0, &[0x45; 60], &mut out);
    assert!(out.is_empty());
    assert_eq!(t.stats().dropped_multicast, 1);
    assert_eq!(t.stats().dropped_malformed, 2);
    // No error about an ICMPv6 error, nor to a multicast or unspecified source.
    let down = &mut client(now, false);
    let err =
        teredo::wire::icmpv6_error(1, 3, 0, own(), &ipv6_packet(own(), v6("2001:db8::1"), 0, 0))
            .expect("error");
    down.handle_tun_packet(now, UNIX0, &err, &mut out);
    down.handle_tun_packet(
        now,
        UNIX0,
        &ipv6_packet(Ipv6Addr::UNSPECIFIED, own(), 0, 0),
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(down.stats().dropped_not_qualified, 2);
}

#[test]
fn rate_limit_ten_per_second() {
    let t0 = Instant::now();
    let mut t = client(t0, false);
    let pkt = ipv6_packet(v6("2001:db8::5"), v6("2001:db8::9"), 10, 0);
    let mut out = Outputs::new();
    for _ in 0..25 {
        t.handle_tun_packet(t0, UNIX0, &pkt, &mut out);
    }
    assert_eq!(errors(&out).len(), 10);
    assert_eq!(t.stats().icmp_errors, 10);
    assert_eq!(t.stats().icmp_rate_limited, 15);
    assert_eq!(t.stats().dropped_not_qualified, 25);
    out = Outputs::new();
    for _ in 0..25 {
        t.handle_tun_packet(t0 + secs(1), UNIX0 + 1, &pkt, &mut out);
    }
    assert_eq!(errors(&out).len(), 10);
}

#[test]
fn long_packets_are_quoted_truncated() {
    let now = Instant::now();
    let mut t = client(now, false);
    let pkt = ipv6_packet(v6("2001:db8::5"), v6("2001:db8::9"), 3000, 1);
    let mut out = Outputs::new();
    t.handle_tun_packet(now, UNIX0, &pkt, &mut out);
    let e = errors(&out);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].3, pkt[..1232]);
}

#[test]
fn relay_errors_get_a_routable_source_from_the_driver() {
    // A relay's error goes to a remote native host: the core cannot know a
    // routable source, so the driver gives it the one the kernel would use
    // (teredo::wire::set_source); the checksum must follow.
    let now = Instant::now();
    let mode = Mode::Relay {
        cone: false,
        prefix: teredo::addr::DEFAULT_PREFIX,
    };
    let mut t = TeredoTunnel::new(Config::new(mode, 7, secret(1)), now);
    let native = v6("2001:db8:6::10");
    let pkt = ipv6_packet(native, v6("2001:db8:ffff::1"), 10, 0);
    let mut out = Outputs::new();
    t.handle_tun_packet(now, UNIX0, &pkt, &mut out);
    assert_eq!(errors(&out), vec![(native, 1, 3, pkt.clone())]);
    let Some(Output::Icmpv6Error { packet, .. }) = out.drain_owned().into_iter().next() else {
        panic!("no error");
    };
    let mut packet = packet;
    let before = Ipv6Header::parse(&packet).expect("error").src;
    assert!(
        before.segments()[0] & 0xffc0 == 0xfe80,
        "placeholder {before}"
    );
    let routable = v6("2001:db8:5::1");
    assert!(teredo::wire::set_source(&mut packet, routable));
    let h = Ipv6Header::parse(&packet).expect("error");
    assert_eq!((h.src, h.dst), (routable, native));
    assert!(verify_icmpv6_checksum(&h.src, &h.dst, h.payload));
    assert_eq!(&h.payload[8..], &pkt[..]);
    // Anything but an ICMPv6 packet is left alone.
    let mut other = pkt.clone();
    assert!(!teredo::wire::set_source(&mut other, routable));
    assert_eq!(other, pkt);
    assert!(!teredo::wire::set_source(&mut [0x60; 20], routable));
}
