use super::*;
use crate::wire::auth::emit_origin;
use crate::wire::ipv6::IPV6_HEADER_LEN;
use crate::wire::{AuthRepr, TeredoPacket};
use proptest::prelude::*;

fn client() -> Ipv6Addr {
    "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap()
}

fn peer() -> Ipv6Addr {
    "2001:0:c000:201:0:f227:3cff:ffef".parse().unwrap()
}

fn addr(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

/// Every field set; its bytes are written out by hand in `exact_bytes`.
fn full() -> Trailers {
    Trailers {
        nonce: Some([0xde, 0xad, 0xbe, 0xef]),
        alternate: vec![addr("192.168.1.20:3544"), addr("10.0.0.7:51000")],
        discovery: Some(DiscoveryType::Advertisement),
        random_port: Some(40000),
    }
}

#[rustfmt::skip]
const FULL_BYTES: [u8; 32] = [
    0x01, 0x04, 0xde, 0xad, 0xbe, 0xef,
    0x03, 0x0e, 0x00, 0x00,
        0xc0, 0xa8, 0x01, 0x14, 0x0d, 0xd8,
        0x0a, 0x00, 0x00, 0x07, 0xc7, 0x38,
    0x04, 0x04, 0x01, 0x00, 0x00, 0x00,
    0x05, 0x02, 0x9c, 0x40,
];

/// Offsets in FULL_BYTES where one trailer ends and the next begins.
const FULL_BOUNDARIES: [usize; 5] = [0, 6, 22, 28, 32];

fn round_trip(t: &Trailers) {
    let bytes = t.to_vec();
    assert_eq!(bytes.len(), t.buffer_len());
    assert_eq!(&Trailers::parse(&bytes).unwrap(), t);
}

#[test]
fn empty_is_nothing() {
    let t = Trailers::parse(&[]).unwrap();
    assert!(t.is_empty());
    assert_eq!(t, Trailers::default());
    assert!(t.to_vec().is_empty());
    assert_eq!(t.buffer_len(), 0);
}

#[test]
fn each_type_alone() {
    let cases = [
        Trailers {
            nonce: Some([1, 2, 3, 4]),
            ..Trailers::default()
        },
        Trailers {
            alternate: vec![addr("192.0.2.1:1")],
            ..Trailers::default()
        },
        Trailers {
            alternate: vec![
                addr("192.0.2.1:1"),
                addr("198.51.100.2:65535"),
                addr("172.16.0.1:3544"),
                addr("169.254.3.4:9"),
            ],
            ..Trailers::default()
        },
        Trailers {
            discovery: Some(DiscoveryType::Solicitation),
            ..Trailers::default()
        },
        Trailers {
            discovery: Some(DiscoveryType::Advertisement),
            ..Trailers::default()
        },
        Trailers {
            random_port: Some(1),
            ..Trailers::default()
        },
    ];
    for t in &cases {
        assert!(!t.is_empty());
        round_trip(t);
    }
    assert_eq!(cases[0].to_vec(), [1, 4, 1, 2, 3, 4]);
    assert_eq!(cases[1].to_vec(), [3, 8, 0, 0, 192, 0, 2, 1, 0, 1]);
    assert_eq!(cases[2].to_vec().len(), 28);
    assert_eq!(cases[3].to_vec(), [4, 4, 0, 0, 0, 0]);
    assert_eq!(cases[5].to_vec(), [5, 2, 0, 1]);
}

#[test]
fn exact_bytes() {
    assert_eq!(full().to_vec(), FULL_BYTES);
    assert_eq!(Trailers::parse(&FULL_BYTES).unwrap(), full());
    round_trip(&full());
}

#[test]
fn combinations_round_trip() {
    let f = full();
    for mask in 0u8..16 {
        let t = Trailers {
            nonce: f.nonce.filter(|_| mask & 1 != 0),
            alternate: if mask & 2 != 0 {
                f.alternate.clone()
            } else {
                Vec::new()
            },
            discovery: f.discovery.filter(|_| mask & 4 != 0),
            random_port: f.random_port.filter(|_| mask & 8 != 0),
        };
        assert_eq!(t.is_empty(), mask == 0);
        round_trip(&t);
    }
}

#[test]
fn any_order_accepted_canonical_order_emitted() {
    let mut shuffled = Vec::new();
    shuffled.extend_from_slice(&FULL_BYTES[28..32]);
    shuffled.extend_from_slice(&FULL_BYTES[6..22]);
    shuffled.extend_from_slice(&FULL_BYTES[22..28]);
    shuffled.extend_from_slice(&FULL_BYTES[0..6]);
    let t = Trailers::parse(&shuffled).unwrap();
    assert_eq!(t, full());
    assert_eq!(t.to_vec(), FULL_BYTES);
}

#[test]
fn every_truncation() {
    for n in 0..=FULL_BYTES.len() {
        let r = Trailers::parse(&FULL_BYTES[..n]);
        if FULL_BOUNDARIES.contains(&n) {
            assert!(r.is_ok(), "len {n}: {r:?}");
        } else {
            assert_eq!(r, Err(WireError::Truncated), "len {n}");
        }
    }
}

#[test]
fn wrong_lengths() {
    let cases: &[(u8, &[usize])] = &[
        (TRAILER_NONCE, &[0, 3, 5, 8]),
        (
            TRAILER_ALTERNATE_ADDRESS,
            &[0, 1, 2, 6, 7, 9, 13, 15, 25, 27, 32, 255],
        ),
        (TRAILER_NEIGHBOR_DISCOVERY, &[0, 1, 3, 5]),
        (TRAILER_RANDOM_PORT, &[0, 1, 3, 4]),
    ];
    for &(kind, lens) in cases {
        for &len in lens {
            // Filler that is valid wherever it lands: a unicast address,
            // a non-zero port, DiscoveryType 1.
            let mut bytes = vec![kind, len as u8];
            bytes.extend(std::iter::repeat_n(1u8, len));
            assert_eq!(
                Trailers::parse(&bytes),
                Err(WireError::BadOption),
                "type {kind} len {len}"
            );
        }
    }
    // The filler itself is fine at the right lengths.
    for (kind, len) in [(1u8, 4usize), (3, 8), (3, 26), (4, 4), (5, 2)] {
        let mut bytes = vec![kind, len as u8];
        bytes.extend(std::iter::repeat_n(1u8, len));
        assert!(Trailers::parse(&bytes).is_ok(), "type {kind} len {len}");
    }
}

#[test]
fn port_zero() {
    assert_eq!(Trailers::parse(&[5, 2, 0, 0]), Err(WireError::BadOption));
    let one_bad = [3, 14, 0, 0, 192, 0, 2, 1, 0, 1, 192, 0, 2, 2, 0, 0];
    assert_eq!(Trailers::parse(&one_bad), Err(WireError::BadOption));
    let t = Trailers {
        random_port: Some(0),
        ..Trailers::default()
    };
    assert_eq!(Trailers::parse(&t.to_vec()), Err(WireError::BadOption));
}

#[test]
fn non_unicast_alternates() {
    for ip in [
        "0.0.0.0",
        "0.1.2.3",
        "127.0.0.1",
        "224.0.0.253",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
    ] {
        let ip: Ipv4Addr = ip.parse().unwrap();
        assert!(!is_alternate_unicast(ip), "{ip}");
        let mut bytes = vec![3, 8, 0, 0];
        bytes.extend_from_slice(&ip.octets());
        bytes.extend_from_slice(&3544u16.to_be_bytes());
        assert_eq!(Trailers::parse(&bytes), Err(WireError::BadOption), "{ip}");
    }
    for ip in [
        "10.1.2.3",
        "192.168.0.1",
        "169.254.1.1",
        "1.1.1.1",
        "223.255.255.254",
    ] {
        assert!(is_alternate_unicast(ip.parse().unwrap()), "{ip}");
    }
}

#[test]
fn reserved_ignored_on_receipt() {
    let alt = [3, 8, 0xff, 0xff, 192, 0, 2, 1, 0x0d, 0xd8];
    let t = Trailers::parse(&alt).unwrap();
    assert_eq!(t.alternate, vec![addr("192.0.2.1:3544")]);
    assert_eq!(t.to_vec(), [3, 8, 0, 0, 192, 0, 2, 1, 0x0d, 0xd8]);

    let nd = [4, 4, 0, 0xaa, 0xbb, 0xcc];
    let t = Trailers::parse(&nd).unwrap();
    assert_eq!(t.discovery, Some(DiscoveryType::Solicitation));
    assert_eq!(t.to_vec(), [4, 4, 0, 0, 0, 0]);
}

#[test]
fn undefined_discovery_type() {
    for code in [2u8, 0x80, 0xff] {
        assert_eq!(DiscoveryType::from_code(code), None);
        assert_eq!(
            Trailers::parse(&[4, 4, code, 0, 0, 0]),
            Err(WireError::BadOption)
        );
    }
    for d in [DiscoveryType::Solicitation, DiscoveryType::Advertisement] {
        assert_eq!(DiscoveryType::from_code(d.code()), Some(d));
    }
}

#[test]
fn unknown_types_skipped() {
    let mut bytes = vec![0x02, 0]; // type 2 is unassigned
    bytes.extend_from_slice(&FULL_BYTES[..6]);
    bytes.extend_from_slice(&[0x00, 3, 9, 9, 9]);
    bytes.extend_from_slice(&[0xff, 255]);
    bytes.extend(std::iter::repeat_n(0x55u8, 255));
    bytes.extend_from_slice(&FULL_BYTES[28..]);
    let t = Trailers::parse(&bytes).unwrap();
    assert_eq!(t.nonce, full().nonce);
    assert_eq!(t.random_port, full().random_port);
    assert!(t.alternate.is_empty());
    assert_eq!(t.discovery, None);
    // Not kept, so not re-emitted.
    assert_eq!(t.to_vec().len(), 10);

    // Only unknown trailers: a valid, empty list.
    assert!(Trailers::parse(&[0x42, 1, 0]).unwrap().is_empty());
    // An unknown trailer must still fit.
    assert_eq!(Trailers::parse(&[0x42, 2, 0]), Err(WireError::Truncated));
    assert_eq!(Trailers::parse(&[0x42]), Err(WireError::Truncated));
}

#[test]
fn repeated_type_rejected() {
    for (start, end) in [(0, 6), (6, 22), (22, 28), (28, 32)] {
        let mut bytes = FULL_BYTES.to_vec();
        bytes.extend_from_slice(&FULL_BYTES[start..end]);
        assert_eq!(
            Trailers::parse(&bytes),
            Err(WireError::BadOption),
            "{start}..{end}"
        );
    }
}

#[test]
fn emit_caps_alternates() {
    let t = Trailers {
        alternate: (1..=6)
            .map(|i| SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, i), 1000))
            .collect(),
        ..Trailers::default()
    };
    let bytes = t.to_vec();
    assert_eq!(bytes.len(), t.buffer_len());
    assert_eq!(bytes[1], 26);
    assert_eq!(
        Trailers::parse(&bytes).unwrap().alternate,
        t.alternate[..MAX_ALTERNATES]
    );
}

