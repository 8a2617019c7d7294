//! The home agent's BU decisions in simulated time: no socket, no kernel.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use mip6::bcache::{DadOutcome, HomePrefixLifetimes};
use mip6::consts::BaStatus;
use mip6::wire::mh::{BindingUpdate, BuFlags, MhMessage, MhRepr};

use super::{BuAction, BuInput};
use crate::ha::test_support::{addr, ha_config as config, BuState as Ha};

fn hoa() -> Ipv6Addr {
    addr("2001:db8:1::100")
}

fn ha() -> Ipv6Addr {
    addr("2001:db8:1::2")
}

impl Ha {
    /// A home BU from `coa` with `sequence` and `lifetime_units` to `dst`
    /// (`home`: on the home link's interface 2, whose prefix covers the HoA).
    fn bu(
        &mut self,
        now: Instant,
        coa: &str,
        sequence: u16,
        lifetime_units: u16,
        home: bool,
    ) -> Vec<BuAction> {
        let input = BuInput {
            home_address: hoa(),
            packet_source: addr(coa),
            dst: ha(),
            coa: addr(coa),
            bu: BindingUpdate {
                sequence,
                flags: BuFlags(BuFlags::ACK | BuFlags::HOME),
                lifetime_units,
            },
            options: &[],
            home_ifindex: home.then_some(2),
            home_prefix: home.then_some(HomePrefixLifetimes {
                valid: Duration::from_secs(86400),
                preferred: Duration::from_secs(14400),
            }),
        };
        self.registrar().handle_binding_update(now, &input)
    }
}

/// The status of the BA in `action`.
fn ba_status(action: &BuAction) -> BaStatus {
    match action {
        BuAction::SendBa {
            ba:
                MhRepr {
                    message: MhMessage::BindingAck(ba),
                    ..
                },
            ..
        } => ba.status,
        other => panic!("expected a BA, got {other:?}"),
    }
}

/// A binding for the HoA via 2001:db8:a::50, DAD done.
fn registered(now: Instant) -> Ha {
    let mut h = Ha::new(config("UseMnHaIPsec disabled;"));
    let actions = h.bu(now, "2001:db8:a::50", 1, 100, true);
    assert_eq!(
        actions,
        vec![BuAction::StartDad {
            hoa: hoa(),
            coa: addr("2001:db8:a::50"),
            ifindex: 2,
            ha_address: ha(),
            mobile_network_prefixes: Vec::new(),
            link_local: None,
        }]
    );
    // A retransmission while DAD runs gets no answer (UMIP's order of the
    // checks, docs/protocol-notes.md).
    assert_eq!(h.bu(now, "2001:db8:a::50", 2, 100, true), Vec::new());
    let done = h
        .cache
        .dad_finished(now + Duration::from_secs(1), &hoa(), false);
    assert!(matches!(done, Some(DadOutcome::Installed(_))), "{done:?}");
    h
}

#[test]
fn a_new_binding_waits_for_dad_and_is_counted() {
    let h = registered(Instant::now());
    assert_eq!(h.counters.received, 2);
    assert_eq!(h.counters.accepted, 1);
    assert_eq!(h.counters.dropped, 1);
}

#[test]
fn a_refresh_is_answered_and_a_new_coa_moves_the_tunnel() {
    let t0 = Instant::now();
    let mut h = registered(t0);
    let t1 = t0 + Duration::from_secs(10);
    let refresh = h.bu(t1, "2001:db8:a::50", 3, 100, true);
    let [ba] = &refresh[..] else {
        panic!("{refresh:?}");
    };
    assert_eq!(ba_status(ba), BaStatus::ACCEPTED);
    let moved = h.bu(t1, "2001:db8:b::50", 4, 100, true);
    assert_eq!(
        moved[0],
        BuAction::MoveBinding {
            hoa: hoa(),
            coa: addr("2001:db8:b::50")
        }
    );
    let BuAction::SendBa { via, src, .. } = &moved[1] else {
        panic!("{moved:?}");
    };
    // Through a Type 2 routing header to the new CoA, from the address
    // the BU was sent to.
    assert_eq!((*via, *src), (Some(addr("2001:db8:b::50")), ha()));
}

