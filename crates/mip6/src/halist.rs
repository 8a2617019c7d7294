//! The home agent's Home Agents List (RFC 6275 §10.1, §10.5.1), learnt as UMIP learns it
//! (docs/protocol-notes.md#home-agent-list-and-prefixes): from Router Advertisements with the H
//! flag received on the home agent's interfaces, one entry per global address a prefix
//! information option with the R flag carries, with
//!
//! - the Home Agent Information option's preference and lifetime, or
//!   preference 0 and the router lifetime without one;
//! - lifetime 0 removing the entries of that router at once;
//! - an RA without H from an address removing it too (it stopped serving).
//!
//! The DHAAD reply ([`HomeAgentList::reply`]) lists the home agents of the
//! link the request came in on that serve the prefix of the anycast address
//! it was sent to, by preference; the answering agent's own address is added
//! with preference 0 when its own RAs have not listed it (radvd without
//! `AdvRouterAddr` or `AdvHomeAgentFlag`), since it serves that prefix.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::dhaad::{dhaad_reply, KnownHomeAgent};
use crate::wire::ndisc::{DhaadReply, DhaadRequest, RouterAdvert};
use crate::wire::ndopt::PrefixInfo;

/// One home agent on one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HomeAgentEntry {
    /// The interface it was heard on.
    pub ifindex: u32,
    /// Its link-local address (the RA's source).
    pub link_local: Ipv6Addr,
    /// Its global address.
    pub address: Ipv6Addr,
    /// The length of the prefix it was advertised in.
    pub prefix_len: u8,
    /// Home Agent Preference.
    pub preference: i16,
    /// Serves mobile routers (RFC 3963 §4.3).
    pub mobile_router: bool,
    /// When it leaves the list.
    pub expires_at: Instant,
}

/// What an RA changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListChange {
    /// Addresses that joined the list.
    pub added: Vec<Ipv6Addr>,
    /// Addresses that left it.
    pub removed: Vec<Ipv6Addr>,
}

/// The Home Agents List of every home link.
#[derive(Debug, Clone, Default)]
pub struct HomeAgentList {
    entries: Vec<HomeAgentEntry>,
}

fn same_prefix(a: Ipv6Addr, b: Ipv6Addr, len: u8) -> bool {
    let len = u32::from(len.min(128));
    if len == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - len);
    u128::from(a) & mask == u128::from(b) & mask
}

