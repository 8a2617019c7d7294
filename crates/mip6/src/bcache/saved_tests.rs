use super::*;
use crate::bcache::{BindingCache, ExistingBinding};

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

const NOW: u64 = 1_800_000_000;

fn node() -> SavedBinding {
    SavedBinding {
        home_address: a("2001:db8:1::100"),
        care_of_address: a("2001:db8:a::5"),
        home_agent: a("2001:db8:1::2"),
        flags: BuFlags(BuFlags::ACK | BuFlags::HOME | BuFlags::LINK_LOCAL | BuFlags::KEY_MGMT),
        sequence: 4711,
        lifetime_secs: 60,
        expires_unix: NOW + 40,
        interface: "eth0".to_owned(),
        mobile_network_prefixes: Vec::new(),
    }
}

fn router() -> SavedBinding {
    SavedBinding {
        home_address: a("2001:db8:1::200"),
        flags: BuFlags(BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER),
        mobile_network_prefixes: vec![(a("2001:db8:50::"), 64), (a("2001:db8:51::"), 48)],
        ..node()
    }
}

const HOME: &[(Ipv6Addr, u8)] = &[(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0), 64)];

fn ctx<'a>() -> RestoreContext<'a> {
    RestoreContext {
        now_unix: NOW,
        interface_served: true,
        home_prefixes: HOME,
        home_agent_present: true,
        served_prefix_covers_hoa: false,
        accept_mobile_router: true,
        acl: AclDecision {
            status: BaStatus::ACCEPTED,
            prefixes: None,
        },
        ipsec_required: false,
        ipsec_protected: false,
        max_binding_life: Duration::from_secs(60),
        cache_full: false,
        conflicts: false,
    }
}

#[test]
fn round_trip() {
    let all = vec![node(), router()];
    let text = encode(&all);
    assert!(text.starts_with("mip6d-binding-cache 1\nbinding 2001:db8:1::100 2001:db8:a::5 "));
    assert_eq!(decode(text.as_bytes()).unwrap(), all);
    assert_eq!(decode(encode(&[]).as_bytes()).unwrap(), Vec::new());
}

#[test]
fn every_truncation_is_refused() {
    let text = encode(&[node(), router()]);
    for cut in 0..text.len() {
        let r = decode(&text.as_bytes()[..cut]);
        assert!(r.is_err(), "cut at {cut} accepted: {r:?}");
    }
    assert_eq!(
        decode(&text.as_bytes()[..text.len() - 1]),
        Err(FileError::Truncated)
    );
    // Cut at a line end, so that only the end line is missing.
    let no_end = &text[..text.find("end ").unwrap()];
    assert_eq!(decode(no_end.as_bytes()), Err(FileError::Truncated));
}

#[test]
fn a_changed_byte_is_refused() {
    let text = encode(&[node()]);
    // The sequence number 4711 becomes 4710: still well formed.
    let edited = text.replace(" 4711 ", " 4710 ");
    assert!(matches!(
        decode(edited.as_bytes()),
        Err(FileError::Checksum { .. })
    ));
    for i in 0..text.len() {
        let mut bytes = text.clone().into_bytes();
        bytes[i] ^= 0x01;
        assert!(decode(&bytes).is_err(), "flip at {i} accepted");
    }
}

#[test]
fn foreign_files_are_refused() {
    assert_eq!(decode(b""), Err(FileError::Empty));
    assert_eq!(decode(b"\x00\x01binary"), Err(FileError::NotACacheFile));
    assert_eq!(
        decode(b"some other file\nend 0 00000000\n"),
        Err(FileError::NotACacheFile)
    );
    assert_eq!(
        decode(b"mip6d-binding-cache 2\nend 0 00000000\n"),
        Err(FileError::Version("2".to_owned()))
    );
    let text = encode(&[node()]);
    let extra = format!("{text}binding more\n");
    assert!(matches!(
        decode(extra.as_bytes()),
        Err(FileError::Line { line: 4, .. })
    ));
}

#[test]
fn malformed_lines_name_their_number() {
    let body = "mip6d-binding-cache 1\nbinding 2001:db8:1::100 nonsense\n";
    let text = format!("{body}end 1 {:08x}\n", crc32(body.as_bytes()));
    let err = decode(text.as_bytes()).unwrap_err();
    assert!(matches!(err, FileError::Line { line: 2, .. }), "{err:?}");
    assert!(err
        .to_string()
        .starts_with("line 2: binding needs 9 fields"));
    let body = "mip6d-binding-cache 1\n";
    let text = format!("{body}end 1 {:08x}\n", crc32(body.as_bytes()));
    assert_eq!(
        decode(text.as_bytes()),
        Err(FileError::Count { said: 1, read: 0 })
    );
}

#[test]
fn saved_entries_keep_their_expiry_and_sequence() {
    let mut cache = BindingCache::new();
    let t0 = Instant::now();
    let e = node();
    cache.restore(t0, &e, Duration::from_secs(40));
    let entry = cache.get(&e.home_address).unwrap().clone();
    assert_eq!(cache.poll_timeout(), Some(t0 + Duration::from_secs(40)));
    assert_eq!(
        cache.existing(&e.home_address),
        Some(ExistingBinding {
            flags: e.flags,
            sequence: 4711,
            dad_in_progress: false
        })
    );
    // Saved 10.5 s later: 29.5 s left, rounded up.
    let later = t0 + Duration::from_millis(10_500);
    let saved = SavedBinding::from_entry(&entry, later, NOW + 10, "eth0");
    assert_eq!(saved.expires_unix, NOW + 10 + 30);
    assert_eq!(saved.sequence, 4711);
    assert_eq!(saved.lifetime_secs, 60);
}

