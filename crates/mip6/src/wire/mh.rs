//! The Mobility Header (RFC 6275 §6.1) and its messages.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Payload Proto |  Header Len   |   MH Type     |   Reserved    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               |
//! .                                                               .
//! .                       Message Data                            .
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Header Len is the length in 8-octet units, not counting the first 8
//! octets. The payload proto is always 59 (IPPROTO_NONE). The checksum covers
//! the IPv6 pseudo-header with next header 135 ([`super::checksum`]).

use std::net::Ipv6Addr;

use super::checksum::{fill, verify};
use super::options::{emit_options, options_len, parse_options, MobilityOption};
use super::{array_at, be16, ipv6_at, Result, WireError};
use crate::consts::{
    mh_type, BaStatus, BeStatus, IPPROTO_MH, IPPROTO_NONE, LIFETIME_UNIT_SECS, MH_CHECKSUM_OFFSET,
};

/// Octets before the message data: payload proto, header len, MH type,
/// reserved, checksum.
pub const MH_HEADER_LEN: usize = 6;
/// Largest Mobility Header: Header Len 255.
pub const MH_MAX_LEN: usize = 256 * 8;

/// A checked view over the bytes of a Mobility Header.
#[derive(Debug, Clone, Copy)]
pub struct MhPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MhPacket<T> {
    /// Wraps `buffer` after checking that it holds the fixed header and the
    /// whole length Header Len declares. Octets past that length are ignored.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < 8 {
            return Err(WireError::Truncated);
        }
        let p = MhPacket { buffer };
        if p.buffer.as_ref().len() < p.total_len() {
            return Err(WireError::Truncated);
        }
        Ok(p)
    }

    /// Payload Proto.
    pub fn payload_proto(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Header Len (8-octet units beyond the first 8 octets).
    pub fn header_len(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// Length of the whole Mobility Header in octets.
    pub fn total_len(&self) -> usize {
        (usize::from(self.header_len()) + 1) * 8
    }

    /// MH Type.
    pub fn mh_type(&self) -> u8 {
        self.buffer.as_ref()[2]
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[4], b[5]])
    }

    /// The Mobility Header's octets (Header Len worth).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.total_len()]
    }

    /// Message data: everything after the checksum.
    pub fn message_data(&self) -> &[u8] {
        &self.as_bytes()[MH_HEADER_LEN..]
    }

    /// True if the checksum is correct for the pseudo-header `src` → `dst`
    /// (home address as source when an HAO is present, home address as
    /// destination when a Type 2 Routing Header is present).
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        verify(src, dst, IPPROTO_MH, self.as_bytes(), MH_CHECKSUM_OFFSET)
    }
}

/// Flags and reserved bits of a Binding Update, as one 16-bit field.
///
/// ```text
/// |A|H|L|K|M|R|P|   Reserved      |
/// ```
///
/// A, H, L, K: RFC 6275 §6.1.7; M: RFC 5380 (HMIPv6); R: RFC 3963 §4.1
/// (mobile router); P: RFC 5213 (proxy). Reserved bits are kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BuFlags(pub u16);

impl BuFlags {
    /// Acknowledge (A).
    pub const ACK: u16 = 0x8000;
    /// Home Registration (H).
    pub const HOME: u16 = 0x4000;
    /// Link-Local Address Compatibility (L).
    pub const LINK_LOCAL: u16 = 0x2000;
    /// Key Management Mobility Capability (K).
    pub const KEY_MGMT: u16 = 0x1000;
    /// MAP registration (M, RFC 5380).
    pub const MAP: u16 = 0x0800;
    /// Mobile Router (R, RFC 3963).
    pub const MOBILE_ROUTER: u16 = 0x0400;
    /// Proxy registration (P, RFC 5213).
    pub const PROXY: u16 = 0x0200;

    /// True if every bit of `mask` is set.
    pub fn contains(self, mask: u16) -> bool {
        self.0 & mask == mask
    }
}

