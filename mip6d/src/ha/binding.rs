//! The forwarding state of one home binding (RFC 6275 §10.4.1): the
//! ip6ip6 tunnel HA → CoA, the route to the home address through it (main
//! table, metric 192), for a mobile router the routes to its mobile network
//! prefixes through it (table 252, which rule 1005 consults for forwarded
//! traffic, metric 192; RFC 3963 §6.2), and the proxy neighbour entry that
//! makes the HA answer Neighbor Solicitations for the home address on the
//! home link (and one for the link-local address with the home address's
//! interface identifier when the BU had the L flag, RFC 6275 §10.4.1).
//!
//! On the shared datapath (`HaTunnelDatapath shared`, the default where the
//! kernel has it; `docs/home-agent-datapath.md`) there is no device per
//! binding: one external-mode ip6tnl device [`SHARED_TUNNEL`] carries them
//! all, and the routes name the tunnel's far end (`encap ip6 dst CoA src
//! HA`); a move replaces them, and a tc filter per route lets in from the
//! CoA only what has the binding's home address or prefix as inner source
//! (RFC 6275 §10.4.5).
//!
//! The per-binding tunnels are named by the home agent (`ip6tnlN`, as the kernel would
//! name them) and put in device group [`TUNNEL_GROUP`]: the kernel finds a
//! named device in one lookup, where an unnamed one has to be found again in
//! a dump of every link, and shutdown deletes the whole group at once.

use std::net::{IpAddr, Ipv6Addr};

use netcfg::ip6tnl::MIP6_TUNNEL_HOP_LIMIT;
use netcfg::{Ip6Encap, Ip6TnlSpec, ProxyNeigh, RouteSpec, TunnelSourceFilter};
use tracing::{info, warn};

use crate::config::{Config, HaTunnelDatapath};
use crate::ipsec::{Endpoint, TunnelIpsec};
use crate::kernel::{Item, Kernel, METRIC_MIP6_FWD, TABLE_MIP6};

/// The device group of the home agent's binding tunnels
/// (`ip link show group 6275`).
pub const TUNNEL_GROUP: u32 = 6275;

/// The shared datapath's external-mode tunnel device.
pub const SHARED_TUNNEL: &str = "mip6tnl";

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

/// The external-mode device of the shared datapath.
#[derive(Debug)]
struct SharedTunnel {
    index: u32,
    /// The next tc filter handle (1 is the device's drop filter).
    next_handle: u32,
}

/// Where the bindings' tunnels come from: the shared device, or a device
/// per binding named by [`TunnelNames`].
#[derive(Debug)]
pub struct Tunnels {
    names: TunnelNames,
    shared: Option<SharedTunnel>,
}

