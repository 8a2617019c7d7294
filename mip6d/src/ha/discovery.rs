//! The home agent's decisions on the home link's neighbour discovery, without
//! I/O: an RA teaches home prefixes and the Home Agents List (RFC 6275 §10.5.1),
//! a DHAAD request is answered from that list ([`super::dhaad`], §10.5), a
//! Mobile Prefix Solicitation and a change of the home prefixes lead to
//! advertisements ([`super::mpd`], §10.6). What must go out comes back as
//! [`NdAction`]s, which [`HomeAgent::carry_out_nd`] carries out in order.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Duration;

use mip6::bcache::BindingCache;
use mip6::halist::HomeAgentList;
use mip6::mpa_schedule::UnsolicitedAdverts;
use mip6::wire::ndisc::{DhaadReply, MobilePrefixAdvert, NdRepr, RouterAdvert};
use tokio::time::Instant;
use tracing::{info, warn};

use super::admission::{LogLimit, MpaLimit};
use super::{HaIface, HomeAgent, HomePrefix};
use crate::config::{Config, Prefix};
use crate::net::mask;

/// What a neighbour discovery event made the home agent decide.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum NdAction {
    /// A home prefix new on `ifindex`: join its home-agents anycast address
    /// if one of our addresses lies in it (RFC 6275 §10.5).
    HomePrefixLearnt {
        ifindex: u32,
        prefix: Ipv6Addr,
        len: u8,
    },
    /// Send this DHAAD reply from `src` to `dst` (the requester).
    SendDhaadReply {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        reply: DhaadReply,
    },
    /// Send this Mobile Prefix Advertisement from `src` to the home address.
    SendMpa {
        src: Ipv6Addr,
        hoa: Ipv6Addr,
        mpa: MobilePrefixAdvert,
    },
}

/// The home agent's state its neighbour discovery decisions read and change.
pub(super) struct Discovery<'a> {
    pub(super) config: &'a Config,
    pub(super) cache: &'a BindingCache,
    pub(super) ifaces: &'a [HaIface],
    pub(super) prefixes: &'a mut Vec<HomePrefix>,
    /// The HA interfaces' global addresses, by address.
    pub(super) own_addresses: &'a HashMap<Ipv6Addr, u32>,
    pub(super) home_agents: &'a mut HomeAgentList,
    pub(super) unsolicited: &'a mut UnsolicitedAdverts,
    pub(super) mpa_limit: &'a mut MpaLimit,
    pub(super) log_limit: &'a mut LogLimit,
}

/// An RA as heard on an HA interface.
#[derive(Debug, Clone, Copy)]
pub(super) struct HeardRa<'a> {
    pub(super) ifindex: u32,
    pub(super) src: Ipv6Addr,
    pub(super) hop_limit: Option<u8>,
    pub(super) ra: &'a RouterAdvert,
}

