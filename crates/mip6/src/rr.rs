//! Return routability (RFC 6275 §5.2): the correspondent node's secret
//! `Kcn` and nonces, the keygen tokens of the Home and Care-of Tests, the
//! binding management key `Kbm` and the Binding Authorization Data that
//! signs Binding Updates and Acknowledgements between a mobile node and a
//! correspondent.
//!
//! - home keygen token = First(64, HMAC_SHA1(Kcn, home address | nonce | 0));
//! - care-of keygen token = First(64, HMAC_SHA1(Kcn, care-of address | nonce | 1));
//! - Kbm = SHA1(home keygen token | care-of keygen token), or
//!   SHA1(home keygen token) for a deregistration (§5.2.5);
//! - authenticator = First(96, HMAC_SHA1(Kbm, care-of address | correspondent
//!   | Mobility Header)), the MH with a zero checksum and without the
//!   authenticator's own octets (§6.2.7, [`authenticator_input`]).
//!
//! The nonce table follows UMIP's keygen (umip.md §4.3): 16 slots; a nonce
//! is created the first time it is handed out, handed out for
//! [`MAX_NONCE_LIFETIME`] − [`MAX_TOKEN_LIFETIME`] (30 s) and accepted for
//! [`MAX_NONCE_LIFETIME`] (240 s) from then. Randomness comes from the
//! caller: this crate reads no clock and no entropy.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::consts::{MAX_NONCE_LIFETIME, MAX_TOKEN_LIFETIME, MN_TEST_INIT_DELAY};
use crate::wire::mh::{
    authenticator_input, lifetime_units, BindingAck, BindingUpdate, BuFlags, MhMessage, MhRepr,
    TestReply,
};
use crate::wire::options::MobilityOption;
use crate::wire::options::AUTHENTICATOR_LEN;
use crate::wire::WireError;

/// Length of `Kcn` (RFC 6275 §5.2.1: 20 octets for HMAC-SHA1).
pub const KCN_LEN: usize = 20;
/// Length of a nonce (UMIP: 8 octets; RFC 6275 leaves it to the node).
pub const NONCE_LEN: usize = 8;
/// Length of a keygen token (§5.2.5).
pub const TOKEN_LEN: usize = 8;
/// Number of nonces kept (umip.md §4.3 "a ring of 16 nonces").
pub const NONCE_SLOTS: usize = 16;
/// Maximal retransmission interval of HoTI/CoTI (RFC 6275 §12 gives
/// MAX_BINDACK_TIMEOUT for it; umip.md §4 "5 s doubling to 32 s").
pub const MAX_TEST_INIT_TIMEOUT: Duration = Duration::from_secs(32);

/// The correspondent node's secret.
pub type Kcn = [u8; KCN_LEN];
/// A keygen token.
pub type Token = [u8; TOKEN_LEN];
/// The binding management key.
pub type Kbm = [u8; 20];
/// A Binding Authorization Data authenticator.
pub type Authenticator = [u8; AUTHENTICATOR_LEN];

/// HMAC-SHA1 and SHA1, the only place that names the crypto crates.
mod mac {
    use hmac::{Hmac, Mac};
    use sha1::{Digest, Sha1};

    pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
        // HMAC takes keys of any length: the error case cannot happen.
        let Ok(mut m) = Hmac::<Sha1>::new_from_slice(key) else {
            return [0; 20];
        };
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    pub fn sha1(parts: &[&[u8]]) -> [u8; 20] {
        let mut h = Sha1::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }
}

/// Which test a token answers: the last octet of the keygen input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Home Test (0).
    Home,
    /// Care-of Test (1).
    CareOf,
}

/// First(64, HMAC_SHA1(Kcn, address | nonce | 0 or 1)) (RFC 6275 §5.2.5).
pub fn keygen_token(kcn: &Kcn, address: &Ipv6Addr, nonce: &[u8], kind: TokenKind) -> Token {
    let tag = [match kind {
        TokenKind::Home => 0u8,
        TokenKind::CareOf => 1,
    }];
    let mac = mac::hmac_sha1(kcn, &[&address.octets(), nonce, &tag]);
    let mut t = [0u8; TOKEN_LEN];
    t.copy_from_slice(&mac[..TOKEN_LEN]);
    t
}