impl Tunnels {
    /// Per-binding devices, named after those in `existing`.
    pub fn per_binding<'a>(existing: impl IntoIterator<Item = &'a str>) -> Tunnels {
        Tunnels {
            names: TunnelNames::after(existing),
            shared: None,
        }
    }

    /// With `HaTunnelDatapath shared`: creates the external-mode device and
    /// its ingress guard. A kernel that cannot (no external mode, no tc
    /// flower) leaves the per-binding devices, said once in the log.
    pub async fn open_shared(&mut self, kernel: &mut Kernel, datapath: HaTunnelDatapath) {
        if datapath != HaTunnelDatapath::Shared {
            return;
        }
        let spec = Ip6TnlSpec::external(SHARED_TUNNEL);
        let mut added = kernel.add_tunnel(&spec).await;
        if added.as_ref().is_err_and(netcfg::Error::is_exists) {
            // Left by a home agent that did not exit (a crash, SIGKILL): its
            // routes and filters are stale, and go with it.
            if let Ok(Some(stale)) = kernel.nl.ip6tnl_by_name(SHARED_TUNNEL).await {
                warn!("removing {SHARED_TUNNEL} left by an earlier run");
                if let Err(e) = kernel.nl.del_ip6tnl(stale.index).await {
                    warn!("cannot remove {SHARED_TUNNEL}: {e}");
                }
                added = kernel.add_tunnel(&spec).await;
            }
        }
        let tnl = match added {
            Ok(t) => t,
            Err(e) => {
                warn!("no shared tunnel device ({e}): one tunnel device per binding");
                return;
            }
        };
        if let Err(e) = kernel.guard_tunnel_ingress(tnl.index).await {
            warn!("no ingress filter on {SHARED_TUNNEL} ({e}): one tunnel device per binding");
            if let Err(e) = kernel.remove(Item::Tunnel(tnl.index)).await {
                warn!("cannot remove {SHARED_TUNNEL}: {e}");
            }
            return;
        }
        info!("bindings tunnel through {SHARED_TUNNEL} (shared datapath)");
        self.shared = Some(SharedTunnel {
            index: tnl.index,
            next_handle: 2,
        });
    }

    /// The datapath in use.
    pub fn datapath(&self) -> HaTunnelDatapath {
        if self.shared.is_some() {
            HaTunnelDatapath::Shared
        } else {
            HaTunnelDatapath::PerBinding
        }
    }

    /// The shared device, to delete at exit with every route and filter on it.
    pub fn shared_device(&self) -> Option<Item> {
        self.shared.as_ref().map(|s| Item::Tunnel(s.index))
    }

    fn filter_handle(shared: &mut SharedTunnel) -> u32 {
        let h = shared.next_handle;
        // Handles wrap after four billion filters, skipping the drop filter's.
        shared.next_handle = shared.next_handle.checked_add(1).unwrap_or(2);
        h
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
    /// On the shared device: the routes and filters name the CoA.
    shared: bool,
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
            shared: false,
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

    /// The routes of the binding through device `index`: the home address
    /// (main table) and the mobile network prefixes (table 252).
    fn routes(&self, index: u32) -> Vec<RouteSpec> {
        let hoa = RouteSpec::prefix(IpAddr::V6(self.home_address), 128, index);
        std::iter::once(hoa)
            .chain(self.mobile_network_prefixes.iter().map(|&(prefix, len)| {
                RouteSpec::prefix(IpAddr::V6(prefix), len, index).table(TABLE_MIP6)
            }))
            .map(|r| r.metric(METRIC_MIP6_FWD))
            .collect()
    }

    /// The outer header HA → CoA of the shared datapath's routes.
    fn encap(&self) -> Ip6Encap {
        Ip6Encap {
            dst: self.care_of_address,
            src: self.ha_address,
            hop_limit: MIP6_TUNNEL_HOP_LIMIT,
        }
    }

    /// Installs tunnel (or encapsulating routes and their filters on the
    /// shared device), routes and proxy entry.
    pub async fn install(
        &mut self,
        kernel: &mut Kernel,
        tunnels: &mut Tunnels,
        home_ifindex: u32,
    ) -> Result<(), netcfg::Error> {
        if let Some(shared) = tunnels.shared.as_mut() {
            self.tunnel = Some((shared.index, SHARED_TUNNEL.to_owned()));
            self.shared = true;
            let encap = self.encap();
            for route in self.routes(shared.index) {
                // (Every route of a binding is IPv6.)
                let IpAddr::V6(inner_src) = route.dst else {
                    continue;
                };
                let filter = TunnelSourceFilter {
                    index: shared.index,
                    handle: Tunnels::filter_handle(shared),
                    outer_src: self.care_of_address,
                    inner_src,
                    inner_len: route.prefix_len,
                };
                kernel.replace_tunnel_filter(None, filter).await?;
                self.items.push(Item::TunnelFilter(filter));
                let route = route.encap(encap);
                kernel.add_route(route.clone()).await?;
                self.items.push(Item::Route(route));
            }
        } else {
            let spec =
                Ip6TnlSpec::mip6(self.ha_address, self.care_of_address, 0).in_group(TUNNEL_GROUP);
            let mut tries = 1;
            let tnl = loop {
                match kernel
                    .add_tunnel(&spec.clone().named(&tunnels.names.take()))
                    .await
                {
                    Err(e) if e.is_exists() && tries < NAME_TRIES => tries += 1,
                    other => break other?,
                }
            };
            self.items.push(Item::Tunnel(tnl.index));
            self.tunnel = Some((tnl.index, tnl.name.clone()));
            for route in self.routes(tnl.index) {
                kernel.add_route(route.clone()).await?;
                self.items.push(Item::Route(route));
            }
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

    /// The mobile node moved: the tunnel's far end follows (`SIOCCHGTUNNEL`;
    /// on the shared device, a route replace and a filter replace each).
    pub async fn move_to(
        &mut self,
        kernel: &mut Kernel,
        care_of_address: Ipv6Addr,
    ) -> Result<(), netcfg::Error> {
        self.care_of_address = care_of_address;
        if self.shared {
            let encap = self.encap();
            for item in &mut self.items {
                match item {
                    Item::Route(old) => {
                        let new = old.clone().encap(encap);
                        kernel.replace_route(old, new.clone()).await?;
                        *old = new;
                    }
                    Item::TunnelFilter(old) => {
                        let new = TunnelSourceFilter {
                            outer_src: care_of_address,
                            ..*old
                        };
                        kernel.replace_tunnel_filter(Some(old), new).await?;
                        *old = new;
                    }
                    _ => {}
                }
            }
        } else if let Some((index, _)) = self.tunnel {
            let spec = Ip6TnlSpec::mip6(self.ha_address, care_of_address, 0);
            kernel.change_tunnel(index, &spec).await?;
        }
        self.ipsec.follow(kernel, care_of_address).await;
        Ok(())
    }

    /// The tunnel and the routes and filters on it: what deleting the
    /// device (its own, or the shared one) takes with it.
    pub fn device_items(&self) -> impl Iterator<Item = &Item> {
        self.items
            .iter()
            .filter(|i| matches!(i, Item::Tunnel(_) | Item::Route(_) | Item::TunnelFilter(_)))
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
        self.shared = false;
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
