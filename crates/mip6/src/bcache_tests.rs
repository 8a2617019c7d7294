use super::*;
use crate::wire::mh::{BindingAck, MhMessage};
use crate::wire::options::MobilityOption;

fn hoa() -> Ipv6Addr {
    "2001:db8:1::100".parse().unwrap()
}
fn ha() -> Ipv6Addr {
    "2001:db8:1::1".parse().unwrap()
}
fn coa_a() -> Ipv6Addr {
    "2001:db8:a::50".parse().unwrap()
}
fn coa_b() -> Ipv6Addr {
    "2001:db8:b::50".parse().unwrap()
}
fn mnp() -> (Ipv6Addr, u8) {
    ("2001:db8:10::".parse().unwrap(), 64)
}
fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const ALLOW: AclDecision<'static> = AclDecision {
    status: BaStatus::ACCEPTED,
    prefixes: None,
};

fn bu(sequence: u16, flags: u16, lifetime_units: u16) -> BindingUpdate {
    BindingUpdate {
        sequence,
        flags: BuFlags(flags),
        lifetime_units,
    }
}

const AH: u16 = BuFlags::ACK | BuFlags::HOME;
const AHR: u16 = AH | BuFlags::MOBILE_ROUTER;

/// A context every check passes: new binding for 600 s from coa_a.
fn ctx(options: &[MobilityOption]) -> HomeBuContext<'_> {
    HomeBuContext {
        packet_source: coa_a(),
        home_address: hoa(),
        bu: bu(10, AH, 150),
        options,
        existing: None,
        coa_has_binding: false,
        dst_is_ha_address: true,
        home_prefix: Some(HomePrefixLifetimes {
            valid: secs(86400),
            preferred: secs(14400),
        }),
        served_prefix_covers_hoa: false,
        accept_mobile_router: true,
        acl: ALLOW,
        max_binding_life: secs(262_140),
        key_mgmt_capable: false,
        ipsec_required: false,
        ipsec_protected: false,
        cache_full: false,
    }
}

fn status(v: &HomeBuVerdict) -> Option<u8> {
    match v {
        HomeBuVerdict::Reject { status, .. } => Some(status.0),
        HomeBuVerdict::Accept(a) => Some(a.status.0),
        _ => None,
    }
}

fn existing(sequence: u16, flags: u16) -> Option<ExistingBinding> {
    Some(ExistingBinding {
        flags: BuFlags(flags),
        sequence,
        dad_in_progress: false,
    })
}

#[test]
fn a_plain_home_registration_is_accepted_and_needs_dad() {
    let opts = [MobilityOption::AlternateCoa(coa_b())];
    let v = check_home_bu(&ctx(&opts));
    let HomeBuVerdict::Accept(a) = &v else {
        panic!("{v:?}")
    };
    assert_eq!(a.status, BaStatus::ACCEPTED);
    assert_eq!(
        a.care_of_address,
        coa_b(),
        "the Alternate CoA wins over the source"
    );
    assert_eq!(a.lifetime(), secs(600));
    assert!(a.needs_dad && !a.deregistration);
    assert_eq!(a.ba_flags, BaFlags(0));
    assert_eq!(
        v.binding_ack().unwrap().message,
        MhMessage::BindingAck(BindingAck {
            status: BaStatus::ACCEPTED,
            flags: BaFlags(0),
            sequence: 10,
            lifetime_units: 150,
        })
    );
}

#[test]
fn pre_filter_drops_silently() {
    let mut c = ctx(&[]);
    c.bu.flags = BuFlags(BuFlags::ACK);
    assert_eq!(check_home_bu(&c), HomeBuVerdict::NotHomeRegistration);
    let rr = [MobilityOption::NonceIndices {
        home: 1,
        care_of: 2,
    }];
    assert_eq!(
        check_home_bu(&ctx(&rr)),
        HomeBuVerdict::Drop(DropReason::ReturnRoutabilityOptions)
    );
    let ll = [MobilityOption::AlternateCoa("fe80::1".parse().unwrap())];
    assert_eq!(
        check_home_bu(&ctx(&ll)),
        HomeBuVerdict::Drop(DropReason::CareOfNotRoutable)
    );
    let mut c = ctx(&[]);
    c.home_address = "ff02::1".parse().unwrap();
    assert_eq!(
        check_home_bu(&c),
        HomeBuVerdict::Drop(DropReason::HomeAddressNotRoutable)
    );
    let mut c = ctx(&[]);
    c.coa_has_binding = true;
    assert_eq!(
        check_home_bu(&c),
        HomeBuVerdict::Drop(DropReason::CircularBinding)
    );
    for a in ["::", "::1", "::ffff:192.0.2.1", "fe80::1", "ff05::2"] {
        assert!(!is_routable_unicast(&a.parse().unwrap()), "{a}");
    }
    assert!(is_routable_unicast(&hoa()));
}

