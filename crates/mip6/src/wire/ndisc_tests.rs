use super::*;
use crate::wire::ndopt::{HomeAgentInfo, PrefixInfo};
use proptest::prelude::*;

fn ll() -> Ipv6Addr {
    "fe80::1".parse().unwrap()
}
fn hoa() -> Ipv6Addr {
    "2001:db8:1::100".parse().unwrap()
}
fn ha() -> Ipv6Addr {
    "2001:db8:1::1".parse().unwrap()
}
fn coa() -> Ipv6Addr {
    "2001:db8:2::50".parse().unwrap()
}
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

/// The RA radvd sends on a home link with `AdvHomeAgentFlag`,
/// `AdvIntervalOpt`, `AdvHomeAgentInfo` and `AdvRouterAddr` (RFC 4861 §4.2,
/// RFC 6275 §7.1–§7.4), fe80::1 → ff02::1.
#[rustfmt::skip]
const HOME_RA: [u8; 80] = [
    134, 0, 0x7e, 0x64,
    64, 0x20, 0x07, 0x08,          // hop limit 64, H, router lifetime 1800 s
    0, 0, 0, 0, 0, 0, 0, 0,        // reachable time, retrans timer unspecified
    1, 1, 2, 0, 0, 0, 0, 1,        // source link-layer address
    5, 1, 0, 0, 0, 0, 0x05, 0xdc,  // MTU 1500
    7, 1, 0, 0, 0, 0, 0x0b, 0xb8,  // advertisement interval 3000 ms
    8, 1, 0, 0, 0, 10, 0x07, 0x08, // HA information: preference 10, lifetime 1800 s
    3, 4, 64, 0xe0,                // prefix /64, L|A|R
    0, 0, 0x0e, 0x10, 0, 0, 0x07, 0x08, 0, 0, 0, 0,
    0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
];

fn home_ra() -> RouterAdvert {
    RouterAdvert {
        cur_hop_limit: 64,
        flags: RouterAdvert::HOME_AGENT,
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_timer: 0,
        options: vec![
            NdOption::SourceLinkLayer(MAC.to_vec()),
            NdOption::Mtu(1500),
            NdOption::AdvInterval(3000),
            NdOption::HomeAgentInfo(HomeAgentInfo {
                preference: 10,
                lifetime: 1800,
                mobile_router: false,
            }),
            NdOption::PrefixInfo(PrefixInfo {
                prefix_len: 64,
                flags: PrefixInfo::ON_LINK | PrefixInfo::AUTONOMOUS | PrefixInfo::ROUTER_ADDRESS,
                valid_lifetime: 3600,
                preferred_lifetime: 1800,
                prefix: ha(),
            }),
        ],
    }
}

#[test]
fn home_agent_ra_is_byte_exact() {
    let ra = NdRepr::RouterAdvert(home_ra());
    let ff02_1: Ipv6Addr = "ff02::1".parse().unwrap();
    assert_eq!(ra.emit(&ll(), &ff02_1).unwrap(), HOME_RA);
    let parsed = NdRepr::parse_verified(&HOME_RA, &ll(), &ff02_1).unwrap();
    assert_eq!(parsed, ra);
    let NdRepr::RouterAdvert(ra) = parsed else {
        panic!("not an RA")
    };
    assert_eq!(ra.adv_interval_ms(), Some(3000));
    assert_eq!(ra.mtu(), Some(1500));
    assert_eq!(ra.home_agent_info().map(|h| h.preference), Some(10));
    assert_eq!(ra.prefixes().count(), 1);
    assert_eq!(ra.preference(), 0);
    assert_eq!(
        NdRepr::parse_verified(&HOME_RA, &ll(), &ll()),
        Err(WireError::BadChecksum)
    );
}

#[test]
fn neighbor_messages_are_byte_exact() {
    // Unsolicited NA the HA sends for a proxied HoA
    // (docs/protocol-notes.md#home-agent-bu-checks step 9): R|O, target link-layer address.
    let mut na = vec![136, 0, 0x78, 0x29, 0xa0, 0, 0, 0];
    na.extend_from_slice(&hoa().octets());
    na.extend_from_slice(&[2, 1, 2, 0, 0, 0, 0, 1]);
    let repr = NdRepr::NeighborAdvert(NeighborAdvert {
        flags: NeighborAdvert::ROUTER | NeighborAdvert::OVERRIDE,
        target: hoa(),
        options: vec![NdOption::TargetLinkLayer(MAC.to_vec())],
    });
    let ff02_1: Ipv6Addr = "ff02::1".parse().unwrap();
    assert_eq!(repr.emit(&ha(), &ff02_1).unwrap(), na);
    assert_eq!(NdRepr::parse_verified(&na, &ha(), &ff02_1).unwrap(), repr);

    // DAD probe: :: → solicited-node multicast, no options.
    let snm: Ipv6Addr = "ff02::1:ff00:100".parse().unwrap();
    let mut ns = vec![135, 0, 0x4a, 0xee, 0, 0, 0, 0];
    ns.extend_from_slice(&hoa().octets());
    let repr = NdRepr::NeighborSolicit(NeighborSolicit {
        target: hoa(),
        options: vec![],
    });
    assert_eq!(repr.emit(&Ipv6Addr::UNSPECIFIED, &snm).unwrap(), ns);
    assert_eq!(
        NdRepr::parse_verified(&ns, &Ipv6Addr::UNSPECIFIED, &snm).unwrap(),
        repr
    );
}

