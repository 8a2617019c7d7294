//! The forwarding state of one home binding (RFC 6275 §10.4.1): the
//! ip6ip6 tunnel HA → CoA, the route to the home address through it (main
//! table, metric 192), for a mobile router the routes to its mobile network
//! prefixes through it (table 252, which rule 1005 consults for forwarded
//! traffic, metric 192; RFC 3963 §6.2), and the proxy neighbour entry that
//! makes the HA answer Neighbor Solicitations for the home address on the
//! home link (and one for the link-local address with the home address's
//! interface identifier when the BU had the L flag, RFC 6275 §10.4.1).
//!
//! The tunnels are named by the home agent (`ip6tnlN`, as the kernel would
//! name them) and put in device group [`TUNNEL_GROUP`]: the kernel finds a
//! named device in one lookup, where an unnamed one has to be found again in
//! a dump of every link, and shutdown deletes the whole group at once.

use std::net::{IpAddr, Ipv6Addr};

use netcfg::{Ip6TnlSpec, ProxyNeigh, RouteSpec};
use tracing::warn;

use crate::config::Config;
use crate::ipsec::{Endpoint, TunnelIpsec};
use crate::kernel::{Item, Kernel, METRIC_MIP6_FWD, TABLE_MIP6};

/// The device group of the home agent's binding tunnels
/// (`ip link show group 6275`).
pub const TUNNEL_GROUP: u32 = 6275;

/// How many names [`BindingState::install`] tries when a name is taken.
const NAME_TRIES: u32 = 16;

/// Hands out tunnel numbers for `ip6tnlN`, counting up from the highest
/// number in use at start (names are not reused before the counter wraps).
#[derive(Debug)]
pub struct TunnelNames {
    next: u32,
}

impl TunnelNames {
    /// Numbers after the highest `ip6tnlN` among `existing`.
    pub fn after<'a>(existing: impl IntoIterator<Item = &'a str>) -> TunnelNames {
        let highest = existing
            .into_iter()
            .filter_map(|n| n.strip_prefix("ip6tnl")?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        TunnelNames {
            next: highest.saturating_add(1),
        }
    }

    fn take(&mut self) -> String {
        // `ip6tnl` and nine digits fill IFNAMSIZ.
        if self.next > 999_999_999 {
            self.next = 1;
        }
        let n = self.next;
        self.next += 1;
        format!("ip6tnl{n}")
    }
}

/// One binding's kernel objects.
#[derive(Debug, Clone)]
pub struct BindingState {
    pub home_address: Ipv6Addr,
    pub care_of_address: Ipv6Addr,
    pub ha_address: Ipv6Addr,
    /// A mobile router's prefixes (empty for a mobile node).
    pub mobile_network_prefixes: Vec<(Ipv6Addr, u8)>,
    /// With the L flag: the link-local address proxied with the home address.
    pub link_local: Option<Ipv6Addr>,
    tunnel: Option<(u32, String)>,
    /// The home link's interface, once installed.
    home_ifindex: Option<u32>,
    items: Vec<Item>,
    /// Tunnel-mode IPsec policies, following the care-of address.
    ipsec: TunnelIpsec,
}

impl BindingState {
    /// A binding still in DAD: nothing installed yet.
    pub fn pending(
        home_address: Ipv6Addr,
        care_of_address: Ipv6Addr,
        ha_address: Ipv6Addr,
        mobile_network_prefixes: Vec<(Ipv6Addr, u8)>,
    ) -> BindingState {
        BindingState {
            home_address,
            care_of_address,
            ha_address,
            mobile_network_prefixes,
            link_local: None,
            tunnel: None,
            home_ifindex: None,
            items: Vec::new(),
            ipsec: TunnelIpsec::none(),
        }
    }

    /// With the tunnel-mode IPsec policies `config` has for this home
    /// address and home agent address (installed with the binding).
    pub fn with_ipsec(mut self, config: &Config) -> BindingState {
        self.ipsec = TunnelIpsec::new(
            config,
            Endpoint::HomeAgent,
            self.ha_address,
            self.home_address,
        );
        self
    }

    /// With the L flag: `link_local` is defended on the home link too.
    pub fn with_link_local(mut self, link_local: Option<Ipv6Addr>) -> BindingState {
        self.link_local = link_local;
        self
    }

    /// The tunnel's name, for logs.
    pub fn tunnel_name(&self) -> &str {
        self.tunnel.as_ref().map_or("-", |(_, n)| n.as_str())
    }

