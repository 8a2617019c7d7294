use super::*;
use crate::addr::DEFAULT_PREFIX;
use crate::wire::packet::TeredoPacket;

const NONCE: [u8; 8] = [0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67];

#[rustfmt::skip]
const RS_BYTES: [u8; RS_PAYLOAD_LEN] = [
    // Authentication header: indicator, ID-len 0, AU-len 0, nonce, confirmation.
    0x00, 0x01, 0x00, 0x00,
    0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67,
    0x00,
    // IPv6: version 6, payload length 8, next header 58, hop limit 255.
    0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x3a, 0xff,
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    // ICMPv6 RS, checksum 0x7d37.
    0x85, 0x00, 0x7d, 0x37, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn rs_is_byte_exact() {
    let rs = emit_rs(NONCE);
    assert_eq!(rs.len(), RS_PAYLOAD_LEN);
    assert_eq!(rs[..], RS_BYTES[..]);
    // The checksum does not depend on the nonce.
    assert_eq!(emit_rs([0; 8])[55..57], [0x7d, 0x37]);
}

#[test]
fn rs_parses_back() {
    let p = TeredoPacket::parse(&RS_BYTES).unwrap();
    let auth = p.auth.unwrap();
    assert_eq!(auth.nonce, NONCE);
    assert_eq!(auth.confirmation, 0);
    assert_eq!(p.origin, None);
    let rs = RouterSolicitation::parse(p.ipv6).unwrap();
    assert_eq!(rs, RouterSolicitation::TEREDO_CLIENT);
    assert!(crate::wire::verify_icmpv6_checksum(
        &rs.source,
        &rs.destination,
        &p.ipv6[40..]
    ));
    for n in 0..p.ipv6.len() {
        assert!(RouterSolicitation::parse(&p.ipv6[..n]).is_err(), "len {n}");
    }
    assert!(matches!(
        RouterAdvertisement::parse(p.ipv6),
        Err(WireError::UnexpectedType(133))
    ));
}

fn server() -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 1)
}

fn origin() -> SocketAddrV4 {
    "192.0.2.10:58730".parse().unwrap()
}

fn ra_payload() -> Vec<u8> {
    emit_ra_payload(
        NONCE,
        origin(),
        CLIENT_LINK_LOCAL,
        server(),
        DEFAULT_PREFIX,
        1280,
    )
}

