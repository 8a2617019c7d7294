//! The mobile node's binding update list (RFC 6275 §11.1) and its home
//! registration state machine, with UMIP's timers (docs/protocol-notes.md):
//!
//! - every BU carries a new sequence number (the first one is the caller's
//!   random pick) and the Alternate CoA option; Mobile Network Prefix options
//!   only when R is set, the lifetime is non-zero and prefixes are configured;
//! - retransmission starts at `InitialBindackTimeoutFirstReg` (no binding yet)
//!   or `InitialBindackTimeoutReReg`, doubles on each retry, is capped at
//!   `MAX_BINDACK_TIMEOUT` (32 s), and goes on forever unless a resend limit
//!   is set (an HA learned by DHAAD: `MnMaxHaConsecutiveResends`);
//! - a BA must echo the last sequence number, except status 135, after which
//!   the BU is resent with the BA's sequence number + 1: at once, unless the
//!   outstanding BU was itself such a resend; then the retransmission timer
//!   sends it (a 135 cannot be matched to a BU, so a forged stream of them
//!   would otherwise draw one BU each);
//! - accepted: granted lifetime = min(requested, BA's), counted from when the
//!   acknowledged BU was sent; refresh at 95 % of it, or at the Binding Refresh
//!   Advice if that is later (never after expiry);
//! - a missing K clears K for later BUs; a missing R when R was sent refuses
//!   the registration.
//!
//! Sans-IO: every method takes `now` and returns [`BulEvent`]s; the caller
//! sends what [`BulEvent::SendBindingUpdate`] carries and calls
//! [`BulEntry::handle_timeout`] at [`BulEntry::poll_timeout`].

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::consts::{
    BaStatus, BU_REFRESH_PERCENT, INITIAL_BINDACK_TIMEOUT, INITIAL_BINDACK_TIMEOUT_FIRST_REG,
    LIFETIME_UNIT_SECS, MAX_BINDACK_TIMEOUT, MAX_BINDING_LIFETIME_SECS,
};
use crate::wire::mh::{
    lifetime_units, BaFlags, BindingAck, BindingUpdate, BuFlags, MhMessage, MhRepr,
};
use crate::wire::options::MobilityOption;

/// How a home registration is made (the `MnHomeLink` settings that matter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeRegistrationConfig {
    /// Home address.
    pub home_address: Ipv6Addr,
    /// Home agent.
    pub home_agent: Ipv6Addr,
    /// BU flags: A|H, plus L, K, R as configured.
    pub flags: BuFlags,
    /// Longest lifetime to request (`MnMaxHaBindingLife`).
    pub max_lifetime: Duration,
    /// First retransmission delay when no binding exists.
    pub initial_timeout_first_reg: Duration,
    /// First retransmission delay when re-registering.
    pub initial_timeout_rereg: Duration,
    /// Give up after this many resends without a BA (DHAAD-learned HA);
    /// `None` retries forever.
    pub max_resends: Option<u32>,
    /// Mobile network prefixes for explicit-mode NEMO (empty otherwise).
    pub mobile_network_prefixes: Vec<(Ipv6Addr, u8)>,
}

impl HomeRegistrationConfig {
    /// A|H registration with UMIP's default timers and no resend limit.
    pub fn new(home_address: Ipv6Addr, home_agent: Ipv6Addr) -> Self {
        HomeRegistrationConfig {
            home_address,
            home_agent,
            flags: BuFlags(BuFlags::ACK | BuFlags::HOME),
            max_lifetime: Duration::from_secs(u64::from(MAX_BINDING_LIFETIME_SECS)),
            initial_timeout_first_reg: INITIAL_BINDACK_TIMEOUT_FIRST_REG,
            initial_timeout_rereg: INITIAL_BINDACK_TIMEOUT,
            max_resends: None,
            mobile_network_prefixes: Vec::new(),
        }
    }
}

