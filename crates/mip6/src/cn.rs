//! The correspondent node: answering the Home and Care-of Test Init
//! messages, checking a route-optimisation Binding Update (RFC 6275 §9.5.1,
//! docs/protocol-notes.md#correspondent-bu-checks) and the binding cache it feeds, with
//! expiry in simulated time.
//!
//! The checks run in this order:
//! 1. an H flag: a correspondent is no home agent, 131 (139 if a
//!    route-optimisation binding exists); one carrying Nonce Indices is dropped;
//! 2. no Nonce Indices, or no Binding Authorization Data as the last option:
//!    dropped silently; so is a home or care-of address that is not
//!    routable unicast;
//! 3. a nonce index no longer valid: 136, 137 or 138 (without an
//!    authenticator: there is no Kbm to compute one);
//! 4. an authenticator that does not verify: dropped silently;
//! 5. a sequence number not greater than the binding's, or than a
//!    nonce-block entry's: 135;
//! 6. `CnBindingPolicySet` / `DoRouteOptimizationCN` says no: 129;
//! 7. a deregistration (lifetime 0, or care-of = home address) removes the
//!    binding (128 without one, as UMIP); otherwise the binding is created
//!    or updated with its lifetime capped at [`MAX_RR_BINDING_LIFETIME`];
//!    a new one past the cache's limit gets 130 (insufficient resources,
//!    RFC 6275 §6.1.8): each binding costs kernel XFRM state, and one host
//!    holding many home addresses could otherwise fill the kernel.
//!
//! A Binding Acknowledgement goes back when the A flag asks for one or the
//! BU is refused, signed with Kbm when it is known.
//!
//! A Binding Refresh Request is due [`BRR_BEFORE_EXPIRY`] before a binding
//! ends ([`CnBindingCache::refresh_requests_due`]).
//!
//! Replay (RFC 6275 §5.2.8): a binding that goes (deregistered or
//! expired) while a home nonce that authorised one of its BUs is still
//! valid leaves a nonce-block entry with its last sequence number until
//! that nonce expires ([`MAX_NONCE_LIFETIME`], §12), so a recorded older BU
//! replayed in that time draws 135 instead of making the binding again.
//! Nonce-block entries count against the limit as bindings do, so their
//! number is bounded too.
//!
//! Not done (recorded in docs/compat.md): the ICMP-error count.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::bcache::{care_of_address, is_routable_unicast};
use crate::consts::{BaStatus, LIFETIME_UNIT_SECS, MAX_NONCE_LIFETIME, MAX_RR_BINDING_LIFETIME};
use crate::rr::{self, BuTokens, Kbm, Keygen, TokenKind, NONCE_LEN};
use crate::seq::seq_greater;
use crate::wire::mh::{
    lifetime_units, BaFlags, BindingAck, BindingUpdate, BuFlags, MhMessage, MhRepr, TestInit,
    TestReply,
};
use crate::wire::options::{MobilityOption, AUTHENTICATOR_LEN};
use crate::wire::WireError;

/// The Home Test or Care-of Test answering an init (RFC 6275 §9.4.1,
/// §9.4.2): the cookie echoed, the current nonce index and the token for the
/// init's source address. `None` for other messages.
pub fn answer_test_init(
    keygen: &mut Keygen,
    now: Instant,
    source: &Ipv6Addr,
    message: &MhMessage,
    fresh: [u8; NONCE_LEN],
) -> Option<MhRepr> {
    let (init, kind): (&TestInit, _) = match message {
        MhMessage::HomeTestInit(i) => (i, TokenKind::Home),
        MhMessage::CareOfTestInit(i) => (i, TokenKind::CareOf),
        _ => return None,
    };
    let (nonce_index, keygen_token) = keygen.test_reply(now, source, kind, fresh);
    let reply = TestReply {
        nonce_index,
        cookie: init.cookie,
        keygen_token,
    };
    Some(MhRepr::new(match kind {
        TokenKind::Home => MhMessage::HomeTest(reply),
        TokenKind::CareOf => MhMessage::CareOfTest(reply),
    }))
}

