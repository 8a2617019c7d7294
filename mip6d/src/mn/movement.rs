//! Movement detection (RFC 6275 §11.5.1) without I/O: the tracked
//! interfaces, their routers ([`super::routers`]: which one is in use, the
//! probe of the old one when a new one appears) and care-of addresses, and
//! the settle time after start-up (`InterfaceInitialInitDelay`). Kernel
//! news, RAs and Neighbor Advertisements go in; [`Movement::decide`] says,
//! for each home link, whether the node is to go home or move to another
//! primary CoA, which the node's loop carries out with the kernel and that
//! home link's registration. One movement detection serves every home link.

use std::net::Ipv6Addr;

use mip6::coa::{select_primary_coa, PrimaryCoa};
use mip6::wire::ndisc::{NeighborAdvert, RouterAdvert};
use netcfg::AddrInfo;
use tokio::time::Instant;
use tracing::{debug, info};

use super::ifaces::{valid_ra_source, Iface};
use super::location::Location;
use super::routers::{ProbePolicy, RouterEffect};
use crate::config::Prefix;

/// What movement detection decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MoveAction {
    /// The home prefix is advertised on this interface: deregister and put
    /// the home address on it (RFC 6275 §11.5.4).
    GoHome(u32),
    /// Away, with this primary CoA: a first registration or a handover.
    MoveTo(PrimaryCoa),
}

/// What a router event asks of the node's loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    /// Decide again where the node is ([`Movement::decide`]).
    Decide,
    /// Send a unicast Neighbor Solicitation to `router` on `ifindex`
    /// (RFC 4861 §7.3.3): a reachability probe of the router in use.
    Probe { ifindex: u32, router: Ipv6Addr },
}

/// What a link's change of state means to movement detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LinkChange {
    /// Not a tracked interface.
    Untracked,
    /// It came up: its addresses are to be read again and a router solicited.
    CameUp,
    /// Nothing new (or it went down, which is recorded).
    Noted,
}

/// Movement detection: the interfaces and the settle time.
pub(super) struct Movement {
    pub(super) ifaces: Vec<Iface>,
    pub(super) settle_until: Option<Instant>,
    /// The CoA interface and MTU last warned about (see `fit_tunnel_mtu`).
    pub(super) mtu_warned: Option<(u32, u32)>,
}

fn effects_of(iface: &Iface, found: Vec<RouterEffect>) -> Vec<Effect> {
    found
        .into_iter()
        .map(|e| match e {
            RouterEffect::Decide => Effect::Decide,
            RouterEffect::SendProbe { router } => Effect::Probe {
                ifindex: iface.index,
                router,
            },
        })
        .collect()
}

impl Movement {
    /// Nothing known yet; decisions wait until `settle_until`, if any.
    pub(super) fn new(settle_until: Option<Instant>) -> Movement {
        Movement {
            ifaces: Vec::new(),
            settle_until,
            mtu_warned: None,
        }
    }