/// Kbm = SHA1(home token | care-of token); SHA1(home token) alone for a
/// deregistration, which has no care-of test (RFC 6275 §5.2.5).
pub fn binding_key(home: &Token, care_of: Option<&Token>) -> Kbm {
    match care_of {
        Some(c) => mac::sha1(&[home, c]),
        None => mac::sha1(&[home]),
    }
}

/// First(96, HMAC_SHA1(Kbm, input)).
fn authenticator_of(kbm: &Kbm, input: &[u8]) -> Authenticator {
    let mac = mac::hmac_sha1(kbm, &[input]);
    let mut a = [0u8; AUTHENTICATOR_LEN];
    a.copy_from_slice(&mac[..AUTHENTICATOR_LEN]);
    a
}

/// Fills in the authenticator of `mh`, a BU or BA emitted with a
/// Binding Authorization Data option (of [`AUTHENTICATOR_LEN`] octets) as its
/// last option and a zero checksum (RFC 6275 §6.2.7).
pub fn sign(
    kbm: &Kbm,
    care_of_address: &Ipv6Addr,
    correspondent: &Ipv6Addr,
    mh: &mut [u8],
) -> Result<(), WireError> {
    let (input, range) = authenticator_input(care_of_address, correspondent, mh)?;
    if range.len() != AUTHENTICATOR_LEN {
        return Err(WireError::NoAuthorizationData);
    }
    mh[range].copy_from_slice(&authenticator_of(kbm, &input));
    Ok(())
}