#[test]
fn existing_entry_checks_come_first() {
    // Flag change (139) is checked before the sequence (135).
    let mut c = ctx(&[]);
    c.bu = bu(5, AHR, 150);
    c.existing = existing(10, AH);
    assert_eq!(status(&check_home_bu(&c)), Some(139));
    // DAD running: no answer.
    let mut c = ctx(&[]);
    c.existing = Some(ExistingBinding {
        flags: BuFlags(AH),
        sequence: 1,
        dad_in_progress: true,
    });
    assert_eq!(check_home_bu(&c), HomeBuVerdict::Ignore);
    // Old sequence: 135 with the stored sequence echoed, even if the home
    // prefix check would fail too.
    let mut c = ctx(&[]);
    c.existing = existing(10, AH);
    c.dst_is_ha_address = false;
    let v = check_home_bu(&c);
    assert_eq!(
        v,
        HomeBuVerdict::Reject {
            status: BaStatus::SEQUENCE_OUT_OF_WINDOW,
            sequence: 10
        }
    );
    assert_eq!(
        v.binding_ack().unwrap().message,
        MhMessage::BindingAck(BindingAck {
            status: BaStatus::SEQUENCE_OUT_OF_WINDOW,
            flags: BaFlags(0),
            sequence: 10,
            lifetime_units: 0,
        })
    );
}

#[test]
fn sequence_window_wraps() {
    let mut c = ctx(&[]);
    c.existing = existing(0xffff, AH);
    c.bu.sequence = 0;
    assert_eq!(status(&check_home_bu(&c)), Some(0));
    c.bu.sequence = 0x7ffe; // 2^15 - 1 ahead of 0xffff
    assert_eq!(status(&check_home_bu(&c)), Some(0));
    c.bu.sequence = 0x7fff; // half the circle: out of window
    assert_eq!(status(&check_home_bu(&c)), Some(135));
    c.bu.sequence = 0xfff0;
    assert_eq!(status(&check_home_bu(&c)), Some(135));
}

#[test]
fn deregistration() {
    // No entry: 133, before the home prefix check (132).
    let mut c = ctx(&[]);
    c.bu.lifetime_units = 0;
    c.dst_is_ha_address = false;
    assert_eq!(status(&check_home_bu(&c)), Some(133));
    // With an entry: accepted with lifetime 0, even from home (CoA = HoA).
    let home = [MobilityOption::AlternateCoa(hoa())];
    let mut c = ctx(&home);
    c.existing = existing(9, AH);
    let HomeBuVerdict::Accept(a) = check_home_bu(&c) else {
        panic!()
    };
    assert!(a.deregistration);
    assert_eq!(a.lifetime_units, 0);
    assert_eq!(a.care_of_address, hoa());
}

#[test]
fn home_prefix_checks_give_132_and_status_1() {
    let mut c = ctx(&[]);
    c.dst_is_ha_address = false;
    assert_eq!(status(&check_home_bu(&c)), Some(132));
    let mut c = ctx(&[]);
    c.home_prefix = None;
    assert_eq!(status(&check_home_bu(&c)), Some(132));
    // Preferred lifetime (300 s) ends before the requested 600 s: status 1
    // (UMIP computes and then loses it; fixed here). Valid lifetime caps.
    let mut c = ctx(&[]);
    c.home_prefix = Some(HomePrefixLifetimes {
        valid: secs(401),
        preferred: secs(300),
    });
    let HomeBuVerdict::Accept(a) = check_home_bu(&c) else {
        panic!()
    };
    assert_eq!(a.status, BaStatus::PREFIX_DISCOVERY_NECESSARY);
    assert_eq!(a.lifetime(), secs(400), "rounded down to 4 s units");
}

