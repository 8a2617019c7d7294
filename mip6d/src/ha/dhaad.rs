//! Home agent address discovery on the home agent (RFC 6275 §10.5,
//! `docs/compat.md`): the home-agents anycast address of every global address of an HA
//! interface is joined (at start, and for a home prefix learnt later); the
//! Home Agents List ([`mip6::halist::HomeAgentList`]) follows the RAs with the
//! H flag heard on the HA interfaces; a DHAAD request to one of our anycast
//! addresses is answered from our address in that prefix with the home
//! agents of the link by preference.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use mip6::dhaad::ha_anycast;
use mip6::wire::ndisc::{DhaadRequest, NdRepr};
use netcfg::Family;
use tracing::{debug, info, warn};

use super::admission::LogKind;
use super::discovery::{Discovery, NdAction};
use super::HomeAgent;
use crate::kernel::raw::Received;
use crate::net::mask;
use tokio::time::Instant;

/// How long the HA interfaces' addresses read for DHAAD are used before a
/// request reads them again. Each read is a netlink dump, and a request
/// costs its sender one unauthenticated packet: without a cache a flood of
/// requests is a flood of dumps. The home agent follows no address events,
/// so the cache ages out instead; addresses of an HA interface change by an
/// administrator's hand or SLAAC, and a reply one second stale is harmless
/// (the mobile node retransmits after 3 s, RFC 6275 §11.4.1). A new home
/// prefix, the one event here that needs the new address, reads them anew.
const GLOBAL_ADDRESSES_TTL: Duration = Duration::from_secs(1);

impl HomeAgent {
    /// Global addresses (and their prefix lengths) of HA interface `ifindex`,
    /// or of every HA interface when `None`; from a cache younger than
    /// [`GLOBAL_ADDRESSES_TTL`] unless `fresh`.
    async fn global_addresses(
        &mut self,
        ifindex: Option<u32>,
        fresh: bool,
    ) -> super::GlobalAddresses {
        let now = Instant::now();
        let stale = self
            .links
            .global_addrs
            .as_ref()
            .is_none_or(|(t, _)| fresh || now >= *t + GLOBAL_ADDRESSES_TTL);
        if stale {
            let addrs = match self.io.kernel.nl.addresses(Some(Family::V6), None).await {
                Ok(a) => a,
                Err(e) => {
                    warn!("address dump: {e}");
                    return Vec::new();
                }
            };
            let list = addrs
                .iter()
                .filter(|a| a.scope == 0 && self.links.ifaces.iter().any(|i| i.index == a.index))
                .filter_map(|a| match a.addr {
                    IpAddr::V6(v6) if !v6.is_loopback() => Some((a.index, v6, a.prefix_len)),
                    _ => None,
                })
                .collect();
            self.links.global_addrs = Some((now, list));
        }
        self.links
            .global_addrs
            .as_ref()
            .map(|(_, list)| {
                list.iter()
                    .filter(|(i, _, _)| ifindex.is_none_or(|want| want == *i))
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Joins the home-agents anycast address of each global address of the
    /// HA interfaces (of `ifindex` only, if given) not joined yet.
    pub(super) async fn join_anycast(&mut self, ifindex: Option<u32>) {
        for (index, addr, plen) in self.global_addresses(ifindex, true).await {
            let anycast = ha_anycast(addr, plen);
            match self.io.anycast.join(index, anycast) {
                Ok(true) => info!(
                    "home agents anycast {anycast} joined on {}",
                    self.iface_name(index)
                ),
                Ok(false) => {}
                Err(e) => warn!(
                    "cannot join the home agents anycast {anycast} on {}: {e}",
                    self.iface_name(index)
                ),
            }
        }
    }

    /// Expired Home Agents List entries.
    pub(super) fn expire_home_agents(&mut self) {
        for a in self.home_agents.handle_timeout(std::time::Instant::now()) {
            info!("home agent {a} expired from the list");
        }
    }

    /// A DHAAD request: the reply goes from our address in the anycast's
    /// prefix to the requester (its care-of address).
    pub(super) async fn on_dhaad_request(&mut self, msg: &Received) {
        let Ok(NdRepr::DhaadRequest(request)) = NdRepr::parse(&msg.payload) else {
            debug!("malformed DHAAD request from {}", msg.src);
            return;
        };
        if !self.io.anycast.is_joined(msg.dst) {
            debug!(
                "DHAAD request {} from {} to {}, not one of our anycast addresses",
                request.identifier, msg.src, msg.dst
            );
            return;
        }
        let own: Vec<(Ipv6Addr, u8)> = self
            .global_addresses(Some(msg.ifindex), false)
            .await
            .into_iter()
            .filter(|(_, a, plen)| ha_anycast(*a, *plen) == msg.dst)
            .map(|(_, a, plen)| (a, plen))
            .collect();
        let heard = HeardDhaad {
            src: msg.src,
            dst: msg.dst,
            ifindex: msg.ifindex,
            request,
        };
        let actions = self.discovery().dhaad_request(Instant::now(), heard, &own);
        self.carry_out_nd(actions).await;
    }

    /// A home prefix learnt on `ifindex`: its anycast address if one of our
    /// addresses lies in it.
    pub(super) async fn home_prefix_learnt(&mut self, ifindex: u32, prefix: Ipv6Addr, len: u8) {
        let ours = self
            .global_addresses(Some(ifindex), true)
            .await
            .iter()
            .any(|(_, a, _)| mask(*a, len) == prefix);
        if ours {
            self.join_anycast(Some(ifindex)).await;
        }
    }
}

/// A DHAAD request to one of our anycast addresses.
#[derive(Debug, Clone, Copy)]
pub(super) struct HeardDhaad {
    /// The requester (its care-of address).
    pub(super) src: Ipv6Addr,
    /// The home-agents anycast address it went to.
    pub(super) dst: Ipv6Addr,
    pub(super) ifindex: u32,
    pub(super) request: DhaadRequest,
}

impl Discovery<'_> {
    /// A DHAAD request, with `own`: our addresses (and prefix lengths) whose
    /// anycast address it went to. The reply goes from the first of them to
    /// the requester and lists the link's home agents by preference (RFC
    /// 6275 §10.5); without such an address there is none.
    pub(super) fn dhaad_request(
        &mut self,
        now: Instant,
        heard: HeardDhaad,
        own: &[(Ipv6Addr, u8)],
    ) -> Vec<NdAction> {
        let Some(&(source, _)) = own.first() else {
            debug!("no address of ours behind {}", heard.dst);
            return Vec::new();
        };
        let reply = self.home_agents.reply(
            now.into_std(),
            heard.ifindex,
            heard.dst,
            own,
            &heard.request,
        );
        if let Some(more) = self
            .log_limit
            .admit(now.into_std(), heard.src, LogKind::Dhaad)
        {
            info!(
                "DHAAD request {} from {}: home agents {:?}{more}",
                heard.request.identifier, heard.src, reply.home_agents
            );
        }
        vec![NdAction::SendDhaadReply {
            src: source,
            dst: heard.src,
            reply,
        }]
    }
}
