//! Movement detection (RFC 6275 §11.5.1) without I/O: the tracked
//! interfaces, their routers and care-of addresses, where the node is, and
//! the settle time after start-up (`InterfaceInitialInitDelay`). Kernel
//! news and RAs go in; [`Movement::decide`] says whether the node is to go
//! home or move to another primary CoA, which the node's loop carries out
//! with the kernel and the home registration.

use std::net::Ipv6Addr;

use mip6::coa::{select_primary_coa, PrimaryCoa};
use mip6::wire::ndisc::RouterAdvert;
use netcfg::AddrInfo;
use tokio::time::Instant;
use tracing::{debug, info};

use super::away::Away;
use super::ifaces::{valid_ra_source, Iface};
use super::location::Location;
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

/// Movement detection: the interfaces, where the node is, and the kernel
/// state that follows from it.
pub(super) struct Movement {
    pub(super) ifaces: Vec<Iface>,
    pub(super) location: Location,
    pub(super) away: Option<Away>,
    pub(super) home_addr_on: Option<u32>,
    pub(super) settle_until: Option<Instant>,
    pub(super) moved_at: Option<Instant>,
    /// The CoA interface and MTU last warned about (see `check_tunnel_mtu`).
    pub(super) mtu_warned: Option<(u32, u32)>,
}

impl Movement {
    /// Nothing known yet; decisions wait until `settle_until`, if any.
    pub(super) fn new(settle_until: Option<Instant>) -> Movement {
        Movement {
            ifaces: Vec::new(),
            location: Location::Unknown,
            away: None,
            home_addr_on: None,
            settle_until,
            moved_at: None,
            mtu_warned: None,
        }
    }

    /// When [`Movement::handle_timeout`] is due: the settle time's end, or
    /// a router or home prefix expiring.
    pub(super) fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        self.ifaces
            .iter()
            .filter_map(|i| i.next_expiry(now))
            .chain(self.settle_until)
            .min()
    }

    /// The settle time may be over; expiries are read by [`Movement::decide`].
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if self.settle_until.is_some_and(|t| t <= now) {
            self.settle_until = None;
        }
    }

    /// An RA on interface `ifindex`: `true` when it changes whether that
    /// interface is home or has a router, so the node must decide again.
    pub(super) fn handle_router_advert(
        &mut self,
        now: Instant,
        ifindex: u32,
        src: Ipv6Addr,
        hop_limit: Option<u8>,
        ra: &RouterAdvert,
        home: Prefix,
    ) -> bool {
        // RFC 4861 §6.1.2: link-local source, hop limit 255.
        if !valid_ra_source(&src, hop_limit) {
            return false;
        }
        let Some(i) = self.ifaces.iter_mut().find(|i| i.index == ifindex) else {
            return false;
        };
        let was_home = i.at_home(now);
        let had_router = i.router_until.is_some_and(|t| t > now);
        i.on_router_advert(ra, home, now);
        let changed =
            was_home != i.at_home(now) || had_router != i.router_until.is_some_and(|t| t > now);
        if changed {
            debug!("{}: RA from {src}", i.name);
        }
        changed
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

    /// An address dump of interface `index`: its care-of candidates.
    pub(super) fn handle_addresses(
        &mut self,
        index: u32,
        addrs: &[AddrInfo],
        home: Prefix,
        hoa: Ipv6Addr,
    ) {
        if let Some(i) = self.ifaces.iter_mut().find(|i| i.index == index) {
            let before: Vec<Ipv6Addr> = i.coas.iter().map(|c| c.address).collect();
            i.set_addresses(addrs, home, hoa);
            let after: Vec<Ipv6Addr> = i.coas.iter().map(|c| c.address).collect();
            if before != after {
                debug!("{}: care-of candidates {after:?}", i.name);
            }
        }
    }

    /// Where are we, and does it change anything? Home wins (unless
    /// `NoHomeReturn`); away, the primary CoA of
    /// [`mip6::coa::select_primary_coa`]; with none, the binding ages.
    pub(super) fn decide(&mut self, now: Instant, no_home_return: bool) -> Option<MoveAction> {
        if self.settle_until.is_some_and(|t| t > now) {
            return None;
        }
        if !no_home_return {
            if let Some(h) = self.ifaces.iter().find(|i| i.at_home(now)) {
                let index = h.index;
                return (self.location != Location::Home(index))
                    .then_some(MoveAction::GoHome(index));
            }
        }
        let candidates: Vec<_> = self.ifaces.iter().map(|i| i.candidate(now)).collect();
        let current = match self.location {
            Location::Away(p) => Some(p),
            _ => None,
        };
        match select_primary_coa(&candidates, current) {
            Some(p) if Some(p) != current => Some(MoveAction::MoveTo(p)),
            Some(_) => None,
            None => {
                if matches!(self.location, Location::Away(_) | Location::Unknown) {
                    info!("no usable care-of address: the binding ages");
                    self.location = Location::Nowhere;
                }
                None
            }
        }
    }

    /// The node is away with `p` since `now` (the handover's start, which
    /// `HandoverCompleted` reports the duration from).
    pub(super) fn moved(&mut self, now: Instant, p: PrimaryCoa) {
        self.location = Location::Away(p);
        self.moved_at = Some(now);
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
