use super::*;

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
fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The BU inside a send event: (sequence, flags, lifetime units, options).
fn sent_bu(ev: &BulEvent) -> (BindingUpdate, Vec<MobilityOption>) {
    match ev {
        BulEvent::SendBindingUpdate {
            message:
                MhRepr {
                    message: MhMessage::BindingUpdate(bu),
                    options,
                },
            ..
        } => (*bu, options.clone()),
        other => panic!("expected a BU, got {other:?}"),
    }
}

fn ba(status: BaStatus, sequence: u16, lifetime_units: u16) -> BindingAck {
    BindingAck {
        status,
        flags: BaFlags::default(),
        sequence,
        lifetime_units,
    }
}

/// Registers coa_a at t0 and accepts it with `granted` units; returns the entry.
fn registered(t0: Instant, granted: u16) -> BulEntry {
    let mut e = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 100);
    let ev = e.register(t0, coa_a(), secs(600));
    let (bu, _) = sent_bu(&ev[0]);
    let ev = e.handle_binding_ack(
        t0 + Duration::from_millis(30),
        &ba(BaStatus::ACCEPTED, bu.sequence, granted),
        &[],
    );
    assert!(matches!(ev[..], [BulEvent::Registered { .. }]), "{ev:?}");
    e
}

#[test]
fn first_bu_is_a_home_registration_with_alternate_coa() {
    let t0 = Instant::now();
    let mut e = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 0xfffe);
    let ev = e.register(t0, coa_a(), secs(600));
    assert_eq!(ev.len(), 1);
    let BulEvent::SendBindingUpdate {
        care_of_address,
        home_address,
        home_agent,
        ..
    } = &ev[0]
    else {
        panic!()
    };
    assert_eq!(
        (*care_of_address, *home_address, *home_agent),
        (coa_a(), hoa(), ha())
    );
    let (bu, opts) = sent_bu(&ev[0]);
    assert_eq!(bu.sequence, 0xfffe);
    assert_eq!(bu.flags, BuFlags(BuFlags::ACK | BuFlags::HOME));
    assert_eq!(bu.lifetime_units, 150);
    assert_eq!(opts, vec![MobilityOption::AlternateCoa(coa_a())]);
    assert_eq!(e.state(), BulState::Registering);
}

#[test]
fn retransmission_backs_off_from_1s_to_32s_with_new_sequence_numbers() {
    let t0 = Instant::now();
    let mut cfg = HomeRegistrationConfig::new(hoa(), ha());
    cfg.initial_timeout_first_reg = INITIAL_BINDACK_TIMEOUT;
    let mut e = BulEntry::new(cfg, 0xfffe);
    e.register(t0, coa_a(), secs(600));
    let mut now = t0;
    let mut gaps = Vec::new();
    let mut seqs = vec![0xfffe];
    for _ in 0..8 {
        let next = e.poll_timeout().unwrap();
        gaps.push((next - now).as_secs());
        now = next;
        // Nothing happens a moment before the deadline.
        assert!(e.handle_timeout(now - Duration::from_millis(1)).is_empty());
        let ev = e.handle_timeout(now);
        assert_eq!(ev.len(), 1);
        seqs.push(sent_bu(&ev[0]).0.sequence);
    }
    assert_eq!(gaps, [1, 2, 4, 8, 16, 32, 32, 32]);
    assert_eq!(seqs, [0xfffe, 0xffff, 0, 1, 2, 3, 4, 5, 6]);
}

#[test]
fn no_second_bu_while_the_same_care_of_address_awaits_its_ba() {
    let t0 = Instant::now();
    let mut e = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 1);
    assert_eq!(e.register(t0, coa_a(), secs(600)).len(), 1);
    assert!(e.register(t0 + secs(1), coa_a(), secs(600)).is_empty());
    assert_eq!(e.outstanding_sequence(), Some(1));
    // Another CoA is sent at once.
    let ev = e.register(t0 + secs(1), coa_b(), secs(600));
    assert_eq!(sent_bu(&ev[0]).0.sequence, 2);
}

#[test]
fn first_registration_starts_at_1_5s_and_reregistration_at_1s() {
    let t0 = Instant::now();
    let mut e = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 1);
    e.register(t0, coa_a(), secs(600));
    assert_eq!(e.poll_timeout(), Some(t0 + Duration::from_millis(1500)));
    let mut e = registered(t0, 150);
    let t1 = t0 + secs(10);
    e.register(t1, coa_b(), secs(600));
    assert_eq!(e.poll_timeout(), Some(t1 + secs(1)));
}