#[test]
fn served_prefix_admits_a_mobile_router_outside_learned_prefixes() {
    let opts = [MobilityOption::MobileNetworkPrefix {
        prefix_len: 64,
        prefix: mnp().0,
    }];
    let allowed = [mnp()];
    let mut c = ctx(&opts);
    c.bu.flags = BuFlags(AHR);
    c.acl.prefixes = Some(&allowed);
    c.home_prefix = None;
    assert_eq!(status(&check_home_bu(&c)), Some(132));
    c.served_prefix_covers_hoa = true;
    let HomeBuVerdict::Accept(a) = check_home_bu(&c) else {
        panic!()
    };
    assert_eq!(a.mobile_network_prefixes, vec![mnp()]);
    assert_eq!(a.ba_flags, BaFlags(BaFlags::MOBILE_ROUTER));
    // A plain MN is not helped by HaServedPrefix.
    c.bu.flags = BuFlags(AH);
    assert_eq!(status(&check_home_bu(&c)), Some(132));
}

#[test]
fn acl_and_nemo_checks_in_order() {
    let opts = [MobilityOption::MobileNetworkPrefix {
        prefix_len: 64,
        prefix: mnp().0,
    }];
    let other = [("2001:db8:99::".parse().unwrap(), 64)];
    // 140 comes before the ACL deny.
    let mut c = ctx(&opts);
    c.bu.flags = BuFlags(AHR);
    c.accept_mobile_router = false;
    c.acl = AclDecision {
        status: BaStatus::ADMIN_PROHIBITED,
        prefixes: None,
    };
    assert_eq!(status(&check_home_bu(&c)), Some(140));
    // ACL deny (129) before the prefix authorization (142).
    c.accept_mobile_router = true;
    c.acl = AclDecision {
        status: BaStatus::ADMIN_PROHIBITED,
        prefixes: Some(&other),
    };
    assert_eq!(status(&check_home_bu(&c)), Some(129));
    // A configured deny code.
    c.acl.status = BaStatus(131);
    assert_eq!(status(&check_home_bu(&c)), Some(131));
    // Allowed, but the MNP is not in the entry's list: 142.
    c.acl.status = BaStatus::ACCEPTED;
    assert_eq!(status(&check_home_bu(&c)), Some(142));
    // Default policy only: the MNP is not authorized either (142; UMIP
    // routed it unchecked).
    c.acl.prefixes = None;
    assert_eq!(status(&check_home_bu(&c)), Some(142));
    // Implicit mode: no MNP option, prefixes from the ACL entry.
    let allowed = [mnp()];
    let mut c = ctx(&[]);
    c.bu.flags = BuFlags(AHR);
    c.acl.prefixes = Some(&allowed);
    let HomeBuVerdict::Accept(a) = check_home_bu(&c) else {
        panic!()
    };
    assert_eq!(a.mobile_network_prefixes, vec![mnp()]);
    // Neither explicit nor implicit prefixes: 143.
    c.acl.prefixes = None;
    assert_eq!(status(&check_home_bu(&c)), Some(143));
}

#[test]
fn lifetime_cap_and_k_flag() {
    let mut c = ctx(&[]);
    c.bu = bu(10, AH | BuFlags::KEY_MGMT, 0xffff);
    c.max_binding_life = secs(3599);
    let HomeBuVerdict::Accept(a) = check_home_bu(&c) else {
        panic!()
    };
    assert_eq!(a.lifetime(), secs(3596));
    assert_eq!(a.ba_flags, BaFlags(0), "K needs the HA's policy too");
    c.key_mgmt_capable = true;
    let HomeBuVerdict::Accept(a) = check_home_bu(&c) else {
        panic!()
    };
    assert_eq!(a.ba_flags, BaFlags(BaFlags::KEY_MGMT));
}

fn accept(c: &HomeBuContext<'_>) -> Accepted {
    match check_home_bu(c) {
        HomeBuVerdict::Accept(a) => a,
        other => panic!("{other:?}"),
    }
}

