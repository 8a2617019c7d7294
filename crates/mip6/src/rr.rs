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
//! The nonce table follows UMIP's keygen (docs/protocol-notes.md#nonces-and-tokens): 16 slots;
//! a nonce is created the first time it is handed out, handed out for [`MAX_NONCE_LIFETIME`] −
//! [`MAX_TOKEN_LIFETIME`] (30 s) and accepted for [`MAX_NONCE_LIFETIME`] (240 s) from then.
//! Randomness comes from the caller: this crate reads no clock and no entropy.
//!
//! The mobile node's side of the procedure is [`crate::ro`].

use std::net::Ipv6Addr;
use std::time::Instant;

use crate::consts::{MAX_NONCE_LIFETIME, MAX_TOKEN_LIFETIME};
use crate::wire::mh::authenticator_input;
use crate::wire::options::AUTHENTICATOR_LEN;
use crate::wire::WireError;

/// Length of `Kcn` (RFC 6275 §5.2.1: 20 octets for HMAC-SHA1).
pub const KCN_LEN: usize = 20;
/// Length of a nonce (UMIP: 8 octets; RFC 6275 leaves it to the node).
pub const NONCE_LEN: usize = 8;
/// Length of a keygen token (§5.2.5).
pub const TOKEN_LEN: usize = 8;
/// Number of nonces kept (docs/protocol-notes.md#nonces-and-tokens).
pub const NONCE_SLOTS: usize = 16;

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

    /// When the nonce with this index stops being accepted, if it is held.
    pub fn expiry(&self, index: u16) -> Option<Instant> {
        let n = self.slots[usize::from(index) % NONCE_SLOTS]?;
        (n.index == index).then(|| n.born + MAX_NONCE_LIFETIME)
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

    /// The last instant a BU naming this nonce index can pass
    /// [`Keygen::bu_tokens`] (the nonce's [`MAX_NONCE_LIFETIME`] end), if
    /// the index is held.
    pub fn nonce_expiry(&self, index: u16) -> Option<Instant> {
        self.nonces.expiry(index)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "rr_tests.rs"]
mod tests;
