//! The correspondent node against a mobile node simulated here: it runs the
//! two tests through [`answer_test_init`], derives Kbm from the tokens it got
//! and signs its BU with [`rr::sign`], as a real one would.

use super::*;
use crate::rr::binding_key;

const KCN: rr::Kcn = [7; 20];

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

struct Mn {
    hoa: Ipv6Addr,
    coa: Ipv6Addr,
    cn: Ipv6Addr,
    home: (u16, rr::Token),
    care_of: (u16, rr::Token),
}

fn reply(m: Option<MhRepr>) -> TestReply {
    match m.unwrap().message {
        MhMessage::HomeTest(r) | MhMessage::CareOfTest(r) => r,
        other => panic!("{other:?}"),
    }
}

impl Mn {
    /// Runs both tests at `now` against `k`.
    fn tests(k: &mut Keygen, now: Instant, coa: &str) -> Mn {
        Mn::tests_from(k, now, "2001:db8:1::100", coa)
    }

    /// The same for another home address.
    fn tests_from(k: &mut Keygen, now: Instant, hoa: &str, coa: &str) -> Mn {
        let (hoa, coa, cn) = (a(hoa), a(coa), a("2001:db8:3::1"));
        let hot = reply(answer_test_init(
            k,
            now,
            &hoa,
            &MhMessage::HomeTestInit(TestInit { cookie: [1; 8] }),
            [0x11; 8],
        ));
        assert_eq!(hot.cookie, [1; 8]);
        let cot = reply(answer_test_init(
            k,
            now,
            &coa,
            &MhMessage::CareOfTestInit(TestInit { cookie: [2; 8] }),
            [0x22; 8],
        ));
        assert_eq!(cot.cookie, [2; 8]);
        Mn {
            hoa,
            coa,
            cn,
            home: (hot.nonce_index, hot.keygen_token),
            care_of: (cot.nonce_index, cot.keygen_token),
        }
    }

    fn kbm(&self, dereg: bool) -> Kbm {
        binding_key(&self.home.1, (!dereg).then_some(&self.care_of.1))
    }

    /// A signed BU (flags, sequence, lifetime in seconds).
    fn bu(
        &self,
        flags: u16,
        sequence: u16,
        secs: u32,
    ) -> (BindingUpdate, Vec<MobilityOption>, Vec<u8>) {
        let bu = BindingUpdate {
            sequence,
            flags: BuFlags(flags),
            lifetime_units: lifetime_units(secs),
        };
        let mut repr = MhRepr::new(MhMessage::BindingUpdate(bu));
        repr.options = vec![
            MobilityOption::NonceIndices {
                home: self.home.0,
                care_of: self.care_of.0,
            },
            MobilityOption::BindingAuthData(vec![0; AUTHENTICATOR_LEN]),
        ];
        let mut bytes = repr.emit_without_checksum().unwrap();
        // A deregistration is signed with the home token alone.
        rr::sign(&self.kbm(secs == 0), &self.coa, &self.cn, &mut bytes).unwrap();
        (bu, repr.options, bytes)
    }

    fn send(
        &self,
        cache: &mut CnBindingCache,
        k: &Keygen,
        now: Instant,
        msg: &(BindingUpdate, Vec<MobilityOption>, Vec<u8>),
        allow: bool,
    ) -> CnBuOutcome {
        let ctx = CnBuContext {
            home_address: self.hoa,
            packet_source: self.coa,
            correspondent: self.cn,
            bu: msg.0,
            options: &msg.1,
            mh: &msg.2,
            policy_allows: allow,
        };
        cache.handle_binding_update(now, k, &ctx)
    }
}

fn status(o: &CnBuOutcome) -> u8 {
    o.ack().map_or(255, |a| a.status.0)
}

#[test]
fn tests_echo_the_cookie_and_other_messages_get_no_answer() {
    let mut k = Keygen::new(KCN, 100);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    assert_eq!(mn.home.0, 100);
    assert_eq!(mn.care_of.0, 100);
    assert_ne!(mn.home.1, mn.care_of.1);
    assert!(answer_test_init(
        &mut k,
        t0,
        &mn.hoa,
        &MhMessage::BindingRefreshRequest,
        [0; 8]
    )
    .is_none());
}