/// A route-optimisation binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnBinding {
    /// The mobile node's home address.
    pub home_address: Ipv6Addr,
    /// Its care-of address.
    pub care_of_address: Ipv6Addr,
    /// Our address the BU was sent to.
    pub correspondent: Ipv6Addr,
    /// Last accepted sequence number.
    pub sequence: u16,
    /// The BU's flags.
    pub flags: BuFlags,
    /// Lifetime granted.
    pub lifetime: Duration,
    /// When it ends.
    pub expires: Instant,
    /// A Binding Refresh Request went out for this lifetime.
    pub refresh_requested: bool,
    /// The last instant a home nonce that authorised one of its BUs is
    /// valid: its sequence number is kept that long after it goes.
    pub nonce_valid_until: Instant,
}

impl CnBinding {
    /// When to ask for a refresh ([`BRR_BEFORE_EXPIRY`] before the end),
    /// unless done already.
    pub fn refresh_request_at(&self) -> Option<Instant> {
        (!self.refresh_requested).then(|| {
            self.expires
                .checked_sub(BRR_BEFORE_EXPIRY)
                .unwrap_or(self.expires)
        })
    }
}

/// A Binding Refresh Request goes out this long before a binding expires,
/// if it was used in the last [`BRR_IF_USED_WITHIN`]
/// (docs/protocol-notes.md#correspondent-bu-checks).
pub const BRR_BEFORE_EXPIRY: Duration = Duration::from_secs(2);
/// See [`BRR_BEFORE_EXPIRY`].
pub const BRR_IF_USED_WITHIN: Duration = Duration::from_secs(60);

/// Default limit of [`CnBindingCache`] entries (bindings and nonce-block
/// entries): `CnMaxBindings` in mip6d.conf (docs/compat.md).
pub const DEFAULT_MAX_BINDINGS: usize = 1024;

/// What is left of a binding whose home nonce may still be replayed: its
/// last sequence number, until that nonce expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NonceBlock {
    sequence: u16,
    until: Instant,
}

/// Everything the BU checks look at.
#[derive(Debug, Clone, Copy)]
pub struct CnBuContext<'a> {
    /// The home address (from the HAO; the packet's source after the
    /// kernel's swap).
    pub home_address: Ipv6Addr,
    /// The packet's source as sent (the HAO's content after the swap).
    pub packet_source: Ipv6Addr,
    /// The packet's destination: our address.
    pub correspondent: Ipv6Addr,
    /// The BU.
    pub bu: BindingUpdate,
    /// Its options.
    pub options: &'a [MobilityOption],
    /// The Mobility Header as received (for the authenticator).
    pub mh: &'a [u8],
    /// The binding policy (`CnBindingPolicySet`, else `DoRouteOptimizationCN`).
    pub policy_allows: bool,
}

/// Why a BU is dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CnDropReason {
    /// A home registration BU carrying return routability options.
    HomeBuWithNonces,
    /// No Nonce Indices, or no authenticator as the last option.
    NotAuthorized,
    /// Home or care-of address not routable unicast.
    NotRoutable,
    /// The authenticator does not verify.
    BadAuthenticator,
}

/// What a BU did to the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CnChange {
    /// Created, or updated (`previous_coa` is the care-of address before).
    Installed {
        /// The binding now.
        binding: CnBinding,
        /// The care-of address it had, if it existed.
        previous_coa: Option<Ipv6Addr>,
    },
    /// Removed by a deregistration.
    Removed(CnBinding),
}

/// The Binding Acknowledgement to send, once signed ([`CnAck::emit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnAck {
    /// Status.
    pub status: BaStatus,
    /// The BA (with a placeholder authenticator when `kbm` is known).
    pub message: MhRepr,
    /// The key to sign it with.
    pub kbm: Option<Kbm>,
    /// Where it goes: the mobile node's care-of address (by a Type 2 Routing
    /// Header to the home address unless they are equal).
    pub care_of_address: Ipv6Addr,
    /// The mobile node's home address (the BA's final destination).
    pub home_address: Ipv6Addr,
    /// Our address (the BA's source).
    pub correspondent: Ipv6Addr,
}

