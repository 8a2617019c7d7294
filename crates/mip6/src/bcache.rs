//! The home agent's side of home registration: the binding cache with DAD
//! and expiry in simulated time, fed by the Binding Update checks of
//! [`home_bu`] (re-exported here).

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::consts::BaStatus;
use crate::deadlines::Deadlines;
use crate::wire::mh::{BaFlags, BindingUpdate, BuFlags, MhRepr};

pub mod home_bu;
pub mod saved;
use home_bu::ba;
pub use home_bu::*;

/// The link-local address that goes with `home_address` when a Binding
/// Update has the L flag (RFC 6275 §6.1.7, §10.4.1, §11.7.1): `fe80::/64`
/// with the home address's interface identifier (RFC 4291 §2.5.6).
pub fn link_local_of(home_address: Ipv6Addr) -> Ipv6Addr {
    let mut o = home_address.octets();
    o[..8].copy_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0]);
    Ipv6Addr::from(o)
}

/// State of a binding cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BcState {
    /// DAD for the home address is running; the BA waits.
    Dad,
    /// The binding is in force.
    Active,
}

/// One binding cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BcEntry {
    /// Home address.
    pub home_address: Ipv6Addr,
    /// Care-of address.
    pub care_of_address: Ipv6Addr,
    /// The HA address the BU was sent to.
    pub home_agent: Ipv6Addr,
    /// Flags of the accepted BU.
    pub flags: BuFlags,
    /// Last accepted sequence number.
    pub sequence: u16,
    /// Granted lifetime.
    pub lifetime: Duration,
    /// When it expires.
    pub expires_at: Instant,
    /// Routed mobile network prefixes.
    pub mobile_network_prefixes: Vec<(Ipv6Addr, u8)>,
    /// DAD or active.
    pub state: BcState,
    pending_ack: Option<MhRepr>,
}

/// What [`BindingCache::apply`] changed, for the caller's kernel work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BcChange {
    /// A new entry waits for DAD: run it, then call [`BindingCache::dad_finished`].
    DadStarted,
    /// An existing binding was refreshed or moved: send the BA; re-point the
    /// tunnel if the care-of address changed.
    Updated {
        /// The care-of address before, if it changed.
        previous_care_of_address: Option<Ipv6Addr>,
    },
    /// The binding was removed (deregistration): tear its state down, send the BA.
    Removed(BcEntry),
}

/// What [`BindingCache::dad_finished`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DadOutcome {
    /// Unique: install tunnel, routes, proxy ND, then send this BA.
    Installed(MhRepr),
    /// Duplicate: the entry is gone; send this BA (status 134).
    Duplicate(MhRepr),
}

/// The default cap on bindings (`HaMaxBindings`): above the 10,000 mobile
/// nodes `docs/benchmarks.md` measures, far below what exhausts a kernel.
pub const DEFAULT_MAX_BINDINGS: usize = 10_000;

/// The binding cache: entries by home address.
#[derive(Debug, Clone)]
pub struct BindingCache {
    entries: HashMap<Ipv6Addr, BcEntry>,
    /// `expires_at` of every entry, kept in step with `entries`.
    expiries: Deadlines<Ipv6Addr>,
    max_bindings: usize,
}

impl Default for BindingCache {
    fn default() -> Self {
        Self::with_max_bindings(DEFAULT_MAX_BINDINGS)
    }
}

impl BindingCache {
    /// An empty cache with the default cap.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache that takes at most `max` entries (DAD included).
    pub fn with_max_bindings(max: usize) -> Self {
        BindingCache {
            entries: HashMap::new(),
            expiries: Deadlines::default(),
            max_bindings: max,
        }
    }

    /// Changes the cap (a reload); entries above it stay until they go.
    pub fn set_max_bindings(&mut self, max: usize) {
        self.max_bindings = max;
    }

