//! The home agent's neighbour discovery decisions in simulated time: no
//! socket, no kernel.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Duration;

use mip6::bcache::{BindingCache, HomePrefixLifetimes};
use mip6::halist::HomeAgentList;
use mip6::mpa_schedule::UnsolicitedAdverts;
use mip6::wire::mh::{BindingUpdate, BuFlags};
use mip6::wire::ndisc::{DhaadRequest, MobilePrefixSolicit, RouterAdvert};
use mip6::wire::ndopt::{HomeAgentInfo, NdOption, PrefixInfo};
use tokio::time::Instant;

use super::{Discovery, HeardRa, NdAction};
use crate::config::Config;
use crate::ha::admission::{LogLimit, MpaLimit, NewBindingLimit};
use crate::ha::dhaad::HeardDhaad;
use crate::ha::home_bu::{BuInput, HomeRegistrar};
use crate::ha::test_support::{addr, ha_config};
use crate::ha::{HaIface, HomePrefix};

/// The home agent's discovery state.
struct Ha {
    config: Config,
    cache: BindingCache,
    ifaces: Vec<HaIface>,
    prefixes: Vec<HomePrefix>,
    own_addresses: HashMap<Ipv6Addr, u32>,
    home_agents: HomeAgentList,
    unsolicited: UnsolicitedAdverts,
    mpa_limit: MpaLimit,
    log_limit: LogLimit,
}

impl Ha {
    fn new() -> Ha {
        let config = ha_config("UseMnHaIPsec disabled;");
        Ha {
            config,
            cache: BindingCache::with_max_bindings(16),
            ifaces: vec![HaIface {
                index: 2,
                name: "eth0".to_owned(),
            }],
            prefixes: Vec::new(),
            own_addresses: HashMap::from([(addr("2001:db8:1::2"), 2)]),
            home_agents: HomeAgentList::new(),
            unsolicited: UnsolicitedAdverts::new(1),
            mpa_limit: MpaLimit::new(16),
            log_limit: LogLimit::default(),
        }
    }

    fn discovery(&mut self) -> Discovery<'_> {
        Discovery {
            config: &self.config,
            cache: &self.cache,
            ifaces: &self.ifaces,
            prefixes: &mut self.prefixes,
            own_addresses: &self.own_addresses,
            home_agents: &mut self.home_agents,
            unsolicited: &mut self.unsolicited,
            mpa_limit: &mut self.mpa_limit,
            log_limit: &mut self.log_limit,
        }
    }

    /// An RA with the H flag from `router` (link-local) on interface 2,
    /// advertising 2001:db8:1::/64 and the router's global `address` with
    /// `preference`.
    fn ra(&mut self, now: Instant, router: &str, address: &str, preference: i16) -> Vec<NdAction> {
        let ra = RouterAdvert {
            flags: RouterAdvert::HOME_AGENT,
            router_lifetime: 1800,
            options: vec![
                NdOption::PrefixInfo(PrefixInfo {
                    prefix_len: 64,
                    flags: PrefixInfo::ON_LINK | PrefixInfo::ROUTER_ADDRESS,
                    valid_lifetime: 86400,
                    preferred_lifetime: 14400,
                    prefix: addr(address),
                }),
                NdOption::HomeAgentInfo(HomeAgentInfo {
                    preference,
                    lifetime: 1800,
                    mobile_router: true,
                }),
            ],
            ..RouterAdvert::default()
        };
        let heard = HeardRa {
            ifindex: 2,
            src: addr(router),
            hop_limit: Some(255),
            ra: &ra,
        };
        self.discovery().router_advert(now, heard)
    }

    /// An active binding of 2001:db8:1::100 with the home agent 2001:db8:1::2.
    fn bind(&mut self, now: Instant) {
        let (mut new_bindings, mut counters) =
            (NewBindingLimit::new(16), bus::BuCounters::default());
        let hoa = addr("2001:db8:1::100");
        let input = BuInput {
            home_address: hoa,
            packet_source: addr("2001:db8:a::50"),
            dst: addr("2001:db8:1::2"),
            coa: addr("2001:db8:a::50"),
            bu: BindingUpdate {
                sequence: 1,
                flags: BuFlags(BuFlags::ACK | BuFlags::HOME),
                lifetime_units: 100,
            },
            options: &[],
            home_ifindex: Some(2),
            home_prefix: Some(HomePrefixLifetimes {
                valid: Duration::from_secs(86400),
                preferred: Duration::from_secs(14400),
            }),
        };
        HomeRegistrar {
            config: &self.config,
            cache: &mut self.cache,
            new_bindings: &mut new_bindings,
            log_limit: &mut self.log_limit,
            counters: &mut counters,
        }
        .handle_binding_update(now.into_std(), &input);
        self.cache.dad_finished(now.into_std(), &hoa, false);
    }
}

