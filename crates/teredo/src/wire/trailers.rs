//! Teredo trailers (RFC 6081 §4; [MS-TERE] §2.2): options a Teredo Extensions
//! node appends to the UDP payload after the encapsulated IPv6 packet.
//!
//! They sit where an RFC 4380 node never looks: it cuts the payload at 40 +
//! the IPv6 payload length and drops the rest (Debian's miredo does, and so
//! does [`TeredoPacket::parse`](super::TeredoPacket::parse), whose `ipv6` slice
//! is trimmed to that length). Peers that do not know the extensions therefore
//! keep working when we add trailers, which is the whole point of the format.
//!
//! Sources for the codes: the Alternate Address Trailer (0x03, length 8..26,
//! reserved 16 bits, entries of IPv4 address + port) is checked against
//! [MS-TERE] §2.2.2 as published on MSDN. The Nonce (0x01, length 4), Neighbor
//! Discovery Option (0x04, length 4) and Random Port (0x05, length 2) codes
//! follow RFC 6081 §4.2, §4.4 and §4.5 as recalled, *not* re-checked against
//! the text: only §2.2.2 of [MS-TERE] was reachable when this was written.
//! Section numbers are RFC 6081's "Message Syntax" chapter (§4); §3 of the RFC
//! is the protocol overview.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use super::ipv6::Ipv6Header;
use super::packet::{emit_bubble, TeredoPacketRepr};
use super::{be16, Result, WireError};

/// Type of the Nonce Trailer (RFC 6081 §4.2; code not re-checked, see module doc).
pub const TRAILER_NONCE: u8 = 0x01;
/// Type of the Alternate Address Trailer (RFC 6081 §4.3, [MS-TERE] §2.2.2).
pub const TRAILER_ALTERNATE_ADDRESS: u8 = 0x03;
/// Type of the Neighbor Discovery Option Trailer (RFC 6081 §4.4; code not
/// re-checked, see module doc).
pub const TRAILER_NEIGHBOR_DISCOVERY: u8 = 0x04;
/// Type of the Random Port Trailer (RFC 6081 §4.5; code not re-checked, see
/// module doc).
pub const TRAILER_RANDOM_PORT: u8 = 0x05;

/// Most entries an Alternate Address Trailer carries ([MS-TERE] §2.2.2:
/// length at most 26 = 2 reserved + 4 × 6).
pub const MAX_ALTERNATES: usize = 4;

/// Type and Length octets in front of every trailer value.
const TL_LEN: usize = 2;
const NONCE_LEN: usize = 4;
const ND_LEN: usize = 4;
const RANDOM_PORT_LEN: usize = 2;
const ALT_RESERVED_LEN: usize = 2;
const ALT_ENTRY_LEN: usize = 6;

/// DiscoveryType of a Neighbor Discovery Option Trailer (RFC 6081 §4.4,
/// [MS-TERE] §2.2.3): whether a direct bubble asks the peer to answer, or is
/// the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscoveryType {
    /// TeredoDiscoverySolicitation (0).
    Solicitation,
    /// TeredoDiscoveryAdvertisement (1).
    Advertisement,
}

impl DiscoveryType {
    /// The DiscoveryType octet.
    pub fn code(self) -> u8 {
        match self {
            DiscoveryType::Solicitation => 0,
            DiscoveryType::Advertisement => 1,
        }
    }

    /// The type for an octet; other values are not defined.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(DiscoveryType::Solicitation),
            1 => Some(DiscoveryType::Advertisement),
            _ => None,
        }
    }
}

/// The trailers of one Teredo packet (RFC 6081 §4.1; [MS-TERE] §2.2).
///
/// On the wire, a sequence of options after the IPv6 packet, each
///
/// ```text
/// +--------+--------+------------------------------+
/// |  Type  | Length | Value (Length octets)        |
/// +--------+--------+------------------------------+
/// ```
///
/// with Length counting the value only. Values of the known types:
///
/// ```text
/// 0x01 Nonce             (4)  | nonce (4)                                  |
/// 0x03 Alternate Address (8, 14, 20 or 26)
///                             | reserved (2) | IPv4 (4) port (2) | ... ×1..4 |
/// 0x04 Neighbor Discovery (4) | DiscoveryType (1) | reserved (3)           |
/// 0x05 Random Port       (2)  | port (2)                                   |
/// ```
///
/// Parsing rules, all chosen so that one datagram has exactly one meaning:
/// - unknown types are skipped by their Length and not kept: trailers are
///   between two Teredo nodes and never forwarded, so there is nobody to
///   pass an unknown one on to, and keeping them would only make
///   re-emitting a received list send options we do not understand;
/// - a trailer whose Length runs past the end of the datagram makes the
///   whole list invalid ([`WireError::Truncated`]): with the end lost, no
///   later option boundary can be trusted;
/// - a known type with another Length, a port 0, an alternate address that
///   is not unicast, or an undefined DiscoveryType is invalid
///   ([`WireError::BadOption`]);
/// - a known type that appears twice is invalid ([`WireError::BadOption`]),
///   rather than "first wins": a second nonce or a second set of alternate
///   addresses is either a bug or an attempt to have two implementations
///   that pick differently act on different values, and the nonce is what
///   ties a reply to our request;
/// - reserved fields are ignored on receipt and sent as zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Trailers {
    /// Nonce Trailer value (RFC 6081 §4.2).
    pub nonce: Option<[u8; 4]>,
    /// Alternate Address Trailer entries (RFC 6081 §4.3, [MS-TERE] §2.2.2);
    /// empty when the trailer is absent. At most [`MAX_ALTERNATES`] are sent.
    pub alternate: Vec<SocketAddrV4>,
    /// Neighbor Discovery Option Trailer (RFC 6081 §4.4).
    pub discovery: Option<DiscoveryType>,
    /// Random Port Trailer (RFC 6081 §4.5): never 0 after parsing.
    pub random_port: Option<u16>,
}

