//! The forwarding state of one home binding (umip.md §4.2 step 9): the
//! ip6ip6 tunnel HA → CoA, the route to the home address through it (main
//! table, metric 192), for a mobile router the routes to its mobile network
//! prefixes through it (table 252, which rule 1005 consults for forwarded
//! traffic, metric 192; RFC 3963 §6.2), and the proxy neighbour entry that
//! makes the HA answer Neighbor Solicitations for the home address on the
//! home link.

use std::net::{IpAddr, Ipv6Addr};

use netcfg::{Ip6TnlSpec, ProxyNeigh, RouteSpec};
use tracing::warn;

use crate::config::Config;
use crate::ipsec::{Role, TunnelIpsec};
use crate::kernel::{Item, Kernel, METRIC_MIP6_FWD, TABLE_MIP6};

/// One binding's kernel objects.
#[derive(Debug, Clone)]
pub struct BindingState {
    pub home_address: Ipv6Addr,
    pub care_of_address: Ipv6Addr,
    pub ha_address: Ipv6Addr,
    /// A mobile router's prefixes (empty for a mobile node).
    pub mobile_network_prefixes: Vec<(Ipv6Addr, u8)>,
    tunnel: Option<(u32, String)>,
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
            tunnel: None,
            items: Vec::new(),
            ipsec: TunnelIpsec::none(),
        }
    }

    /// With the tunnel-mode IPsec policies `config` has for this home
    /// address and home agent address (installed with the binding).
    pub fn with_ipsec(mut self, config: &Config) -> BindingState {
        self.ipsec = TunnelIpsec::new(config, Role::HomeAgent, self.ha_address, self.home_address);
        self
    }

    /// The tunnel's name, for logs.
    pub fn tunnel_name(&self) -> &str {
        self.tunnel.as_ref().map_or("-", |(_, n)| n.as_str())
    }

    /// Installs tunnel, routes and proxy entry.
    pub async fn install(
        &mut self,
        kernel: &mut Kernel,
        home_ifindex: u32,
    ) -> Result<(), netcfg::Error> {
        let spec = Ip6TnlSpec::mip6(self.ha_address, self.care_of_address, 0);
        let tnl = kernel.add_tunnel(&spec).await?;
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
        let proxy = ProxyNeigh {
            index: home_ifindex,
            addr: self.home_address,
        };
        kernel.add_proxy(proxy).await?;
        self.items.push(Item::Proxy(proxy));
        self.ipsec.follow(kernel, self.care_of_address).await;
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

    /// Removes everything, newest first.
    pub async fn remove(&mut self, kernel: &mut Kernel) {
        self.ipsec.release(kernel).await;
        while let Some(item) = self.items.pop() {
            if let Err(e) = kernel.remove(item.clone()).await {
                warn!("cannot remove {item:?}: {e}");
            }
        }
        self.tunnel = None;
    }
}