/// Saved at 10.6 s and read at 10.9 s on the wall clock, a binding granted
/// the maximum looks one second longer; it is restored, capped.
#[test]
fn a_second_of_rounding_is_not_a_lifetime_above_the_maximum() {
    let mut c = ctx();
    c.max_binding_life = Duration::from_secs(39);
    assert_eq!(check_restore(&node(), &c), Ok(Duration::from_secs(39)));
}

#[test]
fn expired_bindings_are_not_restored() {
    let mut e = node();
    e.expires_unix = NOW;
    assert_eq!(check_restore(&e, &ctx()), Err(SkipReason::Expired));
    e.expires_unix = NOW + 1;
    assert_eq!(check_restore(&e, &ctx()), Ok(Duration::from_secs(1)));
}

#[test]
fn each_rule_skips_what_it_names() {
    assert_eq!(check_restore(&node(), &ctx()), Ok(Duration::from_secs(40)));
    type Case = (fn(&mut SavedBinding, &mut RestoreContext), SkipReason);
    let cases: Vec<Case> = vec![
        (
            |_, c| c.max_binding_life = Duration::from_secs(38),
            SkipReason::LifetimeAboveMaximum,
        ),
        (
            |e, _| e.flags = BuFlags(BuFlags::ACK),
            SkipReason::NotHomeRegistration,
        ),
        (
            |_, c| c.interface_served = false,
            SkipReason::InterfaceNotServed,
        ),
        (
            |_, c| c.home_agent_present = false,
            SkipReason::HomeAgentAddressGone,
        ),
        (
            |e, _| e.home_address = a("fe80::100"),
            SkipReason::HomeAddressNotRoutable,
        ),
        (
            |e, _| e.home_address = a("2001:db8:2::100"),
            SkipReason::NotOnHomePrefix,
        ),
        (
            |e, _| e.care_of_address = a("ff02::1"),
            SkipReason::CareOfNotRoutable,
        ),
        (
            |e, _| e.care_of_address = a("::ffff:192.0.2.1"),
            SkipReason::CareOfNotRoutable,
        ),
        (
            |e, _| e.care_of_address = a("2001:db8:1::77"),
            SkipReason::CareOfOnHomePrefix,
        ),
        (
            |_, c| c.acl.status = BaStatus::ADMIN_PROHIBITED,
            SkipReason::Acl(BaStatus::ADMIN_PROHIBITED),
        ),
        (|_, c| c.ipsec_required = true, SkipReason::NoIpsecPolicy),
        (|_, c| c.cache_full = true, SkipReason::CacheFull),
        (|_, c| c.conflicts = true, SkipReason::Conflict),
        (
            |e, _| e.mobile_network_prefixes = vec![(a("2001:db8:50::"), 64)],
            SkipReason::PrefixNotAuthorized,
        ),
    ];
    for (change, reason) in cases {
        let mut e = node();
        let mut c = ctx();
        change(&mut e, &mut c);
        assert_eq!(check_restore(&e, &c), Err(reason.clone()), "{reason}");
    }
    let mut c = ctx();
    c.ipsec_required = true;
    c.ipsec_protected = true;
    assert!(check_restore(&node(), &c).is_ok());
}

#[test]
fn mobile_routers_need_their_prefixes_in_the_acl() {
    let allowed = [(a("2001:db8:50::"), 64), (a("2001:db8:51::"), 48)];
    let mut c = ctx();
    assert_eq!(
        check_restore(&router(), &c),
        Err(SkipReason::PrefixNotAuthorized)
    );
    c.acl.prefixes = Some(&allowed[..1]);
    assert_eq!(
        check_restore(&router(), &c),
        Err(SkipReason::PrefixNotAuthorized)
    );
    c.acl.prefixes = Some(&allowed);
    assert!(check_restore(&router(), &c).is_ok());
    c.accept_mobile_router = false;
    assert_eq!(
        check_restore(&router(), &c),
        Err(SkipReason::MobileRouterNotAccepted)
    );
    // A mobile router's home address off the home prefix, under HaServedPrefix.
    let mut off = router();
    off.home_address = a("2001:db8:9::1");
    c.accept_mobile_router = true;
    assert_eq!(check_restore(&off, &c), Err(SkipReason::NotOnHomePrefix));
    c.served_prefix_covers_hoa = true;
    assert!(check_restore(&off, &c).is_ok());
}

#[test]
fn crc32_is_the_ieee_one() {
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
}

#[test]
fn only_the_written_form_is_read() {
    let canonical = encode(&[node()]);
    let variants = [
        canonical.replace("2001:db8:1::100", "2001:0db8:1::100"),
        canonical.replace(" 4711 ", " +4711 "),
        canonical.replace(" 4711 ", " 04711 "),
        canonical.replace(" 0x", " 0X"),
    ];
    for v in variants.iter().filter(|v| **v != canonical) {
        // Re-sealed, so that only the spelling differs.
        let body = &v[..v.find("end ").unwrap()];
        let sealed = format!("{body}end 1 {:08x}\n", crc32(body.as_bytes()));
        let err = decode(sealed.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("not in the form mip6d writes"),
            "{err}"
        );
    }
    let upper = canonical
        .to_uppercase()
        .replace("MIP6D-BINDING-CACHE", MAGIC);
    assert!(decode(upper.as_bytes()).is_err());
    // Found by the fuzz target: an upper-case checksum digit.
    assert!(decode(b"mip6d-binding-cache 1\nend 0 c452Af31\n").is_err());
    assert!(decode(b"mip6d-binding-cache 1\nend 0 c452af31\n").is_ok());
}