impl HomeAgentList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entries, in no particular order.
    pub fn entries(&self) -> &[HomeAgentEntry] {
        &self.entries
    }

    /// Learns from an RA received on `ifindex` from link-local `source`.
    pub fn on_router_advert(
        &mut self,
        now: Instant,
        ifindex: u32,
        source: Ipv6Addr,
        ra: &RouterAdvert,
    ) -> ListChange {
        let mut change = ListChange::default();
        let from_router = |e: &HomeAgentEntry| e.ifindex == ifindex && e.link_local == source;
        let info = ra.home_agent_info();
        let lifetime = info.map_or(ra.router_lifetime, |h| h.lifetime);
        if ra.flags & RouterAdvert::HOME_AGENT == 0 || lifetime == 0 {
            change.removed = self
                .entries
                .iter()
                .filter(|e| from_router(e))
                .map(|e| e.address)
                .collect();
            self.entries.retain(|e| !from_router(e));
            return change;
        }
        let expires_at = now + Duration::from_secs(u64::from(lifetime));
        for p in ra
            .prefixes()
            .filter(|p| p.flags & PrefixInfo::ROUTER_ADDRESS != 0)
        {
            let a = p.prefix;
            if a.is_unspecified() || a.is_multicast() || a.is_loopback() {
                continue;
            }
            let entry = HomeAgentEntry {
                ifindex,
                link_local: source,
                address: a,
                prefix_len: p.prefix_len,
                preference: info.map_or(0, |h| h.preference),
                mobile_router: info.is_some_and(|h| h.mobile_router),
                expires_at,
            };
            match self
                .entries
                .iter_mut()
                .find(|e| e.ifindex == ifindex && e.address == a)
            {
                Some(e) => *e = entry,
                None => {
                    change.added.push(a);
                    self.entries.push(entry);
                }
            }
        }
        change
    }

    /// When the next entry expires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries.iter().map(|e| e.expires_at).min()
    }

    /// Drops expired entries; returns their addresses.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Ipv6Addr> {
        let gone = self
            .entries
            .iter()
            .filter(|e| e.expires_at <= now)
            .map(|e| e.address)
            .collect();
        self.entries.retain(|e| e.expires_at > now);
        gone
    }

    /// The reply to `request`, received on `ifindex` at `anycast`, by the
    /// home agent whose own addresses in that prefix are `own`.
    pub fn reply(
        &self,
        now: Instant,
        ifindex: u32,
        anycast: Ipv6Addr,
        own: &[(Ipv6Addr, u8)],
        request: &DhaadRequest,
    ) -> DhaadReply {
        let mut known: Vec<KnownHomeAgent> = self
            .entries
            .iter()
            .filter(|e| {
                e.ifindex == ifindex
                    && e.expires_at > now
                    && same_prefix(e.address, anycast, e.prefix_len)
            })
            .map(|e| KnownHomeAgent {
                address: e.address,
                preference: e.preference,
                mobile_router: e.mobile_router,
            })
            .collect();
        for &(address, len) in own {
            if same_prefix(address, anycast, len) && !known.iter().any(|k| k.address == address) {
                known.push(KnownHomeAgent {
                    address,
                    preference: 0,
                    mobile_router: true,
                });
            }
        }
        dhaad_reply(request, &known)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::dhaad::ha_anycast;
    use crate::wire::ndisc::DHAAD_FLAG_MOBILE_ROUTER;
    use crate::wire::ndopt::{HomeAgentInfo, NdOption};

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn ra(address: &str, info: Option<(i16, u16, bool)>, router_lifetime: u16) -> RouterAdvert {
        let mut options = vec![NdOption::PrefixInfo(PrefixInfo {
            prefix_len: 64,
            flags: PrefixInfo::ON_LINK | PrefixInfo::AUTONOMOUS | PrefixInfo::ROUTER_ADDRESS,
            valid_lifetime: 300,
            preferred_lifetime: 120,
            prefix: a(address),
        })];
        if let Some((preference, lifetime, mobile_router)) = info {
            options.push(NdOption::HomeAgentInfo(HomeAgentInfo {
                preference,
                lifetime,
                mobile_router,
            }));
        }
        RouterAdvert {
            cur_hop_limit: 64,
            flags: RouterAdvert::HOME_AGENT,
            router_lifetime,
            reachable_time: 0,
            retrans_timer: 0,
            options,
        }
    }

    fn request(flags: u16) -> DhaadRequest {
        DhaadRequest {
            identifier: 42,
            flags,
        }
    }

    fn anycast() -> Ipv6Addr {
        ha_anycast(a("2001:db8:1::"), 64)
    }

    #[test]
    fn reply_lists_the_link_by_preference_with_the_answering_agent() {
        let t0 = Instant::now();
        let mut l = HomeAgentList::new();
        let c = l.on_router_advert(
            t0,
            2,
            a("fe80::2"),
            &ra("2001:db8:1::2", Some((10, 1800, false)), 30),
        );
        assert_eq!(c.added, [a("2001:db8:1::2")]);
        l.on_router_advert(
            t0,
            2,
            a("fe80::3"),
            &ra("2001:db8:1::3", Some((20, 1800, true)), 30),
        );
        // Another link, another prefix: not in this reply.
        l.on_router_advert(
            t0,
            3,
            a("fe80::4"),
            &ra("2001:db8:1::4", Some((99, 1800, true)), 30),
        );
        l.on_router_advert(
            t0,
            2,
            a("fe80::5"),
            &ra("2001:db8:5::5", Some((99, 1800, true)), 30),
        );
        // Repeating an RA changes nothing.
        let c = l.on_router_advert(
            t0,
            2,
            a("fe80::2"),
            &ra("2001:db8:1::2", Some((10, 1800, false)), 30),
        );
        assert_eq!(c, ListChange::default());
        let own = [(a("2001:db8:1::2"), 64)];
        let r = l.reply(t0, 2, anycast(), &own, &request(0));
        assert_eq!(r.identifier, 42);
        assert_eq!(r.home_agents, [a("2001:db8:1::3"), a("2001:db8:1::2")]);
        let r = l.reply(t0, 2, anycast(), &own, &request(DHAAD_FLAG_MOBILE_ROUTER));
        assert_eq!(r.home_agents, [a("2001:db8:1::3")]);
        // Not listed by its own RAs: the answering agent adds itself at 0.
        let own = [(a("2001:db8:1::7"), 64)];
        let r = l.reply(t0, 2, anycast(), &own, &request(0));
        assert_eq!(
            r.home_agents,
            [a("2001:db8:1::3"), a("2001:db8:1::2"), a("2001:db8:1::7")]
        );
    }

    #[test]
    fn lifetimes_come_from_the_option_or_the_router_lifetime() {
        let t0 = Instant::now();
        let mut l = HomeAgentList::new();
        l.on_router_advert(
            t0,
            2,
            a("fe80::2"),
            &ra("2001:db8:1::2", Some((10, 100, false)), 30),
        );
        l.on_router_advert(t0, 2, a("fe80::3"), &ra("2001:db8:1::3", None, 30));
        assert_eq!(l.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        let e3 = l
            .entries()
            .iter()
            .find(|e| e.address == a("2001:db8:1::3"))
            .unwrap();
        assert_eq!(e3.preference, 0);
        assert_eq!(
            l.handle_timeout(t0 + Duration::from_secs(29)),
            Vec::<Ipv6Addr>::new()
        );
        assert_eq!(
            l.handle_timeout(t0 + Duration::from_secs(30)),
            [a("2001:db8:1::3")]
        );
        // A refresh moves the expiry and the preference.
        let t1 = t0 + Duration::from_secs(90);
        l.on_router_advert(
            t1,
            2,
            a("fe80::2"),
            &ra("2001:db8:1::2", Some((-3, 100, false)), 30),
        );
        assert_eq!(
            l.handle_timeout(t0 + Duration::from_secs(100)),
            Vec::<Ipv6Addr>::new()
        );
        assert_eq!(l.entries()[0].preference, -3);
        assert_eq!(l.poll_timeout(), Some(t1 + Duration::from_secs(100)));
        let r = l.reply(
            t0 + Duration::from_secs(191),
            2,
            anycast(),
            &[],
            &request(0),
        );
        assert!(r.home_agents.is_empty(), "expired entries are not listed");
    }

    #[test]
    fn lifetime_zero_or_no_h_flag_removes_the_router() {
        let t0 = Instant::now();
        let mut l = HomeAgentList::new();
        l.on_router_advert(
            t0,
            2,
            a("fe80::2"),
            &ra("2001:db8:1::2", Some((10, 100, false)), 30),
        );
        let c = l.on_router_advert(
            t0,
            2,
            a("fe80::2"),
            &ra("2001:db8:1::2", Some((10, 0, false)), 30),
        );
        assert_eq!(c.removed, [a("2001:db8:1::2")]);
        assert!(l.entries().is_empty());
        l.on_router_advert(
            t0,
            2,
            a("fe80::2"),
            &ra("2001:db8:1::2", Some((10, 100, false)), 30),
        );
        let mut plain = ra("2001:db8:1::2", None, 30);
        plain.flags = 0;
        let c = l.on_router_advert(t0, 2, a("fe80::2"), &plain);
        assert_eq!(c.removed, [a("2001:db8:1::2")]);
        // Prefixes without R give no address.
        let mut no_r = ra("2001:db8:1::2", Some((10, 100, false)), 30);
        if let NdOption::PrefixInfo(p) = &mut no_r.options[0] {
            p.flags = PrefixInfo::ON_LINK;
        }
        let c = l.on_router_advert(t0, 2, a("fe80::2"), &no_r);
        assert!(c.added.is_empty());
    }
}
