//! One home link of the mobile node (one `MnHomeLink` block): its home
//! registration and where the node is with respect to it. Each home
//! address has its own home agent (or DHAAD), binding update list entry,
//! tunnel and IPsec state (RFC 6275 §11.3.1, §11.7.1); the movement
//! detection is shared by all of them.

use tokio::time::Instant;

use super::away::Away;
use super::location::Location;
use super::registration::Registration;

/// A home link's state.
pub(super) struct Home {
    /// Its home registration.
    pub(super) reg: Registration,
    /// Where the node is, for this home address.
    pub(super) location: Location,
    /// The kernel state while away from this home link.
    pub(super) away: Option<Away>,
    /// The interface the home address sits on while at home.
    pub(super) home_addr_on: Option<u32>,
    /// When the handover in progress began (`HandoverCompleted`).
    pub(super) moved_at: Option<Instant>,
}

impl Home {
    /// Nothing decided yet.
    pub(super) fn new(reg: Registration) -> Home {
        Home {
            reg,
            location: Location::Unknown,
            away: None,
            home_addr_on: None,
            moved_at: None,
        }
    }

    /// Away with `p` since `now` (the handover's start, which
    /// `HandoverCompleted` reports the duration from).
    pub(super) fn moved(&mut self, now: Instant, p: mip6::coa::PrimaryCoa) {
        self.location = Location::Away(p);
        self.moved_at = Some(now);
    }
}
