//! The mobile node carrying out what movement detection decides, for one
//! home link at a time: leaving home or changing the care-of address
//! (RFC 6275 §11.5.1, §11.7.1), returning home (§11.5.4), the
//! reachability probes of a router in use (RFC 4861 §7.3.3), and
//! `OptimisticHandoff`.
//!
//! `OptimisticHandoff` (`docs/compat.md`): the state the BA would bring
//! (traffic from the home address routed into the tunnel) is installed when
//! the BU is sent instead of when the BA arrives, never on the way home;
//! and an address still in DAD may be the care-of address when the kernel
//! made it Optimistic (RFC 4429), which the node asks for on its physical
//! interfaces (`optimistic_dad`, `use_optimistic`), so the BU leaves before
//! DAD ends. Without it a care-of address is used once its DAD is over.

use mip6::coa::PrimaryCoa;
use mip6::wire::ndisc::{NdRepr, NeighborSolicit};
use mip6::wire::ndopt::NdOption;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::away::Away;
use super::location::Location;
use super::movement::Effect;
use super::MobileNode;
use crate::kernel::raw::unsolicited_na;

impl MobileNode {
    /// What a router event asks: probes to send, a decision to make.
    pub(super) async fn carry_out_movement(&mut self, effects: Vec<Effect>) {
        let mut decide = false;
        for e in effects {
            match e {
                Effect::Decide => decide = true,
                Effect::Probe { ifindex, router } => self.send_router_probe(ifindex, router).await,
            }
        }
        if decide {
            self.evaluate().await;
        }
    }

    /// A unicast Neighbor Solicitation for `router`, with our link-layer
    /// address so it can answer at once (RFC 4861 §7.2.2, §7.3.3); the
    /// answer comes back on the ICMPv6 socket.
    async fn send_router_probe(&mut self, ifindex: u32, router: std::net::Ipv6Addr) {
        let name = self.iface_name(ifindex);
        let mut options = Vec::new();
        if let Some(mac) = netcfg::icmp6_socket::link_layer_address(&name) {
            options.push(NdOption::SourceLinkLayer(mac));
        }
        let ns = NdRepr::NeighborSolicit(NeighborSolicit {
            target: router,
            options,
        });
        let Ok(bytes) = ns.emit_without_checksum() else {
            return;
        };
        match self.io.icmp.send_nd(None, router, ifindex, &bytes).await {
            Ok(()) => info!("{name}: reachability probe to router {router}"),
            Err(e) => warn!("{name}: probe to router {router}: {e}"),
        }
    }

    /// `OptimisticHandoff` was switched by a reload: the physical
    /// interfaces' Optimistic DAD follows, and the care-of candidates are
    /// read again.
    pub(super) async fn optimistic_handoff_changed(&mut self) {
        let physical: Vec<(u32, String)> = self
            .movement
            .ifaces
            .iter()
            .filter(|i| !i.tunnel)
            .map(|i| (i.index, i.name.clone()))
            .collect();
        for (index, name) in physical {
            self.set_optimistic_dad(&name);
            self.refresh_addresses(index).await;
        }
        self.evaluate().await;
    }

    /// `optimistic_dad` and `use_optimistic` on physical interface `name`
    /// as `OptimisticHandoff` says (restored at exit): the kernel forms
    /// Optimistic addresses, and announces them over netlink at once (with
    /// `use_optimistic` only; otherwise a new address is announced when its
    /// DAD ends).
    pub(super) fn set_optimistic_dad(&mut self, name: &str) {
        let value = if self.config.optimistic_handoff {
            "1"
        } else {
            "0"
        };
        for key in ["optimistic_dad", "use_optimistic"] {
            let known = netcfg::sysctl::get_ipv6_conf(name, key).ok();
            if known.as_deref().map(str::trim) == Some(value) {
                continue;
            }
            if let Err(e) = self.io.kernel.set_sysctl(name, key, value) {
                warn!("{name}: {key}: {e}");
            }
        }
    }