/// True for an address an alternate entry may carry ([MS-TERE] §2.2.2: "a
/// valid unicast address"). Private and link-local addresses are fine —
/// hairpinning between clients behind one NAT is what the entries are for —
/// but "this network", loopback, multicast and 240/4 (which holds the
/// limited broadcast address) would make us send bubbles nowhere useful or
/// to ourselves.
pub fn is_alternate_unicast(ip: Ipv4Addr) -> bool {
    let first = ip.octets()[0];
    !(first == 0 || first == 127 || first >= 224)
}

impl Trailers {
    /// True when no trailer would be emitted.
    pub fn is_empty(&self) -> bool {
        self.nonce.is_none()
            && self.alternate.is_empty()
            && self.discovery.is_none()
            && self.random_port.is_none()
    }

    /// Parses the bytes that follow the IPv6 packet (RFC 6081 §4.1). Empty
    /// input is an empty list. See [`Trailers`] for what is rejected.
    pub fn parse(bytes: &[u8]) -> Result<Trailers> {
        let mut out = Trailers::default();
        let mut rest = bytes;
        while let Some((&kind, after_type)) = rest.split_first() {
            let (&len, after_len) = after_type.split_first().ok_or(WireError::Truncated)?;
            let len = usize::from(len);
            let value = after_len.get(..len).ok_or(WireError::Truncated)?;
            rest = after_len.get(len..).ok_or(WireError::Truncated)?;
            match kind {
                TRAILER_NONCE => {
                    if out.nonce.is_some() {
                        return Err(WireError::BadOption);
                    }
                    out.nonce = Some(value.try_into().map_err(|_| WireError::BadOption)?);
                }
                TRAILER_ALTERNATE_ADDRESS => {
                    // parse_alternates never returns an empty list, so a
                    // non-empty one means the trailer was already seen.
                    if !out.alternate.is_empty() {
                        return Err(WireError::BadOption);
                    }
                    out.alternate = parse_alternates(value)?;
                }
                TRAILER_NEIGHBOR_DISCOVERY => {
                    if out.discovery.is_some() || value.len() != ND_LEN {
                        return Err(WireError::BadOption);
                    }
                    let code = value.first().copied().ok_or(WireError::BadOption)?;
                    out.discovery =
                        Some(DiscoveryType::from_code(code).ok_or(WireError::BadOption)?);
                }
                TRAILER_RANDOM_PORT => {
                    if out.random_port.is_some() || value.len() != RANDOM_PORT_LEN {
                        return Err(WireError::BadOption);
                    }
                    match be16(value, 0) {
                        Some(port) if port != 0 => out.random_port = Some(port),
                        _ => return Err(WireError::BadOption),
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Encoded length of [`emit`](Self::emit)'s output.
    pub fn buffer_len(&self) -> usize {
        let alternates = self.alternate.len().min(MAX_ALTERNATES);
        self.nonce.map_or(0, |_| TL_LEN + NONCE_LEN)
            + if alternates == 0 {
                0
            } else {
                TL_LEN + ALT_RESERVED_LEN + ALT_ENTRY_LEN * alternates
            }
            + self.discovery.map_or(0, |_| TL_LEN + ND_LEN)
            + self.random_port.map_or(0, |_| TL_LEN + RANDOM_PORT_LEN)
    }

    /// Appends the trailers to `out`, in increasing type order so that equal
    /// values always encode to equal bytes.
    ///
    /// Only the first [`MAX_ALTERNATES`] alternate entries are written, since
    /// a receiver following [MS-TERE] §2.2.2 rejects a longer trailer. Values
    /// are otherwise written as given: a port 0 or a multicast entry goes out
    /// and the peer rejects it, as [`parse`](Self::parse) would.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.reserve(self.buffer_len());
        if let Some(nonce) = self.nonce {
            out.extend_from_slice(&[TRAILER_NONCE, NONCE_LEN as u8]);
            out.extend_from_slice(&nonce);
        }
        let alternates = &self.alternate[..self.alternate.len().min(MAX_ALTERNATES)];
        if !alternates.is_empty() {
            let len = ALT_RESERVED_LEN + ALT_ENTRY_LEN * alternates.len();
            // At most 2 + 4 × 6 = 26, well inside the Length octet.
            out.extend_from_slice(&[TRAILER_ALTERNATE_ADDRESS, len as u8, 0, 0]);
            for a in alternates {
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(&a.port().to_be_bytes());
            }
        }
        if let Some(d) = self.discovery {
            out.extend_from_slice(&[TRAILER_NEIGHBOR_DISCOVERY, ND_LEN as u8, d.code(), 0, 0, 0]);
        }
        if let Some(port) = self.random_port {
            out.extend_from_slice(&[TRAILER_RANDOM_PORT, RANDOM_PORT_LEN as u8]);
            out.extend_from_slice(&port.to_be_bytes());
        }
    }

    /// The encoded trailers as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(&mut v);
        v
    }
}

/// The entries of an Alternate Address Trailer value ([MS-TERE] §2.2.2):
/// lengths other than 8, 14, 20 and 26 are invalid, as is any entry with
/// port 0 or a non-unicast address.
fn parse_alternates(value: &[u8]) -> Result<Vec<SocketAddrV4>> {
    let entries = value.get(ALT_RESERVED_LEN..).ok_or(WireError::BadOption)?;
    let count = entries.len() / ALT_ENTRY_LEN;
    if entries.len() % ALT_ENTRY_LEN != 0 || !(1..=MAX_ALTERNATES).contains(&count) {
        return Err(WireError::BadOption);
    }
    let mut out = Vec::with_capacity(count);
    for entry in entries.chunks_exact(ALT_ENTRY_LEN) {
        let ip: [u8; 4] = entry
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or(WireError::BadOption)?;
        let ip = Ipv4Addr::from(ip);
        let port = be16(entry, 4).ok_or(WireError::BadOption)?;
        if port == 0 || !is_alternate_unicast(ip) {
            return Err(WireError::BadOption);
        }
        out.push(SocketAddrV4::new(ip, port));
    }
    Ok(out)
}

/// Splits what follows the Teredo headers into the IPv6 packet and its
/// trailers (RFC 6081 §4.1): the packet ends at 40 + its payload length,
/// the rest is parsed as [`Trailers`].
///
/// `ipv6_and_more` must run to the end of the datagram. [`TeredoPacketRepr`]'s
/// `ipv6` does *not* (it is already trimmed, so the trailers are gone); use
/// [`packet_trailers`] with a parsed packet instead.
pub fn split_trailers(ipv6_and_more: &[u8]) -> Result<(&[u8], Trailers)> {
    let end = Ipv6Header::parse(ipv6_and_more)?.packet_len();
    let ipv6 = ipv6_and_more
        .get(..end)
        .ok_or(WireError::BadPayloadLength)?;
    let rest = ipv6_and_more
        .get(end..)
        .ok_or(WireError::BadPayloadLength)?;
    Ok((ipv6, Trailers::parse(rest)?))
}

/// The trailers of a datagram already parsed by
/// [`TeredoPacket::parse`](super::TeredoPacket::parse) into `packet`: the bytes
/// past the authentication header, origin indication and IPv6 packet.
///
/// `packet` must come from `datagram`; for any other buffer the result is
/// meaningless (though still never a panic).
pub fn packet_trailers(datagram: &[u8], packet: &TeredoPacketRepr<'_>) -> Result<Trailers> {
    let rest = datagram
        .get(packet.buffer_len()..)
        .ok_or(WireError::Truncated)?;
    Trailers::parse(rest)
}

/// A bubble (RFC 4380 §2.8, as [`emit_bubble`] builds it) followed by
/// `trailers` (RFC 6081 §4.1), e.g. a direct bubble carrying a Neighbor
/// Discovery Option Trailer.
pub fn emit_bubble_with_trailers(src: Ipv6Addr, dst: Ipv6Addr, trailers: &Trailers) -> Vec<u8> {
    let bubble = emit_bubble(src, dst);
    let mut out = Vec::with_capacity(bubble.len() + trailers.buffer_len());
    out.extend_from_slice(&bubble);
    trailers.emit(&mut out);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "trailers_tests.rs"]
mod tests;