/// What the caller must do or may want to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulEvent {
    /// Send this Binding Update from `care_of_address` to the home agent, with
    /// an HAO carrying `home_address` (or from the home address when at home).
    SendBindingUpdate {
        /// IPv6 source.
        care_of_address: Ipv6Addr,
        /// Home address (HAO).
        home_address: Ipv6Addr,
        /// IPv6 destination.
        home_agent: Ipv6Addr,
        /// The Mobility Header.
        message: MhRepr,
    },
    /// The home agent accepted the binding.
    Registered {
        /// The registered care-of address.
        care_of_address: Ipv6Addr,
        /// The care-of address registered before, if it differs (a handover).
        previous_care_of_address: Option<Ipv6Addr>,
        /// Granted lifetime.
        lifetime: Duration,
        /// 0, or 1 (prefix discovery necessary: send an MPS now).
        status: BaStatus,
    },
    /// The deregistration was acknowledged (or the binding was already gone).
    Deregistered,
    /// The home agent refused the binding (status ≥ 128, not 135). The entry
    /// stops; the caller picks another HA, runs DAD at home, or marks this HA
    /// unusable for 420 s (docs/protocol-notes.md).
    Rejected {
        /// The status.
        status: BaStatus,
    },
    /// The BU had R but the BA has not: no mobile router service here.
    MobileRouterRefused,
    /// The BU had K but the BA has not; K is cleared from later BUs.
    KeyMgmtUnsupported,
    /// The resend limit was reached without a BA.
    GaveUp,
    /// The granted lifetime ran out without a refresh being acknowledged.
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    sequence: u16,
    care_of_address: Ipv6Addr,
    lifetime_units: u16,
    sent_at: Instant,
    retransmit_at: Instant,
    timeout: Duration,
    resends: u32,
    /// Sent at once because of a status 135.
    answers_135: bool,
}

/// The binding the home agent has acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveBinding {
    /// Registered care-of address.
    pub care_of_address: Ipv6Addr,
    /// Granted lifetime.
    pub lifetime: Duration,
    /// When the acknowledged BU was sent (the lifetime's origin).
    pub registered_at: Instant,
    /// When the binding expires.
    pub expires_at: Instant,
    /// When it is refreshed.
    pub refresh_at: Instant,
}

/// Coarse state, for status displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulState {
    /// Nothing sent, or the entry stopped (rejected, gave up, deregistered).
    Idle,
    /// A BU is outstanding and no binding exists.
    Registering,
    /// A binding exists (a refresh or handover BU may be outstanding).
    Registered,
    /// A deregistration BU is outstanding.
    Deregistering,
}

/// One binding update list entry: the home registration with one home agent.
#[derive(Debug, Clone)]
pub struct BulEntry {
    config: HomeRegistrationConfig,
    flags: BuFlags,
    next_sequence: u16,
    wanted_lifetime: Duration,
    care_of_address: Option<Ipv6Addr>,
    pending: Option<Pending>,
    binding: Option<ActiveBinding>,
    last_status: Option<BaStatus>,
}

