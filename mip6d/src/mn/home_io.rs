//! The mobile node's side of the home link that its home registration
//! decides about (`registration/home_return.rs`): whether the home link
//! holds the L flag's link-local address (RFC 6275 §11.7.1), the probes sent
//! before deregistering at home and their answers (RFC 6275 §11.5.4), and the
//! unsolicited Neighbor Advertisement for the link-local address once home.

use std::net::{IpAddr, Ipv6Addr};

use mip6::bcache::link_local_of;
use mip6::wire::ndisc::{NdRepr, NeighborSolicit};
use netcfg::netlink::Family;
use tracing::{debug, info, warn};

use super::registration::HomeStep;
use super::MobileNode;
use crate::config::HomeLink;
use crate::kernel::raw::{ipv6_packet, solicited_node, unsolicited_na, RawIp6Socket};
use crate::kernel::Kernel;

/// The L flag's link-local address, if the home link holds it: fe80::/64
/// with the home address's interface identifier, for a home address with
/// prefix length 64 (as UMIP, checked once at start).
pub(super) async fn home_link_local(kernel: &Kernel, link: &HomeLink) -> Option<Ipv6Addr> {
    if link.home_address.len != 64 {
        return None;
    }
    let wanted = link_local_of(link.home_address.addr);
    let index = kernel.nl.link_index(&link.interface).await.ok()?;
    let addrs = kernel
        .nl
        .addresses(Some(Family::V6), Some(index))
        .await
        .ok()?;
    addrs
        .iter()
        .any(|a| a.addr == IpAddr::V6(wanted))
        .then_some(wanted)
}

impl MobileNode {
    /// Back on the home link `index`: true while the return must wait for
    /// the probe (started here if needed), false when it goes on.
    pub(super) async fn home_return_waits(&mut self, k: usize, index: u32) -> bool {
        let now = std::time::Instant::now();
        match self.homes[k].reg.home_step(now, index, &self.config) {
            HomeStep::Proceed => false,
            HomeStep::Wait => true,
            HomeStep::Probe { ifindex, targets } => {
                let list: Vec<String> = targets.iter().map(ToString::to_string).collect();
                info!(
                    "on the home link {}: probing for {} before deregistering",
                    self.iface_name(ifindex),
                    list.join(" and ")
                );
                send_probes(ifindex, &targets).await;
                true
            }
        }
    }

    /// A Neighbor Advertisement for `target` from `src` on the ICMPv6
    /// socket: an answer to a home link's probe, perhaps; then that
    /// return goes on.
    pub(super) async fn on_home_probe_answer(
        &mut self,
        ifindex: u32,
        src: Ipv6Addr,
        target: Ipv6Addr,
    ) {
        let mut answered = false;
        for h in &mut self.homes {
            answered |= h.reg.handle_home_probe_answer(ifindex, src, target);
        }
        if answered {
            self.evaluate().await;
        }
    }

    /// At home: the unsolicited NA for the L flag's link-local address too
    /// (RFC 6275 §11.5.4), so neighbours stop sending it to the home agent.
    pub(super) async fn announce_link_local(&self, k: usize, index: u32) {
        let Some(ll) = self.homes[k].reg.link_local else {
            return;
        };
        let name = self.iface_name(index);
        if let Err(e) = unsolicited_na(&self.io.icmp, &name, index, ll, false).await {
            debug!("unsolicited NA for {ll}: {e}");
        }
    }
}

/// Neighbor Solicitations from `::` for `targets` on `ifindex`, as DAD
/// sends them (RFC 4862 §5.4.2).
pub(super) async fn send_probes(ifindex: u32, targets: &[Ipv6Addr]) {
    let sender = match RawIp6Socket::open() {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot probe the home link: {e}");
            return;
        }
    };
    for &target in targets {
        let group = solicited_node(target);
        let ns = NdRepr::NeighborSolicit(NeighborSolicit {
            target,
            options: Vec::new(),
        });
        match ns.emit(&Ipv6Addr::UNSPECIFIED, &group) {
            Ok(icmp) => {
                let pkt = ipv6_packet(Ipv6Addr::UNSPECIFIED, group, 58, &icmp);
                if let Err(e) = sender.send(&pkt, ifindex).await {
                    warn!("probe for {target}: {e}");
                }
            }
            Err(e) => warn!("probe for {target}: {e}"),
        }
    }
}
