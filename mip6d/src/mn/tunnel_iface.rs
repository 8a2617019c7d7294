//! The mobile node's side of `Tunnel enabled` interfaces (`docs/compat.md`; the seed
//! scenario, docs/mobile-ipv6-over-teredo.md) and of the home tunnel's MTU over
//! them: default routes rewritten to the preference's metric at link-up, the tunnel
//! daemon's D-Bus notices ([`super::tunnel_bus`]), and the tunnel MTU that follows
//! the CoA link.

use netcfg::Family;
use tracing::{debug, info, warn};

use super::tunnel_bus::{TunnelNotice, TunnelState};
use super::MobileNode;

impl MobileNode {
    /// As UMIP (`docs/protocol-notes.md`): at link-up, each main-table unicast default route
    /// out of a tunnel interface (no source prefix) gets the metric
    /// 1023 − 3 × (10 − MnIfPreference): a copy with that metric, protocol
    /// static and the same gateway is added, then the old one deleted. Like
    /// UMIP, later routes are left alone and nothing is restored at exit.
    pub(super) async fn rewrite_default_routes(&mut self, index: u32, name: &str, preference: u8) {
        const RTPROT_STATIC: u8 = 4;
        let metric = mip6::coa::default_route_metric(preference, 0);
        let routes = match self
            .io
            .kernel
            .nl
            .routes(Family::V6, Some(netcfg::TABLE_MAIN))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                warn!("{name}: route dump: {e}");
                return;
            }
        };
        for r in routes.iter().filter(|r| {
            r.table == netcfg::TABLE_MAIN
                && r.is_default()
                && r.is_unicast()
                && r.src.is_none()
                && r.oif == Some(index)
                && r.metric != Some(metric)
        }) {
            let mut spec = netcfg::RouteSpec::default_v6(index)
                .metric(metric)
                .protocol(RTPROT_STATIC);
            if let Some(gw) = r.gateway {
                spec = spec.via(gw);
            }
            let added = self.io.kernel.nl.add_route(&spec).await;
            match added.and(self.io.kernel.nl.del_route_info(r).await) {
                Ok(()) => info!(
                    "{name}: default route metric {} -> {metric}",
                    r.metric.unwrap_or(0)
                ),
                Err(e) => warn!("{name}: default route metric {metric}: {e}"),
            }
        }
    }
    /// miredo said something about a `Tunnel enabled` interface (D-Bus).
    /// `down` takes the interface out of CoA selection at once, whatever the
    /// kernel still shows; `up` re-reads its addresses now. Netlink decides
    /// which addresses exist.
    pub(super) async fn on_tunnel_notice(&mut self, n: TunnelNotice) {
        let Some(i) = self
            .movement
            .ifaces
            .iter_mut()
            .find(|i| i.tunnel && i.name == n.interface)
        else {
            debug!("D-Bus: {} is not a tracked interface yet", n.interface);
            return;
        };
        let (index, via) = (i.index, if n.signal { "signal" } else { "property" });
        match n.state {
            TunnelState::Up(address) => {
                info!(
                    "{}: miredo reports up {address} mtu {} (D-Bus {via})",
                    i.name, n.mtu
                );
                i.bus_down = false;
                self.refresh_addresses(index).await;
                let known = self
                    .movement
                    .ifaces
                    .iter()
                    .any(|i| i.index == index && i.coas.iter().any(|c| c.address == address));
                if !known {
                    debug!("D-Bus: {address} is not on the interface yet; netlink will tell");
                }
            }
            TunnelState::Down | TunnelState::Qualifying => {
                let state = if n.state == TunnelState::Down {
                    "down"
                } else {
                    "qualifying"
                };
                info!("{}: miredo reports {state} (D-Bus {via})", i.name);
                i.bus_down = true;
            }
        }
        self.evaluate().await;
    }
    /// The home tunnel's MTU follows its CoA link: that link's MTU less the
    /// 40 bytes of the outer header, at least 1280. (The kernel derives it
    /// only when the tunnel is created or changed, and from the route to the
    /// HA at that moment, which a tunnel daemon's hook may not have set up
    /// yet.) Linux's ip6ip6 tunnel never fragments its outer packets, so over
    /// a CoA link below 1320 bytes (Teredo's default 1280) packets of
    /// 1241–1280 bytes to or from the home address are lost: said once per
    /// link and MTU (docs/mobile-ipv6-over-teredo.md).
    pub(super) async fn fit_tunnel_mtu(&mut self, index: u32) {
        const NEEDED: u32 = 1280 + 40;
        let Ok(links) = self.io.kernel.nl.links().await else {
            return;
        };
        let Some(link) = links.iter().find(|l| l.index == index) else {
            return;
        };
        let tunnels: Vec<(u32, String)> = self
            .homes
            .iter()
            .filter_map(|h| h.away.as_ref())
            .filter(|a| a.coa_ifindex == index)
            .map(|a| a.tunnel.clone())
            .collect();
        for (tunnel, name) in tunnels {
            let wanted = link.mtu.saturating_sub(40).max(1280);
            let current = links.iter().find(|l| l.index == tunnel).map(|l| l.mtu);
            if current.is_some_and(|m| m != wanted) {
                match self.io.kernel.nl.set_mtu(tunnel, wanted).await {
                    Ok(()) => debug!(
                        "{name}: MTU {wanted} (CoA link {} MTU {})",
                        link.name, link.mtu
                    ),
                    Err(e) => warn!("{name}: MTU {wanted}: {e}"),
                }
            }
        }
        if link.mtu >= NEEDED || self.movement.mtu_warned == Some((index, link.mtu)) {
            return;
        }
        self.movement.mtu_warned = Some((index, link.mtu));
        warn!(
            "{}: MTU {} leaves the home tunnel {} bytes: packets of {}-1280 bytes to or from \
             the home address will be dropped; raise the MTU to at least {NEEDED} on this \
             link and its far end (for Teredo: InterfaceMTU on the server and relay, or MTU \
             in the client hook)",
            link.name,
            link.mtu,
            link.mtu.saturating_sub(40),
            link.mtu.saturating_sub(39),
        );
    }
}