/// A Binding Update (RFC 6275 §6.1.7, MH type 5).
///
/// ```text
///                                 |          Sequence #           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |A|H|L|K|M|R|P| Reserved        |           Lifetime            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Mobility options                       |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingUpdate {
    /// Sequence number.
    pub sequence: u16,
    /// Flags (and reserved bits).
    pub flags: BuFlags,
    /// Requested lifetime in 4-second units (0 deregisters).
    pub lifetime_units: u16,
}

impl BindingUpdate {
    /// Requested lifetime in seconds.
    pub fn lifetime_secs(&self) -> u32 {
        u32::from(self.lifetime_units) * LIFETIME_UNIT_SECS
    }
}

/// Seconds to 4-second lifetime units, rounded down and capped at 0xffff.
pub fn lifetime_units(secs: u32) -> u16 {
    u16::try_from(secs / LIFETIME_UNIT_SECS).unwrap_or(u16::MAX)
}

/// Flags and reserved bits of a Binding Acknowledgement.
///
/// ```text
/// |K|R|P|Reserved |
/// ```
///
/// K: RFC 6275 §6.1.8; R: RFC 3963 §4.2; P: RFC 5213.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BaFlags(pub u8);

impl BaFlags {
    /// Key Management Mobility Capability (K).
    pub const KEY_MGMT: u8 = 0x80;
    /// Mobile Router (R, RFC 3963).
    pub const MOBILE_ROUTER: u8 = 0x40;
    /// Proxy registration (P, RFC 5213).
    pub const PROXY: u8 = 0x20;

    /// True if every bit of `mask` is set.
    pub fn contains(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// A Binding Acknowledgement (RFC 6275 §6.1.8, MH type 6).
///
/// ```text
///                                 |    Status     |K|R|P|Reserved |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Sequence #          |           Lifetime            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Mobility options                       |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingAck {
    /// Status.
    pub status: BaStatus,
    /// Flags (and reserved bits).
    pub flags: BaFlags,
    /// Sequence number (copied from the BU, or the stored one for 135).
    pub sequence: u16,
    /// Granted lifetime in 4-second units.
    pub lifetime_units: u16,
}

impl BindingAck {
    /// Granted lifetime in seconds.
    pub fn lifetime_secs(&self) -> u32 {
        u32::from(self.lifetime_units) * LIFETIME_UNIT_SECS
    }
}

/// A Binding Error (RFC 6275 §6.1.9, MH type 7).
///
/// ```text
///                                 |     Status    |   Reserved    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// +                          Home Address                         +
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Mobility options                       |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingError {
    /// Status.
    pub status: BeStatus,
    /// The home address of the offending packet's HAO, or unspecified.
    pub home_address: Ipv6Addr,
}

/// A Home Test Init or Care-of Test Init (RFC 6275 §6.1.3–§6.1.4, MH types 1, 2).
///
/// ```text
///                                 |           Reserved            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// +                     Init Cookie (64 bits)                     +
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Mobility Options ...
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestInit {
    /// Home or care-of init cookie.
    pub cookie: [u8; 8],
}

/// A Home Test or Care-of Test (RFC 6275 §6.1.5–§6.1.6, MH types 3, 4).
///
/// ```text
///                                 |   Home/Care-of Nonce Index    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// +                     Init Cookie (64 bits)                     +
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// +                    Keygen Token (64 bits)                     +
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Mobility options ...
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestReply {
    /// Home or care-of nonce index.
    pub nonce_index: u16,
    /// The cookie of the init message, echoed.
    pub cookie: [u8; 8],
    /// Home or care-of keygen token.
    pub keygen_token: [u8; 8],
}

/// The message a Mobility Header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MhMessage {
    /// Binding Refresh Request (§6.1.2, type 0): 2 reserved octets.
    BindingRefreshRequest,
    /// Home Test Init (type 1).
    HomeTestInit(TestInit),
    /// Care-of Test Init (type 2).
    CareOfTestInit(TestInit),
    /// Home Test (type 3).
    HomeTest(TestReply),
    /// Care-of Test (type 4).
    CareOfTest(TestReply),
    /// Binding Update (type 5).
    BindingUpdate(BindingUpdate),
    /// Binding Acknowledgement (type 6).
    BindingAck(BindingAck),
    /// Binding Error (type 7).
    BindingError(BindingError),
}