#[test]
fn cache_runs_dad_then_refreshes_moves_and_removes() {
    let t0 = Instant::now();
    let mut cache = BindingCache::new();
    let c = ctx(&[]);
    let a = accept(&c);
    assert_eq!(
        cache.apply(t0, hoa(), ha(), &c.bu, &a),
        BcChange::DadStarted
    );
    assert!(cache.existing(&hoa()).unwrap().dad_in_progress);
    // A BU during DAD is ignored.
    let mut again = ctx(&[]);
    again.existing = cache.existing(&hoa());
    again.bu.sequence = 11;
    assert_eq!(check_home_bu(&again), HomeBuVerdict::Ignore);
    // DAD passes after 1 s: the held BA goes out; lifetime counts from then.
    let t1 = t0 + secs(1);
    let Some(DadOutcome::Installed(ba)) = cache.dad_finished(t1, &hoa(), false) else {
        panic!()
    };
    assert_eq!(ba, a.binding_ack());
    assert_eq!(cache.get(&hoa()).unwrap().state, BcState::Active);
    assert_eq!(cache.poll_timeout(), Some(t1 + secs(600)));
    assert_eq!(cache.dad_finished(t1, &hoa(), false), None);
    // Handover to coa_b.
    let opts = [MobilityOption::AlternateCoa(coa_b())];
    let mut c2 = ctx(&opts);
    c2.bu.sequence = 11;
    c2.existing = cache.existing(&hoa());
    c2.coa_has_binding = cache.has_binding(&coa_b());
    let a2 = accept(&c2);
    assert!(!a2.needs_dad);
    let t2 = t0 + secs(100);
    assert_eq!(
        cache.apply(t2, hoa(), ha(), &c2.bu, &a2),
        BcChange::Updated {
            previous_care_of_address: Some(coa_a())
        }
    );
    assert_eq!(cache.get(&hoa()).unwrap().sequence, 11);
    assert_eq!(cache.poll_timeout(), Some(t2 + secs(600)));
    // Deregistration.
    let mut c3 = ctx(&[]);
    c3.bu = bu(12, AH, 0);
    c3.existing = cache.existing(&hoa());
    let a3 = accept(&c3);
    let BcChange::Removed(e) = cache.apply(t2, hoa(), ha(), &c3.bu, &a3) else {
        panic!()
    };
    assert_eq!(e.care_of_address, coa_b());
    assert!(cache.is_empty());
}

#[test]
fn duplicate_home_address_gives_134() {
    let t0 = Instant::now();
    let mut cache = BindingCache::new();
    let c = ctx(&[]);
    cache.apply(t0, hoa(), ha(), &c.bu, &accept(&c));
    let Some(DadOutcome::Duplicate(ba)) = cache.dad_finished(t0 + secs(1), &hoa(), true) else {
        panic!()
    };
    assert_eq!(
        ba.message,
        MhMessage::BindingAck(BindingAck {
            status: BaStatus::DAD_FAILED,
            flags: BaFlags(0),
            sequence: 10,
            lifetime_units: 0,
        })
    );
    assert!(cache.is_empty());
}

#[test]
fn bindings_expire_at_their_lifetime() {
    let t0 = Instant::now();
    let mut cache = BindingCache::new();
    let mut c = ctx(&[]);
    c.bu.lifetime_units = 5; // 20 s
    cache.apply(t0, hoa(), ha(), &c.bu, &accept(&c));
    cache.dad_finished(t0, &hoa(), false);
    let other: Ipv6Addr = "2001:db8:1::200".parse().unwrap();
    let mut c2 = ctx(&[]);
    c2.home_address = other;
    cache.apply(t0, other, ha(), &c2.bu, &accept(&c2));
    cache.dad_finished(t0, &other, false);
    assert_eq!(cache.poll_timeout(), Some(t0 + secs(20)));
    assert!(cache.handle_timeout(t0 + secs(19)).is_empty());
    let gone = cache.handle_timeout(t0 + secs(20));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].home_address, hoa());
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.poll_timeout(), Some(t0 + secs(600)));
}

// --- Attacks by a remote host (ours, docs/compat.md "Home agent admission") ---