/// True if the authenticator in `mh` (as received; the checksum is ignored)
/// is the one `kbm` gives. Compared in constant time.
pub fn verify(kbm: &Kbm, care_of_address: &Ipv6Addr, correspondent: &Ipv6Addr, mh: &[u8]) -> bool {
    let Ok((input, range)) = authenticator_input(care_of_address, correspondent, mh) else {
        return false;
    };
    let Some(got) = mh.get(range) else {
        return false;
    };
    if got.len() != AUTHENTICATOR_LEN {
        return false;
    }
    let want = authenticator_of(kbm, &input);
    got.iter()
        .zip(want.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[derive(Debug, Clone, Copy)]
struct Nonce {
    index: u16,
    value: [u8; NONCE_LEN],
    born: Instant,
}

/// The correspondent node's nonces (RFC 6275 §5.2.2), indexed as the
/// Home/Care-of Test carries them.
#[derive(Debug, Clone)]
pub struct NonceTable {
    slots: [Option<Nonce>; NONCE_SLOTS],
    next_index: u16,
    current: Option<usize>,
}

impl NonceTable {
    /// An empty table whose first nonce will have `first_index` (random, so
    /// a restarted node does not reuse the indices a peer may still hold).
    pub fn new(first_index: u16) -> NonceTable {
        NonceTable {
            slots: [None; NONCE_SLOTS],
            next_index: first_index,
            current: None,
        }
    }

    /// The nonce to hand out now, with its index: the current one while it
    /// has at least [`MAX_TOKEN_LIFETIME`] of validity left, otherwise a new
    /// one made of `fresh` octets.
    pub fn current(&mut self, now: Instant, fresh: [u8; NONCE_LEN]) -> (u16, [u8; NONCE_LEN]) {
        let hand_out_for = MAX_NONCE_LIFETIME.saturating_sub(MAX_TOKEN_LIFETIME);
        if let Some(n) = self.current.and_then(|i| self.slots[i]) {
            if now.saturating_duration_since(n.born) < hand_out_for {
                return (n.index, n.value);
            }
        }
        let index = self.next_index;
        self.next_index = self.next_index.wrapping_add(1);
        let slot = usize::from(index) % NONCE_SLOTS;
        self.slots[slot] = Some(Nonce {
            index,
            value: fresh,
            born: now,
        });
        self.current = Some(slot);
        (index, fresh)
    }

    /// The nonce with this index if it is still valid ([`MAX_NONCE_LIFETIME`]
    /// since it was first handed out).
    pub fn lookup(&self, index: u16, now: Instant) -> Option<[u8; NONCE_LEN]> {
        let n = self.slots[usize::from(index) % NONCE_SLOTS]?;
        (n.index == index && now.saturating_duration_since(n.born) <= MAX_NONCE_LIFETIME)
            .then_some(n.value)
    }
}

/// The correspondent node's keys: `Kcn` and the nonces, answering the tests.
#[derive(Debug, Clone)]
pub struct Keygen {
    kcn: Kcn,
    nonces: NonceTable,
}

/// The tokens of a Binding Update's nonce indices, or which index expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuTokens {
    /// Both (or, for a deregistration, the home one) are valid.
    Valid(Kbm),
    /// The home nonce index is no longer valid (status 136).
    HomeExpired,
    /// The care-of nonce index is no longer valid (137).
    CareOfExpired,
    /// Both (138).
    BothExpired,
}

impl Keygen {
    /// With a random `kcn` and first nonce index.
    pub fn new(kcn: Kcn, first_index: u16) -> Keygen {
        Keygen {
            kcn,
            nonces: NonceTable::new(first_index),
        }
    }

    /// The Home or Care-of Test's nonce index and token for `address` (the
    /// HoTI's source, or the CoTI's).
    pub fn test_reply(
        &mut self,
        now: Instant,
        address: &Ipv6Addr,
        kind: TokenKind,
        fresh: [u8; NONCE_LEN],
    ) -> (u16, Token) {
        let (index, nonce) = self.nonces.current(now, fresh);
        (index, keygen_token(&self.kcn, address, &nonce, kind))
    }

    /// Regenerates the tokens a BU's Nonce Indices name and derives Kbm
    /// (RFC 6275 §9.5.1). `care_of` is `None` for a deregistration (the
    /// care-of nonce index is then ignored).
    pub fn bu_tokens(
        &self,
        now: Instant,
        home_address: &Ipv6Addr,
        home_index: u16,
        care_of: Option<(&Ipv6Addr, u16)>,
    ) -> BuTokens {
        let home = self.nonces.lookup(home_index, now);
        let coa = care_of.map(|(a, i)| (a, self.nonces.lookup(i, now)));
        match (home, coa) {
            (None, Some((_, None))) => BuTokens::BothExpired,
            (None, _) => BuTokens::HomeExpired,
            (Some(_), Some((_, None))) => BuTokens::CareOfExpired,
            (Some(h), c) => {
                let ht = keygen_token(&self.kcn, home_address, &h, TokenKind::Home);
                let ct = c.and_then(|(a, n)| {
                    n.map(|n| keygen_token(&self.kcn, a, &n, TokenKind::CareOf))
                });
                BuTokens::Valid(binding_key(&ht, ct.as_ref()))
            }
        }
    }
}

/// One of the mobile node's two tests towards a correspondent (RFC 6275
/// §11.6.1, §11.6.2): the cookie of the last init, the retransmission
/// timer (5 s doubling to 32 s), and the token once the reply came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    /// The cookie of the init in flight (a new one per run).
    pub cookie: [u8; 8],
    /// The address tested (home or care-of).
    pub address: Ipv6Addr,
    /// When to send the init again, while no reply came.
    pub retransmit_at: Option<Instant>,
    backoff: Duration,
    /// Inits sent in this run.
    pub sent: u32,
    /// The reply: nonce index, token and when it came.
    pub reply: Option<(u16, Token, Instant)>,
}

impl TestRun {
    /// A run that sends its first init now.
    pub fn start(now: Instant, address: Ipv6Addr, cookie: [u8; 8]) -> TestRun {
        TestRun {
            cookie,
            address,
            retransmit_at: Some(now + MN_TEST_INIT_DELAY),
            backoff: MN_TEST_INIT_DELAY,
            sent: 1,
            reply: None,
        }
    }