impl MhMessage {
    /// The MH type.
    pub fn mh_type(&self) -> u8 {
        match self {
            MhMessage::BindingRefreshRequest => mh_type::BRR,
            MhMessage::HomeTestInit(_) => mh_type::HOTI,
            MhMessage::CareOfTestInit(_) => mh_type::COTI,
            MhMessage::HomeTest(_) => mh_type::HOT,
            MhMessage::CareOfTest(_) => mh_type::COT,
            MhMessage::BindingUpdate(_) => mh_type::BU,
            MhMessage::BindingAck(_) => mh_type::BA,
            MhMessage::BindingError(_) => mh_type::BE,
        }
    }

    fn fixed_len(&self) -> usize {
        fixed_len(self.mh_type()).unwrap_or(MH_HEADER_LEN)
    }

    fn emit_fixed(&self, out: &mut Vec<u8>) {
        match self {
            MhMessage::BindingRefreshRequest => out.extend_from_slice(&[0, 0]),
            MhMessage::HomeTestInit(t) | MhMessage::CareOfTestInit(t) => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&t.cookie);
            }
            MhMessage::HomeTest(t) | MhMessage::CareOfTest(t) => {
                out.extend_from_slice(&t.nonce_index.to_be_bytes());
                out.extend_from_slice(&t.cookie);
                out.extend_from_slice(&t.keygen_token);
            }
            MhMessage::BindingUpdate(bu) => {
                out.extend_from_slice(&bu.sequence.to_be_bytes());
                out.extend_from_slice(&bu.flags.0.to_be_bytes());
                out.extend_from_slice(&bu.lifetime_units.to_be_bytes());
            }
            MhMessage::BindingAck(ba) => {
                out.extend_from_slice(&[ba.status.0, ba.flags.0]);
                out.extend_from_slice(&ba.sequence.to_be_bytes());
                out.extend_from_slice(&ba.lifetime_units.to_be_bytes());
            }
            MhMessage::BindingError(be) => {
                out.extend_from_slice(&[be.status.0, 0]);
                out.extend_from_slice(&be.home_address.octets());
            }
        }
    }

    fn parse_fixed(ty: u8, d: &[u8]) -> Result<Self> {
        // `d` starts at octet 6 and is at least fixed_len(ty) - 6 long.
        Ok(match ty {
            mh_type::BRR => MhMessage::BindingRefreshRequest,
            mh_type::HOTI => MhMessage::HomeTestInit(TestInit {
                cookie: array_at(d, 2)?,
            }),
            mh_type::COTI => MhMessage::CareOfTestInit(TestInit {
                cookie: array_at(d, 2)?,
            }),
            mh_type::HOT | mh_type::COT => {
                let t = TestReply {
                    nonce_index: be16(d, 0)?,
                    cookie: array_at(d, 2)?,
                    keygen_token: array_at(d, 10)?,
                };
                if ty == mh_type::HOT {
                    MhMessage::HomeTest(t)
                } else {
                    MhMessage::CareOfTest(t)
                }
            }
            mh_type::BU => MhMessage::BindingUpdate(BindingUpdate {
                sequence: be16(d, 0)?,
                flags: BuFlags(be16(d, 2)?),
                lifetime_units: be16(d, 4)?,
            }),
            mh_type::BA => MhMessage::BindingAck(BindingAck {
                status: BaStatus(*d.first().ok_or(WireError::Truncated)?),
                flags: BaFlags(*d.get(1).ok_or(WireError::Truncated)?),
                sequence: be16(d, 2)?,
                lifetime_units: be16(d, 4)?,
            }),
            mh_type::BE => MhMessage::BindingError(BindingError {
                status: BeStatus(*d.first().ok_or(WireError::Truncated)?),
                home_address: ipv6_at(d, 2)?,
            }),
            other => return Err(WireError::UnknownMhType(other)),
        })
    }
}