    /// When [`Movement::handle_timeout`] is due: the settle time's end, a
    /// router or prefix expiring, a probe to send or give up.
    pub(super) fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        self.ifaces
            .iter()
            .filter_map(|i| i.next_expiry(now))
            .chain(self.settle_until)
            .min()
    }

    /// The settle time may be over; probes fall due or end unanswered
    /// (the new router taken); a router in use that expired gives way to
    /// the backup. Other expiries are read by [`Movement::decide`].
    pub(super) fn handle_timeout(&mut self, now: Instant) -> Vec<Effect> {
        if self.settle_until.is_some_and(|t| t <= now) {
            self.settle_until = None;
        }
        let mut effects = Vec::new();
        for i in &mut self.ifaces {
            let before = (i.routers.current, i.routers.probe.clone());
            let known: Vec<Ipv6Addr> = i.routers.list.iter().map(|r| r.addr).collect();
            let found = i.routers.handle_timeout(now);
            for gone in known
                .iter()
                .filter(|a| !i.routers.list.iter().any(|r| r.addr == **a))
            {
                info!("{}: router {gone} gone", i.name);
            }
            if let (Some(p), None) = (&before.1, &i.routers.probe) {
                if i.routers.current == Some(p.candidate) {
                    info!(
                        "{}: router {} did not answer: moving to router {}",
                        i.name, p.router, p.candidate
                    );
                }
            } else if before.0 != i.routers.current {
                match i.routers.current {
                    Some(r) => info!("{}: default router {r} (the last one expired)", i.name),
                    None => info!("{}: no default router left", i.name),
                }
            }
            effects.extend(effects_of(i, found));
        }
        effects
    }

    /// An RA on interface `ifindex`: what it changes about the routers
    /// there ([`super::routers::Routers::heard`], with `policy`).
    pub(super) fn handle_router_advert(
        &mut self,
        now: Instant,
        ifindex: u32,
        src: Ipv6Addr,
        hop_limit: Option<u8>,
        ra: &RouterAdvert,
        policy: ProbePolicy,
    ) -> Vec<Effect> {
        // RFC 4861 §6.1.2: link-local source, hop limit 255.
        if !valid_ra_source(&src, hop_limit) {
            return Vec::new();
        }
        let Some(i) = self.ifaces.iter_mut().find(|i| i.index == ifindex) else {
            return Vec::new();
        };
        let (current, probing) = (i.routers.current, i.routers.probe.is_some());
        let found = i.on_router_advert(src, ra, now, policy);
        match (probing, i.routers.probe.is_some()) {
            (false, true) => info!(
                "{}: new router {src}: probing router {} ({} probes)",
                i.name,
                current.map_or_else(String::new, |r| r.to_string()),
                policy.probes
            ),
            (true, false) if i.routers.current == current => {
                info!("{}: router {src} is reachable: staying", i.name)
            }
            _ => {}
        }
        if i.routers.current != current {
            if let Some(r) = i.routers.current {
                info!("{}: default router {r}", i.name);
            }
        }
        if !found.is_empty() {
            debug!("{}: RA from {src}", i.name);
        }
        effects_of(i, found)
    }

    /// A Neighbor Advertisement on `ifindex`: a solicited one for the
    /// router being probed answers the probe (RFC 4861 §7.3.3, §7.2.5);
    /// `true` if it did.
    pub(super) fn handle_neighbor_advert(&mut self, ifindex: u32, na: &NeighborAdvert) -> bool {
        if na.flags & NeighborAdvert::SOLICITED == 0 {
            return false;
        }
        let Some(i) = self.ifaces.iter_mut().find(|i| i.index == ifindex) else {
            return false;
        };
        let answered = i.routers.answered(na.target);
        if answered {
            info!("{}: router {} is reachable: staying", i.name, na.target);
        }
        answered
    }

    /// A tracked link's carrier changed.
    pub(super) fn handle_link_changed(&mut self, index: u32, up: bool) -> LinkChange {
        let Some(i) = self.ifaces.iter_mut().find(|i| i.index == index) else {
            return LinkChange::Untracked;
        };
        if up && !i.up {
            i.up = true;
            info!("{}: link up", i.name);
            return LinkChange::CameUp;
        }
        if !up && i.up {
            i.link_down();
            info!("{}: link down", i.name);
        }
        LinkChange::Noted
    }

    /// An address dump of interface `index`: its care-of candidates (no
    /// home address; Optimistic addresses too with `optimistic`).
    pub(super) fn handle_addresses(
        &mut self,
        index: u32,
        addrs: &[AddrInfo],
        hoas: &[Ipv6Addr],
        optimistic: bool,
    ) {
        if let Some(i) = self.ifaces.iter_mut().find(|i| i.index == index) {
            let before: Vec<Ipv6Addr> = i.coas.iter().map(|c| c.address).collect();
            i.set_addresses(addrs, hoas, optimistic);
            let after: Vec<Ipv6Addr> = i.coas.iter().map(|c| c.address).collect();
            if before != after {
                debug!("{}: care-of candidates {after:?}", i.name);
            }
        }
    }

    /// Where is the node for the home link of prefix `home`, which was at
    /// `at`, and does it change anything? Home wins (unless
    /// `NoHomeReturn`); away, the primary CoA of
    /// [`mip6::coa::select_primary_coa`]; with none, the binding ages
    /// (`at` becomes [`Location::Nowhere`]).
    pub(super) fn decide(
        &self,
        now: Instant,
        no_home_return: bool,
        home: Prefix,
        at: &mut Location,
    ) -> Option<MoveAction> {
        if self.settle_until.is_some_and(|t| t > now) {
            return None;
        }
        if !no_home_return {
            if let Some(h) = self.ifaces.iter().find(|i| i.at_home(now, home)) {
                let index = h.index;
                return (*at != Location::Home(index)).then_some(MoveAction::GoHome(index));
            }
        }
        let candidates: Vec<_> = self.ifaces.iter().map(|i| i.candidate(now, home)).collect();
        let current = match *at {
            Location::Away(p) => Some(p),
            _ => None,
        };
        match select_primary_coa(&candidates, current) {
            Some(p) if Some(p) != current => Some(MoveAction::MoveTo(p)),
            Some(_) => None,
            None => {
                if matches!(*at, Location::Away(_) | Location::Unknown) {
                    info!("no usable care-of address: the binding ages");
                    *at = Location::Nowhere;
                }
                None
            }
        }
    }

    /// The name of interface `index` (its number if untracked).
    pub(super) fn iface_name(&self, index: u32) -> String {
        self.ifaces
            .iter()
            .find(|i| i.index == index)
            .map_or_else(|| index.to_string(), |i| i.name.clone())
    }
}

#[cfg(test)]
#[path = "movement_tests.rs"]
mod tests;