    /// True if the init is due again; arms the next (doubled) timeout.
    pub fn due(&mut self, now: Instant) -> bool {
        match self.retransmit_at {
            Some(t) if now >= t => {
                self.backoff = (self.backoff * 2).min(MAX_TEST_INIT_TIMEOUT);
                self.retransmit_at = Some(now + self.backoff);
                self.sent += 1;
                true
            }
            _ => false,
        }
    }

    /// Takes a reply if its cookie matches; `false` (ignored) otherwise.
    pub fn on_reply(&mut self, now: Instant, cookie: &[u8; 8], index: u16, token: Token) -> bool {
        if *cookie != self.cookie || self.reply.is_some() {
            return false;
        }
        self.reply = Some((index, token, now));
        self.retransmit_at = None;
        true
    }

    /// The token while it is usable ([`MAX_TOKEN_LIFETIME`] since the reply).
    pub fn token(&self, now: Instant) -> Option<(u16, Token)> {
        let (i, t, at) = self.reply?;
        (now.saturating_duration_since(at) < MAX_TOKEN_LIFETIME).then_some((i, t))
    }
}

/// What the mobile node's route optimisation with one correspondent is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoPhase {
    /// Home and care-of tests running.
    Testing,
    /// BU sent with the A flag; waiting for the BA until the instant given.
    WaitingAck {
        /// Sequence number sent.
        sequence: u16,
        /// Give up on this BU then (and test again).
        until: Instant,
        /// Key to check the BA with.
        kbm: Kbm,
    },
    /// The correspondent has the binding.
    Bound {
        /// When return routability runs again (once).
        refresh_at: Option<Instant>,
    },
    /// The correspondent did not answer or refused; nothing until then.
    Failed {
        /// When the entry may be tried again.
        until: Instant,
    },
}

/// Settings of the mobile node's route optimisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoConfig {
    /// Lifetime asked for (`MnMaxCnBindingLife`, at most 420 s).
    pub lifetime: Duration,
    /// Set the A flag (`UseCnBuAck`).
    pub ack: bool,
    /// Inits per test before giving up (`MnMaxCnConsecutiveResends`, or a
    /// default when that is 0).
    pub max_inits: u32,
}

/// What the driver does for a [`RoEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoAction {
    /// Send a Home Test Init (from the home address, through the tunnel).
    SendHomeTestInit([u8; 8]),
    /// Send a Care-of Test Init (from the care-of address, directly).
    SendCareOfTestInit([u8; 8]),
    /// Install the kernel state for `care_of_address` (HAO out, RH2 in), then
    /// send this signed BU from the home address.
    SendBindingUpdate {
        /// The BU's octets (checksum zero).
        message: Vec<u8>,
        /// Its sequence number.
        sequence: u16,
        /// The care-of address it registers.
        care_of_address: Ipv6Addr,
    },
    /// The binding is in place (lifetime granted).
    Bound(Duration),
    /// Remove the kernel state: traffic goes through the home agent again.
    RemoveState,
}

/// How long a non-answering or refusing correspondent is left alone
/// (umip.md §4: "Non-MIPv6 or unreachable CN entry lifetime 420 s").
pub const CN_RETRY_AFTER: Duration = Duration::from_secs(420);
/// How long the mobile node waits for a BA from a correspondent.
pub const CN_BA_TIMEOUT: Duration = crate::consts::MAX_BINDACK_TIMEOUT;
/// Refresh share of a binding's lifetime (the tests run again then).
const REFRESH_PERCENT: u32 = 90;

/// The mobile node's route optimisation with one correspondent (RFC 6275
/// §11.6, §11.7.2): the two tests, the BU signed with their tokens, the BA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoEntry {
    /// The correspondent.
    pub cn: Ipv6Addr,
    /// Our home address.
    pub hoa: Ipv6Addr,
    /// Our care-of address.
    pub coa: Ipv6Addr,
    /// Phase.
    pub phase: RoPhase,
    /// When the correspondent's binding ends, while one exists.
    pub expires: Option<Instant>,
    home: Option<TestRun>,
    care_of: Option<TestRun>,
    sequence: u16,
    config: RoConfig,
    /// Back home: only the home test, then a BU with lifetime 0.
    deregistering: bool,
}