#[test]
fn refresh_at_95_percent_of_granted_lifetime_then_expiry() {
    let t0 = Instant::now();
    // Asked 600 s, granted 100 units = 400 s: refresh at 380 s after the BU.
    let mut e = registered(t0, 100);
    let b = *e.binding().unwrap();
    assert_eq!(b.lifetime, secs(400));
    assert_eq!(b.expires_at, t0 + secs(400));
    assert_eq!(e.poll_timeout(), Some(t0 + secs(380)));
    let ev = e.handle_timeout(t0 + secs(380));
    let (bu, _) = sent_bu(&ev[0]);
    assert_eq!(
        bu.lifetime_units, 150,
        "the refresh asks for the full lifetime again"
    );
    assert_eq!(e.state(), BulState::Registered);
    // Unanswered: retransmissions at 1, 2, 4, 8 s; the binding expires at 400 s.
    let mut now = t0 + secs(380);
    let mut expired = false;
    while now < t0 + secs(401) {
        now = e.poll_timeout().unwrap();
        if e.handle_timeout(now).contains(&BulEvent::Expired) {
            expired = true;
            assert_eq!(now, t0 + secs(400));
            break;
        }
    }
    assert!(expired);
    assert_eq!(e.state(), BulState::Registering);
}

#[test]
fn binding_refresh_advice_delays_the_refresh() {
    let t0 = Instant::now();
    let mut e = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 7);
    e.register(t0, coa_a(), secs(600));
    let advice = [MobilityOption::BindingRefreshAdvice {
        interval_units: 148,
    }];
    e.handle_binding_ack(t0, &ba(BaStatus::ACCEPTED, 7, 150), &advice);
    // 95 % of 600 s is 570 s; the advice says 592 s.
    assert_eq!(e.poll_timeout(), Some(t0 + secs(592)));
}

#[test]
fn status_135_resends_with_the_ba_sequence_plus_one() {
    let t0 = Instant::now();
    let mut e = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 10);
    e.register(t0, coa_a(), secs(600));
    let ev = e.handle_binding_ack(t0, &ba(BaStatus::SEQUENCE_OUT_OF_WINDOW, 0x5000, 0), &[]);
    let (bu, opts) = sent_bu(&ev[0]);
    assert_eq!(bu.sequence, 0x5001);
    assert_eq!(opts, vec![MobilityOption::AlternateCoa(coa_a())]);
    assert_eq!(e.last_status(), Some(BaStatus::SEQUENCE_OUT_OF_WINDOW));
    let ev = e.handle_binding_ack(t0, &ba(BaStatus::ACCEPTED, 0x5001, 150), &[]);
    assert!(matches!(
        ev[..],
        [BulEvent::Registered {
            status: BaStatus::ACCEPTED,
            ..
        }]
    ));
}

#[test]
fn ba_with_another_sequence_is_ignored() {
    let t0 = Instant::now();
    let mut e = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 10);
    e.register(t0, coa_a(), secs(600));
    assert!(e
        .handle_binding_ack(t0, &ba(BaStatus::ACCEPTED, 9, 150), &[])
        .is_empty());
    assert!(e
        .handle_binding_ack(t0, &ba(BaStatus::ADMIN_PROHIBITED, 11, 0), &[])
        .is_empty());
    assert_eq!(e.outstanding_sequence(), Some(10));
    // A BA with no BU outstanding is ignored too.
    let mut idle = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 1);
    assert!(idle
        .handle_binding_ack(t0, &ba(BaStatus::ACCEPTED, 1, 1), &[])
        .is_empty());
}

#[test]
fn every_rejecting_status_stops_the_entry() {
    let t0 = Instant::now();
    for code in (128u8..=143).filter(|&c| c != 135) {
        let mut e = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 10);
        e.register(t0, coa_a(), secs(600));
        let ev = e.handle_binding_ack(t0, &ba(BaStatus(code), 10, 0), &[]);
        assert_eq!(
            ev,
            vec![BulEvent::Rejected {
                status: BaStatus(code)
            }]
        );
        assert_eq!(e.poll_timeout(), None, "{code}");
        assert_eq!(e.state(), BulState::Idle);
    }
}

