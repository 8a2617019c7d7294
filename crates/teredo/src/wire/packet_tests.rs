use super::*;
use crate::wire::icmpv6::{EchoKind, EchoRepr};
use crate::wire::ndisc::{emit_ra_payload, emit_rs, RouterAdvertisement, RouterSolicitation};
use proptest::prelude::*;
use std::net::Ipv4Addr;

fn teredo_peer() -> Ipv6Addr {
    "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap()
}

fn native() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}

fn origin() -> SocketAddrV4 {
    "192.0.2.10:58730".parse().unwrap()
}

#[test]
fn bare_ipv6() {
    let pkt = Ipv6Header::new(native(), teredo_peer(), 17, 64, b"payload").to_vec();
    let p = TeredoPacket::parse(&pkt).unwrap();
    assert_eq!(p.auth, None);
    assert_eq!(p.origin, None);
    assert_eq!(p.ipv6, &pkt[..]);
    assert_eq!(p.ipv6_header().unwrap().payload, b"payload");
    assert!(!p.is_bubble());
    assert_eq!(p.to_vec(), pkt);
    assert_eq!(p.buffer_len(), pkt.len());
}

#[test]
fn trailing_bytes_trimmed() {
    let mut pkt = Ipv6Header::new(native(), teredo_peer(), 17, 64, b"payload").to_vec();
    let len = pkt.len();
    pkt.extend_from_slice(&[0; 5]);
    let p = TeredoPacket::parse(&pkt).unwrap();
    assert_eq!(p.ipv6.len(), len);
}

#[test]
fn bubble_layout() {
    let b = emit_bubble(native(), teredo_peer());
    assert_eq!(b[..8], [0x60, 0, 0, 0, 0, 0, 59, 0]);
    assert_eq!(b[8..24], native().octets());
    assert_eq!(b[24..], teredo_peer().octets());
    assert!(crate::wire::is_bubble(&b));
    let p = TeredoPacket::parse(&b).unwrap();
    assert!(p.is_bubble());
}

#[test]
fn origin_and_bubble() {
    let b = emit_bubble(native(), teredo_peer());
    let with = emit_with_origin(origin(), &b);
    assert_eq!(with.len(), 48);
    assert_eq!(with[..8], [0, 0, 0x1a, 0x95, 0x3f, 0xff, 0xfd, 0xf5]);
    let p = TeredoPacket::parse(&with).unwrap();
    assert_eq!(p.origin, Some(origin()));
    assert_eq!(p.auth, None);
    assert_eq!(p.ipv6, &b[..]);
    assert!(p.is_bubble());
    assert_eq!(p.to_vec(), with);
    for n in 0..with.len() {
        assert!(TeredoPacket::parse(&with[..n]).is_err(), "len {n}");
    }
}

#[test]
fn rejections() {
    assert_eq!(TeredoPacket::parse(&[]), Err(WireError::Truncated));
    assert_eq!(TeredoPacket::parse(&[0x60]), Err(WireError::Truncated));
    assert_eq!(TeredoPacket::parse(&[0x60, 0]), Err(WireError::Truncated));
    // Not IPv6.
    let mut v4 = vec![0x45u8; 60];
    assert_eq!(TeredoPacket::parse(&v4), Err(WireError::NotIpv6(4)));
    v4[0] = 0x00;
    v4[1] = 0x02;
    assert_eq!(TeredoPacket::parse(&v4), Err(WireError::NotIpv6(0)));
    // Payload length beyond the datagram.
    let mut pkt = Ipv6Header::new(native(), teredo_peer(), 17, 64, b"payload").to_vec();
    pkt[5] += 1;
    assert_eq!(TeredoPacket::parse(&pkt), Err(WireError::BadPayloadLength));
    // Authentication after origin.
    let rs = emit_rs([1; 8]);
    let mut swapped = Vec::new();
    crate::wire::emit_origin(origin(), &mut swapped);
    swapped.extend_from_slice(&rs);
    assert_eq!(
        TeredoPacket::parse(&swapped),
        Err(WireError::AuthAfterOrigin)
    );
    // Auth header whose lengths run past the end.
    let mut long_auth = rs.clone();
    long_auth[2] = 200;
    assert!(TeredoPacket::parse(&long_auth).is_err());
    // Auth header followed by nothing.
    assert_eq!(TeredoPacket::parse(&rs[..13]), Err(WireError::Truncated));
}