#[test]
fn split_bubble_and_trailers() {
    let pkt = emit_bubble_with_trailers(client(), peer(), &full());
    assert_eq!(pkt.len(), IPV6_HEADER_LEN + FULL_BYTES.len());
    assert_eq!(pkt[..IPV6_HEADER_LEN], emit_bubble(client(), peer()));
    assert_eq!(pkt[IPV6_HEADER_LEN..], FULL_BYTES);
    let (ipv6, t) = split_trailers(&pkt).unwrap();
    assert_eq!(ipv6, &pkt[..IPV6_HEADER_LEN]);
    assert_eq!(t, full());

    let bare = emit_bubble_with_trailers(client(), peer(), &Trailers::default());
    assert_eq!(bare, emit_bubble(client(), peer()));
    let (ipv6, t) = split_trailers(&bare).unwrap();
    assert_eq!(ipv6.len(), IPV6_HEADER_LEN);
    assert!(t.is_empty());
}

#[test]
fn split_packet_with_payload() {
    let mut pkt = Ipv6Header::new(client(), peer(), 17, 64, b"payload").to_vec();
    let len = pkt.len();
    full().emit(&mut pkt);
    let (ipv6, t) = split_trailers(&pkt).unwrap();
    assert_eq!(ipv6.len(), len);
    assert_eq!(Ipv6Header::parse(ipv6).unwrap().payload, b"payload");
    assert_eq!(t, full());

    // Bytes after the packet that are not a valid list fail the split.
    let mut bad = pkt[..len].to_vec();
    bad.push(0x01);
    assert_eq!(split_trailers(&bad), Err(WireError::Truncated));
}