impl CnAck {
    fn new(
        ctx: &CnBuContext<'_>,
        status: BaStatus,
        sequence: u16,
        lifetime_units: u16,
        kbm: Option<Kbm>,
        care_of_address: Ipv6Addr,
    ) -> CnAck {
        let mut message = MhRepr::new(MhMessage::BindingAck(BindingAck {
            status,
            flags: BaFlags::default(),
            sequence,
            lifetime_units,
        }));
        if kbm.is_some() {
            message.options = vec![MobilityOption::BindingAuthData(vec![0; AUTHENTICATOR_LEN])];
        }
        CnAck {
            status,
            message,
            kbm,
            care_of_address,
            home_address: ctx.home_address,
            correspondent: ctx.correspondent,
        }
    }

    /// The BA's octets (checksum zero: the kernel fills it), signed.
    pub fn emit(&self) -> Result<Vec<u8>, WireError> {
        let mut bytes = self.message.emit_without_checksum()?;
        if let Some(kbm) = &self.kbm {
            rr::sign(kbm, &self.care_of_address, &self.correspondent, &mut bytes)?;
        }
        Ok(bytes)
    }

    /// The care-of address to route the BA through, if it is not the home
    /// address itself.
    pub fn via(&self) -> Option<Ipv6Addr> {
        (self.care_of_address != self.home_address).then_some(self.care_of_address)
    }
}

/// The outcome of [`CnBindingCache::on_bu`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CnBuOutcome {
    /// Nothing changes, nothing is sent.
    Dropped(CnDropReason),
    /// Refused with this BA.
    Rejected(CnAck),
    /// The cache changed; a BA if the A flag asked for one.
    Done(CnChange, Option<CnAck>),
}

impl CnBuOutcome {
    /// The BA to send, if any.
    pub fn ack(&self) -> Option<&CnAck> {
        match self {
            CnBuOutcome::Rejected(a) => Some(a),
            CnBuOutcome::Done(_, a) => a.as_ref(),
            CnBuOutcome::Dropped(_) => None,
        }
    }
}

type Key = (Ipv6Addr, Ipv6Addr);

/// The correspondent node's binding cache, keyed by (our address, home
/// address), with its nonce-block entries and a limit on both together.
#[derive(Debug, Clone)]
pub struct CnBindingCache {
    entries: BTreeMap<Key, CnBinding>,
    blocks: BTreeMap<Key, NonceBlock>,
    max_entries: usize,
}

impl Default for CnBindingCache {
    fn default() -> CnBindingCache {
        CnBindingCache::with_limit(DEFAULT_MAX_BINDINGS)
    }
}

impl CnBindingCache {
    /// An empty cache with the default limit ([`DEFAULT_MAX_BINDINGS`]).
    pub fn new() -> CnBindingCache {
        CnBindingCache::default()
    }

    /// An empty cache holding at most `max_entries` bindings and
    /// nonce-block entries together.
    pub fn with_limit(max_entries: usize) -> CnBindingCache {
        CnBindingCache {
            entries: BTreeMap::new(),
            blocks: BTreeMap::new(),
            max_entries,
        }
    }

    /// Changes the limit (a reload). Entries beyond a lowered limit stay
    /// until they go; only new ones are refused.
    pub fn set_limit(&mut self, max_entries: usize) {
        self.max_entries = max_entries;
    }

    /// Number of nonce-block entries (deleted bindings whose sequence
    /// number is kept).
    pub fn nonce_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// The sequence number a BU for `key` must exceed: the binding's, or
    /// a nonce-block entry's while its nonce is valid.
    fn last_sequence(&self, key: &Key, now: Instant) -> Option<u16> {
        self.entries.get(key).map(|e| e.sequence).or_else(|| {
            self.blocks
                .get(key)
                .filter(|b| b.until >= now)
                .map(|b| b.sequence)
        })
    }

