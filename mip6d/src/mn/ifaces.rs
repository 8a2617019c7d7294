//! Movement detection (RFC 6275 §11.5.1): which of the mobile node's
//! interfaces are up, which care-of addresses they hold, which have a
//! default router and which see the home prefix advertised.
//!
//! Deliberate difference from UMIP, for the kernel datapath: on physical
//! interfaces the kernel does SLAAC (UMIP turns `autoconf`/`accept_ra` off
//! and forms CoAs itself); mip6d reads the resulting addresses over netlink,
//! like it does for `Tunnel enabled` interfaces, and uses its own RS/RA
//! handling only for router presence and home-link detection. `Tunnel`
//! interfaces get no RS, their RAs are ignored, and they need no router.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use mip6::coa::{CoaCandidate, MnInterface};
use mip6::wire::ndisc::RouterAdvert;
use netcfg::AddrInfo;
use tokio::time::Instant;

use super::routers::{
    advertised_prefixes, Heard, ProbePolicy, RouterEffect, Routers, DEFAULT_RETRANS,
};
use crate::config::Prefix;

/// How long a router (and the home prefix it advertised) counts as present
/// after its last RA, in advertisement intervals: UMIP uses one interval,
/// which makes a single lost RA a movement; three ride over that.
const ADV_INTERVALS_PER_ROUTER_LIFE: u32 = 3;

/// One tracked interface.
#[derive(Debug, Clone)]
pub struct Iface {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// `MnIfPreference`.
    pub preference: u8,
    /// `Tunnel enabled`.
    pub tunnel: bool,
    /// `IFF_UP && IFF_RUNNING`.
    pub up: bool,
    /// Care-of address candidates, most recently seen first.
    pub coas: Vec<CoaCandidate>,
    /// The routers heard on it and the one in use ([`Routers`]).
    pub routers: Routers,
    /// The tunnel daemon said `down` on D-Bus, and no address came since:
    /// no CoA of this interface is used, whatever the kernel still holds.
    pub bus_down: bool,
}

impl Iface {
    /// A new, down interface.
    pub fn new(index: u32, name: &str, preference: u8, tunnel: bool) -> Iface {
        Iface {
            index,
            name: name.to_owned(),
            preference,
            tunnel,
            up: false,
            coas: Vec::new(),
            routers: Routers::default(),
            bus_down: false,
        }
    }

    /// The link went down: its CoAs and router are no longer usable
    /// (addresses stay on the interface).
    pub fn link_down(&mut self) {
        self.up = false;
        self.routers.clear();
    }

    /// Replaces the CoA list from an address dump of this interface:
    /// global, not a home address, DAD finished, or (`optimistic`, RFC 4429)
    /// still running on an Optimistic address; new addresses go first.
    pub fn set_addresses(&mut self, addrs: &[AddrInfo], hoas: &[Ipv6Addr], optimistic: bool) {
        let usable = |flags: u32| {
            flags & AddrInfo::FLAG_DADFAILED == 0
                && (flags & AddrInfo::FLAG_TENTATIVE == 0
                    || (optimistic && flags & AddrInfo::FLAG_OPTIMISTIC != 0))
        };
        let mut fresh: Vec<CoaCandidate> = addrs
            .iter()
            .filter(|a| a.index == self.index && a.scope == 0)
            .filter(|a| usable(a.flags))
            .filter_map(|a| match a.addr {
                IpAddr::V6(v6) => Some((v6, a.flags)),
                IpAddr::V4(_) => None,
            })
            .filter(|(v6, _)| mip6::bcache::is_routable_unicast(v6) && !hoas.contains(v6))
            .map(|(address, flags)| CoaCandidate {
                address,
                valid: Duration::MAX,
                preferred: if flags & AddrInfo::FLAG_DEPRECATED != 0 {
                    Duration::ZERO
                } else {
                    Duration::MAX
                },
            })
            .collect();
        let known: Vec<Ipv6Addr> = self.coas.iter().map(|c| c.address).collect();
        fresh.sort_by_key(|c| known.iter().position(|k| *k == c.address).is_some());
        self.coas = fresh;
    }

    /// An RA on this (physical) interface, already checked for hop limit
    /// 255 and a link-local source: the router's life and prefixes
    /// ([`Routers::heard`]). A router's life is cut to a few advertisement
    /// intervals when the RA says the interval.
    pub fn on_router_advert(
        &mut self,
        src: Ipv6Addr,
        ra: &RouterAdvert,
        now: Instant,
        policy: ProbePolicy,
    ) -> Vec<RouterEffect> {
        if self.tunnel || ra.prefixes().next().is_none() {
            return Vec::new();
        }
        let per_interval = ra.adv_interval_ms().map(|ms| {
            Duration::from_millis(u64::from(ms) * u64::from(ADV_INTERVALS_PER_ROUTER_LIFE))
        });
        let mut default_life = Duration::from_secs(u64::from(ra.router_lifetime));
        if let Some(d) = per_interval {
            default_life = default_life.min(d);
        }
        // The home prefix is recognised even from a router with lifetime 0
        // (the home agent may not be a default router).
        let heard_life = per_interval.unwrap_or(Duration::from_secs(30));
        let retrans = match ra.retrans_timer {
            0 => DEFAULT_RETRANS,
            ms => Duration::from_millis(u64::from(ms)),
        };
        let heard = Heard {
            src,
            prefixes: advertised_prefixes(ra.prefixes()),
            default_life,
            heard_life,
            retrans,
        };
        self.routers.heard(now, heard, policy)
    }