#[test]
fn status_1_is_an_acceptance_that_asks_for_prefix_discovery() {
    let t0 = Instant::now();
    let mut e = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 10);
    e.register(t0, coa_a(), secs(600));
    let ev = e.handle_binding_ack(t0, &ba(BaStatus::PREFIX_DISCOVERY_NECESSARY, 10, 150), &[]);
    assert!(matches!(
        ev[..],
        [BulEvent::Registered {
            status: BaStatus::PREFIX_DISCOVERY_NECESSARY,
            ..
        }]
    ));
}

#[test]
fn dhaad_learned_ha_is_abandoned_after_max_resends() {
    let t0 = Instant::now();
    let mut cfg = HomeRegistrationConfig::new(hoa(), ha());
    cfg.max_resends = Some(crate::consts::MN_MAX_HA_CONSECUTIVE_RESENDS);
    let mut e = BulEntry::new(cfg, 1);
    e.register(t0, coa_a(), secs(600));
    let mut sends = 0;
    loop {
        let now = e.poll_timeout().unwrap();
        let ev = e.handle_timeout(now);
        if ev == [BulEvent::GaveUp] {
            break;
        }
        sends += 1;
    }
    assert_eq!(sends, 5);
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn handover_reports_the_previous_care_of_address() {
    let t0 = Instant::now();
    let mut e = registered(t0, 150);
    let t1 = t0 + secs(20);
    let ev = e.register(t1, coa_b(), secs(600));
    let (bu, opts) = sent_bu(&ev[0]);
    assert_eq!(opts, vec![MobilityOption::AlternateCoa(coa_b())]);
    let ev = e.handle_binding_ack(t1, &ba(BaStatus::ACCEPTED, bu.sequence, 150), &[]);
    assert_eq!(
        ev,
        vec![BulEvent::Registered {
            care_of_address: coa_b(),
            previous_care_of_address: Some(coa_a()),
            lifetime: secs(600),
            status: BaStatus::ACCEPTED,
        }]
    );
}

#[test]
fn deregistration_sends_lifetime_zero_unless_the_binding_is_gone() {
    let t0 = Instant::now();
    let mut e = registered(t0, 150);
    let t1 = t0 + secs(30);
    let ev = e.deregister(t1, hoa());
    let (bu, opts) = sent_bu(&ev[0]);
    assert_eq!(bu.lifetime_units, 0);
    assert_eq!(opts, vec![MobilityOption::AlternateCoa(hoa())]);
    assert_eq!(e.state(), BulState::Deregistering);
    let ev = e.handle_binding_ack(t1, &ba(BaStatus::ACCEPTED, bu.sequence, 0), &[]);
    assert_eq!(ev, vec![BulEvent::Deregistered]);
    assert_eq!(e.poll_timeout(), None);
    // Already expired: nothing is sent.
    let mut e = registered(t0, 10);
    assert_eq!(
        e.deregister(t0 + secs(41), hoa()),
        vec![BulEvent::Deregistered]
    );
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn nemo_prefixes_and_missing_k_and_r_flags() {
    let t0 = Instant::now();
    let mnp: Ipv6Addr = "2001:db8:10::".parse().unwrap();
    let mut cfg = HomeRegistrationConfig::new(hoa(), ha());
    cfg.flags = BuFlags(BuFlags::ACK | BuFlags::HOME | BuFlags::KEY_MGMT | BuFlags::MOBILE_ROUTER);
    cfg.mobile_network_prefixes = vec![(mnp, 64)];
    let mut e = BulEntry::new(cfg.clone(), 1);
    let ev = e.register(t0, coa_a(), secs(600));
    let (_, opts) = sent_bu(&ev[0]);
    assert_eq!(
        opts,
        vec![
            MobilityOption::AlternateCoa(coa_a()),
            MobilityOption::MobileNetworkPrefix {
                prefix_len: 64,
                prefix: mnp
            }
        ]
    );
    // BA with R but without K: accepted, K dropped from the next BU.
    let mut ack = ba(BaStatus::ACCEPTED, 1, 150);
    ack.flags = BaFlags(BaFlags::MOBILE_ROUTER);
    let ev = e.handle_binding_ack(t0, &ack, &[]);
    assert_eq!(ev[0], BulEvent::KeyMgmtUnsupported);
    assert!(matches!(ev[1], BulEvent::Registered { .. }));
    assert!(!e.flags().contains(BuFlags::KEY_MGMT));
    // Deregistration carries no prefixes.
    let ev = e.deregister(t0 + secs(1), hoa());
    assert_eq!(sent_bu(&ev[0]).1.len(), 1);
    // BA without R for an R BU: refused.
    let mut e = BulEntry::new(cfg, 1);
    e.register(t0, coa_a(), secs(600));
    let mut ack = ba(BaStatus::ACCEPTED, 1, 150);
    ack.flags = BaFlags(BaFlags::KEY_MGMT);
    assert_eq!(
        e.handle_binding_ack(t0, &ack, &[]),
        vec![BulEvent::MobileRouterRefused]
    );
    assert!(e.binding().is_none());
}

#[test]
fn list_dispatches_by_home_address_and_peer() {
    let t0 = Instant::now();
    let ha2: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
    let mut list = BindingUpdateList::new();
    list.insert(BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 1));
    list.insert(BulEntry::new(HomeRegistrationConfig::new(hoa(), ha2), 50));
    list.get_mut(hoa(), ha())
        .unwrap()
        .register(t0, coa_a(), secs(600));
    list.get_mut(hoa(), ha2)
        .unwrap()
        .register(t0 + secs(1), coa_a(), secs(600));
    assert_eq!(list.poll_timeout(), Some(t0 + Duration::from_millis(1500)));
    let ev = list.handle_timeout(t0 + Duration::from_millis(1500));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0, (hoa(), ha()));
    let ev = list.handle_binding_ack(
        t0 + secs(2),
        hoa(),
        ha2,
        &ba(BaStatus::ACCEPTED, 50, 150),
        &[],
    );
    assert!(matches!(ev[..], [BulEvent::Registered { .. }]));
    assert!(list
        .handle_binding_ack(t0, coa_a(), ha(), &ba(BaStatus::ACCEPTED, 2, 150), &[])
        .is_empty());
    assert_eq!(list.len(), 2);
}

