//! Movement detection's decisions in simulated time: no netlink, no socket.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use mip6::coa::PrimaryCoa;
use mip6::wire::ndisc::{NeighborAdvert, RouterAdvert};
use mip6::wire::{NdOption, PrefixInfo};
use netcfg::AddrInfo;
use tokio::time::Instant;

use super::{Effect, LinkChange, MoveAction, Movement};
use crate::config::Prefix;
use crate::mn::ifaces::Iface;
use crate::mn::location::Location;
use crate::mn::routers::ProbePolicy;

fn addr(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

fn home() -> Prefix {
    Prefix {
        addr: addr("2001:db8:1::"),
        len: 64,
    }
}

fn hoa() -> Ipv6Addr {
    addr("2001:db8:1::100")
}

fn info(index: u32, a: &str) -> AddrInfo {
    AddrInfo {
        index,
        addr: IpAddr::V6(addr(a)),
        prefix_len: 64,
        scope: 0,
        flags: 0,
    }
}

/// An RA advertising `prefix`/64, router lifetime 1800 s, interval 1 s
/// (so a router lives 3 s after its last RA).
fn ra(prefix: &str, retrans_ms: u32) -> RouterAdvert {
    ra_every(prefix, retrans_ms, 1000)
}

/// The same with an advertisement interval of `interval_ms`.
fn ra_every(prefix: &str, retrans_ms: u32, interval_ms: u32) -> RouterAdvert {
    RouterAdvert {
        cur_hop_limit: 64,
        flags: 0,
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_timer: retrans_ms,
        options: vec![
            NdOption::PrefixInfo(PrefixInfo {
                prefix_len: 64,
                flags: PrefixInfo::ON_LINK | PrefixInfo::AUTONOMOUS,
                valid_lifetime: 300,
                preferred_lifetime: 120,
                prefix: addr(prefix),
            }),
            NdOption::AdvInterval(interval_ms),
        ],
    }
}

/// An up interface whose router `rtr` advertised `prefix` at `t0`, with the
/// global addresses `coas`.
fn iface_with_router(index: u32, preference: u8, coas: &[&str], t0: Instant) -> Movement {
    let mut m = Movement::new(None);
    add_iface(&mut m, index, preference, coas, t0);
    m
}

fn add_iface(m: &mut Movement, index: u32, preference: u8, coas: &[&str], t0: Instant) {
    let mut i = Iface::new(index, &format!("eth{index}"), preference, false);
    i.up = true;
    m.ifaces.push(i);
    let infos: Vec<AddrInfo> = coas.iter().map(|c| info(index, c)).collect();
    m.handle_addresses(index, &infos, &[hoa()], false);
    let prefix = coas.first().map_or("2001:db8:ff::", |c| {
        if c.starts_with("2001:db8:a:") {
            "2001:db8:a::"
        } else if c.starts_with("2001:db8:b:") {
            "2001:db8:b::"
        } else {
            "2001:db8:c::"
        }
    });
    let rtr = addr(&format!("fe80::{index}"));
    m.handle_router_advert(
        t0,
        index,
        rtr,
        Some(255),
        &ra(prefix, 0),
        ProbePolicy::EAGER,
    );
}

fn decide(m: &Movement, now: Instant, at: &mut Location) -> Option<MoveAction> {
    m.decide(now, false, home(), at)
}

fn coa(ifindex: u32, a: &str) -> PrimaryCoa {
    PrimaryCoa {
        ifindex,
        address: addr(a),
    }
}

#[test]
fn nothing_is_decided_before_the_settle_time_ends() {
    let t0 = Instant::now();
    let settle = t0 + Duration::from_secs(2);
    let mut m = iface_with_router(3, 1, &["2001:db8:a::50"], t0);
    m.settle_until = Some(settle);
    assert_eq!(m.poll_timeout(t0), Some(settle));
    let mut at = Location::Unknown;
    assert_eq!(decide(&m, t0, &mut at), None);
    m.handle_timeout(settle);
    assert_eq!(
        decide(&m, settle, &mut at),
        Some(MoveAction::MoveTo(coa(3, "2001:db8:a::50")))
    );
}

#[test]
fn the_preferred_interface_is_chosen_and_kept() {
    let t0 = Instant::now();
    let mut m = iface_with_router(3, 5, &["2001:db8:a::50"], t0);
    add_iface(&mut m, 4, 1, &["2001:db8:b::50"], t0);
    let p = coa(4, "2001:db8:b::50");
    let mut at = Location::Unknown;
    assert_eq!(decide(&m, t0, &mut at), Some(MoveAction::MoveTo(p)));
    at = Location::Away(p);
    assert_eq!(decide(&m, t0, &mut at), None);
    // Its link goes down: a handover to the other one.
    assert_eq!(m.handle_link_changed(4, false), LinkChange::Noted);
    assert_eq!(
        decide(&m, t0, &mut at),
        Some(MoveAction::MoveTo(coa(3, "2001:db8:a::50")))
    );
    assert_eq!(m.handle_link_changed(4, true), LinkChange::CameUp);
    assert_eq!(m.handle_link_changed(9, true), LinkChange::Untracked);
}

#[test]
fn the_home_prefix_wins_unless_no_home_return() {
    let t0 = Instant::now();
    let mut m = iface_with_router(3, 1, &["2001:db8:a::50"], t0);
    add_iface(&mut m, 2, 5, &["2001:db8:c::50"], t0);
    // The home agent's RA on interface 2: the home prefix, lifetime 0.
    let mut home_ra = ra("2001:db8:1::", 0);
    home_ra.router_lifetime = 0;
    let ha = addr("fe80::2:1");
    m.handle_router_advert(t0, 2, ha, Some(255), &home_ra, ProbePolicy::EAGER);
    let mut at = Location::Unknown;
    assert!(matches!(
        m.decide(t0, true, home(), &mut at),
        Some(MoveAction::MoveTo(_))
    ));
    assert_eq!(decide(&m, t0, &mut at), Some(MoveAction::GoHome(2)));
    at = Location::Home(2);
    assert_eq!(decide(&m, t0, &mut at), None);
    // The home prefix is no longer advertised (3 intervals): away again.
    let later = t0 + Duration::from_secs(3);
    m.handle_router_advert(
        later,
        3,
        addr("fe80::3"),
        Some(255),
        &ra("2001:db8:a::", 0),
        ProbePolicy::EAGER,
    );
    assert_eq!(
        decide(&m, later, &mut at),
        Some(MoveAction::MoveTo(coa(3, "2001:db8:a::50")))
    );
}

#[test]
fn each_home_link_decides_with_its_own_prefix() {
    // Interface 2 is home link 2 (its router advertises 2001:db8:2::/64):
    // home for the second home address, a foreign link for the first.
    let t0 = Instant::now();
    let mut m = Movement::new(None);
    let mut i = Iface::new(2, "eth2", 1, false);
    i.up = true;
    m.ifaces.push(i);
    m.handle_addresses(2, &[info(2, "2001:db8:2::50")], &[hoa()], false);
    m.handle_router_advert(
        t0,
        2,
        addr("fe80::2"),
        Some(255),
        &ra("2001:db8:2::", 0),
        ProbePolicy::EAGER,
    );
    let home2 = Prefix {
        addr: addr("2001:db8:2::"),
        len: 64,
    };
    let (mut at1, mut at2) = (Location::Unknown, Location::Unknown);
    assert_eq!(
        m.decide(t0, false, home(), &mut at1),
        Some(MoveAction::MoveTo(coa(2, "2001:db8:2::50")))
    );
    assert_eq!(
        m.decide(t0, false, home2, &mut at2),
        Some(MoveAction::GoHome(2))
    );
}

#[test]
fn without_a_usable_care_of_address_the_binding_ages() {
    let t0 = Instant::now();
    let mut m = iface_with_router(3, 1, &["2001:db8:a::50"], t0);
    let mut at = Location::Away(coa(3, "2001:db8:a::50"));
    let router_until = t0 + Duration::from_secs(3);
    assert_eq!(m.poll_timeout(t0), Some(router_until));
    // The router's life ran out: no default router, no usable CoA.
    assert_eq!(m.handle_timeout(router_until), vec![Effect::Decide]);
    assert_eq!(decide(&m, router_until, &mut at), None);
    assert_eq!(at, Location::Nowhere);
}

#[test]
fn addresses_from_a_dump_become_care_of_candidates() {
    let t0 = Instant::now();
    let mut m = iface_with_router(3, 1, &[], t0);
    let mut at = Location::Unknown;
    assert_eq!(decide(&m, t0, &mut at), None);
    m.handle_addresses(3, &[info(3, "2001:db8:a::77")], &[hoa()], false);
    assert_eq!(
        decide(&m, t0, &mut at),
        Some(MoveAction::MoveTo(coa(3, "2001:db8:a::77")))
    );
}

#[test]
fn an_ra_from_a_global_source_is_not_believed() {
    // RFC 4861 §6.1.2: an RA comes from a link-local address, hop limit 255.
    let t0 = Instant::now();
    let mut m = Movement::new(None);
    m.ifaces.push(Iface::new(3, "eth3", 1, false));
    let ra = ra("2001:db8:a::", 0);
    let p = ProbePolicy::EAGER;
    assert!(m
        .handle_router_advert(t0, 3, addr("2001:db8:a::1"), Some(255), &ra, p)
        .is_empty());
    assert!(m
        .handle_router_advert(t0, 3, addr("fe80::1"), Some(64), &ra, p)
        .is_empty());
}

/// The node on link A with router fe80::3 (prefix 2001:db8:a::/64, alive
/// 30 s), and its CoA there; a second router fe80::d advertises
/// 2001:db8:d::/64, where the kernel has formed a second address.
fn two_routers(t0: Instant) -> (Movement, Location) {
    let mut m = iface_with_router(3, 1, &["2001:db8:a::50"], t0);
    let old = ra_every("2001:db8:a::", 0, 10_000);
    m.handle_router_advert(t0, 3, addr(OLD), Some(255), &old, ProbePolicy::EAGER);
    let mut at = Location::Unknown;
    assert_eq!(
        decide(&m, t0, &mut at),
        Some(MoveAction::MoveTo(coa(3, "2001:db8:a::50")))
    );
    at = Location::Away(coa(3, "2001:db8:a::50"));
    let both = [info(3, "2001:db8:a::50"), info(3, "2001:db8:d::50")];
    m.handle_addresses(3, &both, &[hoa()], false);
    (m, at)
}

const OLD: &str = "fe80::3";

/// The new router's RA (alive 30 s).
fn new_ra(retrans_ms: u32) -> RouterAdvert {
    ra_every("2001:db8:d::", retrans_ms, 10_000)
}
const NEW: &str = "fe80::d";

fn lazy(probes: u32, timeout_ms: u64) -> ProbePolicy {
    ProbePolicy {
        probes,
        timeout: Duration::from_millis(timeout_ms),
    }
}

#[test]
fn eager_a_new_router_is_used_at_once() {
    let t0 = Instant::now();
    let (mut m, mut at) = two_routers(t0);
    // While no address of the new router's prefix exists, the old CoA stays.
    let only_old = [info(3, "2001:db8:a::50")];
    m.handle_addresses(3, &only_old, &[hoa()], false);
    let fx = m.handle_router_advert(t0, 3, addr(NEW), Some(255), &new_ra(0), ProbePolicy::EAGER);
    assert_eq!(fx, vec![Effect::Decide]);
    assert_eq!(decide(&m, t0, &mut at), None);
    let both = [info(3, "2001:db8:a::50"), info(3, "2001:db8:d::50")];
    m.handle_addresses(3, &both, &[hoa()], false);
    assert_eq!(
        decide(&m, t0, &mut at),
        Some(MoveAction::MoveTo(coa(3, "2001:db8:d::50")))
    );
}

#[test]
fn lazy_a_reachable_old_router_is_kept_and_the_new_one_waits() {
    let t0 = Instant::now();
    let (mut m, mut at) = two_routers(t0);
    let fx = m.handle_router_advert(t0, 3, addr(NEW), Some(255), &new_ra(0), lazy(3, 0));
    assert_eq!(
        fx,
        vec![Effect::Probe {
            ifindex: 3,
            router: addr(OLD)
        }]
    );
    assert_eq!(decide(&m, t0, &mut at), None);
    // The second probe is due one retransmission interval (1 s) later.
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(m.poll_timeout(t0), Some(t1));
    assert_eq!(
        m.handle_timeout(t1),
        vec![Effect::Probe {
            ifindex: 3,
            router: addr(OLD)
        }]
    );
    // The old router answers: no probe left, no move.
    let na = NeighborAdvert {
        flags: NeighborAdvert::SOLICITED | NeighborAdvert::ROUTER,
        target: addr(OLD),
        options: Vec::new(),
    };
    assert!(m.handle_neighbor_advert(3, &na));
    assert_eq!(m.ifaces[0].routers.probe, None);
    assert_eq!(decide(&m, t1, &mut at), None);
    // The new router's next RAs change nothing: it is a backup.
    let t2 = t1 + Duration::from_millis(500);
    let fx = m.handle_router_advert(t2, 3, addr(NEW), Some(255), &new_ra(0), lazy(3, 0));
    assert!(fx.is_empty());
    assert_eq!(decide(&m, t2, &mut at), None);
    // The old router goes silent for good: its life ends, the backup is used.
    let old_end = t0 + Duration::from_secs(30);
    assert!(m.handle_timeout(old_end).contains(&Effect::Decide));
    assert_eq!(
        decide(&m, old_end, &mut at),
        Some(MoveAction::MoveTo(coa(3, "2001:db8:d::50")))
    );
}

#[test]
fn lazy_an_unanswered_router_is_left_after_the_probes() {
    let t0 = Instant::now();
    let (mut m, mut at) = two_routers(t0);
    // The RA says a retransmission interval of 400 ms: 3 probes, 1.2 s.
    let ra_400 = new_ra(400);
    // (The old router's RA told its own interval: 1 s, unspecified.)
    let fx = m.handle_router_advert(t0, 3, addr(NEW), Some(255), &ra_400, lazy(3, 0));
    assert_eq!(fx.len(), 1);
    let mut sent = 1;
    let mut now = t0;
    loop {
        let next = m.poll_timeout(now).expect("a probe timer");
        now = next;
        let fx = m.handle_timeout(now);
        if fx.contains(&Effect::Decide) {
            break;
        }
        sent += fx.len();
        assert_eq!(
            decide(&m, now, &mut at),
            None,
            "moved before the probes ended"
        );
    }
    assert_eq!(sent, 3, "MnRouterProbes 3: three solicitations");
    assert_eq!(
        now,
        t0 + Duration::from_secs(3),
        "3 x 1 s of the old router"
    );
    assert_eq!(
        decide(&m, now, &mut at),
        Some(MoveAction::MoveTo(coa(3, "2001:db8:d::50")))
    );
}

#[test]
fn lazy_the_probe_timeout_caps_the_wait() {
    let t0 = Instant::now();
    let (mut m, mut at) = two_routers(t0);
    let fx = m.handle_router_advert(t0, 3, addr(NEW), Some(255), &new_ra(0), lazy(5, 1500));
    assert_eq!(fx.len(), 1);
    let deadline = t0 + Duration::from_millis(1500);
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(m.poll_timeout(t0), Some(t1));
    assert_eq!(m.handle_timeout(t1).len(), 1);
    assert_eq!(m.poll_timeout(t1), Some(deadline));
    assert_eq!(m.handle_timeout(deadline), vec![Effect::Decide]);
    assert_eq!(
        decide(&m, deadline, &mut at),
        Some(MoveAction::MoveTo(coa(3, "2001:db8:d::50")))
    );
}

#[test]
fn an_ra_of_the_probed_router_answers_the_probe() {
    let t0 = Instant::now();
    let (mut m, mut at) = two_routers(t0);
    m.handle_router_advert(t0, 3, addr(NEW), Some(255), &new_ra(0), lazy(2, 0));
    let t1 = t0 + Duration::from_millis(300);
    m.handle_router_advert(
        t1,
        3,
        addr(OLD),
        Some(255),
        &ra("2001:db8:a::", 0),
        lazy(2, 0),
    );
    assert_eq!(m.ifaces[0].routers.probe, None);
    let t2 = t0 + Duration::from_secs(2);
    assert!(!m.handle_timeout(t2).contains(&Effect::Decide));
    assert_eq!(decide(&m, t2, &mut at), None);
}

#[test]
fn a_solicited_advert_for_another_address_answers_nothing() {
    let t0 = Instant::now();
    let (mut m, _) = two_routers(t0);
    m.handle_router_advert(t0, 3, addr(NEW), Some(255), &new_ra(0), lazy(2, 0));
    let mut na = NeighborAdvert {
        flags: NeighborAdvert::SOLICITED,
        target: addr("fe80::99"),
        options: Vec::new(),
    };
    assert!(!m.handle_neighbor_advert(3, &na));
    na.target = addr(OLD);
    na.flags = 0;
    assert!(!m.handle_neighbor_advert(3, &na), "unsolicited");
    assert!(m.ifaces[0].routers.probe.is_some());
}