#[test]
fn split_rejects_bad_ipv6() {
    let pkt = emit_bubble_with_trailers(client(), peer(), &full());
    assert_eq!(split_trailers(&pkt[..39]), Err(WireError::Truncated));
    let mut v4 = pkt.clone();
    v4[0] = 0x45;
    assert_eq!(split_trailers(&v4), Err(WireError::NotIpv6(4)));
    // A payload length that swallows the trailers and then some.
    let mut long = pkt.clone();
    long[4..6].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(split_trailers(&long), Err(WireError::BadPayloadLength));
}

/// The RFC 4380 parser must not see the trailers: that is what lets us send
/// them to peers that do not implement RFC 6081.
#[test]
fn rfc4380_parser_ignores_trailers() {
    let bubble = emit_bubble_with_trailers(client(), peer(), &full());
    let p = TeredoPacket::parse(&bubble).unwrap();
    assert!(p.is_bubble());
    assert_eq!(p.ipv6, &bubble[..IPV6_HEADER_LEN]);
    assert_eq!(packet_trailers(&bubble, &p).unwrap(), full());

    // Behind an authentication header and an origin indication, as a
    // server relays an indirect bubble.
    let mut dgram = Vec::new();
    AuthRepr::with_nonce([7; 8]).emit(&mut dgram);
    emit_origin(addr("192.0.2.10:58730"), &mut dgram);
    dgram.extend_from_slice(&bubble);
    let p = TeredoPacket::parse(&dgram).unwrap();
    assert!(p.is_bubble());
    assert_eq!(p.origin, Some(addr("192.0.2.10:58730")));
    assert_eq!(p.ipv6.len(), IPV6_HEADER_LEN);
    assert_eq!(packet_trailers(&dgram, &p).unwrap(), full());
    let ipv6_at = dgram.len() - bubble.len();
    assert_eq!(split_trailers(&dgram[ipv6_at..]).unwrap().1, full());
}