    /// `home` is advertised here now.
    pub fn at_home(&self, now: Instant, home: Prefix) -> bool {
        !self.tunnel && self.up && self.routers.advertise(home.masked(), now)
    }

    /// The view [`mip6::coa::select_primary_coa`] takes for the home link
    /// of prefix `home`: its addresses are no CoAs. On a physical
    /// interface, the CoAs of the router in use (its prefixes), when it has
    /// any yet; the others otherwise.
    pub fn candidate(&self, now: Instant, home: Prefix) -> MnInterface {
        let mut coas: Vec<CoaCandidate> = if self.up && !self.bus_down {
            self.coas
                .iter()
                .filter(|c| !home.contains(c.address))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        if let Some(prefixes) = self.routers.current_prefixes(now) {
            let of_router: Vec<CoaCandidate> = coas
                .iter()
                .filter(|c| prefixes.iter().any(|p| p.contains(c.address)))
                .cloned()
                .collect();
            if !of_router.is_empty() {
                coas = of_router;
            }
        }
        MnInterface {
            ifindex: self.index,
            preference: self.preference,
            tunnel: self.tunnel,
            has_default_router: self.routers.has_default(now),
            coas,
        }
    }

    /// The next instant a router, a prefix or a probe of this interface
    /// needs attention.
    pub fn next_expiry(&self, now: Instant) -> Option<Instant> {
        self.routers.poll_timeout(now)
    }
}

/// True for a source an RA may come from.
pub fn valid_ra_source(src: &Ipv6Addr, hop_limit: Option<u8>) -> bool {
    hop_limit == Some(255) && src.is_unicast_link_local()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    fn info(index: u32, a: &str, flags: u32) -> AddrInfo {
        AddrInfo {
            index,
            addr: IpAddr::V6(addr(a)),
            prefix_len: 64,
            scope: 0,
            flags,
        }
    }

    fn home() -> Prefix {
        Prefix::new(addr("2001:db8:1::"), 64).unwrap_or(Prefix {
            addr: Ipv6Addr::UNSPECIFIED,
            len: 0,
        })
    }

    fn coas(i: &Iface) -> Vec<Ipv6Addr> {
        i.candidate(Instant::now(), home())
            .coas
            .iter()
            .map(|c| c.address)
            .collect()
    }

    #[test]
    fn coas_skip_tentative_home_prefix_and_other_interfaces_and_put_new_first() {
        let mut i = Iface::new(3, "eth-a", 1, false);
        i.up = true;
        let hoas = [addr("2001:db8:1::100")];
        i.set_addresses(&[info(3, "2001:db8:a::1", 0)], &hoas, false);
        i.set_addresses(
            &[
                info(3, "2001:db8:a::1", 0),
                info(3, "2001:db8:a::2", 0),
                info(3, "2001:db8:a::3", AddrInfo::FLAG_TENTATIVE),
                info(3, "2001:db8:1::5", 0),
                info(4, "2001:db8:b::1", 0),
            ],
            &hoas,
            false,
        );
        assert_eq!(coas(&i), vec![addr("2001:db8:a::2"), addr("2001:db8:a::1")]);
    }

    #[test]
    fn an_optimistic_address_is_a_coa_only_when_optimism_is_asked_for() {
        let mut i = Iface::new(3, "eth-a", 1, false);
        i.up = true;
        let optimistic = AddrInfo::FLAG_TENTATIVE | AddrInfo::FLAG_OPTIMISTIC;
        let dump = [
            info(3, "2001:db8:a::1", optimistic),
            info(3, "2001:db8:a::2", AddrInfo::FLAG_TENTATIVE),
        ];
        i.set_addresses(&dump, &[], false);
        assert!(coas(&i).is_empty());
        i.set_addresses(&dump, &[], true);
        assert_eq!(coas(&i), vec![addr("2001:db8:a::1")]);
    }

    #[test]
    fn another_home_links_address_is_a_coa_for_this_one() {
        let mut i = Iface::new(3, "eth-home2", 1, false);
        i.up = true;
        i.set_addresses(&[info(3, "2001:db8:2::5", 0)], &[], false);
        assert_eq!(coas(&i), vec![addr("2001:db8:2::5")]);
        let home2 = Prefix::new(addr("2001:db8:2::"), 64).unwrap_or(home());
        assert!(i.candidate(Instant::now(), home2).coas.is_empty());
    }

    #[test]
    fn down_interface_offers_no_coa() {
        let mut i = Iface::new(3, "eth-a", 1, true);
        i.set_addresses(&[info(3, "2001:db8:a::1", 0)], &[], false);
        assert!(coas(&i).is_empty());
        i.up = true;
        assert_eq!(coas(&i).len(), 1);
    }

    #[test]
    fn a_tunnel_reported_down_offers_no_coa_though_its_address_remains() {
        let mut i = Iface::new(3, "teredo", 3, true);
        i.set_addresses(&[info(3, "2001:0:c000:201::1", 0)], &[], false);
        i.up = true;
        i.bus_down = true;
        assert!(coas(&i).is_empty());
    }
}
