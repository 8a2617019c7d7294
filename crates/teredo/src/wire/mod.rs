//! Teredo wire formats, in the smoltcp style: checked views over bytes where a
//! header has variable layout, and plain `Repr` values that parse and emit.
//!
//! - [`auth`]: RFC 4380 §5.1.1 authentication header and origin indication;
//! - [`packet`]: the whole Teredo UDP payload ([`TeredoPacket::parse`]), bubbles;
//! - [`ipv6`]: a minimal IPv6 header (RFC 8200 §3);
//! - [`icmpv6`]: checksum, echo and error messages (RFC 4443);
//! - [`ndisc`]: Router Solicitation / Advertisement as Teredo uses them (RFC 4861).
//!
//! Every parser returns a [`WireError`] on malformed input and never panics.

pub mod auth;
pub mod icmpv6;
pub mod ipv6;
pub mod ndisc;
pub mod packet;
pub mod trailers;

pub use auth::{emit_origin, AuthHeader, AuthRepr, OriginIndication, AUTH_MIN_LEN, ORIGIN_LEN};
pub use icmpv6::{
    icmpv6_checksum, icmpv6_error, set_source, verify_icmpv6_checksum, EchoKind, EchoRepr,
};
pub use ipv6::{is_bubble, Ipv6Header, IPV6_HEADER_LEN, NEXT_HEADER_ICMPV6, NEXT_HEADER_NONE};
pub use ndisc::{
    emit_cone_rs, emit_ra_payload, emit_rs, PrefixInfo, RouterAdvertisement, RouterSolicitation,
    TeredoPrefixInfo, RA_PAYLOAD_LEN, RS_PAYLOAD_LEN,
};
pub use packet::{emit_bubble, emit_with_origin, TeredoPacket, TeredoPacketRepr};

/// Why a packet was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer ends inside a header or before a declared length.
    #[error("packet truncated")]
    Truncated,
    /// The buffer does not start with the expected indicator (0x0001 for an
    /// authentication header, 0x0000 for an origin indication).
    #[error("bad Teredo indicator")]
    BadIndicator,
    /// An authentication header follows the origin indication (RFC 4380 §5.1.1
    /// requires it first).
    #[error("authentication header after origin indication")]
    AuthAfterOrigin,
    /// The encapsulated packet is not IPv6 (version nibble given).
    #[error("not an IPv6 packet (version {0})")]
    NotIpv6(u8),
    /// The IPv6 payload length exceeds the bytes available.
    #[error("IPv6 payload length exceeds the datagram")]
    BadPayloadLength,
    /// The IPv6 next header is not ICMPv6 (value given).
    #[error("not ICMPv6 (next header {0})")]
    NotIcmpv6(u8),
    /// The ICMPv6 message has another type than expected (value given).
    #[error("unexpected ICMPv6 type {0}")]
    UnexpectedType(u8),
    /// The ICMPv6 code is not 0 where it must be (value given).
    #[error("unexpected ICMPv6 code {0}")]
    UnexpectedCode(u8),
    /// The ICMPv6 checksum does not verify.
    #[error("bad ICMPv6 checksum")]
    BadChecksum,
    /// A neighbor discovery option has length 0, runs past the end of the message
    /// or is shorter than its type requires.
    #[error("malformed neighbor discovery option")]
    BadOption,
    /// The router advertisement carries less than 32 bytes of options.
    #[error("router advertisement options shorter than 32 bytes")]
    OptionsTooShort,
    /// The router advertisement carries no prefix information option.
    #[error("no prefix information option")]
    NoPrefix,
    /// The router advertisement carries more than one prefix information option.
    #[error("multiple Teredo prefixes received")]
    MultiplePrefixes,
    /// The prefix information option's prefix length is not 64 (value given).
    #[error("prefix length {0} is not 64")]
    BadPrefixLength(u8),
    /// The MTU option is outside 1280–65535 (value given).
    #[error("MTU {0} out of range")]
    BadMtu(u32),
}

/// Result type of the wire parsers.
pub type Result<T> = core::result::Result<T, WireError>;

/// Reads a big-endian u16 at `at`, if the buffer is long enough.
pub(crate) fn be16(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads a big-endian u32 at `at`, if the buffer is long enough.
pub(crate) fn be32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads an IPv6 address at `at`, if the buffer is long enough.
pub(crate) fn ipv6_at(buf: &[u8], at: usize) -> Option<std::net::Ipv6Addr> {
    let b: [u8; 16] = buf.get(at..at.checked_add(16)?)?.try_into().ok()?;
    Some(std::net::Ipv6Addr::from(b))
}
