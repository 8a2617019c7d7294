//! The home agent's side of home registration: the Binding Update checks in
//! UMIP's order (docs/protocol-notes.md#home-agent-bu-checks) as one plain function over
//! a small context, and the binding cache with DAD and expiry in simulated time.
//!
//! Two UMIP bugs are fixed on purpose (for `docs/compat.md`):
//! - **status 1**: UMIP computes "accepted, prefix discovery necessary" when
//!   the home prefix's preferred lifetime is ≤ the requested lifetime, then
//!   overwrites it; here it is sent.
//! - **`HaServedPrefix`**: UMIP's exception for a mobile router whose home
//!   address is covered by `HaServedPrefix` can never trigger; here it does
//!   (the caller sets [`HomeBuContext::served_prefix_covers_hoa`]).
//!
//! A deregistration (lifetime 0, or CoA = HoA) for an existing entry passes
//! steps 1–2 and is then accepted: the home prefix, ACL and NEMO checks only
//! guard the creation or extension of a binding.
//!
//! Three checks are ours, not UMIP's, against a remote host registering or
//! removing bindings it has no right to (`docs/compat.md`, "Home agent
//! admission"):
//! - with IPsec required, a home BU for a (home agent, home address) pair no
//!   IPsec policy protects is refused with 129 before anything else: the
//!   kernel lets such a BU in clear, so it proves nothing about its sender;
//! - a new binding past the cache's cap ([`BindingCache::with_max_bindings`])
//!   is refused with 130 (RFC 6275 §10.3.1 "insufficient resources");
//! - a mobile router's Mobile Network Prefix options are refused with 142
//!   when its home address has no ACL entry listing prefixes (RFC 3963 §6.2:
//!   the home agent routes only prefixes the router is authorized for).

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::consts::{BaStatus, LIFETIME_UNIT_SECS};
use crate::deadlines::Deadlines;
use crate::seq::seq_greater;
use crate::wire::mh::{
    lifetime_units, BaFlags, BindingAck, BindingUpdate, BuFlags, MhMessage, MhRepr,
};
use crate::wire::options::MobilityOption;

/// True for an address a binding may use: not unspecified, loopback,
/// multicast, link-local (fe80::/10) or IPv4-mapped.
pub fn is_routable_unicast(a: &Ipv6Addr) -> bool {
    let s = a.segments();
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || (s[0] & 0xffc0) == 0xfe80
        || a.to_ipv4_mapped().is_some())
}

/// The care-of address a BU registers: its Alternate CoA option if present,
/// otherwise the packet's IPv6 source as sent (before any HAO swap).
pub fn care_of_address(packet_source: Ipv6Addr, options: &[MobilityOption]) -> Ipv6Addr {
    options
        .iter()
        .find_map(|o| match o {
            MobilityOption::AlternateCoa(a) => Some(*a),
            _ => None,
        })
        .unwrap_or(packet_source)
}

/// What the cache knows about the home address's current binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExistingBinding {
    /// Flags of the BU that created it.
    pub flags: BuFlags,
    /// Last accepted sequence number.
    pub sequence: u16,
    /// DAD for the home address is still running.
    pub dad_in_progress: bool,
}

/// Remaining lifetimes of the home prefix (learned from RAs on the interface
/// the BU arrived for) that covers the home address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HomePrefixLifetimes {
    /// Remaining valid lifetime.
    pub valid: Duration,
    /// Remaining preferred lifetime.
    pub preferred: Duration,
}

/// The ACL's answer for this home address (`BindingAclPolicy` entry, or
/// `DefaultBindingAclPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclDecision<'a> {
    /// [`BaStatus::ACCEPTED`] to allow, else the status to answer (129 for a
    /// plain deny, or the configured code).
    pub status: BaStatus,
    /// The entry's mobile network prefixes when the home address has its own
    /// ACL entry; `None` when only the default policy applies.
    pub prefixes: Option<&'a [(Ipv6Addr, u8)]>,
}

/// Everything the checks look at, gathered by the caller.
#[derive(Debug, Clone, Copy)]
pub struct HomeBuContext<'a> {
    /// IPv6 source as sent (the care-of address unless an Alternate CoA says otherwise).
    pub packet_source: Ipv6Addr,
    /// The mobile node's home address (HAO, or the source when at home).
    pub home_address: Ipv6Addr,
    /// The BU.
    pub bu: BindingUpdate,
    /// Its options.
    pub options: &'a [MobilityOption],
    /// The cache entry for the home address.
    pub existing: Option<ExistingBinding>,
    /// A cache entry exists whose home address is this BU's care-of address.
    pub coa_has_binding: bool,
    /// The BU's destination is a global address of an HA interface.
    pub dst_is_ha_address: bool,
    /// The home prefix on that interface covering the home address.
    pub home_prefix: Option<HomePrefixLifetimes>,
    /// `HaServedPrefix` covers the home address (used for mobile routers).
    pub served_prefix_covers_hoa: bool,
    /// `HaAcceptMobRtr`.
    pub accept_mobile_router: bool,
    /// The ACL decision.
    pub acl: AclDecision<'a>,
    /// `HaMaxBindingLife`.
    pub max_binding_life: Duration,
    /// The HA's IPsec policy allows key management (for the K flag in the BA).
    pub key_mgmt_capable: bool,
    /// IPsec is required for home registrations (`UseMnHaIPsec`).
    pub ipsec_required: bool,
    /// An IPsec policy protects this BU's (home agent, home address) pair,
    /// so the kernel accepted it only through ESP.
    pub ipsec_protected: bool,
    /// The cache is at its cap ([`BindingCache::is_full`]).
    pub cache_full: bool,
}

