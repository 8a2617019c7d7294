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

use crate::config::Prefix;
use crate::net::mask;

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
    /// A default router advertised itself until then.
    pub router_until: Option<Instant>,
    /// The home prefix was advertised on it until then.
    pub home_until: Option<Instant>,
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
            router_until: None,
            home_until: None,
            bus_down: false,
        }
    }

    /// The link went down: its CoAs and router are no longer usable
    /// (addresses stay on the interface).
    pub fn link_down(&mut self) {
        self.up = false;
        self.router_until = None;
        self.home_until = None;
    }

    /// Replaces the CoA list from an address dump of this interface: global,
    /// finished DAD, not in the home prefix; new addresses go first.
    pub fn set_addresses(&mut self, addrs: &[AddrInfo], home: Prefix, hoa: Ipv6Addr) {
        let mut fresh: Vec<CoaCandidate> = addrs
            .iter()
            .filter(|a| a.index == self.index && a.scope == 0)
            .filter(|a| a.flags & (AddrInfo::FLAG_TENTATIVE | AddrInfo::FLAG_DADFAILED) == 0)
            .filter_map(|a| match a.addr {
                IpAddr::V6(v6) => Some((v6, a.flags)),
                IpAddr::V4(_) => None,
            })
            .filter(|(v6, _)| {
                mip6::bcache::is_routable_unicast(v6) && *v6 != hoa && !home.contains(*v6)
            })
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
    /// 255 and a link-local source: the router's life, and whether it
    /// advertises the home prefix.
    pub fn on_router_advert(&mut self, ra: &RouterAdvert, home: Prefix, now: Instant) -> bool {
        if self.tunnel || ra.prefixes().next().is_none() {
            return false;
        }
        let mut life = Duration::from_secs(u64::from(ra.router_lifetime));
        if let Some(ms) = ra.adv_interval_ms() {
            life = life.min(Duration::from_millis(
                u64::from(ms) * u64::from(ADV_INTERVALS_PER_ROUTER_LIFE),
            ));
        }
        let until = now + life;
        self.router_until = (!life.is_zero()).then_some(until);
        let home_seen = ra
            .prefixes()
            .any(|p| p.prefix_len == home.len && mask(p.prefix, p.prefix_len) == home.addr);
        if home_seen {
            // Home is recognised by the prefix even from a router with
            // lifetime 0 (the home agent may not be a default router).
            let prefix_life = ra.adv_interval_ms().map_or(Duration::from_secs(30), |ms| {
                Duration::from_millis(u64::from(ms) * u64::from(ADV_INTERVALS_PER_ROUTER_LIFE))
            });
            self.home_until = Some(now + prefix_life);
        }
        home_seen
    }

    /// The home prefix is advertised here now.
    pub fn at_home(&self, now: Instant) -> bool {
        !self.tunnel && self.up && self.home_until.is_some_and(|t| t > now)
    }

    /// The view [`mip6::coa::select_primary_coa`] takes.
    pub fn candidate(&self, now: Instant) -> MnInterface {
        MnInterface {
            ifindex: self.index,
            preference: self.preference,
            tunnel: self.tunnel,
            has_default_router: self.router_until.is_some_and(|t| t > now),
            coas: if self.up && !self.bus_down {
                self.coas.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// The next instant a router or home prefix of this interface expires.
    pub fn next_expiry(&self, now: Instant) -> Option<Instant> {
        [self.router_until, self.home_until]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
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

    #[test]
    fn coas_skip_tentative_home_prefix_and_other_interfaces_and_put_new_first() {
        let mut i = Iface::new(3, "eth-a", 1, false);
        let hoa = addr("2001:db8:1::100");
        i.set_addresses(&[info(3, "2001:db8:a::1", 0)], home(), hoa);
        i.set_addresses(
            &[
                info(3, "2001:db8:a::1", 0),
                info(3, "2001:db8:a::2", 0),
                info(3, "2001:db8:a::3", AddrInfo::FLAG_TENTATIVE),
                info(3, "2001:db8:1::5", 0),
                info(4, "2001:db8:b::1", 0),
            ],
            home(),
            hoa,
        );
        let got: Vec<Ipv6Addr> = i.coas.iter().map(|c| c.address).collect();
        assert_eq!(got, vec![addr("2001:db8:a::2"), addr("2001:db8:a::1")]);
    }

    #[test]
    fn down_interface_offers_no_coa() {
        let mut i = Iface::new(3, "eth-a", 1, true);
        i.set_addresses(
            &[info(3, "2001:db8:a::1", 0)],
            home(),
            addr("2001:db8:1::100"),
        );
        let now = Instant::now();
        assert!(i.candidate(now).coas.is_empty());
        i.up = true;
        assert_eq!(i.candidate(now).coas.len(), 1);
    }

    #[test]
    fn a_tunnel_reported_down_offers_no_coa_though_its_address_remains() {
        let mut i = Iface::new(3, "teredo", 3, true);
        i.set_addresses(
            &[info(3, "2001:0:c000:201::1", 0)],
            home(),
            addr("2001:db8:1::100"),
        );
        i.up = true;
        i.bus_down = true;
        assert!(i.candidate(Instant::now()).coas.is_empty());
    }
}