#[test]
fn a_deregistration_removes_the_binding_and_is_answered() {
    let t0 = Instant::now();
    let mut h = registered(t0);
    let actions = h.bu(t0, "2001:db8:a::50", 3, 0, true);
    assert_eq!(actions[0], BuAction::RemoveBinding { hoa: hoa() });
    assert_eq!(ba_status(&actions[1]), BaStatus::ACCEPTED);
    assert!(!h.cache.has_binding(&addr("2001:db8:a::50")));
}

#[test]
fn a_bu_to_an_address_not_the_home_agents_is_refused() {
    let mut h = Ha::new(config("UseMnHaIPsec disabled;"));
    let actions = h.bu(Instant::now(), "2001:db8:a::50", 1, 100, false);
    let [ba] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert!(ba_status(ba).0 >= 128, "{ba:?}");
    assert_eq!(h.counters.rejected.values().sum::<u64>(), 1);
}

#[test]
fn without_an_ipsec_policy_the_registration_is_prohibited() {
    // UseMnHaIPsec is on by default; no policy protects this pair.
    let mut h = Ha::new(config(""));
    let actions = h.bu(Instant::now(), "2001:db8:a::50", 1, 100, true);
    let [ba] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert_eq!(ba_status(ba), BaStatus::ADMIN_PROHIBITED);
}

/// RFC 6275 §10.3.1, §10.4.1: with the L flag, DAD (and then the proxy)
/// covers the link-local address with the home address's interface
/// identifier too.
#[test]
fn the_l_flag_adds_the_link_local_address_to_dad() {
    let mut h = Ha::new(config("UseMnHaIPsec disabled;"));
    let input = BuInput {
        home_address: hoa(),
        packet_source: addr("2001:db8:a::50"),
        dst: ha(),
        coa: addr("2001:db8:a::50"),
        bu: BindingUpdate {
            sequence: 1,
            flags: BuFlags(BuFlags::ACK | BuFlags::HOME | BuFlags::LINK_LOCAL),
            lifetime_units: 100,
        },
        options: &[],
        home_ifindex: Some(2),
        home_prefix: Some(HomePrefixLifetimes {
            valid: Duration::from_secs(86400),
            preferred: Duration::from_secs(14400),
        }),
    };
    let actions = h.registrar().handle_binding_update(Instant::now(), &input);
    match &actions[..] {
        [BuAction::StartDad { link_local, .. }] => {
            assert_eq!(*link_local, Some(addr("fe80::100")));
        }
        other => panic!("{other:?}"),
    }
}

/// A binding restored from the saved cache (`NonVolatileBindingCache`) keeps
/// its sequence number: a replayed older BU is refused with 135, a newer one
/// refreshes it without DAD (RFC 6275 §9.5.1, §10.3.1).
#[test]
fn a_restored_binding_refuses_a_replayed_older_bu() {
    let now = Instant::now();
    let mut h = Ha::new(config("UseMnHaIPsec disabled;"));
    let saved = mip6::bcache::saved::SavedBinding {
        home_address: hoa(),
        care_of_address: addr("2001:db8:a::50"),
        home_agent: ha(),
        flags: BuFlags(BuFlags::ACK | BuFlags::HOME),
        sequence: 40,
        lifetime_secs: 400,
        expires_unix: 1_800_000_300,
        interface: "eth0".to_owned(),
        mobile_network_prefixes: Vec::new(),
    };
    h.cache.restore(now, &saved, Duration::from_secs(300));
    let replayed = h.bu(now, "2001:db8:a::50", 39, 100, true);
    assert_eq!(replayed.len(), 1);
    assert_eq!(ba_status(&replayed[0]), BaStatus::SEQUENCE_OUT_OF_WINDOW);
    let fresh = h.bu(now, "2001:db8:a::50", 41, 100, true);
    assert_eq!(fresh.len(), 1, "a refresh, no DAD: {fresh:?}");
    assert_eq!(ba_status(&fresh[0]), BaStatus::ACCEPTED);
}
