//! The mobile node's test runs and [`RoEntry`] against the correspondent of
//! [`crate::cn`], in simulated time.

use super::*;
use crate::cn::{answer_test_init, CnBindingCache, CnBuContext};
use crate::rr::{self, Keygen};
use crate::wire::mh::TestInit;

const KCN: rr::Kcn = [7; 20];

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn hoa() -> Ipv6Addr {
    a("2001:db8:1::100")
}

fn reply(m: Option<MhRepr>) -> TestReply {
    match m.unwrap().message {
        MhMessage::HomeTest(r) | MhMessage::CareOfTest(r) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn test_runs_back_off_from_5s_to_32s() {
    let t0 = Instant::now();
    let mut r = TestRun::start(t0, hoa(), [5; 8]);
    let mut sends = vec![];
    let mut now = t0;
    while now < t0 + Duration::from_secs(200) {
        now += Duration::from_secs(1);
        if r.due(now) {
            sends.push(now.duration_since(t0).as_secs());
        }
    }
    assert_eq!(sends, vec![5, 15, 35, 67, 99, 131, 163, 195]);
    assert!(!r.handle_reply(now, &[6; 8], 1, [1; 8]), "wrong cookie");
    assert!(r.handle_reply(now, &[5; 8], 1, [1; 8]));
    assert!(
        !r.due(now + Duration::from_secs(100)),
        "no retransmission after the reply"
    );
    assert_eq!(r.token(now + Duration::from_secs(209)), Some((1, [1; 8])));
    assert_eq!(r.token(now + Duration::from_secs(210)), None);
}

/// [`RoEntry`] against the correspondent of [`crate::cn`], message by message,
/// in simulated time.
mod with_the_mobile_node {
    use super::*;

    struct Lab {
        k: Keygen,
        cache: CnBindingCache,
        t: Instant,
        cookies: u8,
    }

    const HOA: &str = "2001:db8:1::100";
    const CN: &str = "2001:db8:3::1";

    impl Lab {
        fn new() -> Lab {
            Lab {
                k: Keygen::new(KCN, 40),
                cache: CnBindingCache::new(),
                t: Instant::now(),
                cookies: 0,
            }
        }
        fn cookies(&mut self) -> ([u8; 8], [u8; 8]) {
            self.cookies += 2;
            ([self.cookies; 8], [self.cookies + 1; 8])
        }
        /// Delivers the actions' messages to the correspondent and its
        /// answers back to the entry, until nothing is left; returns the
        /// actions seen.
        fn run(&mut self, e: &mut RoEntry, mut actions: Vec<RoAction>) -> Vec<RoAction> {
            let mut seen = Vec::new();
            while let Some(a) = (!actions.is_empty()).then(|| actions.remove(0)) {
                seen.push(a.clone());
                let more = match a {
                    RoAction::SendHomeTestInit(cookie) => {
                        let r = reply(answer_test_init(
                            &mut self.k,
                            self.t,
                            &e.hoa,
                            &MhMessage::HomeTestInit(TestInit { cookie }),
                            [0x33; 8],
                        ));
                        e.handle_test_reply(self.t, true, &r)
                    }
                    RoAction::SendCareOfTestInit(cookie) => {
                        let r = reply(answer_test_init(
                            &mut self.k,
                            self.t,
                            &e.coa,
                            &MhMessage::CareOfTestInit(TestInit { cookie }),
                            [0x44; 8],
                        ));
                        e.handle_test_reply(self.t, false, &r)
                    }
                    RoAction::SendBindingUpdate {
                        message,
                        care_of_address,
                        ..
                    } => {
                        let repr = MhRepr::parse(&message).unwrap();
                        let MhMessage::BindingUpdate(bu) = repr.message else {
                            panic!()
                        };
                        let ctx = CnBuContext {
                            home_address: e.hoa,
                            packet_source: care_of_address,
                            correspondent: e.cn,
                            bu,
                            options: &repr.options,
                            mh: &message,
                            policy_allows: true,
                        };
                        let out = self.cache.handle_binding_update(self.t, &self.k, &ctx);
                        match out.ack() {
                            Some(ack) => {
                                let bytes = ack.emit().unwrap();
                                let MhMessage::BindingAck(ba) =
                                    MhRepr::parse(&bytes).unwrap().message
                                else {
                                    panic!()
                                };
                                let c = self.cookies();
                                e.handle_binding_ack(self.t, &ba, &bytes, c)
                            }
                            None => Vec::new(),
                        }
                    }
                    RoAction::Bound(_) | RoAction::RemoveState => Vec::new(),
                };
                actions.extend(more);
            }
            seen
        }
    }

    fn cfg(ack: bool) -> RoConfig {
        RoConfig {
            lifetime: Duration::from_secs(420),
            ack,
            max_inits: 5,
        }
    }

    fn kinds(actions: &[RoAction]) -> Vec<&'static str> {
        actions
            .iter()
            .map(|a| match a {
                RoAction::SendHomeTestInit(_) => "HoTI",
                RoAction::SendCareOfTestInit(_) => "CoTI",
                RoAction::SendBindingUpdate { .. } => "BU",
                RoAction::Bound(_) => "bound",
                RoAction::RemoveState => "remove",
            })
            .collect()
    }

    #[test]
    fn tests_bu_ba_handover_refresh_and_expiry() {
        let mut lab = Lab::new();
        let c = lab.cookies();
        let (mut e, first) =
            RoEntry::start(lab.t, a(CN), a(HOA), a("2001:db8:a::5"), 100, c, cfg(true));
        let seen = lab.run(&mut e, first);
        assert_eq!(kinds(&seen), ["HoTI", "CoTI", "BU", "bound"]);
        assert_eq!(
            lab.cache.get(&a(CN), &a(HOA)).unwrap().care_of_address,
            a("2001:db8:a::5")
        );
        assert_eq!(e.expires, Some(lab.t + Duration::from_secs(420)));
        // Handover 60 s later: the home token is still good, only the care-of test runs.
        lab.t += Duration::from_secs(60);
        let c = lab.cookies();
        let acts = e.handover(lab.t, a("2001:db8:b::5"), c);
        let seen = lab.run(&mut e, acts);
        assert_eq!(kinds(&seen), ["CoTI", "BU", "bound"]);
        let b = lab.cache.get(&a(CN), &a(HOA)).unwrap();
        assert_eq!((b.care_of_address, b.sequence), (a("2001:db8:b::5"), 101));
        // The refresh at 90 % of the lifetime runs both tests again.
        lab.t += Duration::from_secs(378);
        assert_eq!(e.poll_timeout(), Some(lab.t));
        let c = lab.cookies();
        let acts = e.handle_timeout(lab.t, c);
        let seen = lab.run(&mut e, acts);
        assert_eq!(kinds(&seen), ["HoTI", "CoTI", "BU", "bound"]);
        // No traffic, no refresh: after the next lifetime, the state goes.
        lab.t += Duration::from_secs(378);
        let c = lab.cookies();
        let acts = e.handle_timeout(lab.t, c);
        assert_eq!(
            kinds(&acts),
            ["HoTI", "CoTI"],
            "refreshed again (the CN does not answer now)"
        );
        lab.t += Duration::from_secs(42);
        let c = lab.cookies();
        let acts = e.handle_timeout(lab.t, c);
        assert_eq!(kinds(&acts)[0], "remove");
        assert!(matches!(e.phase, RoPhase::Failed { .. }));
    }

    #[test]
    fn without_ack_the_bu_binds_at_once_and_an_old_home_token_is_not_used() {
        let mut lab = Lab::new();
        let c = lab.cookies();
        let (mut e, first) =
            RoEntry::start(lab.t, a(CN), a(HOA), a("2001:db8:a::5"), 7, c, cfg(false));
        let seen = lab.run(&mut e, first);
        assert_eq!(kinds(&seen), ["HoTI", "CoTI", "BU", "bound"]);
        assert!(matches!(e.phase, RoPhase::Bound { .. }));

        // The home token is good for 210 s only (MAX_TOKEN_LIFETIME).
        let mut lab = Lab::new();
        let c = lab.cookies();
        let (mut e, first) =
            RoEntry::start(lab.t, a(CN), a(HOA), a("2001:db8:a::5"), 7, c, cfg(true));
        // The HoT comes; the CoT is lost until the home nonce is old.
        let RoAction::SendHomeTestInit(hc) = first[0] else {
            panic!()
        };
        let hot = reply(answer_test_init(
            &mut lab.k,
            lab.t,
            &e.hoa,
            &MhMessage::HomeTestInit(TestInit { cookie: hc }),
            [1; 8],
        ));
        assert!(e.handle_test_reply(lab.t, true, &hot).is_empty());
        lab.t += Duration::from_secs(200);
        let c = lab.cookies();
        let acts = e.handle_timeout(lab.t, c);
        assert!(kinds(&acts).contains(&"CoTI"));
        lab.t += Duration::from_secs(41);
        let coti: Vec<_> = acts
            .into_iter()
            .filter(|a| matches!(a, RoAction::SendCareOfTestInit(_)))
            .collect();
        let seen = lab.run(&mut e, coti);
        assert_eq!(kinds(&seen), ["CoTI"], "home token older than 210 s: no BU");
    }

    #[test]
    fn back_home_the_binding_is_deleted_with_the_home_token_alone() {
        for ack in [true, false] {
            let mut lab = Lab::new();
            let c = lab.cookies();
            let (mut e, first) =
                RoEntry::start(lab.t, a(CN), a(HOA), a("2001:db8:a::5"), 7, c, cfg(ack));
            lab.run(&mut e, first);
            assert_eq!(lab.cache.len(), 1);
            lab.t += Duration::from_secs(30);
            let acts = e.deregister(lab.t, [9; 8], true);
            let seen = lab.run(&mut e, acts);
            assert_eq!(kinds(&seen), ["HoTI", "BU"], "ack {ack}");
            let RoAction::SendBindingUpdate {
                message,
                care_of_address,
                ..
            } = &seen[1]
            else {
                panic!()
            };
            assert_eq!(*care_of_address, a(HOA));
            match MhRepr::parse(message).unwrap().message {
                MhMessage::BindingUpdate(bu) => assert_eq!(bu.lifetime_units, 0),
                other => panic!("{other:?}"),
            }
            assert!(lab.cache.is_empty(), "the CN removed the binding");
            assert!(e.is_done(lab.t), "ack {ack}: {:?}", e.phase);
        }
        // Without a binding at the correspondent there is nothing to send.
        let t0 = Instant::now();
        let (mut e, _) = RoEntry::start(
            t0,
            a(CN),
            a(HOA),
            a("2001:db8:a::5"),
            1,
            ([1; 8], [2; 8]),
            cfg(true),
        );
        assert!(e.deregister(t0, [3; 8], true).is_empty());
        assert!(e.is_done(t0));
    }

    #[test]
    fn an_unused_binding_is_not_refreshed_and_expires() {
        let mut lab = Lab::new();
        let c = lab.cookies();
        let (mut e, first) =
            RoEntry::start(lab.t, a(CN), a(HOA), a("2001:db8:a::5"), 1, c, cfg(false));
        lab.run(&mut e, first);
        lab.t += Duration::from_secs(377);
        assert!(!e.refresh_due(lab.t));
        lab.t += Duration::from_secs(1);
        assert!(e.refresh_due(lab.t));
        e.skip_refresh();
        assert!(!e.refresh_due(lab.t));
        let c = lab.cookies();
        assert!(e.handle_timeout(lab.t, c).is_empty());
        assert_eq!(e.poll_timeout(), Some(lab.t + Duration::from_secs(42)));
        lab.t += Duration::from_secs(42);
        let c = lab.cookies();
        assert_eq!(kinds(&e.handle_timeout(lab.t, c)), ["remove"]);
        assert!(e.is_done(lab.t));
    }

    #[test]
    fn a_refresh_request_runs_the_tests_once() {
        let mut lab = Lab::new();
        let c = lab.cookies();
        let (mut e, first) =
            RoEntry::start(lab.t, a(CN), a(HOA), a("2001:db8:a::5"), 1, c, cfg(true));
        lab.run(&mut e, first);
        lab.t += Duration::from_secs(300);
        let c = lab.cookies();
        let acts = e.handle_refresh_request(lab.t, c);
        assert_eq!(kinds(&acts), ["HoTI", "CoTI"]);
        let c = lab.cookies();
        assert!(
            e.handle_refresh_request(lab.t, c).is_empty(),
            "already refreshing"
        );
        let seen = lab.run(&mut e, acts);
        assert_eq!(kinds(&seen), ["HoTI", "CoTI", "BU", "bound"]);
        assert_eq!(e.expires, Some(lab.t + Duration::from_secs(420)));
    }

    #[test]
    fn a_binding_error_ends_the_entry() {
        let mut lab = Lab::new();
        let c = lab.cookies();
        let (mut e, first) =
            RoEntry::start(lab.t, a(CN), a(HOA), a("2001:db8:a::5"), 1, c, cfg(true));
        lab.run(&mut e, first);
        assert!(e.expires.is_some());
        lab.t += BE_CROSSED_BU;
        assert_eq!(kinds(&e.handle_binding_error(lab.t)), ["remove"]);
        assert!(e.is_done(lab.t));
    }

    /// The correspondent read a data packet with our Home Address option
    /// before the BU that creates the binding: its Binding Error crossed the
    /// BU and must not undo it.
    #[test]
    fn a_binding_error_that_crossed_the_bu_is_ignored() {
        for ack in [true, false] {
            let t0 = Instant::now();
            let mut e = RoEntry::start(
                t0,
                a(CN),
                a(HOA),
                a("2001:db8:a::5"),
                1,
                ([1; 8], [2; 8]),
                cfg(ack),
            )
            .0;
            let mut k = Keygen::new(KCN, 40);
            let mut answer = |from: Ipv6Addr, init: MhMessage| {
                reply(answer_test_init(&mut k, t0, &from, &init, [0x33; 8]))
            };
            let cookie = |c: u8| TestInit { cookie: [c; 8] };
            let home = answer(e.hoa, MhMessage::HomeTestInit(cookie(1)));
            let care_of = answer(e.coa, MhMessage::CareOfTestInit(cookie(2)));
            assert!(e.handle_test_reply(t0, true, &home).is_empty());
            assert_eq!(kinds(&e.handle_test_reply(t0, false, &care_of))[0], "BU");
            let soon = t0 + Duration::from_millis(200);
            assert!(e.binding_error_crossed_bu(soon), "ack {ack}");
            assert!(e.handle_binding_error(soon).is_empty(), "ack {ack}");
            assert!(!e.is_done(soon), "ack {ack}: the entry stays");
        }
    }

    /// RFC 6275 §11.3.6: a correspondent without Mobile IPv6 (BE status 2,
    /// Parameter Problem) is left alone for 420 s, from the first test on
    /// or with a binding in place; no init is sent meanwhile.
    #[test]
    fn a_correspondent_without_mobile_ipv6_is_left_alone_at_once() {
        let t0 = Instant::now();
        let (mut e, _) = RoEntry::start(
            t0,
            a(CN),
            a(HOA),
            a("2001:db8:a::5"),
            1,
            ([1; 8], [2; 8]),
            cfg(true),
        );
        assert!(!e.took_part());
        let t = t0 + Duration::from_millis(50);
        assert_eq!(kinds(&e.handle_not_supported(t)), ["remove"]);
        assert_eq!(e.poll_timeout(), Some(t + CN_RETRY_AFTER));
        assert!(e
            .handle_timeout(t + Duration::from_secs(30), ([1; 8], [2; 8]))
            .is_empty());
        assert!(!e.is_done(t + CN_RETRY_AFTER - Duration::from_secs(1)));
        assert!(e.is_done(t + CN_RETRY_AFTER));

        let mut lab = Lab::new();
        let c = lab.cookies();
        let (mut bound, first) =
            RoEntry::start(lab.t, a(CN), a(HOA), a("2001:db8:a::5"), 1, c, cfg(false));
        lab.run(&mut bound, first);
        assert!(bound.took_part() && bound.expires.is_some());
        assert_eq!(kinds(&bound.handle_not_supported(lab.t)), ["remove"]);
        assert_eq!(bound.expires, None);
        assert!(!bound.is_done(lab.t));
    }

    /// Back home with a BU still awaiting its BA: deregistered (the
    /// correspondent may hold the binding), or just ended when
    /// `MnFlushAllAtHome` drops unacknowledged entries.
    #[test]
    fn back_home_an_unacknowledged_bu_is_deregistered_unless_flushed() {
        for flush in [false, true] {
            let t0 = Instant::now();
            let mut e = RoEntry::start(
                t0,
                a(CN),
                a(HOA),
                a("2001:db8:a::5"),
                1,
                ([1; 8], [2; 8]),
                cfg(true),
            )
            .0;
            let mut k = Keygen::new(KCN, 40);
            let mut answer = |from: Ipv6Addr, init: MhMessage| {
                reply(answer_test_init(&mut k, t0, &from, &init, [0x33; 8]))
            };
            let cookie = |c: u8| TestInit { cookie: [c; 8] };
            let home = answer(e.hoa, MhMessage::HomeTestInit(cookie(1)));
            let care_of = answer(e.coa, MhMessage::CareOfTestInit(cookie(2)));
            e.handle_test_reply(t0, true, &home);
            assert_eq!(kinds(&e.handle_test_reply(t0, false, &care_of)), ["BU"]);
            assert!(matches!(e.phase, RoPhase::WaitingAck { .. }));
            let out = e.deregister(t0, [9; 8], !flush);
            if flush {
                assert!(out.is_empty());
                assert!(e.is_done(t0));
            } else {
                assert_eq!(kinds(&out), ["HoTI"]);
                assert!(!e.is_done(t0));
            }
        }
    }

    #[test]
    fn a_silent_correspondent_is_left_alone() {
        let t0 = Instant::now();
        let (mut e, first) = RoEntry::start(
            t0,
            a(CN),
            a(HOA),
            a("2001:db8:a::5"),
            1,
            ([1; 8], [2; 8]),
            cfg(true),
        );
        assert_eq!(kinds(&first), ["HoTI", "CoTI"]);
        let mut sent = 2;
        let mut t = t0;
        while !matches!(e.phase, RoPhase::Failed { .. }) {
            t = e.poll_timeout().unwrap();
            sent += e.handle_timeout(t, ([1; 8], [2; 8])).len();
        }
        // 5 inits each at 0, 5, 15, 35, 67 s; the 6th is not sent.
        assert_eq!(sent, 10);
        assert_eq!(t - t0, Duration::from_secs(99));
        assert!(!e.is_done(t));
        assert!(e.is_done(t + CN_RETRY_AFTER));
    }

    /// An attacker who sees each BU answers it at once with a BA 138
    /// (expired nonces), which cannot be authenticated; the correspondent
    /// answers the tests.
    #[test]
    fn forged_expired_nonce_bas_cannot_drive_a_test_and_bu_loop() {
        let mut lab = Lab::new();
        let t0 = lab.t;
        let c = lab.cookies();
        let (mut e, mut pending) =
            RoEntry::start(t0, a(CN), a(HOA), a("2001:db8:a::5"), 1, c, cfg(true));
        let (mut bus, mut inits, mut steps) = (0, 0, 0u32);
        // Cookies of our own: a runaway loop must reach the step check.
        let mut serial = 0u32;
        let mut cookies = move || {
            serial += 1;
            let b = serial.to_be_bytes();
            (
                [0, 0, 0, 0, b[0], b[1], b[2], b[3]],
                [1, 0, 0, 0, b[0], b[1], b[2], b[3]],
            )
        };
        while lab.t < t0 + Duration::from_secs(120) {
            while let Some(act) = (!pending.is_empty()).then(|| pending.remove(0)) {
                steps += 1;
                assert!(steps < 10_000, "{bus} BUs at {:?}", lab.t - t0);
                let more = match act {
                    RoAction::SendHomeTestInit(cookie) | RoAction::SendCareOfTestInit(cookie) => {
                        inits += 1;
                        let home = matches!(act, RoAction::SendHomeTestInit(_));
                        let (src, m) = if home {
                            (e.hoa, MhMessage::HomeTestInit(TestInit { cookie }))
                        } else {
                            (e.coa, MhMessage::CareOfTestInit(TestInit { cookie }))
                        };
                        let r = reply(answer_test_init(&mut lab.k, lab.t, &src, &m, [9; 8]));
                        e.handle_test_reply(lab.t, home, &r)
                    }
                    RoAction::SendBindingUpdate { sequence, .. } => {
                        bus += 1;
                        let forged = BindingAck {
                            status: crate::consts::BaStatus::EXPIRED_NONCES,
                            flags: crate::wire::mh::BaFlags::default(),
                            sequence,
                            lifetime_units: 0,
                        };
                        let mh = MhRepr::new(MhMessage::BindingAck(forged))
                            .emit_without_checksum()
                            .unwrap();
                        e.handle_binding_ack(lab.t, &forged, &mh, cookies())
                    }
                    RoAction::Bound(_) | RoAction::RemoveState => Vec::new(),
                };
                pending.extend(more);
            }
            let Some(next) = e.poll_timeout() else { break };
            lab.t = next.max(lab.t);
            pending = e.handle_timeout(lab.t, cookies());
        }
        // BUs at 0 s (the first, then one immediate restart), then restarts
        // 5, 10, 20, 32, 32 s apart: at 5, 15, 35, 67, 99 s.
        assert!(bus <= 8, "{bus} BUs in 120 s");
        assert!(inits <= 2 * bus, "{inits} inits for {bus} BUs");
        assert!(!matches!(e.phase, RoPhase::Bound { .. }));
    }
}
