use super::*;
use crate::addr::{CLIENT_LINK_LOCAL, CONE_LINK_LOCAL, DEFAULT_PREFIX};
use crate::wire::{emit_bubble, emit_rs, EchoKind, EchoRepr, RouterSolicitation};

const NONCE: [u8; 8] = [0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67];
const PRIMARY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SECONDARY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// The RA miredo-server 1.2.6 sends to the RS of a client whose NAT maps it
/// to 192.0.2.10:58730 (117 bytes, docs/protocol-notes.md#server).
#[rustfmt::skip]
const RA_BYTES: [u8; 117] = [
    // Authentication header echoing the nonce, confirmation 0.
    0x00, 0x01, 0x00, 0x00,
    0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67,
    0x00,
    // Origin indication: ~58730, ~192.0.2.10.
    0x00, 0x00, 0x1a, 0x95, 0x3f, 0xff, 0xfd, 0xf5,
    // IPv6: payload 56, ICMPv6, hop limit 255,
    // fe80::8000:f227:3fff:fdfe -> fe80::ffff:ffff:ffff.
    0x60, 0x00, 0x00, 0x00, 0x00, 0x38, 0x3a, 0xff,
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0xf2, 0x27, 0x3f, 0xff, 0xfd, 0xfe,
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    // RA: type 134, code 0, checksum, hop limit 0, flags 0, lifetime 0,
    // reachable time 0, retrans timer 2000.
    0x86, 0x00, 0x95, 0x4c, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0xd0,
    // PIO: /64, A flag, infinite lifetimes, 2001:0:c000:201::.
    0x03, 0x04, 0x40, 0x40, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
    0x20, 0x01, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    // MTU 1280.
    0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00,
];

fn server() -> Server {
    let mut c = ServerConfig::new(PRIMARY);
    c.secondary = SECONDARY;
    Server::new(c)
}