#[test]
fn dhaad_and_mobile_prefix_messages_are_byte_exact() {
    let anycast: Ipv6Addr = "2001:db8:1::fdff:ffff:ffff:fffe".parse().unwrap();
    let req = NdRepr::DhaadRequest(DhaadRequest {
        identifier: 0x1234,
        flags: DHAAD_FLAG_MOBILE_ROUTER,
    });
    let req_bytes = [144, 0, 0x83, 0xc4, 0x12, 0x34, 0x80, 0];
    assert_eq!(req.emit(&coa(), &anycast).unwrap(), req_bytes);
    assert_eq!(
        NdRepr::parse_verified(&req_bytes, &coa(), &anycast).unwrap(),
        req
    );

    let second: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
    let mut rep_bytes = vec![145, 0, 0x25, 0x2b, 0x12, 0x34, 0x80, 0];
    rep_bytes.extend_from_slice(&ha().octets());
    rep_bytes.extend_from_slice(&second.octets());
    let rep = NdRepr::DhaadReply(DhaadReply {
        identifier: 0x1234,
        flags: DHAAD_FLAG_MOBILE_ROUTER,
        home_agents: vec![ha(), second],
    });
    assert_eq!(rep.emit(&ha(), &coa()).unwrap(), rep_bytes);
    assert_eq!(
        NdRepr::parse_verified(&rep_bytes, &ha(), &coa()).unwrap(),
        rep
    );
    assert_eq!(
        NdRepr::parse(&rep_bytes[..rep_bytes.len() - 1]),
        Err(WireError::Truncated)
    );

    let mut mpa_bytes = vec![147, 0, 0x89, 0x8a, 0, 7, 0, 0];
    mpa_bytes.extend_from_slice(&[3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0, 0, 7, 8, 0, 0, 0, 0]);
    mpa_bytes.extend_from_slice(&"2001:db8:1::".parse::<Ipv6Addr>().unwrap().octets());
    let mpa = NdRepr::MobilePrefixAdvert(MobilePrefixAdvert {
        identifier: 7,
        flags: 0,
        options: vec![NdOption::PrefixInfo(PrefixInfo {
            prefix_len: 64,
            flags: PrefixInfo::ON_LINK | PrefixInfo::AUTONOMOUS,
            valid_lifetime: 3600,
            preferred_lifetime: 1800,
            prefix: "2001:db8:1::".parse().unwrap(),
        })],
    });
    assert_eq!(mpa.emit(&ha(), &hoa()).unwrap(), mpa_bytes);
    assert_eq!(
        NdRepr::parse_verified(&mpa_bytes, &ha(), &hoa()).unwrap(),
        mpa
    );

    let mps = NdRepr::MobilePrefixSolicit(MobilePrefixSolicit { identifier: 9 });
    let b = mps.emit_without_checksum().unwrap();
    assert_eq!(b, [146, 0, 0, 0, 0, 9, 0, 0]);
}

#[test]
fn rejects_malformed_messages() {
    for n in 0..HOME_RA.len() {
        // Cut at an option boundary the RA is still valid, with fewer options.
        let boundary = [16, 24, 32, 40, 48].contains(&n);
        assert_eq!(NdRepr::parse(&HOME_RA[..n]).is_ok(), boundary, "len {n}");
    }
    let mut b = HOME_RA;
    b[1] = 1;
    assert_eq!(NdRepr::parse(&b), Err(WireError::BadIcmpCode(1)));
    b = HOME_RA;
    b[0] = 128;
    assert_eq!(NdRepr::parse(&b), Err(WireError::UnexpectedIcmpType(128)));
    b = HOME_RA;
    b[17] = 0; // source link-layer option of length 0
    assert_eq!(NdRepr::parse(&b), Err(WireError::ZeroLengthOption));
    b = HOME_RA;
    b[49] = 3; // prefix information of length 3
    assert_eq!(
        NdRepr::parse(&b),
        Err(WireError::BadOptionLength { ty: 3, len: 3 })
    );
    b = HOME_RA;
    b[25] = 2; // MTU option of length 2
    assert!(NdRepr::parse(&b).is_err());
    // The last option cut short.
    assert_eq!(
        NdRepr::parse(&HOME_RA[..HOME_RA.len() - 1]),
        Err(WireError::TruncatedOption)
    );
}