    /// Keeps what a removed binding needs against replay (module
    /// documentation).
    fn block(&mut self, key: Key, sequence: u16, until: Instant, now: Instant) {
        if until >= now {
            self.blocks.insert(key, NonceBlock { sequence, until });
        }
    }

    /// True if a binding for `key` fits under the limit: it exists, or the
    /// other entries leave room (expired nonce-block entries are dropped
    /// first). A key's own nonce-block entry is replaced, so it may come
    /// back unless the limit was lowered below what is held.
    fn has_room(&mut self, key: &Key, now: Instant) -> bool {
        if self.entries.contains_key(key) {
            return true;
        }
        if self.entries.len() + self.blocks.len() >= self.max_entries {
            self.blocks.retain(|_, b| b.until >= now);
        }
        let own = usize::from(self.blocks.contains_key(key));
        self.entries.len() + self.blocks.len() - own < self.max_entries
    }

    /// The binding of `home_address` at our `correspondent` address.
    pub fn get(&self, correspondent: &Ipv6Addr, home_address: &Ipv6Addr) -> Option<&CnBinding> {
        self.entries.get(&(*correspondent, *home_address))
    }

    /// Every binding.
    pub fn iter(&self) -> impl Iterator<Item = &CnBinding> {
        self.entries.values()
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without bindings.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks a BU (module documentation) and applies it.
    pub fn on_bu(&mut self, keygen: &Keygen, ctx: &CnBuContext<'_>, now: Instant) -> CnBuOutcome {
        let bu = &ctx.bu;
        let key = (ctx.correspondent, ctx.home_address);
        let coa = care_of_address(ctx.packet_source, ctx.options);
        let nonces = ctx.options.iter().find_map(|o| match o {
            MobilityOption::NonceIndices { home, care_of } => Some((*home, *care_of)),
            _ => None,
        });
        let reject = |status, sequence, kbm| {
            CnBuOutcome::Rejected(CnAck::new(ctx, status, sequence, 0, kbm, coa))
        };
        // 1.
        if bu.flags.contains(BuFlags::HOME) {
            if nonces.is_some() {
                return CnBuOutcome::Dropped(CnDropReason::HomeBuWithNonces);
            }
            let status = if self.entries.contains_key(&key) {
                BaStatus::REGISTRATION_TYPE_CHANGE
            } else {
                BaStatus::HOME_REGISTRATION_NOT_SUPPORTED
            };
            return reject(status, bu.sequence, None);
        }
        // 2.
        let auth_last = matches!(ctx.options.last(), Some(MobilityOption::BindingAuthData(_)));
        let Some((home_index, care_of_index)) = nonces.filter(|_| auth_last) else {
            return CnBuOutcome::Dropped(CnDropReason::NotAuthorized);
        };
        if !is_routable_unicast(&ctx.home_address) || !is_routable_unicast(&coa) {
            return CnBuOutcome::Dropped(CnDropReason::NotRoutable);
        }
        let deregistration = bu.lifetime_units == 0 || coa == ctx.home_address;
        // 3.
        let care_of = (!deregistration).then_some((&coa, care_of_index));
        let kbm = match keygen.bu_tokens(now, &ctx.home_address, home_index, care_of) {
            BuTokens::Valid(kbm) => kbm,
            BuTokens::HomeExpired => {
                return reject(BaStatus::EXPIRED_HOME_NONCE, bu.sequence, None)
            }
            BuTokens::CareOfExpired => {
                return reject(BaStatus::EXPIRED_CAREOF_NONCE, bu.sequence, None)
            }
            BuTokens::BothExpired => return reject(BaStatus::EXPIRED_NONCES, bu.sequence, None),
        };
        // 4.
        if !rr::verify(&kbm, &coa, &ctx.correspondent, ctx.mh) {
            return CnBuOutcome::Dropped(CnDropReason::BadAuthenticator);
        }
        // 5.
        if let Some(last) = self.last_sequence(&key, now) {
            if !seq_greater(bu.sequence, last) {
                return reject(BaStatus::SEQUENCE_OUT_OF_WINDOW, last, Some(kbm));
            }
        }
        // 6.
        if !ctx.policy_allows {
            return reject(BaStatus::ADMIN_PROHIBITED, bu.sequence, Some(kbm));
        }
        let wants_ack = bu.flags.contains(BuFlags::ACK);
        // The nonce is valid now, so held; the fallback is its longest life.
        let nonce_valid_until = keygen
            .nonce_expiry(home_index)
            .unwrap_or(now + MAX_NONCE_LIFETIME);
        // 7.
        if deregistration {
            let Some(old) = self.entries.remove(&key) else {
                return reject(BaStatus::REASON_UNSPECIFIED, bu.sequence, Some(kbm));
            };
            let until = old.nonce_valid_until.max(nonce_valid_until);
            self.block(key, bu.sequence, until, now);
            let ack = wants_ack
                .then(|| CnAck::new(ctx, BaStatus::ACCEPTED, bu.sequence, 0, Some(kbm), coa));
            return CnBuOutcome::Done(CnChange::Removed(old), ack);
        }
        let secs = bu
            .lifetime_secs()
            .min(MAX_RR_BINDING_LIFETIME.as_secs() as u32);
        let units = lifetime_units(secs);
        let lifetime = Duration::from_secs(u64::from(units) * u64::from(LIFETIME_UNIT_SECS));
        if !self.has_room(&key, now) {
            return reject(BaStatus::INSUFFICIENT_RESOURCES, bu.sequence, Some(kbm));
        }
        let earlier = match (self.entries.get(&key), self.blocks.get(&key)) {
            (Some(e), _) => Some(e.nonce_valid_until),
            (None, Some(b)) => Some(b.until),
            (None, None) => None,
        };
        self.blocks.remove(&key);
        let binding = CnBinding {
            home_address: ctx.home_address,
            care_of_address: coa,
            correspondent: ctx.correspondent,
            sequence: bu.sequence,
            flags: bu.flags,
            lifetime,
            expires: now + lifetime,
            refresh_requested: false,
            // An older BU's nonce may outlive this one's.
            nonce_valid_until: earlier.map_or(nonce_valid_until, |t| t.max(nonce_valid_until)),
        };
        let previous_coa = self
            .entries
            .insert(key, binding.clone())
            .map(|old| old.care_of_address);
        let ack = wants_ack
            .then(|| CnAck::new(ctx, BaStatus::ACCEPTED, bu.sequence, units, Some(kbm), coa));
        CnBuOutcome::Done(
            CnChange::Installed {
                binding,
                previous_coa,
            },
            ack,
        )
    }

    /// When the next binding expires.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .values()
            .flat_map(|e| [Some(e.expires), e.refresh_request_at()])
            .flatten()
            .min()
    }

