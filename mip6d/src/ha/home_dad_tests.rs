//! The home agent's decisions at the end of DAD and on expiry, in simulated
//! time: no socket, no kernel.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use mip6::bcache::HomePrefixLifetimes;
use mip6::consts::BaStatus;
use mip6::wire::mh::{BindingUpdate, BuFlags, MhMessage, MhRepr};

use super::{DadAction, DadRun, Pending};
use crate::ha::home_bu::{BuAction, BuInput};
use crate::ha::test_support::{addr, ha_config, BuState as Ha};

const HOA: &str = "2001:db8:1::100";
const HA: &str = "2001:db8:1::2";
const COA: &str = "2001:db8:a::50";

const RUN: DadRun = DadRun {
    home_ifindex: 2,
    ha_address: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2),
    link_local: None,
};

impl Ha {
    /// A new home registration of `lifetime_units` (4 s each): DAD starts.
    fn register(now: Instant, lifetime_units: u16) -> Ha {
        let mut h = Ha::new(ha_config("UseMnHaIPsec disabled;"));
        let input = BuInput {
            home_address: addr(HOA),
            packet_source: addr(COA),
            dst: addr(HA),
            coa: addr(COA),
            bu: BindingUpdate {
                sequence: 7,
                flags: BuFlags(BuFlags::ACK | BuFlags::HOME),
                lifetime_units,
            },
            options: &[],
            home_ifindex: Some(2),
            home_prefix: Some(HomePrefixLifetimes {
                valid: Duration::from_secs(86400),
                preferred: Duration::from_secs(14400),
            }),
        };
        let actions = h.registrar().handle_binding_update(now, &input);
        assert!(
            matches!(actions[..], [BuAction::StartDad { .. }]),
            "{actions:?}"
        );
        h
    }
}

fn pending() -> Pending {
    Pending {
        hoa: addr(HOA),
        coa: addr(COA),
        ha_address: addr(HA),
        home_ifindex: 2,
        mobile_router: false,
    }
}

/// The status and sequence number of `ba`.
fn status(ba: &MhRepr) -> (BaStatus, u16) {
    match &ba.message {
        MhMessage::BindingAck(a) => (a.status, a.sequence),
        other => panic!("expected a BA, got {other:?}"),
    }
}

/// The silent end of DAD: the install decided, with the cache's BA.
fn silent(h: &mut Ha, now: Instant) -> MhRepr {
    let actions = h.registrar().dad_silent(now, addr(HOA), RUN);
    let [DadAction::Install { hoa, run, ba }] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert_eq!((*hoa, *run), (addr(HOA), RUN));
    ba.clone()
}

#[test]
fn a_silent_dad_and_a_good_install_announce_then_accept() {
    let t0 = Instant::now();
    let mut h = Ha::register(t0, 100);
    let ba = silent(&mut h, t0 + Duration::from_secs(1));
    assert_eq!(status(&ba), (BaStatus::ACCEPTED, 7));
    let actions = h.registrar().installed(pending(), true, ba.clone());
    // The proxy NA before the BA (RFC 6275 §10.3.1, §10.4.1), the BA through
    // a Type 2 routing header to the CoA, from the address the BU went to.
    assert_eq!(
        actions,
        vec![
            DadAction::ProxyNa {
                hoa: addr(HOA),
                ifindex: 2,
                mobile_router: false,
            },
            DadAction::SendBa {
                hoa: addr(HOA),
                via: Some(addr(COA)),
                src: addr(HA),
                ba,
            },
        ]
    );
    assert!(h.cache.has_binding(&addr(HOA)));
}

#[test]
fn a_failed_install_removes_the_binding_and_answers_130() {
    let t0 = Instant::now();
    let mut h = Ha::register(t0, 100);
    let ba = silent(&mut h, t0 + Duration::from_secs(1));
    let actions = h.registrar().installed(pending(), false, ba);
    assert_eq!(actions[0], DadAction::RemoveBinding { hoa: addr(HOA) });
    let DadAction::SendBa { via, src, ba, .. } = &actions[1] else {
        panic!("{actions:?}");
    };
    assert_eq!((*via, *src), (Some(addr(COA)), addr(HA)));
    assert_eq!(status(ba), (BaStatus::INSUFFICIENT_RESOURCES, 7));
    assert_eq!(actions.len(), 2);
    assert!(h.cache.existing(&addr(HOA)).is_none());
}

#[test]
fn an_answered_dad_refuses_with_134() {
    let t0 = Instant::now();
    let mut h = Ha::register(t0, 100);
    let actions = h
        .registrar()
        .dad_answered(t0 + Duration::from_millis(300), addr(HOA));
    let [DadAction::RefuseDuplicate { hoa, ba }] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert_eq!(*hoa, addr(HOA));
    assert_eq!(status(ba), (BaStatus::DAD_FAILED, 7));
    // Nothing waits any more: a late end of the run decides nothing.
    let late = h
        .registrar()
        .dad_silent(t0 + Duration::from_secs(1), addr(HOA), RUN);
    assert_eq!(late, Vec::new());
}

#[test]
fn an_expired_binding_is_queued_for_removal() {
    let t0 = Instant::now();
    let mut h = Ha::register(t0, 1);
    let ba = silent(&mut h, t0 + Duration::from_secs(1));
    h.registrar().installed(pending(), true, ba);
    assert_eq!(
        h.registrar().expire(t0 + Duration::from_secs(2)),
        Vec::new()
    );
    let deadline = h.cache.poll_timeout().expect("an expiry deadline");
    assert_eq!(
        h.registrar().expire(deadline),
        vec![DadAction::QueueRemoval { hoa: addr(HOA) }]
    );
    assert!(!h.cache.has_binding(&addr(HOA)));
}
