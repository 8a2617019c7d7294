//! Movement detection's decisions in simulated time: no netlink, no socket.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use mip6::coa::PrimaryCoa;
use netcfg::AddrInfo;
use tokio::time::Instant;

use super::{LinkChange, MoveAction, Movement};
use crate::config::Prefix;
use crate::mn::ifaces::Iface;
use crate::mn::location::Location;

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

/// An up interface with a default router until `router_until` and the
/// global address `coa`.
fn iface(index: u32, preference: u8, coa: &str, router_until: Instant) -> Iface {
    let mut i = Iface::new(index, &format!("eth{index}"), preference, false);
    i.up = true;
    i.router_until = Some(router_until);
    let info = AddrInfo {
        index,
        addr: IpAddr::V6(addr(coa)),
        prefix_len: 64,
        scope: 0,
        flags: 0,
    };
    i.set_addresses(&[info], home(), hoa());
    i
}

#[test]
fn nothing_is_decided_before_the_settle_time_ends() {
    let t0 = Instant::now();
    let settle = t0 + Duration::from_secs(2);
    let mut m = Movement::new(Some(settle));
    m.ifaces
        .push(iface(3, 1, "2001:db8:a::50", t0 + Duration::from_secs(60)));
    assert_eq!(m.poll_timeout(t0), Some(settle));
    assert_eq!(m.decide(t0, false), None);
    m.handle_timeout(settle);
    assert_eq!(
        m.decide(settle, false),
        Some(MoveAction::MoveTo(PrimaryCoa {
            ifindex: 3,
            address: addr("2001:db8:a::50")
        }))
    );
}

#[test]
fn the_preferred_interface_is_chosen_and_kept() {
    let t0 = Instant::now();
    let life = t0 + Duration::from_secs(60);
    let mut m = Movement::new(None);
    m.ifaces.push(iface(3, 5, "2001:db8:a::50", life));
    m.ifaces.push(iface(4, 1, "2001:db8:b::50", life));
    let p = PrimaryCoa {
        ifindex: 4,
        address: addr("2001:db8:b::50"),
    };
    assert_eq!(m.decide(t0, false), Some(MoveAction::MoveTo(p)));
    m.moved(t0, p);
    assert_eq!(m.location, Location::Away(p));
    assert_eq!(m.decide(t0, false), None);
    // Its link goes down: a handover to the other one.
    assert_eq!(m.handle_link_changed(4, false), LinkChange::Noted);
    assert_eq!(
        m.decide(t0, false),
        Some(MoveAction::MoveTo(PrimaryCoa {
            ifindex: 3,
            address: addr("2001:db8:a::50")
        }))
    );
    assert_eq!(m.handle_link_changed(4, true), LinkChange::CameUp);
    assert_eq!(m.handle_link_changed(9, true), LinkChange::Untracked);
}

#[test]
fn the_home_prefix_wins_unless_no_home_return() {
    let t0 = Instant::now();
    let life = t0 + Duration::from_secs(60);
    let mut m = Movement::new(None);
    m.ifaces.push(iface(3, 1, "2001:db8:a::50", life));
    let mut h = iface(2, 5, "2001:db8:c::50", life);
    let home_until = t0 + Duration::from_secs(10);
    h.home_until = Some(home_until);
    m.ifaces.push(h);
    assert!(matches!(m.decide(t0, true), Some(MoveAction::MoveTo(_))));
    assert_eq!(m.decide(t0, false), Some(MoveAction::GoHome(2)));
    m.location = Location::Home(2);
    assert_eq!(m.decide(t0, false), None);
    // The home prefix is no longer advertised: away again.
    assert_eq!(
        m.decide(home_until, false),
        Some(MoveAction::MoveTo(PrimaryCoa {
            ifindex: 3,
            address: addr("2001:db8:a::50")
        }))
    );
}

#[test]
fn without_a_usable_care_of_address_the_binding_ages() {
    let t0 = Instant::now();
    let router_until = t0 + Duration::from_secs(30);
    let mut m = Movement::new(None);
    m.ifaces.push(iface(3, 1, "2001:db8:a::50", router_until));
    let p = PrimaryCoa {
        ifindex: 3,
        address: addr("2001:db8:a::50"),
    };
    m.moved(t0, p);
    assert_eq!(m.poll_timeout(t0), Some(router_until));
    // The router's life ran out: no default router, no usable CoA.
    assert_eq!(m.decide(router_until, false), None);
    assert_eq!(m.location, Location::Nowhere);
}

#[test]
fn addresses_from_a_dump_become_care_of_candidates() {
    let t0 = Instant::now();
    let mut m = Movement::new(None);
    let mut i = Iface::new(3, "eth3", 1, false);
    i.up = true;
    i.router_until = Some(t0 + Duration::from_secs(60));
    m.ifaces.push(i);
    assert_eq!(m.decide(t0, false), None);
    let dump = [AddrInfo {
        index: 3,
        addr: IpAddr::V6(addr("2001:db8:a::77")),
        prefix_len: 64,
        scope: 0,
        flags: 0,
    }];
    m.handle_addresses(3, &dump, home(), hoa());
    assert_eq!(
        m.decide(t0, false),
        Some(MoveAction::MoveTo(PrimaryCoa {
            ifindex: 3,
            address: addr("2001:db8:a::77")
        }))
    );
}

#[test]
fn an_ra_from_a_global_source_is_not_believed() {
    // RFC 4861 §6.1.2: an RA comes from a link-local address, hop limit 255.
    let t0 = Instant::now();
    let mut m = Movement::new(None);
    m.ifaces.push(Iface::new(3, "eth3", 1, false));
    let ra = mip6::wire::ndisc::RouterAdvert {
        cur_hop_limit: 64,
        flags: 0,
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_timer: 0,
        options: Vec::new(),
    };
    assert!(!m.handle_router_advert(t0, 3, addr("2001:db8:a::1"), Some(255), &ra, home()));
    assert!(!m.handle_router_advert(t0, 3, addr("fe80::1"), Some(64), &ra, home()));
}