fn ep(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

/// A Teredo address of a client of `server` mapped at `mapping`.
fn teredo(server: Ipv4Addr, mapping: SocketAddrV4) -> Ipv6Addr {
    TeredoAddr {
        prefix: DEFAULT_PREFIX,
        server,
        flags: 0x18af,
        mapped_port: mapping.port(),
        mapped_ip: *mapping.ip(),
    }
    .to_ipv6()
}

fn client_a() -> SocketAddrV4 {
    ep("203.0.113.5:40000")
}

fn client_b() -> SocketAddrV4 {
    ep("203.0.113.6:50000")
}

fn rs_from(src: Ipv6Addr, dst: Ipv6Addr, auth: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if auth {
        AuthRepr::with_nonce(NONCE).emit(&mut out);
    }
    out.extend(
        RouterSolicitation {
            source: src,
            destination: dst,
            hop_limit: 255,
        }
        .emit(),
    );
    out
}

fn echo(src: Ipv6Addr, dst: Ipv6Addr, data_len: usize) -> Vec<u8> {
    let data = vec![0x5a; data_len];
    EchoRepr {
        kind: EchoKind::Request,
        ident: 7,
        seq: 1,
        data: &data,
    }
    .emit_ipv6(src, dst, 128)
}

fn drop_of(s: &mut Server, local: Local, src: SocketAddrV4, d: &[u8]) -> DropReason {
    match s.handle(local, src, d) {
        Err(r) => r,
        Ok(a) => panic!("expected a drop, got {a:?}"),
    }
}

#[test]
fn ra_is_byte_exact() {
    let mut s = server();
    let a = s
        .handle(Local::Primary, ep("192.0.2.10:58730"), &emit_rs(NONCE))
        .unwrap();
    assert_eq!(
        a,
        Action::Advertise {
            from: Local::Primary,
            to: ep("192.0.2.10:58730"),
            payload: RA_BYTES.to_vec(),
        }
    );
    assert_eq!(s.counters().rs_answered, 1);
    assert_eq!(s.counters().total(), 1);
}

#[test]
fn ra_parses_as_the_client_expects() {
    let mut s = server();
    let a = s
        .handle(Local::Secondary, client_a(), &emit_rs(NONCE))
        .unwrap();
    let (from, to, payload) = a.udp().unwrap();
    assert_eq!((from, to), (Local::Secondary, client_a()));
    let p = TeredoPacket::parse(payload).unwrap();
    assert_eq!(p.auth.unwrap().nonce, NONCE);
    assert_eq!(p.origin, Some(client_a()));
    let ra = RouterAdvertisement::parse(p.ipv6).unwrap();
    assert_eq!(ra.source, s.link_local());
    assert_eq!(ra.destination, CLIENT_LINK_LOCAL);
    // The prefix carries the primary address even when sent from the secondary.
    assert_eq!(ra.prefix().unwrap().server(), PRIMARY);
    assert_eq!(ra.mtu, Some(1280));
}

#[test]
fn cone_solicitation_answered_from_the_other_address() {
    let mut s = server();
    for (arrived, left) in [
        (Local::Primary, Local::Secondary),
        (Local::Secondary, Local::Primary),
    ] {
        let rs = rs_from(CONE_LINK_LOCAL, ALL_ROUTERS, true);
        let (from, _, _) = s.handle(arrived, client_a(), &rs).unwrap().udp().unwrap();
        assert_eq!(from, left);
        let rs = rs_from(CLIENT_LINK_LOCAL, ALL_ROUTERS, true);
        let (from, _, _) = s.handle(arrived, client_a(), &rs).unwrap().udp().unwrap();
        assert_eq!(from, arrived);
    }
}

#[test]
fn solicitation_without_authentication_gets_no_authentication() {
    let mut s = server();
    let a = s
        .handle(
            Local::Primary,
            ep("192.0.2.10:58730"),
            &rs_from(CLIENT_LINK_LOCAL, ALL_ROUTERS, false),
        )
        .unwrap();
    let (_, _, payload) = a.udp().unwrap();
    assert_eq!(payload, &RA_BYTES[13..]);
}

#[test]
fn teredo_sourced_solicitation_to_the_link_local_is_answered() {
    let mut s = server();
    let src = teredo(PRIMARY, client_a());
    let ll = s.link_local();
    let (_, to, payload) = s
        .handle(Local::Primary, client_a(), &rs_from(src, ll, true))
        .unwrap()
        .udp()
        .map(|(f, t, p)| (f, t, p.to_vec()))
        .unwrap();
    assert_eq!(to, client_a());
    let p = TeredoPacket::parse(&payload).unwrap();
    assert_eq!(RouterAdvertisement::parse(p.ipv6).unwrap().destination, src);
    // A link-local source may solicit only to all-routers (rule 4).
    assert_eq!(
        drop_of(
            &mut s,
            Local::Primary,
            client_a(),
            &rs_from(CLIENT_LINK_LOCAL, ll, true)
        ),
        DropReason::NotForThisServer
    );
}

#[test]
fn indirect_bubble_between_our_clients_carries_the_origin() {
    let mut s = server();
    let bubble = emit_bubble(teredo(PRIMARY, client_a()), teredo(PRIMARY, client_b()));
    for local in [Local::Primary, Local::Secondary] {
        let a = s.handle(local, client_a(), &bubble).unwrap();
        assert_eq!(
            a,
            Action::Forward {
                to: client_b(),
                payload: emit_with_origin(client_a(), &bubble),
            }
        );
        assert_eq!(a.udp().unwrap().0, Local::Primary);
    }
    assert_eq!(s.counters().forwarded_teredo, 2);
}

#[test]
fn client_of_another_server_gets_no_origin() {
    let mut s = server();
    let other = Ipv4Addr::new(198, 51, 100, 7);
    let pkt = echo(teredo(PRIMARY, client_a()), teredo(other, client_b()), 18);
    let a = s.handle(Local::Primary, client_a(), &pkt).unwrap();
    assert_eq!(
        a,
        Action::Forward {
            to: client_b(),
            payload: pkt.clone(),
        }
    );
}

#[test]
fn relay_bubble_to_our_client_is_forwarded_with_origin() {
    let mut s = server();
    let relay = ep("198.51.100.1:3545");
    let bubble = emit_bubble("2001:db8::1".parse().unwrap(), teredo(PRIMARY, client_b()));
    let a = s.handle(Local::Primary, relay, &bubble).unwrap();
    assert_eq!(
        a,
        Action::Forward {
            to: client_b(),
            payload: emit_with_origin(relay, &bubble),
        }
    );
}

#[test]
fn ping_test_goes_out_natively_unchanged() {
    let mut s = server();
    let dst: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
    let pkt = echo(teredo(PRIMARY, client_a()), dst, 18);
    // Authentication and origin headers in front are stripped.
    let mut wrapped = Vec::new();
    AuthRepr::with_nonce(NONCE).emit(&mut wrapped);
    wrapped.extend(emit_with_origin(ep("198.51.100.9:1"), &pkt));
    for d in [pkt.clone(), wrapped] {
        let a = s.handle(Local::Primary, client_a(), &d).unwrap();
        assert_eq!(
            a,
            Action::Native {
                dst,
                packet: pkt.clone()
            }
        );
        assert_eq!(a.udp(), None);
    }
    assert_eq!(s.counters().forwarded_native, 2);
}

#[test]
fn payload_limit_is_88_bytes() {
    let mut s = server();
    let dst: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
    let src = teredo(PRIMARY, client_a());
    // 8-byte ICMPv6 header + 80 bytes of data = 88.
    assert!(s
        .handle(Local::Primary, client_a(), &echo(src, dst, 80))
        .is_ok());
    assert_eq!(
        drop_of(&mut s, Local::Primary, client_a(), &echo(src, dst, 81)),
        DropReason::TooLong
    );
    let to_client = teredo(PRIMARY, client_b());
    assert_eq!(
        drop_of(
            &mut s,
            Local::Primary,
            client_a(),
            &echo(src, to_client, 81)
        ),
        DropReason::TooLong
    );
}

#[test]
fn rule_1_malformed() {
    let mut s = server();
    let good = emit_rs(NONCE);
    let mut v4 = good.clone();
    v4[13] = 0x45;
    let mut long_plen = good.clone();
    long_plen[18] = 9;
    for d in [
        vec![],
        vec![0],
        good[..20].to_vec(),
        good[..60].to_vec(),
        v4,
        long_plen,
    ] {
        assert_eq!(
            drop_of(&mut s, Local::Primary, client_a(), &d),
            DropReason::Malformed,
            "{d:?}"
        );
    }
}

#[test]
fn rule_2_only_bubbles_and_icmpv6() {
    let mut s = server();
    let src = teredo(PRIMARY, client_a());
    let dst = teredo(PRIMARY, client_b());
    let udp = Ipv6Header::new(src, dst, 17, 64, &[0; 8]).to_vec();
    let fat_bubble = Ipv6Header::new(src, dst, 59, 0, &[0; 8]).to_vec();
    for d in [udp, fat_bubble] {
        assert_eq!(
            drop_of(&mut s, Local::Primary, client_a(), &d),
            DropReason::NotBubbleOrIcmpv6
        );
    }
}

#[test]
fn rule_3_outer_source_must_be_global() {
    let mut s = server();
    // Private and loopback sources are the inputs under test: they must be dropped.
    for src in ["10.0.0.1:40000", "192.168.1.2:1", "127.0.0.1:3544"] {
        assert_eq!(
            drop_of(&mut s, Local::Primary, ep(src), &emit_rs(NONCE)),
            DropReason::SourceNotGlobal
        );
    }
    // 100.64/10 is global for miredo.
    assert!(s
        .handle(Local::Primary, ep("100.64.0.1:1"), &emit_rs(NONCE))
        .is_ok());
}

#[test]
fn rule_5_mapping_must_match() {
    let mut s = server();
    let dst = teredo(PRIMARY, client_b());
    for claimed in ["203.0.113.5:40001", "203.0.113.9:40000"] {
        let bubble = emit_bubble(teredo(PRIMARY, ep(claimed)), dst);
        assert_eq!(
            drop_of(&mut s, Local::Primary, client_a(), &bubble),
            DropReason::MappingMismatch
        );
    }
}

#[test]
fn rule_6_7_non_teredo_sources_reach_only_our_clients() {
    let mut s = server();
    let native: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let other = Ipv4Addr::new(198, 51, 100, 7);
    for dst in [
        "2001:db8:1::1".parse().unwrap(),
        teredo(other, client_b()),
        // The secondary address is not the one clients embed.
        teredo(SECONDARY, client_b()),
    ] {
        assert_eq!(
            drop_of(&mut s, Local::Primary, client_a(), &echo(native, dst, 8)),
            DropReason::NotForThisServer
        );
    }
    // Non-RS to all-routers from a link-local source.
    let na = echo(CLIENT_LINK_LOCAL, ALL_ROUTERS, 8);
    assert_eq!(
        drop_of(&mut s, Local::Primary, client_a(), &na),
        DropReason::NotForThisServer
    );
}

#[test]
fn loop_protection() {
    let mut s = server();
    for own in ["192.0.2.1:3544", "192.0.2.2:3544"] {
        assert_eq!(
            drop_of(&mut s, Local::Primary, ep(own), &emit_rs(NONCE)),
            DropReason::Loop
        );
    }
    // Another port of our own address is an ordinary peer.
    assert!(s
        .handle(Local::Primary, ep("192.0.2.1:3545"), &emit_rs(NONCE))
        .is_ok());
    // Never forward to our own sockets.
    let to_self = teredo(PRIMARY, ep("192.0.2.2:3544"));
    let bubble = emit_bubble(teredo(PRIMARY, client_a()), to_self);
    assert_eq!(
        drop_of(&mut s, Local::Primary, client_a(), &bubble),
        DropReason::Loop
    );
}

#[test]
fn only_solicitations_to_link_local_destinations() {
    let mut s = server();
    let src = teredo(PRIMARY, client_a());
    let ll = s.link_local();
    for dst in [ALL_ROUTERS, ll] {
        assert_eq!(
            drop_of(&mut s, Local::Primary, client_a(), &echo(src, dst, 8)),
            DropReason::LinkLocalDestination
        );
        assert_eq!(
            drop_of(&mut s, Local::Primary, client_a(), &emit_bubble(src, dst)),
            DropReason::LinkLocalDestination
        );
    }
}

#[test]
fn destination_must_be_global() {
    let mut s = server();
    let src = teredo(PRIMARY, client_a());
    for dst in ["::", "::1", "fe80::1", "febf::1", "ff05::1", "ff02::1"] {
        let dst: Ipv6Addr = dst.parse().unwrap();
        assert_eq!(
            drop_of(&mut s, Local::Primary, client_a(), &emit_bubble(src, dst)),
            DropReason::DestinationNotGlobal,
            "{dst}"
        );
    }
}

#[test]
fn mapped_address_must_be_global() {
    let mut s = server();
    let src = teredo(PRIMARY, client_a());
    for mapped in ["10.1.2.3:4000", "224.0.0.1:4000", "0.0.0.0:0"] {
        let dst = teredo(PRIMARY, ep(mapped));
        assert_eq!(
            drop_of(&mut s, Local::Primary, client_a(), &emit_bubble(src, dst)),
            DropReason::MappedNotGlobal
        );
    }
}

#[test]
fn every_reason_counted_once() {
    let mut s = server();
    let src = teredo(PRIMARY, client_a());
    let cases: Vec<(SocketAddrV4, Vec<u8>)> = vec![
        (client_a(), vec![1]),
        (client_a(), Ipv6Header::new(src, src, 6, 64, &[]).to_vec()),
        (ep("10.0.0.1:1"), emit_rs(NONCE)),
        (
            client_b(),
            emit_bubble(src, teredo(PRIMARY, client_b())).to_vec(),
        ),
        (
            client_a(),
            emit_bubble(
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            )
            .to_vec(),
        ),
        (ep("192.0.2.1:3544"), emit_rs(NONCE)),
        (client_a(), emit_bubble(src, ALL_ROUTERS).to_vec()),
        (
            client_a(),
            emit_bubble(src, "ff0e::1".parse().unwrap()).to_vec(),
        ),
        (client_a(), echo(src, "2001:db8::2".parse().unwrap(), 200)),
        (
            client_a(),
            emit_bubble(src, teredo(PRIMARY, ep("10.0.0.2:1"))).to_vec(),
        ),
    ];
    assert_eq!(cases.len(), DROP_REASONS);
    for (i, (from, d)) in cases.iter().enumerate() {
        assert_eq!(
            drop_of(&mut s, Local::Secondary, *from, d),
            DropReason::ALL[i]
        );
    }
    let c = s.counters();
    assert!(c.dropped.iter().all(|&n| n == 1), "{c:?}");
    assert_eq!(c.dropped(DropReason::TooLong), 1);
    assert_eq!(c.dropped_total(), DROP_REASONS as u64);
    assert_eq!(c.total(), DROP_REASONS as u64);
    let names: std::collections::HashSet<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), DROP_REASONS);
}

