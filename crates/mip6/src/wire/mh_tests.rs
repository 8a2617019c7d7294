use super::*;
use crate::wire::options::AUTHENTICATOR_LEN;
use proptest::prelude::*;

fn hoa() -> Ipv6Addr {
    "2001:db8:1::100".parse().unwrap()
}
fn ha() -> Ipv6Addr {
    "2001:db8:1::1".parse().unwrap()
}
fn coa() -> Ipv6Addr {
    "2001:db8:2::50".parse().unwrap()
}

/// Home BU as UMIP's MN sends it (docs/protocol-notes.md#home-registration): A|H, Alternate
/// CoA. Layout RFC 6275 §6.1.7 (12 octets), PadN(0) to reach 8n+6 (§6.2.5), the option at 14;
/// 32 octets, Header Len 3. Checksum with HoA → HA (the HAO's address is the pseudo-header
/// source, §6.1.1).
#[rustfmt::skip]
const BU_ALT_COA: [u8; 32] = [
    59, 3, 5, 0, 0x5d, 0xfa,
    0x12, 0x34,             // sequence
    0xc0, 0x00,             // A|H
    0x00, 0x96,             // lifetime 150 × 4 s = 600 s
    1, 0,                   // PadN, 0 data octets
    3, 16,                  // Alternate CoA 2001:db8:2::50
    0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x50,
];