/// Octets of the header and fixed message fields of each MH type (the
/// minimum length of RFC 6275 §9.2), `None` for unknown types.
pub fn fixed_len(ty: u8) -> Option<usize> {
    Some(match ty {
        mh_type::BRR => 8,
        mh_type::HOTI | mh_type::COTI => 16,
        mh_type::HOT | mh_type::COT => 24,
        mh_type::BU | mh_type::BA => 12,
        mh_type::BE => 24,
        _ => return None,
    })
}

/// A whole Mobility Header: message and options (padding excluded; see
/// [`super::options`] for how emit pads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MhRepr {
    /// The message.
    pub message: MhMessage,
    /// Mobility options in order, without Pad1/PadN.
    pub options: Vec<MobilityOption>,
}

impl MhRepr {
    /// A message without options.
    pub fn new(message: MhMessage) -> Self {
        MhRepr {
            message,
            options: Vec::new(),
        }
    }

    /// Parses a Mobility Header without looking at its checksum (for a raw
    /// socket with `IPV6_CHECKSUM` set, where the kernel already checked it).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::parse_packet(&MhPacket::new_checked(bytes)?)
    }

    /// Parses a Mobility Header and verifies its checksum for `src` → `dst`.
    pub fn parse_verified(bytes: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<Self> {
        let p = MhPacket::new_checked(bytes)?;
        if !p.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Self::parse_packet(&p)
    }

    /// Parses a checked view: payload proto 59, known MH type, Header Len
    /// at least the type's fixed part, then the options.
    pub fn parse_packet<T: AsRef<[u8]>>(p: &MhPacket<T>) -> Result<Self> {
        if p.payload_proto() != IPPROTO_NONE {
            return Err(WireError::BadPayloadProto(p.payload_proto()));
        }
        let ty = p.mh_type();
        let fixed = fixed_len(ty).ok_or(WireError::UnknownMhType(ty))?;
        let bytes = p.as_bytes();
        if bytes.len() < fixed {
            return Err(WireError::HeaderTooShort {
                mh_type: ty,
                len: bytes.len(),
            });
        }
        let message = MhMessage::parse_fixed(ty, &bytes[MH_HEADER_LEN..fixed])?;
        let options = parse_options(&bytes[fixed..])?;
        Ok(MhRepr { message, options })
    }

    /// Length of the emitted header in octets.
    pub fn buffer_len(&self) -> usize {
        let fixed = self.message.fixed_len();
        fixed + options_len(fixed, &self.options)
    }

    /// The Mobility Header with a zero checksum, as written to a raw MH socket
    /// on which the kernel fills the checksum (`IPV6_CHECKSUM` 4). Fails with
    /// [`WireError::TooLong`] if an option or the whole header exceeds its
    /// length field.
    pub fn emit_without_checksum(&self) -> Result<Vec<u8>> {
        let len = self.buffer_len();
        if len > MH_MAX_LEN {
            return Err(WireError::TooLong);
        }
        let mut out = Vec::with_capacity(len);
        let header_len = u8::try_from(len / 8 - 1).map_err(|_| WireError::TooLong)?;
        out.extend_from_slice(&[IPPROTO_NONE, header_len, self.message.mh_type(), 0, 0, 0]);
        self.message.emit_fixed(&mut out);
        emit_options(&mut out, &self.options)?;
        debug_assert_eq!(out.len(), len);
        Ok(out)
    }

    /// The Mobility Header with its checksum for the pseudo-header `src` → `dst`.
    pub fn emit(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<Vec<u8>> {
        let mut out = self.emit_without_checksum()?;
        fill(src, dst, IPPROTO_MH, &mut out, MH_CHECKSUM_OFFSET);
        Ok(out)
    }

    /// The first Alternate Care-of Address option, if any.
    pub fn alternate_coa(&self) -> Option<Ipv6Addr> {
        self.options.iter().find_map(|o| match o {
            MobilityOption::AlternateCoa(a) => Some(*a),
            _ => None,
        })
    }

    /// The first Binding Refresh Advice, in seconds, if any.
    pub fn refresh_advice_secs(&self) -> Option<u32> {
        self.options.iter().find_map(|o| match o {
            MobilityOption::BindingRefreshAdvice { interval_units } => {
                Some(u32::from(*interval_units) * LIFETIME_UNIT_SECS)
            }
            _ => None,
        })
    }

    /// The Mobile Network Prefix options, in order, as (prefix, length).
    pub fn mobile_network_prefixes(&self) -> Vec<(Ipv6Addr, u8)> {
        self.options
            .iter()
            .filter_map(|o| match o {
                MobilityOption::MobileNetworkPrefix { prefix_len, prefix } => {
                    Some((*prefix, *prefix_len))
                }
                _ => None,
            })
            .collect()
    }

    /// True if a Nonce Indices or Binding Authorization Data option is
    /// present (a home BU carrying either is dropped,
    /// docs/protocol-notes.md#home-agent-bu-checks step 1).
    pub fn has_rr_options(&self) -> bool {
        self.options.iter().any(|o| {
            matches!(
                o,
                MobilityOption::NonceIndices { .. } | MobilityOption::BindingAuthData(_)
            )
        })
    }
}

/// The octets the Binding Authorization Data authenticator covers (RFC 6275
/// §6.2.7): care-of address ‖ correspondent ‖ the Mobility Header `mh` with a
/// zero checksum and without the authenticator itself. The last option of
/// `mh` must be the Binding Authorization Data option; returns the input and
/// the authenticator's range in `mh`. The caller computes
/// First(96, HMAC_SHA1(Kbm, input)) and compares it or writes it into that range
/// (before the checksum is filled).
pub fn authenticator_input(
    care_of_address: &Ipv6Addr,
    correspondent: &Ipv6Addr,
    mh: &[u8],
) -> Result<(Vec<u8>, core::ops::Range<usize>)> {
    let p = MhPacket::new_checked(mh)?;
    let fixed = fixed_len(p.mh_type()).ok_or(WireError::UnknownMhType(p.mh_type()))?;
    let bytes = p.as_bytes();
    let opts = bytes.get(fixed..).ok_or(WireError::HeaderTooShort {
        mh_type: p.mh_type(),
        len: bytes.len(),
    })?;
    // Walk to the last non-padding option.
    let mut at = 0;
    let mut last = None;
    while at < opts.len() {
        if opts[at] == crate::consts::mh_opt::PAD1 {
            at += 1;
            continue;
        }
        let len = usize::from(*opts.get(at + 1).ok_or(WireError::TruncatedOption)?);
        if at + 2 + len > opts.len() {
            return Err(WireError::TruncatedOption);
        }
        if opts[at] != crate::consts::mh_opt::PADN {
            last = Some((opts[at], fixed + at + 2..fixed + at + 2 + len));
        }
        at += 2 + len;
    }
    let Some((crate::consts::mh_opt::BINDING_AUTH_DATA, range)) = last else {
        return Err(WireError::NoAuthorizationData);
    };
    let mut input = Vec::with_capacity(32 + bytes.len());
    input.extend_from_slice(&care_of_address.octets());
    input.extend_from_slice(&correspondent.octets());
    input.extend_from_slice(&bytes[..range.start]);
    input.extend_from_slice(&bytes[range.end..]);
    input[32 + MH_CHECKSUM_OFFSET] = 0;
    input[32 + MH_CHECKSUM_OFFSET + 1] = 0;
    Ok((input, range))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "mh_tests.rs"]
mod tests;