#[test]
fn an_ra_teaches_a_home_prefix_once_and_lists_the_home_agent() {
    let now = Instant::now();
    let mut h = Ha::new();
    let actions = h.ra(now, "fe80::1", "2001:db8:1::1", 5);
    assert_eq!(
        actions,
        vec![NdAction::HomePrefixLearnt {
            ifindex: 2,
            prefix: addr("2001:db8:1::"),
            len: 64,
        }]
    );
    assert_eq!(h.prefixes.len(), 1);
    assert_eq!(h.home_agents.entries().len(), 1);
    assert_eq!(h.home_agents.entries()[0].address, addr("2001:db8:1::1"));
    // The same prefix again is nothing new.
    assert_eq!(h.ra(now, "fe80::1", "2001:db8:1::1", 5), Vec::new());
}

#[test]
fn an_ra_not_from_a_link_local_router_teaches_nothing() {
    let mut h = Ha::new();
    let ra = RouterAdvert {
        flags: RouterAdvert::HOME_AGENT,
        ..RouterAdvert::default()
    };
    let heard = HeardRa {
        ifindex: 2,
        src: addr("fe80::1"),
        hop_limit: Some(64),
        ra: &ra,
    };
    assert_eq!(
        h.discovery().router_advert(Instant::now(), heard),
        Vec::new()
    );
    assert!(h.home_agents.entries().is_empty());
}

#[test]
fn a_dhaad_reply_lists_the_home_agents_by_preference_from_our_address() {
    let now = Instant::now();
    let mut h = Ha::new();
    h.ra(now, "fe80::1", "2001:db8:1::1", 1);
    h.ra(now, "fe80::3", "2001:db8:1::3", 9);
    let own = [(addr("2001:db8:1::2"), 64)];
    let anycast = mip6::dhaad::ha_anycast(addr("2001:db8:1::2"), 64);
    let heard = HeardDhaad {
        src: addr("2001:db8:a::50"),
        dst: anycast,
        ifindex: 2,
        request: DhaadRequest {
            identifier: 42,
            flags: 0,
        },
    };
    let actions = h.discovery().dhaad_request(now, heard, &own);
    let [NdAction::SendDhaadReply { src, dst, reply }] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert_eq!(
        (*src, *dst),
        (addr("2001:db8:1::2"), addr("2001:db8:a::50"))
    );
    assert_eq!(reply.identifier, 42);
    // RFC 6275 §10.5: highest preference first; our own address (0) among them.
    assert_eq!(
        reply.home_agents,
        vec![
            addr("2001:db8:1::3"),
            addr("2001:db8:1::1"),
            addr("2001:db8:1::2")
        ]
    );
    // Without an address of ours behind the anycast address, no reply.
    assert_eq!(h.discovery().dhaad_request(now, heard, &[]), Vec::new());
}

#[test]
fn an_mps_from_a_bound_home_address_gets_the_home_prefixes() {
    let now = Instant::now();
    let mut h = Ha::new();
    h.ra(now, "fe80::1", "2001:db8:1::1", 0);
    let mps = MobilePrefixSolicit { identifier: 7 };
    let (hoa, ha) = (addr("2001:db8:1::100"), addr("2001:db8:1::2"));
    // No binding: no answer.
    assert_eq!(
        h.discovery().mobile_prefix_solicit(now, hoa, ha, mps),
        Vec::new()
    );
    h.bind(now);
    // To another address than its home agent's: no answer.
    let other = addr("2001:db8:1::9");
    assert_eq!(
        h.discovery().mobile_prefix_solicit(now, hoa, other, mps),
        Vec::new()
    );
    let actions = h.discovery().mobile_prefix_solicit(now, hoa, ha, mps);
    let [NdAction::SendMpa { src, hoa: to, mpa }] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert_eq!((*src, *to, mpa.identifier), (ha, hoa, 7));
    let prefixes: Vec<(Ipv6Addr, u8, u32)> = mpa
        .options
        .iter()
        .filter_map(|o| match o {
            NdOption::PrefixInfo(p) => Some((p.prefix, p.prefix_len, p.valid_lifetime)),
            _ => None,
        })
        .collect();
    assert_eq!(prefixes, vec![(addr("2001:db8:1::"), 64, 86400)]);
}

#[test]
fn new_home_prefixes_schedule_unsolicited_mpas_to_bound_nodes() {
    let now = Instant::now();
    let mut h = Ha::new();
    h.bind(now);
    h.ra(now, "fe80::1", "2001:db8:1::1", 0);
    let due = h
        .unsolicited
        .poll_timeout()
        .expect("an unsolicited MPA scheduled");
    let actions = h.discovery().unsolicited_due(Instant::from_std(due));
    let [NdAction::SendMpa { src, hoa, .. }] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert_eq!(
        (*src, *hoa),
        (addr("2001:db8:1::2"), addr("2001:db8:1::100"))
    );
}