fn arb_ll() -> impl Strategy<Value = Vec<u8>> {
    // Data lengths that fill whole 8-octet units: 6, 14, 22.
    (0usize..3).prop_flat_map(|k| proptest::collection::vec(any::<u8>(), 6 + 8 * k))
}

fn arb_nd_option() -> impl Strategy<Value = NdOption> {
    prop_oneof![
        arb_ll().prop_map(NdOption::SourceLinkLayer),
        arb_ll().prop_map(NdOption::TargetLinkLayer),
        (
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            any::<[u8; 16]>()
        )
            .prop_map(|(l, f, v, p, a)| NdOption::PrefixInfo(PrefixInfo {
                prefix_len: l,
                flags: f,
                valid_lifetime: v,
                preferred_lifetime: p,
                prefix: Ipv6Addr::from(a),
            })),
        any::<u32>().prop_map(NdOption::Mtu),
        any::<u32>().prop_map(NdOption::AdvInterval),
        (any::<i16>(), any::<u16>(), any::<bool>()).prop_map(
            |(preference, lifetime, mobile_router)| {
                NdOption::HomeAgentInfo(HomeAgentInfo {
                    preference,
                    lifetime,
                    mobile_router,
                })
            }
        ),
        (9u8.., arb_ll()).prop_map(|(ty, data)| NdOption::Unknown { ty, data }),
    ]
}

fn arb_nd() -> impl Strategy<Value = NdRepr> {
    let opts = || proptest::collection::vec(arb_nd_option(), 0..5);
    let addr = || any::<[u8; 16]>().prop_map(Ipv6Addr::from);
    prop_oneof![
        opts().prop_map(|options| NdRepr::RouterSolicit(RouterSolicit { options })),
        (
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            opts()
        )
            .prop_map(
                |(h, f, l, r, t, options)| NdRepr::RouterAdvert(RouterAdvert {
                    cur_hop_limit: h,
                    flags: f,
                    router_lifetime: l,
                    reachable_time: r,
                    retrans_timer: t,
                    options,
                })
            ),
        (addr(), opts()).prop_map(
            |(target, options)| NdRepr::NeighborSolicit(NeighborSolicit { target, options })
        ),
        (any::<u8>(), addr(), opts()).prop_map(|(flags, target, options)| {
            NdRepr::NeighborAdvert(NeighborAdvert {
                flags,
                target,
                options,
            })
        }),
        (any::<u16>(), any::<u16>()).prop_map(|(identifier, flags)| NdRepr::DhaadRequest(
            DhaadRequest { identifier, flags }
        )),
        (
            any::<u16>(),
            any::<u16>(),
            proptest::collection::vec(addr(), 0..5)
        )
            .prop_map(
                |(identifier, flags, home_agents)| NdRepr::DhaadReply(DhaadReply {
                    identifier,
                    flags,
                    home_agents,
                })
            ),
        any::<u16>().prop_map(|identifier| {
            NdRepr::MobilePrefixSolicit(MobilePrefixSolicit { identifier })
        }),
        (any::<u16>(), any::<u8>(), opts()).prop_map(|(identifier, flags, options)| {
            NdRepr::MobilePrefixAdvert(MobilePrefixAdvert {
                identifier,
                flags,
                options,
            })
        }),
    ]
}

proptest! {
    #[test]
    fn parse_emit_round_trip(repr in arb_nd(), src in any::<[u8; 16]>(), dst in any::<[u8; 16]>()) {
        let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
        let bytes = repr.emit(&src, &dst).unwrap();
        prop_assert_eq!(NdRepr::parse_verified(&bytes, &src, &dst).unwrap(), repr);
    }

    #[test]
    fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = NdRepr::parse(&b);
    }
}

#[test]
fn home_agent_info_r_flag_is_the_first_data_bit() {
    let opt = NdOption::HomeAgentInfo(HomeAgentInfo {
        preference: -2,
        lifetime: 600,
        mobile_router: true,
    });
    let mut out = Vec::new();
    emit_nd_options(&mut out, std::slice::from_ref(&opt)).unwrap();
    assert_eq!(out, [8, 1, 0x80, 0, 0xff, 0xfe, 0x02, 0x58]);
    assert_eq!(parse_nd_options(&out).unwrap(), [opt]);
}