#[test]
fn auth_with_id_and_value() {
    let auth = AuthRepr {
        client_id: b"client",
        auth_value: b"secret-value",
        nonce: [3; 8],
        confirmation: 1,
    };
    let ipv6 = emit_bubble(native(), teredo_peer());
    let repr = TeredoPacketRepr {
        auth: Some(auth),
        origin: Some(origin()),
        ipv6: &ipv6,
    };
    let bytes = repr.to_vec();
    assert_eq!(bytes.len(), repr.buffer_len());
    assert_eq!(bytes.len(), 13 + 6 + 12 + 8 + 40);
    assert_eq!(TeredoPacket::parse(&bytes).unwrap(), repr);
    for n in 0..bytes.len() {
        assert!(TeredoPacket::parse(&bytes[..n]).is_err(), "len {n}");
    }
}

#[test]
fn rs_and_ra_truncations() {
    for bytes in [
        emit_rs([9; 8]),
        emit_ra_payload(
            [9; 8],
            origin(),
            crate::addr::CLIENT_LINK_LOCAL,
            Ipv4Addr::new(192, 0, 2, 1),
            crate::addr::DEFAULT_PREFIX,
            1400,
        ),
    ] {
        assert!(TeredoPacket::parse(&bytes).is_ok());
        for n in 0..bytes.len() {
            assert!(TeredoPacket::parse(&bytes[..n]).is_err(), "len {n}");
        }
    }
}

/// Runs every parser of the crate on `data`, as the fuzz target does.
fn parse_everything(data: &[u8]) {
    if let Ok(p) = TeredoPacket::parse(data) {
        assert!(p.ipv6.len() >= 40);
        let h = p.ipv6_header().unwrap();
        assert_eq!(h.packet_len(), p.ipv6.len());
        let _ = RouterAdvertisement::parse(p.ipv6);
        let _ = RouterSolicitation::parse(p.ipv6);
        let _ = EchoRepr::parse_ipv6(p.ipv6);
        let _ = EchoRepr::parse(h.payload);
        let _ = crate::wire::icmpv6::ErrorRepr::parse(h.payload);
        let _ = crate::wire::icmpv6_error(1, 3, 0, native(), p.ipv6);
        assert_eq!(TeredoPacket::parse(&p.to_vec()), Ok(p));
    }
    let _ = RouterAdvertisement::parse(data);
    let _ = RouterSolicitation::parse(data);
    let _ = EchoRepr::parse(data);
    let _ = crate::wire::icmpv6_error(1, 3, 0, native(), data);
    let _ = crate::wire::is_bubble(data);
    let h = crate::wire::AuthHeader::new_unchecked(data);
    let _ = (h.client_id(), h.auth_value(), h.nonce(), h.confirmation());
}

proptest! {
    #[test]
    fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        parse_everything(&data);
    }

    /// Random bytes behind valid-looking prefixes reach the deeper parsers.
    #[test]
    fn structured_never_panics(
        with_auth in any::<bool>(),
        with_origin in any::<bool>(),
        next_header in prop_oneof![Just(58u8), Just(59u8), any::<u8>()],
        icmp_type in prop_oneof![Just(128u8), Just(129), Just(133), Just(134), any::<u8>()],
        mut body in proptest::collection::vec(any::<u8>(), 0..200),
        len_delta in -4i32..4,
    ) {
        let mut out = Vec::new();
        if with_auth {
            AuthRepr::with_nonce([1; 8]).emit(&mut out);
        }
        if with_origin {
            crate::wire::emit_origin(origin(), &mut out);
        }
        if let Some(b) = body.first_mut() {
            *b = icmp_type;
        }
        let mut h = Ipv6Header::new(native(), teredo_peer(), next_header, 255, &body);
        h.payload_len = (i32::from(h.payload_len) + len_delta).clamp(0, 65535) as u16;
        out.extend_from_slice(&h.header_bytes());
        out.extend_from_slice(&body);
        parse_everything(&out);
    }

    #[test]
    fn ra_structured_never_panics(opts in proptest::collection::vec(any::<u8>(), 0..120)) {
        let mut msg = vec![134u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&opts);
        let pkt = Ipv6Header::new(native(), teredo_peer(), 58, 255, &msg).to_vec();
        let _ = RouterAdvertisement::parse(&pkt);
    }
}

#[test]
fn echo_inside_teredo() {
    let data = [0u8; 18];
    let echo = EchoRepr {
        kind: EchoKind::Reply,
        ident: 7,
        seq: 8,
        data: &data,
    };
    let pkt = echo.emit_ipv6(native(), teredo_peer(), 64);
    let p = TeredoPacket::parse(&pkt).unwrap();
    assert_eq!(EchoRepr::parse_ipv6(p.ipv6).unwrap().1, echo);
}