impl Discovery<'_> {
    pub(super) fn iface_name(&self, index: u32) -> String {
        self.ifaces
            .iter()
            .find(|i| i.index == index)
            .map_or_else(|| index.to_string(), |i| i.name.clone())
    }

    /// An RA: the Home Agents List follows every one (from a link-local
    /// router, hop limit 255: RFC 4861 §6.1.2); with the H flag its prefixes
    /// are home prefixes. The new ones are to be joined; a change of the
    /// home prefixes schedules unsolicited advertisements.
    pub(super) fn router_advert(&mut self, now: Instant, heard: HeardRa) -> Vec<NdAction> {
        let (learnt, changed) = self.learn_prefixes(now, heard);
        let actions = learnt
            .into_iter()
            .map(|(prefix, len)| NdAction::HomePrefixLearnt {
                ifindex: heard.ifindex,
                prefix,
                len,
            })
            .collect();
        if changed {
            self.home_prefixes_changed(now, heard.ifindex);
        }
        actions
    }

    /// Learns home prefixes and home agents; returns the new home prefixes,
    /// and whether the link's home prefixes changed (a new one, or new
    /// advertised lifetimes).
    fn learn_prefixes(&mut self, now: Instant, heard: HeardRa) -> (Vec<(Ipv6Addr, u8)>, bool) {
        let (ifindex, src, ra) = (heard.ifindex, heard.src, heard.ra);
        let mut learnt = Vec::new();
        let mut changed = false;
        if heard.hop_limit != Some(255) || !src.is_unicast_link_local() {
            return (learnt, changed);
        }
        self.learn_home_agents(now, ifindex, src, ra);
        if ra.flags & RouterAdvert::HOME_AGENT == 0 {
            return (learnt, changed);
        }
        for p in ra.prefixes() {
            let Some(prefix) = Prefix::new(mask(p.prefix, p.prefix_len), p.prefix_len) else {
                continue;
            };
            let lifetimes = (p.valid_lifetime, p.preferred_lifetime);
            let valid_until = now + Duration::from_secs(u64::from(p.valid_lifetime));
            let preferred_until = now + Duration::from_secs(u64::from(p.preferred_lifetime));
            match self
                .prefixes
                .iter_mut()
                .find(|h| h.ifindex == ifindex && h.prefix == prefix)
            {
                Some(h) => {
                    match h.advertised_by.iter_mut().find(|(r, _)| *r == src) {
                        Some((_, last)) => {
                            changed |= *last != lifetimes;
                            *last = lifetimes;
                        }
                        None => h.advertised_by.push((src, lifetimes)),
                    }
                    h.valid_until = valid_until;
                    h.preferred_until = preferred_until;
                }
                None => {
                    info!(
                        "home prefix {}/{} learned on {}",
                        prefix.addr,
                        prefix.len,
                        self.iface_name(ifindex)
                    );
                    self.prefixes.push(HomePrefix {
                        ifindex,
                        prefix,
                        valid_until,
                        preferred_until,
                        advertised_by: vec![(src, lifetimes)],
                    });
                    learnt.push((prefix.addr, prefix.len));
                    changed = true;
                }
            }
        }
        (learnt, changed)
    }

    /// Every RA on an HA interface updates the Home Agents List.
    fn learn_home_agents(&mut self, now: Instant, ifindex: u32, src: Ipv6Addr, ra: &RouterAdvert) {
        let change = self
            .home_agents
            .handle_router_advert(now.into_std(), ifindex, src, ra);
        let name = self.iface_name(ifindex);
        for a in change.added {
            let pref = ra.home_agent_info().map_or(0, |h| h.preference);
            info!("home agent {a} (preference {pref}) listed on {name}");
        }
        for a in change.removed {
            info!("home agent {a} left the list of {name}");
        }
    }
}

impl HomeAgent {
    /// The state the neighbour discovery decisions work on.
    pub(super) fn discovery(&mut self) -> Discovery<'_> {
        Discovery {
            config: &self.config,
            cache: &self.cache,
            ifaces: &self.links.ifaces,
            prefixes: &mut self.links.prefixes,
            own_addresses: &self.links.own_addresses,
            home_agents: &mut self.home_agents,
            unsolicited: &mut self.unsolicited,
            mpa_limit: &mut self.admission.mpa_limit,
            log_limit: &mut self.admission.log_limit,
        }
    }

    /// Carries out, in order, what a neighbour discovery event decided.
    pub(super) async fn carry_out_nd(&mut self, actions: Vec<NdAction>) {
        for action in actions {
            match action {
                NdAction::HomePrefixLearnt {
                    ifindex,
                    prefix,
                    len,
                } => self.home_prefix_learnt(ifindex, prefix, len).await,
                NdAction::SendDhaadReply { src, dst, reply } => {
                    let bytes = match NdRepr::DhaadReply(reply).emit_without_checksum() {
                        Ok(b) => b,
                        Err(e) => {
                            warn!("DHAAD reply: {e}");
                            continue;
                        }
                    };
                    if let Err(e) = self.io.icmp.send_nd(Some(src), dst, 0, &bytes).await {
                        warn!("DHAAD reply to {dst}: {e}");
                    }
                }
                NdAction::SendMpa { src, hoa, mpa } => {
                    let bytes = match NdRepr::MobilePrefixAdvert(mpa).emit_without_checksum() {
                        Ok(b) => b,
                        Err(e) => {
                            warn!("MPA: {e}");
                            continue;
                        }
                    };
                    if let Err(e) = self.io.icmp.send_nd(Some(src), hoa, 0, &bytes).await {
                        warn!("MPA to {hoa}: {e}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;