impl BulEntry {
    /// A new entry; `initial_sequence` is the first BU's sequence number
    /// (random, per RFC 6275 §11.7.1 and UMIP).
    pub fn new(config: HomeRegistrationConfig, initial_sequence: u16) -> Self {
        BulEntry {
            flags: config.flags,
            config,
            next_sequence: initial_sequence,
            wanted_lifetime: Duration::ZERO,
            care_of_address: None,
            pending: None,
            binding: None,
            last_status: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HomeRegistrationConfig {
        &self.config
    }

    /// Flags the next BU will carry (K may have been cleared).
    pub fn flags(&self) -> BuFlags {
        self.flags
    }

    /// The acknowledged binding, if any.
    pub fn binding(&self) -> Option<&ActiveBinding> {
        self.binding.as_ref()
    }

    /// Sequence number of the outstanding BU, if any.
    pub fn outstanding_sequence(&self) -> Option<u16> {
        self.pending.map(|p| p.sequence)
    }

    /// Status of the last BA received.
    pub fn last_status(&self) -> Option<BaStatus> {
        self.last_status
    }

    /// Coarse state.
    pub fn state(&self) -> BulState {
        match (&self.pending, &self.binding) {
            (Some(p), _) if p.lifetime_units == 0 => BulState::Deregistering,
            (_, Some(_)) => BulState::Registered,
            (Some(_), None) => BulState::Registering,
            (None, None) => BulState::Idle,
        }
    }

    /// Registers (or re-registers, on a handover) `care_of_address` for up to
    /// `lifetime` (capped by the configured maximum, in 4-second units):
    /// sends a BU now and starts retransmission. Sends nothing while a BA for
    /// a registration of the same care-of address is awaited (docs/protocol-notes.md).
    pub fn register(
        &mut self,
        now: Instant,
        care_of_address: Ipv6Addr,
        lifetime: Duration,
    ) -> Vec<BulEvent> {
        self.wanted_lifetime = lifetime.min(self.config.max_lifetime);
        self.care_of_address = Some(care_of_address);
        if self
            .pending
            .is_some_and(|p| p.care_of_address == care_of_address && p.lifetime_units > 0)
        {
            return Vec::new();
        }
        let units =
            lifetime_units(u32::try_from(self.wanted_lifetime.as_secs()).unwrap_or(u32::MAX))
                .max(1);
        vec![self.send(now, care_of_address, units, self.initial_timeout())]
    }

    /// Deregisters (returning home: `care_of_address` is the home address).
    /// A registration whose BA is still awaited is deregistered too (the
    /// home agent may hold the binding, its BA lost). Sends nothing if no
    /// binding is left (docs/protocol-notes.md) and reports
    /// [`BulEvent::Deregistered`] at once.
    pub fn deregister(&mut self, now: Instant, care_of_address: Ipv6Addr) -> Vec<BulEvent> {
        self.care_of_address = None;
        let bound = self.binding.is_some_and(|b| b.expires_at > now);
        match bound || self.is_uncertain() {
            true => {
                vec![self.send(now, care_of_address, 0, self.config.initial_timeout_rereg)]
            }
            false => {
                self.pending = None;
                self.binding = None;
                vec![BulEvent::Deregistered]
            }
        }
    }

    /// True while a BU registering a care-of address awaits its BA: the
    /// home agent may or may not hold the binding it asks for.
    pub fn is_uncertain(&self) -> bool {
        self.pending.is_some_and(|p| p.lifetime_units > 0)
    }

    /// Forgets the registration without sending anything: no
    /// retransmission, no binding (the home agent is taken not to hold one,
    /// or to be unusable). True if there was something to forget.
    pub fn abandon(&mut self) -> bool {
        let had = self.pending.is_some() || self.binding.is_some();
        self.pending = None;
        self.binding = None;
        self.care_of_address = None;
        had
    }

    fn initial_timeout(&self) -> Duration {
        if self.binding.is_some() {
            self.config.initial_timeout_rereg
        } else {
            self.config.initial_timeout_first_reg
        }
    }

    fn build_bu(&self, sequence: u16, care_of_address: Ipv6Addr, units: u16) -> MhRepr {
        let mut options = vec![MobilityOption::AlternateCoa(care_of_address)];
        if self.flags.contains(BuFlags::MOBILE_ROUTER) && units > 0 {
            options.extend(self.config.mobile_network_prefixes.iter().map(
                |&(prefix, prefix_len)| MobilityOption::MobileNetworkPrefix { prefix_len, prefix },
            ));
        }
        MhRepr {
            message: MhMessage::BindingUpdate(BindingUpdate {
                sequence,
                flags: self.flags,
                lifetime_units: units,
            }),
            options,
        }
    }

    fn send(
        &mut self,
        now: Instant,
        care_of_address: Ipv6Addr,
        units: u16,
        timeout: Duration,
    ) -> BulEvent {
        let resends = self.pending.map_or(0, |p| p.resends);
        self.send_with(now, care_of_address, units, timeout, resends)
    }

    fn send_with(
        &mut self,
        now: Instant,
        care_of_address: Ipv6Addr,
        units: u16,
        timeout: Duration,
        resends: u32,
    ) -> BulEvent {
        let sequence = self.next_sequence;
        self.next_sequence = sequence.wrapping_add(1);
        self.pending = Some(Pending {
            sequence,
            care_of_address,
            lifetime_units: units,
            sent_at: now,
            retransmit_at: now + timeout,
            timeout,
            resends,
            answers_135: false,
        });
        BulEvent::SendBindingUpdate {
            care_of_address,
            home_address: self.config.home_address,
            home_agent: self.config.home_agent,
            message: self.build_bu(sequence, care_of_address, units),
        }
    }

    /// The next instant [`Self::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retransmit = self.pending.map(|p| p.retransmit_at);
        let refresh = match self.pending {
            None => self.binding.map(|b| b.refresh_at),
            Some(_) => None,
        };
        let expiry = self.binding.map(|b| b.expires_at);
        [retransmit, refresh, expiry].into_iter().flatten().min()
    }

    /// Retransmits, refreshes and expires as due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<BulEvent> {
        let mut events = Vec::new();
        if let Some(b) = self.binding {
            if b.expires_at <= now {
                self.binding = None;
                events.push(BulEvent::Expired);
            }
        }
        match self.pending {
            Some(p) if p.retransmit_at <= now => {
                if self.config.max_resends.is_some_and(|max| p.resends >= max) {
                    self.pending = None;
                    events.push(BulEvent::GaveUp);
                } else {
                    let timeout = (p.timeout * 2).min(MAX_BINDACK_TIMEOUT);
                    events.push(self.send_with(
                        now,
                        p.care_of_address,
                        p.lifetime_units,
                        timeout,
                        p.resends + 1,
                    ));
                }
            }
            Some(_) => {}
            None => {
                if let (Some(b), Some(coa)) = (self.binding, self.care_of_address) {
                    if b.refresh_at <= now {
                        events.extend(self.register(now, coa, self.wanted_lifetime));
                    }
                }
            }
        }
        events
    }