impl RoEntry {
    /// Starts both tests.
    pub fn start(
        now: Instant,
        cn: Ipv6Addr,
        hoa: Ipv6Addr,
        coa: Ipv6Addr,
        first_sequence: u16,
        cookies: ([u8; 8], [u8; 8]),
        config: RoConfig,
    ) -> (RoEntry, Vec<RoAction>) {
        let mut e = RoEntry {
            cn,
            hoa,
            coa,
            phase: RoPhase::Testing,
            expires: None,
            home: None,
            care_of: None,
            sequence: first_sequence.wrapping_sub(1),
            config,
            deregistering: false,
        };
        let actions = e.retest(now, true, true, cookies);
        (e, actions)
    }

    fn retest(
        &mut self,
        now: Instant,
        home: bool,
        care_of: bool,
        cookies: ([u8; 8], [u8; 8]),
    ) -> Vec<RoAction> {
        let mut out = Vec::new();
        if home || self.home.as_ref().and_then(|h| h.token(now)).is_none() {
            self.home = Some(TestRun::start(now, self.hoa, cookies.0));
            out.push(RoAction::SendHomeTestInit(cookies.0));
        }
        let care_of_needed = care_of || self.care_of.as_ref().and_then(|c| c.token(now)).is_none();
        if care_of_needed && !self.deregistering {
            self.care_of = Some(TestRun::start(now, self.coa, cookies.1));
            out.push(RoAction::SendCareOfTestInit(cookies.1));
        }
        if !matches!(self.phase, RoPhase::Bound { .. }) {
            self.phase = RoPhase::Testing;
        }
        out.extend(self.maybe_bu(now));
        out
    }