    /// The bindings whose Binding Refresh Request is due, marked as
    /// requested (the caller sends it if the binding was used lately).
    pub fn refresh_requests_due(&mut self, now: Instant) -> Vec<CnBinding> {
        let mut due = Vec::new();
        for e in self.entries.values_mut() {
            if e.refresh_request_at().is_some_and(|t| t <= now) && e.expires > now {
                e.refresh_requested = true;
                due.push(e.clone());
            }
        }
        due
    }

    /// Removes and returns the bindings whose lifetime is over (leaving
    /// nonce-block entries where their nonces are still valid), and drops
    /// the nonce-block entries whose nonces expired.
    pub fn expire(&mut self, now: Instant) -> Vec<CnBinding> {
        self.blocks.retain(|_, b| b.until >= now);
        let gone: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        let gone: Vec<CnBinding> = gone
            .into_iter()
            .filter_map(|k| self.entries.remove(&k))
            .collect();
        for b in &gone {
            let key = (b.correspondent, b.home_address);
            self.block(key, b.sequence, b.nonce_valid_until, now);
        }
        gone
    }

    /// Removes and returns every binding (shutdown).
    pub fn drain(&mut self) -> Vec<CnBinding> {
        self.blocks.clear();
        std::mem::take(&mut self.entries).into_values().collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "cn_tests.rs"]
mod tests;