    /// Handles a Binding Acknowledgement from the home agent.
    pub fn handle_binding_ack(
        &mut self,
        now: Instant,
        ba: &BindingAck,
        options: &[MobilityOption],
    ) -> Vec<BulEvent> {
        let Some(p) = self.pending else {
            return Vec::new();
        };
        if ba.status == BaStatus::SEQUENCE_OUT_OF_WINDOW {
            // RFC 6275 §11.7.1: resend with the HA's last accepted number + 1.
            self.last_status = Some(ba.status);
            self.next_sequence = ba.sequence.wrapping_add(1);
            if p.answers_135 {
                // At most one immediate resend per BU the timer sent: the
                // next retransmission carries the new number. The back-off
                // and the resend count go on, so 135s (which carry no
                // sequence number of ours) cannot speed the BUs up.
                return Vec::new();
            }
            let ev = self.send_with(
                now,
                p.care_of_address,
                p.lifetime_units,
                p.timeout,
                p.resends,
            );
            if let Some(next) = self.pending.as_mut() {
                next.answers_135 = true;
            }
            return vec![ev];
        }
        if ba.sequence != p.sequence {
            return Vec::new();
        }
        self.last_status = Some(ba.status);
        self.pending = None;
        if !ba.status.is_accepted() {
            self.binding = None;
            self.care_of_address = None;
            return vec![BulEvent::Rejected { status: ba.status }];
        }
        if p.lifetime_units == 0 || ba.lifetime_units == 0 {
            self.binding = None;
            self.care_of_address = None;
            return vec![BulEvent::Deregistered];
        }
        let mut events = Vec::new();
        if self.flags.contains(BuFlags::MOBILE_ROUTER) && !ba.flags.contains(BaFlags::MOBILE_ROUTER)
        {
            self.binding = None;
            self.care_of_address = None;
            return vec![BulEvent::MobileRouterRefused];
        }
        if self.flags.contains(BuFlags::KEY_MGMT) && !ba.flags.contains(BaFlags::KEY_MGMT) {
            self.flags = BuFlags(self.flags.0 & !BuFlags::KEY_MGMT);
            events.push(BulEvent::KeyMgmtUnsupported);
        }
        let units = p.lifetime_units.min(ba.lifetime_units);
        let lifetime = Duration::from_secs(u64::from(units) * u64::from(LIFETIME_UNIT_SECS));
        let mut refresh = lifetime * BU_REFRESH_PERCENT / 100;
        let advice = options.iter().find_map(|o| match o {
            MobilityOption::BindingRefreshAdvice { interval_units } => Some(Duration::from_secs(
                u64::from(*interval_units) * u64::from(LIFETIME_UNIT_SECS),
            )),
            _ => None,
        });
        if let Some(advice) = advice {
            refresh = refresh.max(advice).min(lifetime);
        }
        let previous = self
            .binding
            .map(|b| b.care_of_address)
            .filter(|&c| c != p.care_of_address);
        self.binding = Some(ActiveBinding {
            care_of_address: p.care_of_address,
            lifetime,
            registered_at: p.sent_at,
            expires_at: p.sent_at + lifetime,
            refresh_at: p.sent_at + refresh,
        });
        events.push(BulEvent::Registered {
            care_of_address: p.care_of_address,
            previous_care_of_address: previous,
            lifetime,
            status: ba.status,
        });
        events
    }
}