    /// When [`RoEntry::on_timer`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let tests = [&self.home, &self.care_of]
            .into_iter()
            .flatten()
            .filter_map(|t| t.retransmit_at);
        let phase = match &self.phase {
            RoPhase::Testing => None,
            RoPhase::WaitingAck { until, .. } => Some(*until),
            RoPhase::Bound { refresh_at } => *refresh_at,
            RoPhase::Failed { until } => Some(*until),
        };
        tests.chain(phase).chain(self.expires).min()
    }

    /// True once the entry has nothing more to do and may be forgotten.
    pub fn is_done(&self, now: Instant) -> bool {
        self.expires.is_none() && matches!(self.phase, RoPhase::Failed { until } if now >= until)
    }

    /// Retransmissions, BA timeout, refresh and expiry.
    pub fn on_timer(&mut self, now: Instant, cookies: ([u8; 8], [u8; 8])) -> Vec<RoAction> {
        let mut out = Vec::new();
        if self.expires.is_some_and(|e| now >= e) {
            self.expires = None;
            if matches!(self.phase, RoPhase::Bound { .. }) || self.deregistering {
                self.phase = RoPhase::Failed { until: now };
                self.home = None;
                self.care_of = None;
            }
            out.push(RoAction::RemoveState);
        }
        match self.phase.clone() {
            RoPhase::Bound {
                refresh_at: Some(r),
            } if now >= r => {
                self.phase = RoPhase::Bound { refresh_at: None };
                out.extend(self.retest(now, true, true, cookies));
                return out;
            }
            RoPhase::WaitingAck { until, .. } if now >= until => {
                self.phase = RoPhase::Testing;
                out.extend(self.retest(now, true, true, cookies));
                return out;
            }
            RoPhase::Failed { .. } => return out,
            _ => {}
        }
        let max = self.config.max_inits;
        let mut exhausted = false;
        for (test, home) in [(&mut self.home, true), (&mut self.care_of, false)] {
            let Some(t) = test.as_mut() else { continue };
            if t.due(now) {
                exhausted |= t.sent > max;
                out.push(if home {
                    RoAction::SendHomeTestInit(t.cookie)
                } else {
                    RoAction::SendCareOfTestInit(t.cookie)
                });
            }
        }
        if exhausted {
            self.home = None;
            self.care_of = None;
            self.phase = RoPhase::Failed {
                until: now + CN_RETRY_AFTER,
            };
            // (A binding still in place stays until it expires.)
            return Vec::new();
        }
        out
    }

    /// A Home Test (`home`) or Care-of Test from the correspondent.
    pub fn on_test_reply(&mut self, now: Instant, home: bool, reply: &TestReply) -> Vec<RoAction> {
        let test = if home {
            &mut self.home
        } else {
            &mut self.care_of
        };
        let taken = test
            .as_mut()
            .is_some_and(|t| t.on_reply(now, &reply.cookie, reply.nonce_index, reply.keygen_token));
        if taken {
            self.maybe_bu(now)
        } else {
            Vec::new()
        }
    }

    /// Both tokens in hand (the home one alone for a deregistration): the BU.
    fn maybe_bu(&mut self, now: Instant) -> Vec<RoAction> {
        let Some(h) = self.home.as_ref().and_then(|t| t.token(now)) else {
            return Vec::new();
        };
        let c = self.care_of.as_ref().and_then(|t| t.token(now));
        if c.is_none() && !self.deregistering {
            return Vec::new();
        }
        // RFC 6275 §5.2.5: a deregistration's key is the home token's hash.
        let kbm = binding_key(&h.1, c.as_ref().map(|c| &c.1));
        self.sequence = self.sequence.wrapping_add(1);
        let lifetime = if self.deregistering {
            Duration::ZERO
        } else {
            self.config
                .lifetime
                .min(crate::consts::MAX_RR_BINDING_LIFETIME)
        };
        let flags = if self.config.ack { BuFlags::ACK } else { 0 };
        let mut repr = MhRepr::new(MhMessage::BindingUpdate(BindingUpdate {
            sequence: self.sequence,
            flags: BuFlags(flags),
            lifetime_units: lifetime_units(lifetime.as_secs() as u32),
        }));
        repr.options = vec![
            MobilityOption::NonceIndices {
                home: h.0,
                care_of: c.map_or(0, |c| c.0),
            },
            MobilityOption::BindingAuthData(vec![0; AUTHENTICATOR_LEN]),
        ];
        let Ok(mut message) = repr.emit_without_checksum() else {
            return Vec::new();
        };
        if sign(&kbm, &self.coa, &self.cn, &mut message).is_err() {
            return Vec::new();
        }
        let granted = Duration::from_secs(
            u64::from(lifetime_units(lifetime.as_secs() as u32))
                * u64::from(crate::consts::LIFETIME_UNIT_SECS),
        );
        let mut out = vec![RoAction::SendBindingUpdate {
            message,
            sequence: self.sequence,
            care_of_address: self.coa,
        }];
        if self.config.ack {
            self.phase = RoPhase::WaitingAck {
                sequence: self.sequence,
                until: now + CN_BA_TIMEOUT,
                kbm,
            };
        } else if self.deregistering {
            self.finished(now);
        } else {
            out.extend(self.bound(now, granted));
        }
        out
    }

    /// Nothing left at the correspondent: the entry may go.
    fn finished(&mut self, now: Instant) {
        self.expires = None;
        self.home = None;
        self.care_of = None;
        self.phase = RoPhase::Failed { until: now };
    }

    fn bound(&mut self, now: Instant, lifetime: Duration) -> Vec<RoAction> {
        self.expires = Some(now + lifetime);
        self.phase = RoPhase::Bound {
            refresh_at: Some(now + lifetime * REFRESH_PERCENT / 100),
        };
        vec![RoAction::Bound(lifetime)]
    }

    /// A BA from the correspondent (`mh` as received, for its authenticator).
    pub fn on_ba(
        &mut self,
        now: Instant,
        ba: &BindingAck,
        mh: &[u8],
        cookies: ([u8; 8], [u8; 8]),
    ) -> Vec<RoAction> {
        let RoPhase::WaitingAck { sequence, kbm, .. } = self.phase.clone() else {
            return Vec::new();
        };
        if ba.sequence != sequence && ba.status != crate::consts::BaStatus::SEQUENCE_OUT_OF_WINDOW {
            return Vec::new();
        }
        match ba.status.0 {
            0..=127 if verify(&kbm, &self.coa, &self.cn, mh) && self.deregistering => {
                self.finished(now);
                Vec::new()
            }
            0..=127 if verify(&kbm, &self.coa, &self.cn, mh) => {
                self.bound(now, Duration::from_secs(u64::from(ba.lifetime_secs())))
            }
            0..=127 => Vec::new(),
            135 if verify(&kbm, &self.coa, &self.cn, mh) => {
                self.sequence = ba.sequence;
                self.phase = RoPhase::Testing;
                self.retest(now, true, true, cookies)
            }
            136 => self.retest(now, true, false, cookies),
            137 => self.retest(now, false, true, cookies),
            138 => self.retest(now, true, true, cookies),
            _ => {
                self.phase = RoPhase::Failed {
                    until: now + CN_RETRY_AFTER,
                };
                self.expires = None;
                vec![RoAction::RemoveState]
            }
        }
    }

    /// A Binding Error with status 1 from the correspondent (it has no
    /// binding for our Home Address option, e.g. after a restart): the
    /// state goes and the entry ends; the next packet triggers a new run.
    pub fn on_binding_error(&mut self, now: Instant) -> Vec<RoAction> {
        self.finished(now);
        vec![RoAction::RemoveState]
    }

    /// A Binding Refresh Request from the correspondent: both tests again
    /// if the binding is in place and no refresh runs yet (the driver asks
    /// only for a binding in use, RFC 6275 §11.7.4).
    pub fn on_refresh_request(
        &mut self,
        now: Instant,
        cookies: ([u8; 8], [u8; 8]),
    ) -> Vec<RoAction> {
        match self.phase {
            RoPhase::Bound {
                refresh_at: Some(_),
            } => {
                self.phase = RoPhase::Bound { refresh_at: None };
                self.retest(now, true, true, cookies)
            }
            _ => Vec::new(),
        }
    }

    /// True when a bound entry's refresh is due; the driver then calls
    /// [`RoEntry::skip_refresh`] if the binding was not used lately (UMIP
    /// refreshes only bindings in use), before [`RoEntry::on_timer`].
    pub fn refresh_due(&self, now: Instant) -> bool {
        matches!(self.phase, RoPhase::Bound { refresh_at: Some(r) } if now >= r)
    }

    /// No refresh this time: the binding is left to expire.
    pub fn skip_refresh(&mut self) {
        if let RoPhase::Bound { refresh_at } = &mut self.phase {
            *refresh_at = None;
        }
    }

    /// Back on the home link (RFC 6275 §11.5.4): if the correspondent has
    /// a binding, the home test from the home address and a BU with lifetime
    /// 0 and care-of = home address, signed with the home token alone.
    pub fn deregister(&mut self, now: Instant, cookie: [u8; 8]) -> Vec<RoAction> {
        if self.expires.is_none() {
            self.finished(now);
            return Vec::new();
        }
        self.deregistering = true;
        self.coa = self.hoa;
        self.care_of = None;
        self.home = Some(TestRun::start(now, self.hoa, cookie));
        self.phase = RoPhase::Testing;
        vec![RoAction::SendHomeTestInit(cookie)]
    }

    /// A new care-of address: the care-of test again (the home token is
    /// kept while valid), then a new BU.
    pub fn handover(
        &mut self,
        now: Instant,
        coa: Ipv6Addr,
        cookies: ([u8; 8], [u8; 8]),
    ) -> Vec<RoAction> {
        self.coa = coa;
        if matches!(self.phase, RoPhase::Failed { .. }) || self.deregistering {
            return Vec::new();
        }
        let home = self.home.as_ref().and_then(|t| t.token(now)).is_none();
        self.retest(now, home, true, cookies)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "rr_tests.rs"]
mod tests;