/// An attacker who knows the home and care-of addresses (on path) sends
/// status-135 BAs, which carry no number of ours to check.
#[test]
fn a_stream_of_forged_135s_cannot_make_a_bu_per_ba() {
    let t0 = Instant::now();
    let mut e = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 10);
    let mut bus = e.register(t0, coa_a(), secs(600)).len();
    // A burst of 100 at once: one immediate resend.
    for i in 0..100u16 {
        let forged = ba(BaStatus::SEQUENCE_OUT_OF_WINDOW, 0x6000 + i, 0);
        bus += e.handle_binding_ack(t0, &forged, &[]).len();
    }
    assert_eq!(bus, 2, "the BU and one resend");
    // 100 more, one every 100 ms, with the timer running as a driver does.
    let mut now = t0;
    for i in 0..100u16 {
        now += Duration::from_millis(100);
        while e.poll_timeout().is_some_and(|t| t <= now) {
            bus += e.handle_timeout(now).len();
        }
        let forged = ba(BaStatus::SEQUENCE_OUT_OF_WINDOW, 0x7000 + i, 0);
        bus += e.handle_binding_ack(now, &forged, &[]).len();
    }
    // In 10 s the timer sends at 1.5, 4.5 and 10.5 s (back-off 1.5, 3, 6 s
    // from each resend): at most one extra BU each.
    assert!(bus <= 8, "{bus} BUs for 200 forged BAs");
    // The home agent's real answer to the last BU still registers it.
    let seq = e.outstanding_sequence().unwrap();
    let ev = e.handle_binding_ack(now, &ba(BaStatus::ACCEPTED, seq, 150), &[]);
    assert!(matches!(ev[..], [BulEvent::Registered { .. }]), "{ev:?}");
}

#[test]
fn an_uncertain_registration_is_abandoned_without_a_bu() {
    let t0 = Instant::now();
    let cfg = HomeRegistrationConfig::new(hoa(), ha());
    let mut e = BulEntry::new(cfg, 10);
    assert!(!e.is_uncertain());
    e.register(t0, coa_a(), secs(60));
    assert!(e.is_uncertain());
    assert!(e.abandon());
    assert!(!e.is_uncertain());
    assert_eq!(e.state(), BulState::Idle);
    assert_eq!(e.poll_timeout(), None, "no retransmission");
    assert!(e.handle_timeout(t0 + secs(100)).is_empty());
    // Nothing left to deregister: no BU.
    assert_eq!(
        e.deregister(t0 + secs(1), hoa()),
        vec![BulEvent::Deregistered]
    );
    let mut bound = registered(t0, 15);
    assert!(!bound.is_uncertain());
    assert!(bound.abandon());
    assert!(bound.binding().is_none());
    assert!(!bound.abandon());
}