#[test]
fn attack_unprotected_home_address_with_ipsec_required_is_refused_129() {
    // A BU in clear for a home address no IPsecPolicySet entry covers: the
    // kernel let it in, so it could come from anyone.
    let mut c = ctx(&[]);
    c.ipsec_required = true;
    c.ipsec_protected = false;
    let v = check_home_bu(&c);
    assert_eq!(
        v,
        HomeBuVerdict::Reject {
            status: BaStatus::ADMIN_PROHIBITED,
            sequence: 10
        }
    );
    // Nor may it remove someone's binding.
    let mut c = ctx(&[]);
    c.ipsec_required = true;
    c.bu.lifetime_units = 0;
    c.bu.sequence = 11;
    c.existing = existing(10, AH);
    assert_eq!(status(&check_home_bu(&c)), Some(129));
    // Protected, or IPsec not required: accepted as before.
    c.ipsec_protected = true;
    assert!(matches!(check_home_bu(&c), HomeBuVerdict::Accept(a) if a.deregistration));
    c.ipsec_required = false;
    c.ipsec_protected = false;
    assert!(matches!(check_home_bu(&c), HomeBuVerdict::Accept(a) if a.deregistration));
}

/// Runs one BU through the checks and the cache the way the driver does.
fn register(cache: &mut BindingCache, now: Instant, home: Ipv6Addr, seq: u16) -> Option<u8> {
    let mut c = ctx(&[]);
    c.home_address = home;
    c.bu.sequence = seq;
    c.existing = cache.existing(&home);
    c.cache_full = cache.is_full();
    let v = check_home_bu(&c);
    if let HomeBuVerdict::Accept(a) = &v {
        if cache.apply(now, home, ha(), &c.bu, a) == BcChange::DadStarted {
            cache.dad_finished(now, &home, false);
        }
    }
    status(&v)
}

#[test]
fn attack_binding_past_the_cap_is_refused_130_and_refreshes_still_pass() {
    let t0 = Instant::now();
    let n = 50u16;
    let mut cache = BindingCache::with_max_bindings(usize::from(n));
    let home = |i: u16| Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 1, i);
    for i in 0..n {
        assert_eq!(register(&mut cache, t0, home(i), 1), Some(0), "binding {i}");
    }
    assert!(cache.is_full());
    // The N+1-th home address: 130, and no entry (so no kernel state).
    assert_eq!(register(&mut cache, t0, home(n), 1), Some(130));
    assert!(cache.get(&home(n)).is_none());
    assert_eq!(cache.len(), usize::from(n));
    // A registered mobile node still refreshes and deregisters.
    assert_eq!(register(&mut cache, t0 + secs(1), home(0), 2), Some(0));
    let mut c = ctx(&[]);
    c.home_address = home(1);
    c.bu = bu(2, AH, 0);
    c.existing = cache.existing(&home(1));
    c.cache_full = cache.is_full();
    let HomeBuVerdict::Accept(a) = check_home_bu(&c) else {
        panic!("deregistration refused at the cap")
    };
    cache.apply(t0 + secs(1), home(1), ha(), &c.bu, &a);
    // Which frees a place.
    assert_eq!(register(&mut cache, t0 + secs(2), home(n), 1), Some(0));
}

#[test]
fn attack_mobile_network_prefix_without_acl_entry_is_refused_142() {
    // A mobile router names a prefix; its home address has no
    // BindingAclPolicy entry, only the default policy allows it.
    let victim = [MobilityOption::MobileNetworkPrefix {
        prefix_len: 48,
        prefix: "2001:db8:cafe::".parse().unwrap(),
    }];
    let mut c = ctx(&victim);
    c.bu.flags = BuFlags(AHR);
    c.acl = ALLOW;
    let v = check_home_bu(&c);
    assert_eq!(status(&v), Some(142));
    assert!(!matches!(v, HomeBuVerdict::Accept(_)));
    // An entry listing other prefixes: still 142; listing it: accepted.
    let other = [mnp()];
    c.acl.prefixes = Some(&other);
    assert_eq!(status(&check_home_bu(&c)), Some(142));
    let listed = [("2001:db8:cafe::".parse().unwrap(), 48)];
    c.acl.prefixes = Some(&listed);
    let HomeBuVerdict::Accept(a) = check_home_bu(&c) else {
        panic!("listed prefix refused")
    };
    assert_eq!(a.mobile_network_prefixes, listed.to_vec());
}