fn alternate_entry() -> impl Strategy<Value = SocketAddrV4> {
    (1u8..224, any::<[u8; 3]>(), 1u16..)
        .prop_filter("loopback", |(a, _, _)| *a != 127)
        .prop_map(|(a, [b, c, d], port)| SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port))
}

fn valid_trailers() -> impl Strategy<Value = Trailers> {
    (
        proptest::option::of(any::<[u8; 4]>()),
        proptest::collection::vec(alternate_entry(), 0..=MAX_ALTERNATES),
        proptest::option::of(prop_oneof![
            Just(DiscoveryType::Solicitation),
            Just(DiscoveryType::Advertisement)
        ]),
        proptest::option::of(1u16..),
    )
        .prop_map(|(nonce, alternate, discovery, random_port)| Trailers {
            nonce,
            alternate,
            discovery,
            random_port,
        })
}

proptest! {
    #[test]
    fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(t) = Trailers::parse(&data) {
            prop_assert_eq!(Trailers::parse(&t.to_vec()), Ok(t));
        }
        if let Ok((ipv6, t)) = split_trailers(&data) {
            prop_assert!(Ipv6Header::parse(ipv6).is_ok());
            prop_assert_eq!(Trailers::parse(&t.to_vec()), Ok(t));
        }
    }

    /// Random option soup behind a real bubble reaches the trailer parser.
    #[test]
    fn structured_never_panics(
        kinds in proptest::collection::vec(
            (prop_oneof![1u8..=5, any::<u8>()], 0u8..32, any::<u8>()),
            0..8,
        ),
    ) {
        let mut pkt = emit_bubble(client(), peer()).to_vec();
        for (kind, len, fill) in kinds {
            pkt.extend_from_slice(&[kind, len]);
            pkt.extend(std::iter::repeat_n(fill, usize::from(len)));
        }
        if let Ok((_, t)) = split_trailers(&pkt) {
            prop_assert_eq!(Trailers::parse(&t.to_vec()), Ok(t));
        }
        prop_assert!(TeredoPacket::parse(&pkt).is_ok());
    }

    #[test]
    fn valid_round_trips(t in valid_trailers()) {
        let bytes = t.to_vec();
        prop_assert_eq!(bytes.len(), t.buffer_len());
        prop_assert_eq!(Trailers::parse(&bytes), Ok(t.clone()));
        let pkt = emit_bubble_with_trailers(client(), peer(), &t);
        let (ipv6, back) = split_trailers(&pkt).unwrap();
        prop_assert_eq!(ipv6.len(), IPV6_HEADER_LEN);
        prop_assert_eq!(back, t);
    }
}