/// NEMO BU (RFC 3963 §4.1, R flag) with Alternate CoA and one Mobile Network
/// Prefix option (§4.3, 8n+4): after the CoA ends at 32, PadN(2) to 36.
#[rustfmt::skip]
const BU_NEMO: [u8; 56] = [
    59, 6, 5, 0, 0x24, 0xc1,
    0x12, 0x35, 0xc4, 0x00, 0x00, 0x96,
    1, 0,
    3, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x50,
    1, 2, 0, 0,             // PadN, 2 data octets
    6, 18, 0, 64,           // MNP, reserved, prefix length 64
    0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// BA status 0 with K and a Binding Refresh Advice (§6.2.4, 2n, right after
/// the 12 fixed octets): HA → HoA (the RH2's address is the destination).
#[rustfmt::skip]
const BA_ACCEPTED: [u8; 16] = [
    59, 1, 6, 0, 0x4c, 0x17,
    0, 0x80, 0x12, 0x34, 0x00, 0x96,
    2, 2, 0x00, 0x8f,       // refresh advice 143 × 4 s
];

fn ba_bytes(status: u8, seq: u16, lifetime: u16, checksum: u16) -> [u8; 16] {
    let s = seq.to_be_bytes();
    let l = lifetime.to_be_bytes();
    let c = checksum.to_be_bytes();
    // 12 fixed octets, then PadN(2) to reach 16.
    [
        59, 1, 6, 0, c[0], c[1], status, 0, s[0], s[1], l[0], l[1], 1, 2, 0, 0,
    ]
}

#[test]
fn bu_with_alternate_coa_is_byte_exact() {
    let repr = MhRepr {
        message: MhMessage::BindingUpdate(BindingUpdate {
            sequence: 0x1234,
            flags: BuFlags(BuFlags::ACK | BuFlags::HOME),
            lifetime_units: lifetime_units(600),
        }),
        options: vec![MobilityOption::AlternateCoa(coa())],
    };
    assert_eq!(repr.buffer_len(), 32);
    assert_eq!(repr.emit(&hoa(), &ha()).unwrap(), BU_ALT_COA);
    let parsed = MhRepr::parse_verified(&BU_ALT_COA, &hoa(), &ha()).unwrap();
    assert_eq!(parsed, repr);
    assert_eq!(parsed.alternate_coa(), Some(coa()));
    let MhMessage::BindingUpdate(bu) = parsed.message else {
        panic!("not a BU")
    };
    assert_eq!(bu.lifetime_secs(), 600);
    assert!(bu.flags.contains(BuFlags::HOME) && !bu.flags.contains(BuFlags::MOBILE_ROUTER));
    let unchecked = repr.emit_without_checksum().unwrap();
    assert_eq!(unchecked[4..6], [0, 0]);
    assert_eq!(unchecked[6..], BU_ALT_COA[6..]);
}

#[test]
fn nemo_bu_is_byte_exact() {
    let prefix: Ipv6Addr = "2001:db8:10::".parse().unwrap();
    let repr = MhRepr {
        message: MhMessage::BindingUpdate(BindingUpdate {
            sequence: 0x1235,
            flags: BuFlags(BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER),
            lifetime_units: 150,
        }),
        options: vec![
            MobilityOption::AlternateCoa(coa()),
            MobilityOption::MobileNetworkPrefix {
                prefix_len: 64,
                prefix,
            },
        ],
    };
    assert_eq!(repr.emit(&hoa(), &ha()).unwrap(), BU_NEMO);
    let parsed = MhRepr::parse_verified(&BU_NEMO, &hoa(), &ha()).unwrap();
    assert_eq!(parsed, repr);
    assert_eq!(parsed.mobile_network_prefixes(), vec![(prefix, 64)]);
}

#[test]
fn umip_option_sets_need_no_trailing_padding() {
    // Two MNPs: the second one again after a PadN(2) (8n+4), ending at 80.
    let p2: Ipv6Addr = "2001:db8:20::".parse().unwrap();
    let bu = MhRepr {
        message: MhMessage::BindingUpdate(BindingUpdate {
            sequence: 1,
            flags: BuFlags(BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER),
            lifetime_units: 150,
        }),
        options: vec![
            MobilityOption::AlternateCoa(coa()),
            MobilityOption::MobileNetworkPrefix {
                prefix_len: 64,
                prefix: "2001:db8:10::".parse().unwrap(),
            },
            MobilityOption::MobileNetworkPrefix {
                prefix_len: 48,
                prefix: p2,
            },
        ],
    };
    let b = bu.emit_without_checksum().unwrap();
    assert_eq!(b.len(), 80);
    assert_eq!(b[56..62], [1, 2, 0, 0, 6, 18]);
    // A correspondent's BA: refresh advice at 12, BAD at 18 after PadN(0), ends at 32.
    let ba = MhRepr {
        message: MhMessage::BindingAck(BindingAck {
            status: BaStatus::ACCEPTED,
            flags: BaFlags(0),
            sequence: 1,
            lifetime_units: 105,
        }),
        options: vec![
            MobilityOption::BindingRefreshAdvice {
                interval_units: 100,
            },
            MobilityOption::BindingAuthData(vec![0; AUTHENTICATOR_LEN]),
        ],
    };
    let b = ba.emit_without_checksum().unwrap();
    assert_eq!(b.len(), 32);
    assert_eq!(b[12..20], [2, 2, 0, 100, 1, 0, 5, 12]);
}

#[test]
fn ba_accepted_with_refresh_advice_is_byte_exact() {
    let repr = MhRepr {
        message: MhMessage::BindingAck(BindingAck {
            status: BaStatus::ACCEPTED,
            flags: BaFlags(BaFlags::KEY_MGMT),
            sequence: 0x1234,
            lifetime_units: 150,
        }),
        options: vec![MobilityOption::BindingRefreshAdvice {
            interval_units: 143,
        }],
    };
    assert_eq!(repr.emit(&ha(), &hoa()).unwrap(), BA_ACCEPTED);
    let parsed = MhRepr::parse_verified(&BA_ACCEPTED, &ha(), &hoa()).unwrap();
    assert_eq!(parsed, repr);
    assert_eq!(parsed.refresh_advice_secs(), Some(572));
}

#[test]
fn ba_of_each_status_class_is_byte_exact() {
    // 1: accepted, prefix discovery necessary; 135: out of window (stored
    // sequence echoed, lifetime 0); 140: NEMO reject (RFC 3963 §4.2).
    for (status, seq, lifetime, checksum) in [
        (BaStatus::PREFIX_DISCOVERY_NECESSARY, 0x1234, 0x96, 0x4d26),
        (BaStatus::SEQUENCE_OUT_OF_WINDOW, 0x1000, 0, 0xc9ef),
        (BaStatus::MOBILE_ROUTER_NOT_PERMITTED, 0x1235, 0, 0xc2ba),
    ] {
        let bytes = ba_bytes(status.0, seq, lifetime, checksum);
        let repr = MhRepr::new(MhMessage::BindingAck(BindingAck {
            status,
            flags: BaFlags::default(),
            sequence: seq,
            lifetime_units: lifetime,
        }));
        assert_eq!(repr.emit(&ha(), &hoa()).unwrap(), bytes, "{status}");
        assert_eq!(MhRepr::parse_verified(&bytes, &ha(), &hoa()).unwrap(), repr);
    }
}

#[test]
fn binding_error_is_byte_exact() {
    // §6.1.9: status 2 (unknown MH type), the HoA; 24 octets, no padding.
    let mut bytes = vec![59, 2, 7, 0, 0x30, 0xde, 2, 0];
    bytes.extend_from_slice(&hoa().octets());
    let repr = MhRepr::new(MhMessage::BindingError(BindingError {
        status: BeStatus::UNRECOGNIZED_MH_TYPE,
        home_address: hoa(),
    }));
    assert_eq!(repr.emit(&ha(), &coa()).unwrap(), bytes);
    assert_eq!(MhRepr::parse_verified(&bytes, &ha(), &coa()).unwrap(), repr);
}

#[test]
fn return_routability_messages_have_rfc_lengths() {
    let cookie = [1, 2, 3, 4, 5, 6, 7, 8];
    let token = [9, 10, 11, 12, 13, 14, 15, 16];
    let cases = [
        (MhMessage::BindingRefreshRequest, 8),
        (MhMessage::HomeTestInit(TestInit { cookie }), 16),
        (MhMessage::CareOfTestInit(TestInit { cookie }), 16),
        (
            MhMessage::HomeTest(TestReply {
                nonce_index: 7,
                cookie,
                keygen_token: token,
            }),
            24,
        ),
        (
            MhMessage::CareOfTest(TestReply {
                nonce_index: 8,
                cookie,
                keygen_token: token,
            }),
            24,
        ),
    ];
    for (msg, len) in cases {
        let bytes = MhRepr::new(msg).emit_without_checksum().unwrap();
        assert_eq!(bytes.len(), len, "{msg:?}");
        assert_eq!(bytes[1] as usize, len / 8 - 1);
        assert_eq!(bytes[2], msg.mh_type());
        assert_eq!(MhRepr::parse(&bytes).unwrap().message, msg);
    }
    // HoT layout (§6.1.5): nonce index at 6, cookie at 8, token at 16.
    let hot = MhRepr::new(cases[3].0).emit_without_checksum().unwrap();
    assert_eq!(hot[6..8], [0, 7]);
    assert_eq!(hot[8..16], cookie);
    assert_eq!(hot[16..24], token);
}

#[test]
fn rejects_truncated_and_malformed_headers() {
    for n in 0..BU_ALT_COA.len() {
        assert_eq!(
            MhRepr::parse(&BU_ALT_COA[..n]),
            Err(WireError::Truncated),
            "len {n}"
        );
    }
    let mut b = BU_ALT_COA;
    b[0] = 6;
    assert_eq!(MhRepr::parse(&b), Err(WireError::BadPayloadProto(6)));
    let mut b = BU_ALT_COA;
    b[2] = 8;
    assert_eq!(MhRepr::parse(&b), Err(WireError::UnknownMhType(8)));
    // A BU with Header Len 0 (8 octets) is shorter than its 12 fixed octets.
    let short = [59, 0, 5, 0, 0, 0, 0, 1];
    assert_eq!(
        MhRepr::parse(&short),
        Err(WireError::HeaderTooShort { mh_type: 5, len: 8 })
    );
    let mut be = [0u8; 16];
    be[..3].copy_from_slice(&[59, 1, 7]);
    assert_eq!(
        MhRepr::parse(&be),
        Err(WireError::HeaderTooShort {
            mh_type: 7,
            len: 16
        })
    );
    // Header Len shrunk to 2: the Alternate CoA now runs past the end.
    let mut b = BU_ALT_COA;
    b[1] = 2;
    assert_eq!(MhRepr::parse(&b), Err(WireError::TruncatedOption));
    // Alternate CoA with length 8.
    let mut b = BU_ALT_COA;
    b[15] = 8;
    assert_eq!(
        MhRepr::parse(&b),
        Err(WireError::BadOptionLength { ty: 3, len: 8 })
    );
}

#[test]
fn checksum_is_verified_only_when_asked() {
    let mut b = BU_ALT_COA;
    b[7] ^= 0x01;
    assert_eq!(
        MhRepr::parse_verified(&b, &hoa(), &ha()),
        Err(WireError::BadChecksum)
    );
    assert!(MhRepr::parse(&b).is_ok());
    // Wrong pseudo-header (CoA instead of HoA as source).
    assert_eq!(
        MhRepr::parse_verified(&BU_ALT_COA, &coa(), &ha()),
        Err(WireError::BadChecksum)
    );
    let p = MhPacket::new_checked(&BU_ALT_COA[..]).unwrap();
    assert_eq!(p.checksum(), 0x5dfa);
    assert_eq!(crate::wire::mh_checksum(&hoa(), &ha(), &BU_ALT_COA), 0x5dfa);
}

#[test]
fn trailing_octets_beyond_header_len_are_ignored() {
    let mut b = BA_ACCEPTED.to_vec();
    b.extend_from_slice(&[0xff; 5]);
    let p = MhPacket::new_checked(&b[..]).unwrap();
    assert_eq!(p.total_len(), 16);
    assert!(p.verify_checksum(&ha(), &hoa()));
    assert_eq!(
        MhRepr::parse(&b).unwrap(),
        MhRepr::parse(&BA_ACCEPTED).unwrap()
    );
}

#[test]
fn emit_refuses_oversized_options() {
    let repr = MhRepr {
        message: MhMessage::BindingRefreshRequest,
        options: vec![MobilityOption::BindingAuthData(vec![0; 256])],
    };
    assert_eq!(repr.emit_without_checksum(), Err(WireError::TooLong));
    let auth = MhRepr {
        message: MhMessage::BindingRefreshRequest,
        options: vec![MobilityOption::BindingAuthData(vec![7; AUTHENTICATOR_LEN])],
    };
    // BRR is 8 octets; BAD at 8n+2 = 10 needs PadN(0) at 8; ends at 24.
    let b = auth.emit_without_checksum().unwrap();
    assert_eq!(b.len(), 24);
    assert_eq!(b[8..12], [1, 0, 5, 12]);
}

#[test]
fn authenticator_input_covers_addresses_and_header_without_authenticator() {
    // A correspondent BU (§6.1.7, A clear): Nonce Indices then BAD (§6.2.7).
    let cn: Ipv6Addr = "2001:db8:99::1".parse().unwrap();
    let repr = MhRepr {
        message: MhMessage::BindingUpdate(BindingUpdate {
            sequence: 3,
            flags: BuFlags(0),
            lifetime_units: 105,
        }),
        options: vec![
            MobilityOption::NonceIndices {
                home: 1,
                care_of: 2,
            },
            MobilityOption::BindingAuthData(vec![0xaa; AUTHENTICATOR_LEN]),
        ],
    };
    let bytes = repr.emit(&hoa(), &cn).unwrap();
    let (input, range) = crate::wire::authenticator_input(&coa(), &cn, &bytes).unwrap();
    assert_eq!(range, 20..32);
    assert_eq!(input.len(), 32 + 20);
    assert_eq!(input[..16], coa().octets());
    assert_eq!(input[16..32], cn.octets());
    assert_eq!(input[32..36], bytes[..4]);
    assert_eq!(input[36..38], [0, 0], "checksum counted as zero");
    assert_eq!(input[38..], bytes[6..20]);
    // Without a trailing BAD there is nothing to authenticate.
    assert_eq!(
        crate::wire::authenticator_input(&coa(), &cn, &BU_ALT_COA),
        Err(WireError::NoAuthorizationData)
    );
}

fn arb_option() -> impl Strategy<Value = MobilityOption> {
    prop_oneof![
        any::<u16>().prop_map(|i| MobilityOption::BindingRefreshAdvice { interval_units: i }),
        any::<[u8; 16]>().prop_map(|a| MobilityOption::AlternateCoa(Ipv6Addr::from(a))),
        (any::<u16>(), any::<u16>())
            .prop_map(|(home, care_of)| MobilityOption::NonceIndices { home, care_of }),
        proptest::collection::vec(any::<u8>(), 1..40).prop_map(MobilityOption::BindingAuthData),
        (0u8..=128, any::<[u8; 16]>()).prop_map(|(l, p)| MobilityOption::MobileNetworkPrefix {
            prefix_len: l,
            prefix: Ipv6Addr::from(p)
        }),
        (7u8.., proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(ty, data)| MobilityOption::Unknown { ty, data }),
    ]
}

fn arb_message() -> impl Strategy<Value = MhMessage> {
    let reply =
        (any::<u16>(), any::<[u8; 8]>(), any::<[u8; 8]>()).prop_map(|(n, c, t)| TestReply {
            nonce_index: n,
            cookie: c,
            keygen_token: t,
        });
    prop_oneof![
        Just(MhMessage::BindingRefreshRequest),
        any::<[u8; 8]>().prop_map(|cookie| MhMessage::HomeTestInit(TestInit { cookie })),
        any::<[u8; 8]>().prop_map(|cookie| MhMessage::CareOfTestInit(TestInit { cookie })),
        reply.clone().prop_map(MhMessage::HomeTest),
        reply.prop_map(MhMessage::CareOfTest),
        (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(s, f, l)| {
            MhMessage::BindingUpdate(BindingUpdate {
                sequence: s,
                flags: BuFlags(f),
                lifetime_units: l,
            })
        }),
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>()).prop_map(|(st, f, s, l)| {
            MhMessage::BindingAck(BindingAck {
                status: BaStatus(st),
                flags: BaFlags(f),
                sequence: s,
                lifetime_units: l,
            })
        }),
        (any::<u8>(), any::<[u8; 16]>()).prop_map(|(st, a)| {
            MhMessage::BindingError(BindingError {
                status: BeStatus(st),
                home_address: Ipv6Addr::from(a),
            })
        }),
    ]
}

proptest! {
    #[test]
    fn parse_emit_round_trip(
        message in arb_message(),
        options in proptest::collection::vec(arb_option(), 0..6),
        src in any::<[u8; 16]>(),
        dst in any::<[u8; 16]>(),
    ) {
        let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
        let repr = MhRepr { message, options };
        let bytes = repr.emit(&src, &dst).unwrap();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        prop_assert_eq!(bytes.len() % 8, 0);
        prop_assert_eq!(&MhRepr::parse_verified(&bytes, &src, &dst).unwrap(), &repr);
        // Canonical padding: emitting the parsed value gives the same bytes.
        prop_assert_eq!(MhRepr::parse(&bytes).unwrap().emit(&src, &dst).unwrap(), bytes);
    }

    #[test]
    fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = MhRepr::parse(&b);
        let _ = MhRepr::parse_verified(&b, &Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
    }
}