#[test]
fn an_authorized_bu_is_cached_capped_at_420s_and_acked_signed() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    let mut c = CnBindingCache::new();
    let bu = mn.bu(BuFlags::ACK, 10, 1000);
    let out = mn.send(&mut c, &k, t0 + Duration::from_secs(5), &bu, true);
    let CnBuOutcome::Done(
        CnChange::Installed {
            binding,
            previous_coa: None,
        },
        Some(ack),
    ) = &out
    else {
        panic!("{out:?}");
    };
    assert_eq!(binding.lifetime, Duration::from_secs(420));
    assert_eq!(binding.care_of_address, mn.coa);
    assert_eq!(ack.status, BaStatus::ACCEPTED);
    assert_eq!(ack.via(), Some(mn.coa));
    let bytes = ack.emit().unwrap();
    // The mobile node checks the BA with its own Kbm.
    assert!(rr::verify(&mn.kbm(false), &mn.coa, &mn.cn, &bytes));
    match MhRepr::parse(&bytes).unwrap().message {
        MhMessage::BindingAck(b) => assert_eq!((b.sequence, b.lifetime_units), (10, 105)),
        other => panic!("{other:?}"),
    }
    // Expiry in simulated time (the refresh request 2 s before it first).
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(423)));
    assert_eq!(
        c.refresh_requests_due(t0 + Duration::from_secs(423)).len(),
        1
    );
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(425)));
    assert!(c.handle_timeout(t0 + Duration::from_secs(424)).is_empty());
    assert_eq!(c.handle_timeout(t0 + Duration::from_secs(425)).len(), 1);
    assert!(c.is_empty());
}

#[test]
fn a_refresh_request_is_due_2s_before_expiry_once_per_lifetime() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    let mut c = CnBindingCache::new();
    mn.send(&mut c, &k, t0, &mn.bu(0, 10, 60), true);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(58)));
    assert!(c
        .refresh_requests_due(t0 + Duration::from_secs(57))
        .is_empty());
    let due = c.refresh_requests_due(t0 + Duration::from_secs(58));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].care_of_address, mn.coa);
    assert!(c
        .refresh_requests_due(t0 + Duration::from_secs(59))
        .is_empty());
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    // A refreshed binding may be asked again.
    let again = Mn::tests(&mut k, t0 + Duration::from_secs(59), "2001:db8:2::100");
    again.send(
        &mut c,
        &k,
        t0 + Duration::from_secs(59),
        &again.bu(0, 11, 60),
        true,
    );
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(117)));
}

#[test]
fn without_the_a_flag_nothing_is_sent() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    let mut c = CnBindingCache::new();
    let out = mn.send(&mut c, &k, t0, &mn.bu(0, 10, 60), true);
    assert!(
        matches!(out, CnBuOutcome::Done(CnChange::Installed { .. }, None)),
        "{out:?}"
    );
    assert_eq!(c.len(), 1);
}

#[test]
fn unauthorized_bus_are_dropped_silently() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    let mut c = CnBindingCache::new();
    // Tampered authenticator.
    let mut bu = mn.bu(BuFlags::ACK, 10, 60);
    let last = bu.2.len() - 1;
    bu.2[last] ^= 1;
    assert_eq!(
        mn.send(&mut c, &k, t0, &bu, true),
        CnBuOutcome::Dropped(CnDropReason::BadAuthenticator)
    );
    // Tokens of another care-of address.
    let other = Mn {
        coa: a("2001:db8:9::1"),
        ..Mn::tests(&mut k, t0, "2001:db8:2::100")
    };
    assert_eq!(
        other.send(&mut c, &k, t0, &other.bu(BuFlags::ACK, 10, 60), true),
        CnBuOutcome::Dropped(CnDropReason::BadAuthenticator)
    );
    // No Nonce Indices.
    let mut bu = mn.bu(BuFlags::ACK, 10, 60);
    bu.1.remove(0);
    assert_eq!(
        mn.send(&mut c, &k, t0, &bu, true),
        CnBuOutcome::Dropped(CnDropReason::NotAuthorized)
    );
    // Link-local care-of address.
    let ll = Mn {
        coa: a("fe80::1"),
        ..Mn::tests(&mut k, t0, "2001:db8:2::100")
    };
    assert_eq!(
        ll.send(&mut c, &k, t0, &ll.bu(0, 10, 60), true),
        CnBuOutcome::Dropped(CnDropReason::NotRoutable)
    );
    assert!(c.is_empty());
}

