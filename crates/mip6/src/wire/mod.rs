//! Mobile IPv6 wire formats, in the smoltcp style: checked views over bytes
//! where the layout is variable, and plain `Repr` values that parse and emit.
//!
//! - [`mh`]: the Mobility Header and its eight messages (RFC 6275 §6.1);
//! - [`options`]: mobility options and their alignment (RFC 6275 §6.2, RFC 3963 §4.3);
//! - [`hao`]: the Home Address destination option (RFC 6275 §6.3);
//! - [`rh2`]: the Type 2 Routing Header (RFC 6275 §6.4);
//! - [`ndisc`], [`ndopt`]: RS, RA, NS, NA, DHAAD and Mobile Prefix messages
//!   (RFC 4861, RFC 6275 §6.5–§6.8, §7) and their options;
//! - [`param_problem`]: an ICMPv6 Parameter Problem quoting a packet with
//!   a Mobility Header or a Home Address option (RFC 4443 §3.4, RFC 6275 §11.3.6);
//! - [`checksum`]: the upper-layer checksum over the IPv6 pseudo-header.
//!
//! Every parser returns a [`WireError`] on malformed input and never panics.

pub mod checksum;
pub mod hao;
pub mod mh;
pub mod ndisc;
pub mod ndopt;
pub mod options;
pub mod param_problem;
pub mod rh2;

pub use checksum::{icmpv6_checksum, mh_checksum, upper_layer_checksum};
pub use hao::{HaoPacket, HaoRepr, HAO_HEADER_LEN, OPT_HOME_ADDRESS};
pub use mh::{
    authenticator_input, lifetime_units, BaFlags, BindingAck, BindingError, BindingUpdate, BuFlags,
    MhMessage, MhPacket, MhRepr, TestInit, TestReply,
};
pub use ndisc::{
    DhaadReply, DhaadRequest, MobilePrefixAdvert, MobilePrefixSolicit, NdRepr, NeighborAdvert,
    NeighborSolicit, RouterAdvert, RouterSolicit,
};
pub use ndopt::{HomeAgentInfo, NdOption, PrefixInfo};
pub use options::MobilityOption;
pub use rh2::{Rh2Packet, Rh2Repr, RH2_LEN};

/// Why a packet was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer ends inside a header or before a declared length.
    #[error("packet truncated")]
    Truncated,
    /// The Mobility Header's payload protocol is not 59 (value given).
    #[error("mobility header payload proto {0} is not 59 (no next header)")]
    BadPayloadProto(u8),
    /// The Mobility Header's length is below the minimum of its message type
    /// (RFC 6275 §9.2).
    #[error("mobility header length {len} octets too short for MH type {mh_type}")]
    HeaderTooShort {
        /// MH type.
        mh_type: u8,
        /// Declared length in octets.
        len: usize,
    },
    /// Unknown MH type (value given); a CN answers with Binding Error status 2.
    #[error("unknown mobility header type {0}")]
    UnknownMhType(u8),
    /// The checksum does not verify.
    #[error("bad checksum")]
    BadChecksum,
    /// An option runs past the end of its header.
    #[error("truncated option")]
    TruncatedOption,
    /// A known option has a length its type does not allow.
    #[error("option type {ty} has bad length {len}")]
    BadOptionLength {
        /// Option type.
        ty: u8,
        /// Option data length as sent.
        len: u8,
    },
    /// A Destination Options header carries no Home Address option.
    #[error("no home address option")]
    NoHomeAddress,
    /// A destination option whose high-order bits require the packet to be
    /// discarded (RFC 8200 §4.2) and that this codec does not know.
    #[error("unrecognized destination option type {0}")]
    UnknownDestOption(u8),
    /// Extension header length field out of range (value given).
    #[error("bad extension header length {0}")]
    BadHeaderLength(u8),
    /// The routing header is not of type 2 (value given).
    #[error("routing type {0} is not 2")]
    BadRoutingType(u8),
    /// A Type 2 Routing Header with segments left other than 0 or 1.
    #[error("segments left {0} is not 0 or 1")]
    BadSegmentsLeft(u8),
    /// An ICMPv6 type this codec does not handle (value given).
    #[error("unexpected ICMPv6 type {0}")]
    UnexpectedIcmpType(u8),
    /// An ICMPv6 code other than 0 (value given).
    #[error("unexpected ICMPv6 code {0}")]
    BadIcmpCode(u8),
    /// A neighbor discovery option of length 0 (RFC 4861 §4.6).
    #[error("neighbor discovery option with length 0")]
    ZeroLengthOption,
    /// The last mobility option is not Binding Authorization Data.
    #[error("no binding authorization data option at the end")]
    NoAuthorizationData,
    /// The value does not fit the field it is emitted into.
    #[error("value too large for its field")]
    TooLong,
}

/// Result type of the wire parsers.
pub type Result<T> = core::result::Result<T, WireError>;

pub(crate) fn be16(buf: &[u8], at: usize) -> Result<u16> {
    let b = buf
        .get(at..at.checked_add(2).ok_or(WireError::Truncated)?)
        .ok_or(WireError::Truncated)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

pub(crate) fn be32(buf: &[u8], at: usize) -> Result<u32> {
    let b = buf
        .get(at..at.checked_add(4).ok_or(WireError::Truncated)?)
        .ok_or(WireError::Truncated)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

pub(crate) fn array_at<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N]> {
    buf.get(at..at.checked_add(N).ok_or(WireError::Truncated)?)
        .and_then(|b| b.try_into().ok())
        .ok_or(WireError::Truncated)
}

pub(crate) fn ipv6_at(buf: &[u8], at: usize) -> Result<std::net::Ipv6Addr> {
    array_at::<16>(buf, at).map(std::net::Ipv6Addr::from)
}

/// Number of pad octets that bring `offset` to the alignment `x·n + y`
/// (RFC 8200 §4.2 notation).
pub(crate) fn pad_to(offset: usize, x: usize, y: usize) -> usize {
    (x + y % x - offset % x) % x
}

/// Appends `n` octets of padding as Pad1 (n = 1) or one PadN (RFC 6275
/// §6.2.2–§6.2.3 and RFC 8200 §4.2 use the same encoding: type 0 for Pad1,
/// type 1 + length for PadN, zero data).
pub(crate) fn emit_pad(out: &mut Vec<u8>, n: usize) {
    match n {
        0 => {}
        1 => out.push(0),
        _ => {
            out.push(1);
            out.push(u8::try_from(n - 2).unwrap_or(u8::MAX));
            out.resize(out.len() + n - 2, 0);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pad_to_reaches_the_alignment() {
        assert_eq!(pad_to(12, 8, 6), 2);
        assert_eq!(pad_to(14, 8, 6), 0);
        assert_eq!(pad_to(15, 8, 6), 7);
        assert_eq!(pad_to(2, 8, 6), 4);
        assert_eq!(pad_to(13, 2, 0), 1);
        assert_eq!(pad_to(16, 8, 0), 0);
        for off in 0..64 {
            for (x, y) in [(8, 6), (8, 2), (8, 4), (2, 0), (8, 0)] {
                let p = pad_to(off, x, y);
                assert!(p < x);
                assert_eq!((off + p) % x, y);
            }
        }
    }

    #[test]
    fn padding_encodings() {
        let mut v = Vec::new();
        emit_pad(&mut v, 1);
        emit_pad(&mut v, 2);
        emit_pad(&mut v, 4);
        assert_eq!(v, [0, 1, 0, 1, 2, 0, 0]);
    }
}