    /// [`HomeBuContext::cache_full`]: no room for a new entry.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_bindings
    }

    /// The entry for `home_address`.
    pub fn get(&self, home_address: &Ipv6Addr) -> Option<&BcEntry> {
        self.entries.get(home_address)
    }

    /// All entries.
    pub fn iter(&self) -> impl Iterator<Item = &BcEntry> {
        self.entries.values()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// [`HomeBuContext::existing`] for `home_address`.
    pub fn existing(&self, home_address: &Ipv6Addr) -> Option<ExistingBinding> {
        self.entries.get(home_address).map(|e| ExistingBinding {
            flags: e.flags,
            sequence: e.sequence,
            dad_in_progress: e.state == BcState::Dad,
        })
    }

    /// [`HomeBuContext::coa_has_binding`]: whether `addr` is itself a bound home address.
    pub fn has_binding(&self, addr: &Ipv6Addr) -> bool {
        self.entries.contains_key(addr)
    }

    /// Records an accepted BU (from [`check_home_bu`]) sent to `home_agent`.
    /// For a new entry the BA is held until [`Self::dad_finished`].
    pub fn apply(
        &mut self,
        now: Instant,
        home_address: Ipv6Addr,
        home_agent: Ipv6Addr,
        bu: &BindingUpdate,
        accepted: &Accepted,
    ) -> BcChange {
        if accepted.deregistration {
            return match self.remove(&home_address) {
                Some(e) => BcChange::Removed(e),
                None => BcChange::Updated {
                    previous_care_of_address: None,
                },
            };
        }
        let lifetime = accepted.lifetime();
        if let Some(e) = self.entries.get_mut(&home_address) {
            let previous = Some(e.care_of_address).filter(|&c| c != accepted.care_of_address);
            e.care_of_address = accepted.care_of_address;
            e.home_agent = home_agent;
            e.flags = bu.flags;
            e.sequence = bu.sequence;
            e.lifetime = lifetime;
            e.expires_at = now + lifetime;
            e.mobile_network_prefixes = accepted.mobile_network_prefixes.clone();
            self.expiries.set(home_address, now + lifetime);
            return BcChange::Updated {
                previous_care_of_address: previous,
            };
        }
        self.entries.insert(
            home_address,
            BcEntry {
                home_address,
                care_of_address: accepted.care_of_address,
                home_agent,
                flags: bu.flags,
                sequence: bu.sequence,
                lifetime,
                expires_at: now + lifetime,
                mobile_network_prefixes: accepted.mobile_network_prefixes.clone(),
                state: BcState::Dad,
                pending_ack: Some(accepted.binding_ack()),
            },
        );
        self.expiries.set(home_address, now + lifetime);
        BcChange::DadStarted
    }

    /// DAD for `home_address` ended; `duplicate` if an NA answered
    /// (docs/protocol-notes.md). `None` if no entry was waiting.
    pub fn dad_finished(
        &mut self,
        now: Instant,
        home_address: &Ipv6Addr,
        duplicate: bool,
    ) -> Option<DadOutcome> {
        let e = self.entries.get_mut(home_address)?;
        if e.state != BcState::Dad {
            return None;
        }
        if duplicate {
            let e = self.remove(home_address)?;
            return Some(DadOutcome::Duplicate(ba(
                BaStatus::DAD_FAILED,
                BaFlags::default(),
                e.sequence,
                0,
            )));
        }
        e.state = BcState::Active;
        e.expires_at = now + e.lifetime;
        let expires_at = e.expires_at;
        let ack = e.pending_ack.take().map(DadOutcome::Installed);
        self.expiries.set(*home_address, expires_at);
        ack
    }

    /// A binding read back from disk ([`saved`]), already checked with
    /// [`saved::check_restore`]: active at once, for `remaining`, with its
    /// sequence number (so an older BU replayed to the restarted home agent
    /// is still refused, RFC 6275 §9.5.1).
    pub fn restore(&mut self, now: Instant, entry: &saved::SavedBinding, remaining: Duration) {
        let home_address = entry.home_address;
        self.entries.insert(
            home_address,
            BcEntry {
                home_address,
                care_of_address: entry.care_of_address,
                home_agent: entry.home_agent,
                flags: entry.flags,
                sequence: entry.sequence,
                lifetime: Duration::from_secs(u64::from(entry.lifetime_secs)),
                expires_at: now + remaining,
                mobile_network_prefixes: entry.mobile_network_prefixes.clone(),
                state: BcState::Active,
                pending_ack: None,
            },
        );
        self.expiries.set(home_address, now + remaining);
    }

    /// Removes an entry (e.g. after a failure to install state: the caller
    /// then answers 130, 141 or 143).
    pub fn remove(&mut self, home_address: &Ipv6Addr) -> Option<BcEntry> {
        self.expiries.remove(home_address);
        self.entries.remove(home_address)
    }

    /// The earliest expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiries.earliest()
    }

    /// Removes and returns the entries expired at `now` (no BRR is sent for
    /// home bindings, docs/protocol-notes.md).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<BcEntry> {
        self.expiries
            .pop_due(now)
            .iter()
            .filter_map(|a| self.entries.remove(a))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "bcache_tests.rs"]
mod tests;
