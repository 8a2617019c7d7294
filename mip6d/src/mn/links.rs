//! What the kernel says about links and addresses (rtnetlink dumps and
//! events): which interfaces the mobile node tracks, their care-of addresses,
//! and a Router Solicitation when a link comes up (RFC 6275 §11.5.1).

use std::net::Ipv6Addr;

use mip6::wire::ndisc::{NdRepr, RouterSolicit};
use netcfg::{Family, NetEvent};
use tracing::{debug, warn};

use super::ifaces::Iface;
use super::movement::LinkChange;
use super::MobileNode;

impl MobileNode {
    /// Starts tracking a link if the configuration gives it a preference.
    pub(super) async fn track_link(&mut self, index: u32, name: &str, up: bool) {
        // A tunnel daemon that restarts makes a new interface of the same
        // name: forget the dead one.
        self.movement
            .ifaces
            .retain(|i| i.name != name || i.index == index);
        if self.movement.ifaces.iter().any(|i| i.index == index)
            || index == 1
            || self
                .homes
                .iter()
                .any(|h| h.away.as_ref().is_some_and(|a| a.tunnel.0 == index))
            || name.starts_with("ip6tnl")
        {
            return;
        }
        let preference = self.config.mn_if_preference(name);
        if preference == 0 {
            return;
        }
        let tunnel = self.config.interface(name).is_some_and(|i| i.tunnel);
        if !tunnel {
            // The kernel keeps SLAAC routes of a link that lost carrier (UMIP
            // flushes its own); without this, traffic from a new CoA, the
            // tunnel's included, may follow the home prefix route of the
            // dead home link. Restored at exit.
            if let Err(e) = self
                .io
                .kernel
                .set_sysctl(name, "ignore_routes_with_linkdown", "1")
            {
                warn!("{name}: ignore_routes_with_linkdown: {e}");
            }
            // A Tunnel interface's default route gets 1023 - 3 x (10 - pref)
            // (<= 1020) and would beat the kernel's RA default routes (1024)
            // whatever the preferences, so CoA-sourced traffic of a preferred
            // eth0 left through teredo. UMIP gives its RA routes that metric
            // too; the kernel does from the next RA on. Restored at exit.
            if self.config.interface.iter().any(|i| i.tunnel) {
                let metric = mip6::coa::default_route_metric(preference, 0).to_string();
                if let Err(e) = self.io.kernel.set_sysctl(name, "ra_defrtr_metric", &metric) {
                    warn!("{name}: ra_defrtr_metric: {e}");
                }
            }
        }
        if !tunnel {
            // OptimisticHandoff: SLAAC addresses usable during DAD (RFC 4429).
            self.set_optimistic_dad(name);
        }
        let mut iface = Iface::new(index, name, preference, tunnel);
        iface.up = up;
        self.movement.ifaces.push(iface);
        self.refresh_addresses(index).await;
        if up {
            self.link_up(index).await;
        }
    }

    pub(super) async fn refresh_addresses(&mut self, index: u32) {
        let addrs = match self
            .io
            .kernel
            .nl
            .addresses(Some(Family::V6), Some(index))
            .await
        {
            Ok(a) => a,
            Err(e) => {
                warn!("address dump of {index}: {e}");
                return;
            }
        };
        let hoas = self.home_addresses();
        let optimistic = self.config.optimistic_handoff;
        self.movement
            .handle_addresses(index, &addrs, &hoas, optimistic);
    }

    /// A physical interface came up: solicit a router. A tunnel gets no RS;
    /// its default routes get the preference's metric instead.
    pub(super) async fn link_up(&mut self, index: u32) {
        let Some(i) = self.movement.ifaces.iter().find(|i| i.index == index) else {
            return;
        };
        if i.tunnel {
            let (name, preference) = (i.name.clone(), i.preference);
            self.rewrite_default_routes(index, &name, preference).await;
            return;
        }
        let rs = NdRepr::RouterSolicit(RouterSolicit::default());
        if let Ok(bytes) = rs.emit_without_checksum() {
            let all_routers = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
            if let Err(e) = self.io.icmp.send_nd(None, all_routers, index, &bytes).await {
                debug!("RS on {}: {e}", i.name);
            } else {
                debug!("RS sent on {}", i.name);
            }
        }
    }

    pub(super) async fn on_net_event(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::LinkChanged { index, up } => {
                match self.movement.handle_link_changed(index, up) {
                    LinkChange::Untracked if up => {
                        if let Ok(name) = self.io.kernel.nl.link_name(index).await {
                            self.track_link(index, &name, true).await;
                        }
                    }
                    LinkChange::CameUp => {
                        self.refresh_addresses(index).await;
                        self.link_up(index).await;
                    }
                    LinkChange::Untracked | LinkChange::Noted => {}
                }
            }
            NetEvent::Ipv6AddrAdded { index, .. } => {
                // A new address is newer news than a `down` notice.
                if let Some(i) = self.movement.ifaces.iter_mut().find(|i| i.index == index) {
                    i.bus_down = false;
                }
                self.refresh_addresses(index).await;
            }
            NetEvent::Ipv6AddrRemoved { index, .. } => {
                self.refresh_addresses(index).await;
            }
            _ => return,
        }
        self.evaluate().await;
    }
}
