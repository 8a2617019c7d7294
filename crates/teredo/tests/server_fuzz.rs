//! Random input never panics the server, every datagram moves exactly one
//! counter, and nothing larger than the limit ever leaves (never an open
//! relay).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use proptest::prelude::*;
use teredo::addr::{is_global_unicast_v4, TeredoAddr, DEFAULT_PREFIX};
use teredo::server::{Action, Local, Server, ServerConfig, MAX_FORWARD_PAYLOAD};
use teredo::wire::{emit_with_origin, AuthRepr, Ipv6Header, TeredoPacket};

const PRIMARY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn local() -> impl Strategy<Value = Local> {
    prop_oneof![Just(Local::Primary), Just(Local::Secondary)]
}

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        Just(PRIMARY),
        Just(Ipv4Addr::new(192, 0, 2, 2)),
        Just(Ipv4Addr::new(10, 0, 0, 1)),
        any::<u32>().prop_map(Ipv4Addr::from),
    ]
}

fn endpoint() -> impl Strategy<Value = SocketAddrV4> {
    (v4(), prop_oneof![Just(3544u16), any::<u16>()]).prop_map(|(ip, p)| SocketAddrV4::new(ip, p))
}

/// Addresses that hit the interesting branches: Teredo (ours or not),
/// link-local, multicast, native.
fn v6(src: SocketAddrV4) -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        (v4(), endpoint(), any::<u16>()).prop_map(|(server, m, flags)| TeredoAddr {
            prefix: DEFAULT_PREFIX,
            server,
            flags,
            mapped_port: m.port(),
            mapped_ip: *m.ip(),
        }
        .to_ipv6()),
        Just(
            TeredoAddr {
                prefix: DEFAULT_PREFIX,
                server: PRIMARY,
                flags: 0,
                mapped_port: src.port(),
                mapped_ip: *src.ip(),
            }
            .to_ipv6()
        ),
        Just(
            "fe80::ffff:ffff:ffff"
                .parse()
                .unwrap_or(Ipv6Addr::UNSPECIFIED)
        ),
        Just("ff02::2".parse().unwrap_or(Ipv6Addr::UNSPECIFIED)),
        any::<u128>().prop_map(Ipv6Addr::from),
    ]
}

fn structured() -> impl Strategy<Value = (SocketAddrV4, Vec<u8>)> {
    endpoint().prop_flat_map(|src| {
        (
            Just(src),
            v6(src),
            v6(src),
            prop_oneof![Just(58u8), Just(59u8), any::<u8>()],
            proptest::collection::vec(any::<u8>(), 0..140),
            any::<bool>(),
            proptest::option::of(endpoint()),
        )
            .prop_map(|(src, a, b, nh, payload, auth, origin)| {
                let ip = Ipv6Header::new(a, b, nh, 255, &payload).to_vec();
                let mut d = Vec::new();
                if auth {
                    AuthRepr::with_nonce([1; 8]).emit(&mut d);
                }
                match origin {
                    Some(o) => d.extend(emit_with_origin(o, &ip)),
                    None => d.extend(ip),
                }
                (src, d)
            })
    })
}

fn check_action(a: &Action) {
    match a {
        Action::Advertise { payload, .. } => {
            assert!(TeredoPacket::parse(payload).is_ok());
        }
        Action::Forward { to, payload } => {
            assert!(is_global_unicast_v4(*to.ip()));
            let p = TeredoPacket::parse(payload).expect("forwarded payload parses");
            let h = p.ipv6_header().expect("forwarded IPv6 parses");
            assert!(h.is_bubble() || h.payload.len() <= MAX_FORWARD_PAYLOAD);
        }
        Action::Native { packet, .. } => {
            let h = Ipv6Header::parse(packet).expect("native IPv6 parses");
            assert!(h.is_bubble() || h.next_header == 58);
            assert!(h.payload.len() <= MAX_FORWARD_PAYLOAD);
            // Only a sender speaking for its own mapping reaches the native side.
            assert_eq!(teredo::addr::prefix_of(&h.src), DEFAULT_PREFIX);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes(local in local(), src in endpoint(),
                    data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut s = Server::new(ServerConfig::new(PRIMARY));
        if let Ok(a) = s.handle_packet(local, src, &data) {
            check_action(&a);
        }
        prop_assert_eq!(s.counters().total(), 1);
    }

    #[test]
    fn structured_packets(local in local(), cases in proptest::collection::vec(structured(), 1..8)) {
        let mut s = Server::new(ServerConfig::new(PRIMARY));
        for (src, d) in &cases {
            if let Ok(a) = s.handle_packet(local, *src, d) {
                check_action(&a);
            }
        }
        prop_assert_eq!(s.counters().total(), cases.len() as u64);
    }
}