/// Why a BU is dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A home BU carrying Nonce Indices or Binding Authorization Data.
    ReturnRoutabilityOptions,
    /// The home address is not routable unicast.
    HomeAddressNotRoutable,
    /// The care-of address is not routable unicast.
    CareOfNotRoutable,
    /// The care-of address itself has a binding (a circular binding).
    CircularBinding,
}

/// An accepted home BU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// 0, or 1 when the home prefix's preferred lifetime ends first.
    pub status: BaStatus,
    /// Sequence number to echo.
    pub sequence: u16,
    /// Registered care-of address (the home address for a deregistration).
    pub care_of_address: Ipv6Addr,
    /// Granted lifetime, 4-second units (0 for a deregistration).
    pub lifetime_units: u16,
    /// The binding is removed.
    pub deregistration: bool,
    /// A new binding: DAD for the home address must succeed first (else 134).
    pub needs_dad: bool,
    /// Prefixes to route to a mobile router (explicit or from the ACL).
    pub mobile_network_prefixes: Vec<(Ipv6Addr, u8)>,
    /// K and R for the BA.
    pub ba_flags: BaFlags,
}

impl Accepted {
    /// Granted lifetime.
    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(u64::from(self.lifetime_units) * u64::from(LIFETIME_UNIT_SECS))
    }

    /// The BA to send (to the CoA, with a Type 2 Routing Header to the HoA).
    pub fn binding_ack(&self) -> MhRepr {
        ba(
            self.status,
            self.ba_flags,
            self.sequence,
            self.lifetime_units,
        )
    }
}

/// The outcome of [`check_home_bu`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeBuVerdict {
    /// No H flag: correspondent-node processing.
    NotHomeRegistration,
    /// Dropped silently.
    Drop(DropReason),
    /// DAD for this home address is running: no answer.
    Ignore,
    /// Refused with a BA.
    Reject {
        /// Status (≥ 128).
        status: BaStatus,
        /// Sequence to echo (the stored one for 135).
        sequence: u16,
    },
    /// Accepted.
    Accept(Accepted),
}

impl HomeBuVerdict {
    /// The BA this verdict answers with, if any.
    pub fn binding_ack(&self) -> Option<MhRepr> {
        match self {
            HomeBuVerdict::Reject { status, sequence } => {
                Some(ba(*status, BaFlags::default(), *sequence, 0))
            }
            HomeBuVerdict::Accept(a) => Some(a.binding_ack()),
            _ => None,
        }
    }
}

fn ba(status: BaStatus, flags: BaFlags, sequence: u16, lifetime_units: u16) -> MhRepr {
    MhRepr::new(MhMessage::BindingAck(BindingAck {
        status,
        flags,
        sequence,
        lifetime_units,
    }))
}