#[test]
fn configuration_checks() {
    let c = ServerConfig::new(PRIMARY);
    assert_eq!(c.secondary, SECONDARY);
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(c.address(Local::Secondary), SECONDARY);
    assert_eq!(
        next_address(Ipv4Addr::new(192, 0, 2, 255)),
        Ipv4Addr::new(192, 0, 3, 0)
    );
    let private = ServerConfig::new(Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(
        private.validate(),
        Err(ServerConfigError::NotGlobal(Ipv4Addr::new(10, 0, 0, 1)))
    );
    assert_eq!(
        private.validate().unwrap_err().to_string(),
        "Server IPv4 addresses must be global unicast (10.0.0.1)."
    );
    let mut c2 = c;
    c2.secondary = Ipv4Addr::new(192, 168, 0, 1);
    assert!(matches!(
        c2.validate(),
        Err(ServerConfigError::NotGlobal(_))
    ));
    c2.secondary = PRIMARY;
    assert_eq!(
        c2.validate(),
        Err(ServerConfigError::SameAddresses(PRIMARY))
    );
    let mut c3 = c;
    c3.mtu = 1279;
    assert_eq!(c3.validate(), Err(ServerConfigError::MtuTooSmall(1279)));
    c3.mtu = 1280;
    c3.prefix = 0xff02_0000;
    assert_eq!(
        c3.validate(),
        Err(ServerConfigError::BadPrefix(0xff02_0000))
    );
}

#[test]
fn custom_prefix_and_mtu() {
    let mut c = ServerConfig::new(PRIMARY);
    c.prefix = 0x2001_0db8;
    c.mtu = 1400;
    let mut s = Server::new(c);
    let a = s
        .handle(Local::Primary, client_a(), &emit_rs(NONCE))
        .unwrap();
    let p = TeredoPacket::parse(a.udp().unwrap().2).unwrap();
    let ra = RouterAdvertisement::parse(p.ipv6).unwrap();
    assert_eq!(ra.prefix().unwrap().teredo_prefix(), 0x2001_0db8);
    assert_eq!(ra.mtu, Some(1400));
    // Addresses under the default prefix are not Teredo for this server.
    let bubble = emit_bubble(teredo(PRIMARY, client_a()), teredo(PRIMARY, client_b()));
    assert_eq!(
        drop_of(&mut s, Local::Primary, client_a(), &bubble),
        DropReason::NotForThisServer
    );
}

#[test]
fn global_v6() {
    for a in [
        "2001:db8::1",
        "2001:0:c000:201::1",
        "fc00::1",
        "::ffff:1.2.3.4",
    ] {
        assert!(is_global_unicast_v6(&a.parse().unwrap()), "{a}");
    }
    for a in ["::", "::1", "fe80::", "fe9f::1", "ff00::", "ff02::2"] {
        assert!(!is_global_unicast_v6(&a.parse().unwrap()), "{a}");
    }
}