/// Key of a binding update list entry: (home address, peer).
pub type BulKey = (Ipv6Addr, Ipv6Addr);

/// The binding update list: entries by (home address, home agent).
#[derive(Debug, Clone, Default)]
pub struct BindingUpdateList {
    entries: HashMap<BulKey, BulEntry>,
}

impl BindingUpdateList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the entry for its (home address, home agent).
    pub fn insert(&mut self, entry: BulEntry) -> Option<BulEntry> {
        let key = (entry.config.home_address, entry.config.home_agent);
        self.entries.insert(key, entry)
    }

    /// The entry for (home address, peer).
    pub fn get(&self, home_address: Ipv6Addr, peer: Ipv6Addr) -> Option<&BulEntry> {
        self.entries.get(&(home_address, peer))
    }

    /// The entry for (home address, peer), mutably.
    pub fn get_mut(&mut self, home_address: Ipv6Addr, peer: Ipv6Addr) -> Option<&mut BulEntry> {
        self.entries.get_mut(&(home_address, peer))
    }

    /// Removes an entry.
    pub fn remove(&mut self, home_address: Ipv6Addr, peer: Ipv6Addr) -> Option<BulEntry> {
        self.entries.remove(&(home_address, peer))
    }

    /// All entries.
    pub fn iter(&self) -> impl Iterator<Item = (&BulKey, &BulEntry)> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The earliest instant any entry has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(BulEntry::poll_timeout)
            .min()
    }

    /// Runs every entry's timers.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<(BulKey, BulEvent)> {
        let mut out = Vec::new();
        for (key, e) in &mut self.entries {
            if e.poll_timeout().is_some_and(|t| t <= now) {
                out.extend(e.handle_timeout(now).into_iter().map(|ev| (*key, ev)));
            }
        }
        out
    }

    /// Dispatches a BA received from `peer` for `home_address` (the Type 2
    /// Routing Header's address); BAs for unknown entries are ignored.
    pub fn handle_binding_ack(
        &mut self,
        now: Instant,
        home_address: Ipv6Addr,
        peer: Ipv6Addr,
        ba: &BindingAck,
        options: &[MobilityOption],
    ) -> Vec<BulEvent> {
        self.entries
            .get_mut(&(home_address, peer))
            .map(|e| e.handle_binding_ack(now, ba, options))
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "bul_tests.rs"]
mod tests;