#[test]
fn expired_nonces_give_136_137_138() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    let late = t0 + Duration::from_secs(241);
    // A fresh care-of test after the home nonce expired.
    let fresh = Mn::tests(&mut k, late, "2001:db8:2::100");
    let mut c = CnBindingCache::new();
    let mixed = |home: (u16, rr::Token), care_of: (u16, rr::Token)| Mn {
        home,
        care_of,
        ..Mn::tests(&mut Keygen::new(KCN, 1), t0, "2001:db8:2::100")
    };
    let old_home = mixed(mn.home, fresh.care_of);
    assert_eq!(
        status(&old_home.send(&mut c, &k, late, &old_home.bu(0, 1, 60), true)),
        136
    );
    let old_coa = mixed(fresh.home, mn.care_of);
    assert_eq!(
        status(&old_coa.send(&mut c, &k, late, &old_coa.bu(0, 1, 60), true)),
        137
    );
    assert_eq!(
        status(&mn.send(&mut c, &k, late, &mn.bu(0, 1, 60), true)),
        138
    );
    // A deregistration only needs the home nonce.
    let out = old_coa.send(&mut c, &k, late, &old_coa.bu(BuFlags::ACK, 1, 0), true);
    assert_eq!(status(&out), 128, "valid, but no binding to remove");
    // Refusals carry no authenticator (no Kbm) but go to the care-of address.
    let out = mn.send(&mut c, &k, late, &mn.bu(0, 1, 60), true);
    let ack = out.ack().unwrap();
    assert!(ack.kbm.is_none() && ack.message.options.is_empty());
    assert_eq!(ack.via(), Some(mn.coa));
    assert!(c.is_empty());
}

#[test]
fn sequence_policy_update_and_deregistration() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    let mut c = CnBindingCache::new();
    assert_eq!(
        status(&mn.send(&mut c, &k, t0, &mn.bu(BuFlags::ACK, 10, 60), false)),
        129
    );
    assert!(c.is_empty());
    assert_eq!(
        status(&mn.send(&mut c, &k, t0, &mn.bu(BuFlags::ACK, 10, 60), true)),
        0
    );
    // Not greater: 135 with the stored sequence number, signed.
    let out = mn.send(&mut c, &k, t0, &mn.bu(0, 10, 60), true);
    let ack = out.ack().unwrap();
    assert_eq!(ack.status, BaStatus::SEQUENCE_OUT_OF_WINDOW);
    assert!(rr::verify(
        &mn.kbm(false),
        &mn.coa,
        &mn.cn,
        &ack.emit().unwrap()
    ));
    // A handover: new tests from the new care-of address, same binding.
    let moved = Mn::tests(&mut k, t0 + Duration::from_secs(50), "2001:db8:4::100");
    let out = moved.send(
        &mut c,
        &k,
        t0 + Duration::from_secs(50),
        &moved.bu(0, 11, 60),
        true,
    );
    match out {
        CnBuOutcome::Done(
            CnChange::Installed {
                binding,
                previous_coa,
            },
            None,
        ) => {
            assert_eq!(previous_coa, Some(mn.coa));
            assert_eq!(binding.care_of_address, moved.coa);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.len(), 1);
    // Deregistration (lifetime 0): Kbm from the home token alone.
    let out = moved.send(
        &mut c,
        &k,
        t0 + Duration::from_secs(60),
        &moved.bu(BuFlags::ACK, 12, 0),
        true,
    );
    match &out {
        CnBuOutcome::Done(CnChange::Removed(b), Some(ack)) => {
            assert_eq!(b.care_of_address, moved.coa);
            assert!(rr::verify(
                &moved.kbm(true),
                &moved.coa,
                &moved.cn,
                &ack.emit().unwrap()
            ));
        }
        other => panic!("{other:?}"),
    }
    assert!(c.is_empty());
}

