//! The Teredo UDP payload (RFC 4380 §5.1.1) and bubbles (RFC 4380 §2.8, §5.2.1).

use std::net::{Ipv6Addr, SocketAddrV4};

use super::auth::{
    emit_origin, AuthHeader, AuthRepr, OriginIndication, AUTH_INDICATOR, ORIGIN_INDICATOR,
    ORIGIN_LEN,
};
use super::ipv6::{Ipv6Header, IPV6_HEADER_LEN, NEXT_HEADER_NONE};
use super::{be16, Result, WireError};

/// Entry point for parsing a Teredo UDP payload; see [`TeredoPacket::parse`].
///
/// RFC 4380 §5.1.1: the payload is an IPv6 packet, optionally preceded by an
/// authentication header and then an origin indication, in that order:
///
/// ```text
/// +------------------+-------------------+------------------------+
/// | Authentication   | Origin indication | IPv6 packet            |
/// | (optional, 0x0001| (optional, 0x0000 | (version 6, header and |
/// |  13+ bytes)      |  8 bytes)         |  payload length)       |
/// +------------------+-------------------+------------------------+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeredoPacket;

/// A parsed Teredo UDP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeredoPacketRepr<'a> {
    /// Authentication header, if present.
    pub auth: Option<AuthRepr<'a>>,
    /// Origin indication (clear IPv4 and port), if present.
    pub origin: Option<SocketAddrV4>,
    /// The IPv6 packet: at least 40 bytes, version 6, trimmed to 40 + its
    /// payload length.
    pub ipv6: &'a [u8],
}

impl TeredoPacket {
    /// Parses a Teredo UDP payload (docs/protocol-notes.md#packets).
    ///
    /// Rejects: fewer than 2 bytes, a truncated authentication header or
    /// origin indication, an authentication header after the origin
    /// indication, an inner packet that is shorter than 40 bytes or not IPv6,
    /// and an IPv6 payload length that exceeds the datagram.
    pub fn parse(buf: &[u8]) -> Result<TeredoPacketRepr<'_>> {
        if buf.len() < 2 {
            return Err(WireError::Truncated);
        }
        let mut rest = buf;
        let mut auth = None;
        let mut origin = None;
        if be16(rest, 0) == Some(AUTH_INDICATOR) {
            let header = AuthHeader::new_checked(rest)?;
            let len = header.header_len();
            auth = Some(AuthRepr::parse(&header)?);
            rest = rest.get(len..).ok_or(WireError::Truncated)?;
        }
        if be16(rest, 0) == Some(ORIGIN_INDICATOR) {
            origin = Some(OriginIndication::new_checked(rest)?.mapping());
            rest = rest.get(ORIGIN_LEN..).ok_or(WireError::Truncated)?;
            if be16(rest, 0) == Some(AUTH_INDICATOR) {
                return Err(WireError::AuthAfterOrigin);
            }
        }
        let h = Ipv6Header::parse(rest)?;
        let ipv6 = rest.get(..h.packet_len()).ok_or(WireError::Truncated)?;
        Ok(TeredoPacketRepr { auth, origin, ipv6 })
    }
}

impl<'a> TeredoPacketRepr<'a> {
    /// The IPv6 header and payload of [`ipv6`](Self::ipv6).
    pub fn ipv6_header(&self) -> Result<Ipv6Header<'a>> {
        Ipv6Header::parse(self.ipv6)
    }

    /// True if the IPv6 packet is a bubble.
    pub fn is_bubble(&self) -> bool {
        super::ipv6::is_bubble(self.ipv6)
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        self.auth.map_or(0, |a| a.buffer_len())
            + self.origin.map_or(0, |_| ORIGIN_LEN)
            + self.ipv6.len()
    }

    /// Appends the encoded payload to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        if let Some(a) = &self.auth {
            a.emit(out);
        }
        if let Some(o) = self.origin {
            emit_origin(o, out);
        }
        out.extend_from_slice(self.ipv6);
    }

    /// The encoded payload as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(&mut v);
        v
    }
}

/// A bubble (RFC 4380 §2.8): a bare 40-byte IPv6 header, payload length 0,
/// next header 59, hop limit 0 (as miredo sends them).
pub fn emit_bubble(src: Ipv6Addr, dst: Ipv6Addr) -> [u8; IPV6_HEADER_LEN] {
    Ipv6Header::new(src, dst, NEXT_HEADER_NONE, 0, &[]).header_bytes()
}

/// An IPv6 packet preceded by an origin indication, as a server forwards
/// packets to its clients (RFC 4380 §5.3.1).
pub fn emit_with_origin(origin: SocketAddrV4, ipv6: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ORIGIN_LEN + ipv6.len());
    emit_origin(origin, &mut out);
    out.extend_from_slice(ipv6);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "packet_tests.rs"]
mod tests;
