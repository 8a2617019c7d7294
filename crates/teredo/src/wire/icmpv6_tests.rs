use super::*;

fn addrs() -> (Ipv6Addr, Ipv6Addr) {
    (
        "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
    )
}

#[test]
fn echo_round_trip() {
    let (a, b) = addrs();
    let data = [7u8; 18];
    let echo = EchoRepr {
        kind: EchoKind::Request,
        ident: 0x1234,
        seq: 0x5678,
        data: &data,
    };
    let pkt = echo.emit_ipv6(a, b, 128);
    // 40 + 8 + 18: the ping test is a 66-byte UDP payload.
    assert_eq!(pkt.len(), 66);
    assert_eq!(pkt[7], 128);
    let (h, parsed) = EchoRepr::parse_ipv6(&pkt).unwrap();
    assert_eq!(parsed, echo);
    assert_eq!((h.src, h.dst), (a, b));
    assert!(verify_icmpv6_checksum(&a, &b, h.payload));
    assert_eq!(
        icmpv6_checksum(&a, &b, h.payload),
        u16::from_be_bytes([h.payload[2], h.payload[3]])
    );
    // Wrong pseudo-header: checksum fails.
    let other: Ipv6Addr = "2001:db8::2".parse().unwrap();
    assert!(!verify_icmpv6_checksum(&a, &other, h.payload));
    for n in 0..pkt.len() {
        assert!(EchoRepr::parse_ipv6(&pkt[..n]).is_err(), "len {n}");
    }
    let mut bad = pkt.clone();
    bad[60] ^= 0x40;
    assert_eq!(EchoRepr::parse_ipv6(&bad), Err(WireError::BadChecksum));
    let mut reply = pkt.clone();
    reply[40] = TYPE_ECHO_REPLY;
    assert_eq!(EchoRepr::parse(&reply[40..]).unwrap().kind, EchoKind::Reply);
    reply[40] = 1;
    assert_eq!(
        EchoRepr::parse(&reply[40..]),
        Err(WireError::UnexpectedType(1))
    );
    reply[40] = TYPE_ECHO_REPLY;
    reply[41] = 9;
    assert_eq!(
        EchoRepr::parse(&reply[40..]),
        Err(WireError::UnexpectedCode(9))
    );
}

#[test]
fn odd_length_checksum() {
    let (a, b) = addrs();
    let echo = EchoRepr {
        kind: EchoKind::Reply,
        ident: 1,
        seq: 2,
        data: b"abc",
    };
    let mut msg = Vec::new();
    echo.emit(&a, &b, &mut msg);
    assert_eq!(msg.len(), 11);
    assert!(verify_icmpv6_checksum(&a, &b, &msg));
}

fn offending(src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> Vec<u8> {
    let payload = vec![0x5a; len];
    Ipv6Header::new(src, dst, 17, 64, &payload).to_vec()
}

#[test]
fn error_quotes_and_truncates() {
    let (a, b) = addrs();
    let me: Ipv6Addr = "fe80::ffff:ffff:ffff".parse().unwrap();
    let small = offending(b, a, 20);
    let err = icmpv6_error(TYPE_DST_UNREACH, UNREACH_ADDR, 0, me, &small).unwrap();
    assert_eq!(err.len(), 40 + 8 + 60);
    let h = Ipv6Header::parse(&err).unwrap();
    assert_eq!((h.src, h.dst), (me, b));
    assert_eq!(h.next_header, NEXT_HEADER_ICMPV6);
    assert!(verify_icmpv6_checksum(&h.src, &h.dst, h.payload));
    let e = ErrorRepr::parse(h.payload).unwrap();
    assert_eq!((e.msg_type, e.code, e.param), (1, 3, 0));
    assert_eq!(e.quoted, &small[..]);

    let big = offending(b, a, 3000);
    let err = icmpv6_error(TYPE_PACKET_TOO_BIG, 0, 1280, me, &big).unwrap();
    assert_eq!(err.len(), 1280);
    let h = Ipv6Header::parse(&err).unwrap();
    let e = ErrorRepr::parse(h.payload).unwrap();
    assert_eq!(e.param, 1280);
    assert_eq!(e.quoted, &big[..1232]);
    assert!(verify_icmpv6_checksum(&h.src, &h.dst, h.payload));
}

#[test]
fn no_error_about() {
    let (a, b) = addrs();
    let me = a;
    let ok = offending(b, a, 8);
    // Shorter than 40 bytes.
    for n in 0..40 {
        assert!(icmpv6_error(1, 0, 0, me, &ok[..n]).is_none());
    }
    // Not IPv6.
    let mut v4 = ok.clone();
    v4[0] = 0x45;
    assert!(icmpv6_error(1, 0, 0, me, &v4).is_none());
    // Multicast destination, multicast or unspecified source.
    let mc: Ipv6Addr = "ff02::1".parse().unwrap();
    assert!(icmpv6_error(1, 0, 0, me, &offending(b, mc, 8)).is_none());
    assert!(icmpv6_error(1, 0, 0, me, &offending(mc, a, 8)).is_none());
    assert!(icmpv6_error(1, 0, 0, me, &offending(Ipv6Addr::UNSPECIFIED, a, 8)).is_none());
    // An ICMPv6 error is never answered; an informational message is.
    let mut icmp_err = ok.clone();
    icmp_err[6] = NEXT_HEADER_ICMPV6;
    icmp_err[40] = TYPE_TIME_EXCEEDED;
    assert!(icmpv6_error(1, 0, 0, me, &icmp_err).is_none());
    icmp_err[40] = TYPE_ECHO_REQUEST;
    assert!(icmpv6_error(1, 0, 0, me, &icmp_err).is_some());
    assert!(icmpv6_error(1, 0, 0, me, &ok).is_some());
}

#[test]
fn error_parse_rejects() {
    assert_eq!(ErrorRepr::parse(&[1, 0, 0]), Err(WireError::Truncated));
    assert_eq!(
        ErrorRepr::parse(&[128, 0, 0, 0, 0, 0, 0, 0]),
        Err(WireError::UnexpectedType(128))
    );
}