    /// Away from home link `k` with `p`: the first registration from a
    /// foreign link, or a handover.
    pub(super) async fn move_to(&mut self, k: usize, p: PrimaryCoa) {
        let name = self.iface_name(p.ifindex);
        let h = &mut self.homes[k];
        h.reg.cancel_home_probe();
        if let Some(index) = h.home_addr_on.take() {
            let item = crate::kernel::Item::Address {
                index,
                addr: h.reg.hoa,
                prefix_len: h.reg.home_plen,
            };
            if let Err(e) = self.io.kernel.remove(item).await {
                warn!("cannot remove the home address from the home link: {e}");
            }
        }
        let hoa = h.reg.hoa;
        if h.reg.ha.is_unspecified() {
            // No home agent yet: DHAAD from this CoA, registration on its reply.
            info!("away from home: CoA {} on {name} ({hoa})", p.address);
            h.moved(Instant::now(), p);
            self.discover_home_agent(k, Some(p.address)).await;
            return;
        }
        let result = match h.away.as_mut() {
            Some(a) => {
                info!("handover: CoA {} -> {} ({name}, {hoa})", a.coa, p.address);
                a.handover(&mut self.io.kernel, p.address, p.ifindex).await
            }
            None => {
                info!("away from home: CoA {} on {name} ({hoa})", p.address);
                match Away::enter(
                    &mut self.io.kernel,
                    hoa,
                    h.reg.ha,
                    p.address,
                    p.ifindex,
                    &h.reg.mobile_network_prefixes,
                )
                .await
                {
                    Ok(a) => {
                        info!("tunnel {} {} -> {}", a.tunnel.1, p.address, h.reg.ha);
                        h.away = Some(a);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = result {
            error!("cannot set up the care-of address {}: {e}", p.address);
            return;
        }
        h.moved(Instant::now(), p);
        h.reg.ipsec.follow(&mut self.io.kernel, p.address).await;
        self.route_optimistically(k).await;
        let h = &mut self.homes[k];
        let actions = h.reg.register(
            std::time::Instant::now(),
            p.address,
            h.location,
            &self.config,
        );
        self.carry_out(k, actions).await;
        self.fit_tunnel_mtu(p.ifindex).await;
    }

    /// With `OptimisticHandoff`, what the BA would install (traffic from
    /// the home address into the tunnel) goes in now, before the BU.
    pub(super) async fn route_optimistically(&mut self, k: usize) {
        if !self.config.optimistic_handoff {
            return;
        }
        if let Some(a) = self.homes[k].away.as_mut() {
            if !a.default_route {
                info!(
                    "optimistic handoff: {} routed through the tunnel before the BA",
                    a.hoa
                );
            }
            if let Err(e) = a.registered(&mut self.io.kernel).await {
                error!("cannot route through the tunnel: {e}");
            }
        }
    }

    /// Home link `k` is advertised on `index`: deregister there.
    pub(super) async fn go_home(&mut self, k: usize, index: u32) {
        if self.home_return_waits(k, index).await {
            return;
        }
        let name = self.iface_name(index);
        let h = &mut self.homes[k];
        info!("at home on {name} ({})", h.reg.hoa);
        if name != h.reg.home_iface {
            debug!(
                "home prefix seen on {name}, MnHomeLink names {}",
                h.reg.home_iface
            );
        }
        if let Some(mut a) = h.away.take() {
            a.leave(&mut self.io.kernel).await;
        }
        h.reg.ipsec.release(&mut self.io.kernel).await;
        let hoa = h.reg.hoa;
        if let Err(e) = self
            .io
            .kernel
            .add_address(index, hoa, h.reg.home_plen)
            .await
        {
            warn!("cannot put the home address on the home link: {e}");
        } else {
            h.home_addr_on = Some(index);
            if let Err(e) = unsolicited_na(&self.io.icmp, &name, index, hoa, false).await {
                debug!("unsolicited NA for {hoa}: {e}");
            }
            self.announce_link_local(k, index).await;
        }
        let h = &mut self.homes[k];
        h.location = Location::Home(index);
        let actions = h
            .reg
            .deregister(std::time::Instant::now(), hoa, h.location, &self.config);
        self.carry_out(k, actions).await;
    }
}