    /// The home link's interface, once the binding is installed.
    pub fn home_ifindex(&self) -> Option<u32> {
        self.home_ifindex
    }

    /// Installs tunnel, routes and proxy entry.
    pub async fn install(
        &mut self,
        kernel: &mut Kernel,
        names: &mut TunnelNames,
        home_ifindex: u32,
    ) -> Result<(), netcfg::Error> {
        let spec =
            Ip6TnlSpec::mip6(self.ha_address, self.care_of_address, 0).in_group(TUNNEL_GROUP);
        let mut tries = 1;
        let tnl = loop {
            match kernel.add_tunnel(&spec.clone().named(&names.take())).await {
                Err(e) if e.is_exists() && tries < NAME_TRIES => tries += 1,
                other => break other?,
            }
        };
        self.items.push(Item::Tunnel(tnl.index));
        self.tunnel = Some((tnl.index, tnl.name.clone()));
        let route = RouteSpec::prefix(IpAddr::V6(self.home_address), 128, tnl.index)
            .metric(METRIC_MIP6_FWD);
        kernel.add_route(route.clone()).await?;
        self.items.push(Item::Route(route));
        for &(prefix, len) in &self.mobile_network_prefixes {
            let route = RouteSpec::prefix(IpAddr::V6(prefix), len, tnl.index)
                .table(TABLE_MIP6)
                .metric(METRIC_MIP6_FWD);
            kernel.add_route(route.clone()).await?;
            self.items.push(Item::Route(route));
        }
        for addr in std::iter::once(self.home_address).chain(self.link_local) {
            let proxy = ProxyNeigh {
                index: home_ifindex,
                addr,
            };
            kernel.add_proxy(proxy).await?;
            self.items.push(Item::Proxy(proxy));
        }
        self.ipsec.follow(kernel, self.care_of_address).await;
        self.home_ifindex = Some(home_ifindex);
        Ok(())
    }

    /// The mobile node moved: the tunnel's far end follows (`SIOCCHGTUNNEL`).
    pub async fn move_to(
        &mut self,
        kernel: &mut Kernel,
        care_of_address: Ipv6Addr,
    ) -> Result<(), netcfg::Error> {
        self.care_of_address = care_of_address;
        if let Some((index, _)) = self.tunnel {
            let spec = Ip6TnlSpec::mip6(self.ha_address, care_of_address, 0);
            kernel.change_tunnel(index, &spec).await?;
        }
        self.ipsec.follow(kernel, care_of_address).await;
        Ok(())
    }

    /// The tunnel and the routes through it: what deleting the device takes
    /// with it.
    pub fn device_items(&self) -> impl Iterator<Item = &Item> {
        self.items
            .iter()
            .filter(|i| matches!(i, Item::Tunnel(_) | Item::Route(_)))
    }

    /// The configuration's `IPsecPolicySet` changed: the tunnel-mode
    /// policies are released and rebuilt from `config`, at the care-of
    /// address again if the binding is installed.
    pub async fn reload_ipsec(&mut self, kernel: &mut Kernel, config: &Config) {
        self.ipsec.release(kernel).await;
        self.ipsec = TunnelIpsec::new(
            config,
            Endpoint::HomeAgent,
            self.ha_address,
            self.home_address,
        );
        if self.tunnel.is_some() {
            self.ipsec.follow(kernel, self.care_of_address).await;
        }
    }

    /// Moves the tunnel-mode IPsec policies and SAs back to the home address.
    pub async fn release_ipsec(&mut self, kernel: &mut Kernel) {
        self.ipsec.release(kernel).await;
    }

    /// Removes everything, newest first.
    pub async fn remove(&mut self, kernel: &mut Kernel) {
        self.ipsec.release(kernel).await;
        while let Some(item) = self.items.pop() {
            if let Err(e) = kernel.remove(item.clone()).await {
                warn!("cannot remove {item:?}: {e}");
            }
        }
        self.tunnel = None;
        self.home_ifindex = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_names_follow_the_highest_in_use() {
        let mut names = TunnelNames::after(["lo", "ip6tnl0", "ip6tnl7", "ip6tnlx", "eth0"]);
        assert_eq!(names.take(), "ip6tnl8");
        assert_eq!(names.take(), "ip6tnl9");
        let mut fresh = TunnelNames::after([]);
        assert_eq!(fresh.take(), "ip6tnl1");
        let mut wrapped = TunnelNames::after(["ip6tnl999999999"]);
        assert_eq!(wrapped.take(), "ip6tnl1");
        assert!(wrapped.take().len() < 16);
    }
}