/// The home agent's BU checks, in the order of docs/protocol-notes.md#home-agent-bu-checks
/// (steps 1–8 and the BA flags of step 10). Steps that need the kernel (DAD, installing routes:
/// 130, 134, 141) are the caller's, after an [`HomeBuVerdict::Accept`].
pub fn check_home_bu(ctx: &HomeBuContext<'_>) -> HomeBuVerdict {
    let bu = &ctx.bu;
    let reject = |status| HomeBuVerdict::Reject {
        status,
        sequence: bu.sequence,
    };
    // 1. Pre-filter.
    if !bu.flags.contains(BuFlags::HOME) {
        return HomeBuVerdict::NotHomeRegistration;
    }
    let has_rr = ctx.options.iter().any(|o| {
        matches!(
            o,
            MobilityOption::NonceIndices { .. } | MobilityOption::BindingAuthData(_)
        )
    });
    if has_rr {
        return HomeBuVerdict::Drop(DropReason::ReturnRoutabilityOptions);
    }
    if !is_routable_unicast(&ctx.home_address) {
        return HomeBuVerdict::Drop(DropReason::HomeAddressNotRoutable);
    }
    let coa = care_of_address(ctx.packet_source, ctx.options);
    if !is_routable_unicast(&coa) {
        return HomeBuVerdict::Drop(DropReason::CareOfNotRoutable);
    }
    let deregistration = bu.lifetime_units == 0 || coa == ctx.home_address;
    if ctx.coa_has_binding && !deregistration {
        return HomeBuVerdict::Drop(DropReason::CircularBinding);
    }
    // Ours: without a protecting policy the BU may come from anyone.
    if ctx.ipsec_required && !ctx.ipsec_protected {
        return reject(BaStatus::ADMIN_PROHIBITED);
    }
    let is_mr = bu.flags.contains(BuFlags::MOBILE_ROUTER);
    // 2. Existing entry.
    if let Some(e) = ctx.existing {
        let kind = BuFlags::HOME | BuFlags::MOBILE_ROUTER;
        if e.flags.0 & kind != bu.flags.0 & kind {
            return reject(BaStatus::REGISTRATION_TYPE_CHANGE);
        }
        if e.dad_in_progress {
            return HomeBuVerdict::Ignore;
        }
        if !seq_greater(bu.sequence, e.sequence) {
            return HomeBuVerdict::Reject {
                status: BaStatus::SEQUENCE_OUT_OF_WINDOW,
                sequence: e.sequence,
            };
        }
        if deregistration {
            return HomeBuVerdict::Accept(Accepted {
                status: BaStatus::ACCEPTED,
                sequence: bu.sequence,
                care_of_address: coa,
                lifetime_units: 0,
                deregistration: true,
                needs_dad: false,
                mobile_network_prefixes: Vec::new(),
                ba_flags: BaFlags::default(),
            });
        }
    } else if deregistration {
        // 3. Nothing to deregister.
        return reject(BaStatus::NOT_HOME_AGENT);
    }
    // 4. Home prefix.
    let mut lifetime = Duration::from_secs(u64::from(bu.lifetime_secs()));
    let mut status = BaStatus::ACCEPTED;
    if !ctx.dst_is_ha_address {
        return reject(BaStatus::NOT_HOME_SUBNET);
    }
    match ctx.home_prefix {
        Some(p) => {
            if p.preferred <= lifetime {
                status = BaStatus::PREFIX_DISCOVERY_NECESSARY;
            }
            lifetime = lifetime.min(p.valid);
        }
        None if is_mr && ctx.served_prefix_covers_hoa => {}
        None => return reject(BaStatus::NOT_HOME_SUBNET),
    }
    // 5. ACL.
    if is_mr && !ctx.accept_mobile_router {
        return reject(BaStatus::MOBILE_ROUTER_NOT_PERMITTED);
    }
    if ctx.acl.status != BaStatus::ACCEPTED {
        return reject(ctx.acl.status);
    }
    let explicit: Vec<(Ipv6Addr, u8)> = ctx
        .options
        .iter()
        .filter_map(|o| match o {
            MobilityOption::MobileNetworkPrefix { prefix_len, prefix } => {
                Some((*prefix, *prefix_len))
            }
            _ => None,
        })
        .collect();
    if is_mr && !explicit.is_empty() {
        // Ours: UMIP skipped this without an ACL entry, routing any prefix
        // a mobile router named to it.
        let allowed = ctx.acl.prefixes.unwrap_or(&[]);
        if !explicit.iter().all(|p| allowed.contains(p)) {
            return reject(BaStatus::NOT_AUTHORIZED_FOR_PREFIX);
        }
    }
    // 6. Lifetime cap, in whole 4-second units.
    lifetime = lifetime.min(ctx.max_binding_life);
    let units = lifetime_units(u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX));
    if units == 0 {
        // The prefix or the cap leaves less than one unit: nothing to grant.
        return reject(BaStatus::NOT_HOME_SUBNET);
    }
    // 8. Mobile router prefixes: explicit mode, else implicit from the ACL.
    let mobile_network_prefixes = if !is_mr {
        Vec::new()
    } else if !explicit.is_empty() {
        explicit
    } else {
        match ctx.acl.prefixes {
            Some(p) if !p.is_empty() => p.to_vec(),
            _ => return reject(BaStatus::FORWARDING_SETUP_FAILED),
        }
    };
    // Ours: a new binding costs kernel state (a tunnel, routes, a proxy
    // entry); past the cap it is refused, refreshes still pass.
    if ctx.existing.is_none() && ctx.cache_full {
        return reject(BaStatus::INSUFFICIENT_RESOURCES);
    }
    // 10. BA flags.
    let mut ba_flags = 0;
    if ctx.key_mgmt_capable && bu.flags.contains(BuFlags::KEY_MGMT) {
        ba_flags |= BaFlags::KEY_MGMT;
    }
    if is_mr {
        ba_flags |= BaFlags::MOBILE_ROUTER;
    }
    HomeBuVerdict::Accept(Accepted {
        status,
        sequence: bu.sequence,
        care_of_address: coa,
        lifetime_units: units,
        deregistration: false,
        // 7. A new binding needs DAD for the home address.
        needs_dad: ctx.existing.is_none(),
        mobile_network_prefixes,
        ba_flags: BaFlags(ba_flags),
    })
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
    /// (docs/protocol-notes.md#home-agent-bu-checks step 7). `None` if no entry was waiting.
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
    /// home bindings, docs/protocol-notes.md#home-agent-bu-checks).
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