#[test]
fn ra_layout() {
    let ra = ra_payload();
    assert_eq!(ra.len(), RA_PAYLOAD_LEN);
    assert_eq!(ra[..13], RS_BYTES[..13]);
    assert_eq!(ra[13..21], [0, 0, 0x1a, 0x95, 0x3f, 0xff, 0xfd, 0xf5]);
    #[rustfmt::skip]
    let ipv6_header = [
        0x60, 0, 0, 0, 0, 56, 58, 255,
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0xf2, 0x27, 0x3f, 0xff, 0xfd, 0xfe,
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    assert_eq!(ra[21..61], ipv6_header);
    // RA: type 134, code 0, checksum, hop limit 0, flags 0, lifetime 0,
    // reachable 0, retrans 2000.
    assert_eq!(ra[61..63], [134, 0]);
    assert_eq!(ra[65..77], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07, 0xd0]);
    #[rustfmt::skip]
    let pio = [
        3, 4, 64, 0x40, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
        0x20, 0x01, 0, 0, 0xc0, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(ra[77..109], pio);
    assert_eq!(ra[109..117], [5, 1, 0, 0, 0, 0, 0x05, 0x00]);
    assert!(crate::wire::verify_icmpv6_checksum(
        &server_link_local(server()),
        &CLIENT_LINK_LOCAL,
        &ra[61..]
    ));
}

#[test]
fn ra_round_trip() {
    let bytes = ra_payload();
    let p = TeredoPacket::parse(&bytes).unwrap();
    assert_eq!(p.auth.unwrap().nonce, NONCE);
    assert_eq!(p.origin, Some(origin()));
    let ra = RouterAdvertisement::parse(p.ipv6).unwrap();
    let expected =
        RouterAdvertisement::teredo_server(server(), DEFAULT_PREFIX, CLIENT_LINK_LOCAL, 1280);
    assert_eq!(ra, expected);
    let pio = ra.prefix().unwrap();
    assert_eq!(pio.teredo_prefix(), DEFAULT_PREFIX);
    assert_eq!(pio.server(), server());
    assert_eq!(ra.mtu, Some(1280));
    assert_eq!(ra.retrans_timer, 2000);
    let mut again = Vec::new();
    ra.emit(&mut again);
    assert_eq!(again[..], bytes[21..]);
    assert_eq!(p.to_vec(), bytes);
}

#[test]
fn ra_truncations_rejected() {
    let bytes = ra_payload();
    for n in 0..bytes.len() {
        assert!(TeredoPacket::parse(&bytes[..n]).is_err(), "len {n}");
    }
    let ipv6 = &bytes[21..];
    for n in 0..ipv6.len() {
        assert!(RouterAdvertisement::parse(&ipv6[..n]).is_err(), "len {n}");
    }
}

/// Builds an RA IPv6 packet with the given options (raw bytes).
fn ra_with_options(options: &[u8]) -> Vec<u8> {
    let mut msg = vec![134, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07, 0xd0];
    msg.extend_from_slice(options);
    let src = server_link_local(server());
    crate::wire::icmpv6::emit_icmpv6_packet(src, CLIENT_LINK_LOCAL, 255, msg)
}

fn pio(len: u8) -> Vec<u8> {
    let p = PrefixInfo {
        prefix: teredo_prefix64(DEFAULT_PREFIX, server()),
        prefix_len: len,
        flags: PIO_FLAG_AUTONOMOUS,
        valid_lifetime: u32::MAX,
        preferred_lifetime: u32::MAX,
    };
    let mut v = Vec::new();
    p.emit(&mut v);
    v
}

fn mtu_opt(mtu: u32) -> Vec<u8> {
    let mut v = vec![5, 1, 0, 0];
    v.extend_from_slice(&mtu.to_be_bytes());
    v
}

#[test]
fn ra_validity_checks() {
    let ok = RouterAdvertisement::parse(&ra_with_options(&pio(64))).unwrap();
    assert_eq!(ok.mtu, None);
    assert_eq!(ok.prefixes.len(), 1);

    // Unknown options are skipped; MTU limits are inclusive.
    let mut opts = vec![1, 1, 0, 0, 0, 0, 0, 0];
    opts.extend(pio(64));
    opts.extend(mtu_opt(65535));
    assert_eq!(
        RouterAdvertisement::parse(&ra_with_options(&opts))
            .unwrap()
            .mtu,
        Some(65535)
    );

    let cases: Vec<(Vec<u8>, WireError)> = vec![
        (vec![], WireError::OptionsTooShort),
        (mtu_opt(1280), WireError::OptionsTooShort),
        (
            [mtu_opt(1280), mtu_opt(1280), mtu_opt(1280), mtu_opt(1280)].concat(),
            WireError::NoPrefix,
        ),
        ([pio(64), pio(64)].concat(), WireError::MultiplePrefixes),
        (pio(48), WireError::BadPrefixLength(48)),
        ([pio(64), mtu_opt(1279)].concat(), WireError::BadMtu(1279)),
        ([pio(64), mtu_opt(65536)].concat(), WireError::BadMtu(65536)),
        (
            [pio(64), vec![1, 0, 0, 0, 0, 0, 0, 0]].concat(),
            WireError::BadOption,
        ),
        (
            [pio(64), vec![1, 2, 0, 0, 0, 0, 0, 0]].concat(),
            WireError::BadOption,
        ),
        ([pio(64), vec![9]].concat(), WireError::BadOption),
        ([vec![3, 3], vec![0; 30]].concat(), WireError::BadOption),
        (
            [pio(64), vec![5, 0, 0, 0, 0, 0, 0, 0]].concat(),
            WireError::BadOption,
        ),
    ];
    for (opts, err) in cases {
        assert_eq!(
            RouterAdvertisement::parse(&ra_with_options(&opts)),
            Err(err),
            "{opts:?}"
        );
    }

    // Wrong code, wrong next header, bad checksum (accepted: not verified).
    let mut pkt = ra_with_options(&pio(64));
    pkt[41] = 1;
    assert_eq!(
        RouterAdvertisement::parse(&pkt),
        Err(WireError::UnexpectedCode(1))
    );
    pkt[41] = 0;
    pkt[42] ^= 0xff;
    assert!(RouterAdvertisement::parse(&pkt).is_ok());
    pkt[6] = 17;
    assert_eq!(
        RouterAdvertisement::parse(&pkt),
        Err(WireError::NotIcmpv6(17))
    );
}