#[test]
fn home_registrations_are_refused() {
    let mut k = Keygen::new(KCN, 1);
    let t0 = Instant::now();
    let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
    let mut c = CnBindingCache::new();
    let home = |with_nonces: bool| {
        let bu = BindingUpdate {
            sequence: 3,
            flags: BuFlags(BuFlags::HOME | BuFlags::ACK),
            lifetime_units: 10,
        };
        let opts = if with_nonces {
            vec![MobilityOption::NonceIndices {
                home: 1,
                care_of: 1,
            }]
        } else {
            vec![]
        };
        let mh = MhRepr {
            message: MhMessage::BindingUpdate(bu),
            options: opts.clone(),
        }
        .emit_without_checksum()
        .unwrap();
        (bu, opts, mh)
    };
    assert_eq!(status(&mn.send(&mut c, &k, t0, &home(false), true)), 131);
    assert_eq!(
        mn.send(&mut c, &k, t0, &home(true), true),
        CnBuOutcome::Dropped(CnDropReason::HomeBuWithNonces)
    );
    mn.send(&mut c, &k, t0, &mn.bu(0, 10, 60), true);
    assert_eq!(status(&mn.send(&mut c, &k, t0, &home(false), true)), 139);
    assert_eq!(c.drain().len(), 1);
}

#[path = "cn_attack_tests.rs"]
mod attacks;

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the octets and options, the checks never panic and never
        /// accept a BU whose authenticator was not made with the tokens.
        #[test]
        fn arbitrary_bus_are_never_accepted(
            mh in proptest::collection::vec(any::<u8>(), 0..64),
            flags in any::<u16>(),
            seq in any::<u16>(),
            units in any::<u16>(),
            home in any::<u16>(),
            care_of in any::<u16>(),
            auth in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let mut k = Keygen::new(KCN, 1);
            let t0 = Instant::now();
            let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
            let options = vec![
                MobilityOption::NonceIndices { home, care_of },
                MobilityOption::BindingAuthData(auth),
            ];
            let ctx = CnBuContext {
                home_address: mn.hoa,
                packet_source: mn.coa,
                correspondent: mn.cn,
                bu: BindingUpdate { sequence: seq, flags: BuFlags(flags), lifetime_units: units },
                options: &options,
                mh: &mh,
                policy_allows: true,
            };
            let mut c = CnBindingCache::new();
            let out = c.handle_binding_update(t0, &k, &ctx);
            prop_assert!(!matches!(out, CnBuOutcome::Done(..)), "{:?}", out);
            prop_assert!(c.is_empty());
        }

        /// One flipped bit anywhere but the checksum makes a signed BU fail.
        #[test]
        fn a_flipped_bit_is_caught(bit in 0usize..(32 * 8)) {
            let mut k = Keygen::new(KCN, 1);
            let t0 = Instant::now();
            let mn = Mn::tests(&mut k, t0, "2001:db8:2::100");
            let (bu, options, mut mh) = mn.bu(0, 10, 60);
            prop_assume!(bit / 8 < mh.len() && !(32..48).contains(&bit));
            mh[bit / 8] ^= 1 << (bit % 8);
            let ctx = CnBuContext {
                home_address: mn.hoa,
                packet_source: mn.coa,
                correspondent: mn.cn,
                bu,
                options: &options,
                mh: &mh,
                policy_allows: true,
            };
            let mut c = CnBindingCache::new();
            let out = c.handle_binding_update(t0, &k, &ctx);
            prop_assert_eq!(out, CnBuOutcome::Dropped(CnDropReason::BadAuthenticator));
        }
    }
}
