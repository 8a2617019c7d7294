//! ICMPv6 (RFC 4443): checksum, echo request/reply, error messages.

use std::net::Ipv6Addr;

use wire6::checksum;

use super::ipv6::{Ipv6Header, IPV6_HEADER_LEN, NEXT_HEADER_ICMPV6};
use super::{be16, be32, Result, WireError};

/// Destination Unreachable (RFC 4443 §3.1).
pub const TYPE_DST_UNREACH: u8 = 1;
/// Packet Too Big (RFC 4443 §3.2).
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
/// Time Exceeded (RFC 4443 §3.3).
pub const TYPE_TIME_EXCEEDED: u8 = 3;
/// Parameter Problem (RFC 4443 §3.4).
pub const TYPE_PARAM_PROBLEM: u8 = 4;
/// Echo Request (RFC 4443 §4.1).
pub const TYPE_ECHO_REQUEST: u8 = 128;
/// Echo Reply (RFC 4443 §4.2).
pub const TYPE_ECHO_REPLY: u8 = 129;
/// Router Solicitation (RFC 4861 §4.1).
pub const TYPE_ROUTER_SOLICIT: u8 = 133;
/// Router Advertisement (RFC 4861 §4.2).
pub const TYPE_ROUTER_ADVERT: u8 = 134;

/// Destination Unreachable code: no route to destination.
pub const UNREACH_NO_ROUTE: u8 = 0;
/// Destination Unreachable code: administratively prohibited.
pub const UNREACH_ADMIN: u8 = 1;
/// Destination Unreachable code: address unreachable.
pub const UNREACH_ADDR: u8 = 3;
/// Destination Unreachable code: port unreachable.
pub const UNREACH_PORT: u8 = 4;

/// Length of the fixed part of every ICMPv6 message this module handles.
pub const ICMPV6_HEADER_LEN: usize = 8;
/// The minimum IPv6 MTU an error must fit in (RFC 4443 §2.4 (c)).
pub const MIN_MTU: usize = 1280;

/// The ICMPv6 checksum of `msg` (RFC 4443 §2.3: over the RFC 8200 §8.1
/// pseudo-header and the message), computed as if bytes 2–3 were zero.
pub fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> u16 {
    checksum::icmpv6_checksum(src, dst, msg)
}

/// True if the checksum stored in `msg` is correct (either encoding of zero).
pub fn verify_icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> bool {
    msg.len() >= 4 && checksum::sums_to_ones(src, dst, NEXT_HEADER_ICMPV6, msg)
}

/// Writes the correct checksum into `msg[2..4]` (no-op if `msg` is shorter).
pub fn fill_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &mut [u8]) {
    checksum::fill(
        src,
        dst,
        NEXT_HEADER_ICMPV6,
        msg,
        checksum::ICMPV6_CHECKSUM_OFFSET,
    );
}

/// Builds a whole IPv6 packet carrying the ICMPv6 message `msg`, with its
/// checksum filled in.
pub fn emit_icmpv6_packet(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    mut msg: Vec<u8>,
) -> Vec<u8> {
    fill_checksum(&src, &dst, &mut msg);
    Ipv6Header::new(src, dst, NEXT_HEADER_ICMPV6, hop_limit, &msg).to_vec()
}

/// Echo request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoKind {
    /// Type 128.
    Request,
    /// Type 129.
    Reply,
}

/// An ICMPv6 echo request or reply (RFC 4443 §4.1, §4.2).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Identifier          |        Sequence Number        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Data ...
/// +-+-+-+-+-+-
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoRepr<'a> {
    /// Request or reply.
    pub kind: EchoKind,
    /// Identifier.
    pub ident: u16,
    /// Sequence number.
    pub seq: u16,
    /// Data.
    pub data: &'a [u8],
}

impl<'a> EchoRepr<'a> {
    /// Parses an ICMPv6 message (without the IPv6 header). The checksum is not
    /// checked here; see [`parse_ipv6`](Self::parse_ipv6).
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        if msg.len() < ICMPV6_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let kind = match msg[0] {
            TYPE_ECHO_REQUEST => EchoKind::Request,
            TYPE_ECHO_REPLY => EchoKind::Reply,
            t => return Err(WireError::UnexpectedType(t)),
        };
        if msg[1] != 0 {
            return Err(WireError::UnexpectedCode(msg[1]));
        }
        Ok(EchoRepr {
            kind,
            ident: be16(msg, 4).ok_or(WireError::Truncated)?,
            seq: be16(msg, 6).ok_or(WireError::Truncated)?,
            data: &msg[ICMPV6_HEADER_LEN..],
        })
    }

    /// Parses a whole IPv6 packet carrying an echo message, checking that the
    /// next header is ICMPv6 and that the checksum verifies.
    pub fn parse_ipv6(ipv6: &'a [u8]) -> Result<(Ipv6Header<'a>, Self)> {
        let h = Ipv6Header::parse(ipv6)?;
        if h.next_header != NEXT_HEADER_ICMPV6 {
            return Err(WireError::NotIcmpv6(h.next_header));
        }
        let echo = Self::parse(h.payload)?;
        if !verify_icmpv6_checksum(&h.src, &h.dst, h.payload) {
            return Err(WireError::BadChecksum);
        }
        Ok((h, echo))
    }

    /// Length of the ICMPv6 message.
    pub fn buffer_len(&self) -> usize {
        ICMPV6_HEADER_LEN + self.data.len()
    }

    /// Appends the ICMPv6 message, with the checksum for `src` → `dst`.
    pub fn emit(&self, src: &Ipv6Addr, dst: &Ipv6Addr, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(match self.kind {
            EchoKind::Request => TYPE_ECHO_REQUEST,
            EchoKind::Reply => TYPE_ECHO_REPLY,
        });
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.ident.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(self.data);
        fill_checksum(src, dst, &mut out[start..]);
    }

    /// A whole IPv6 packet carrying this message.
    pub fn emit_ipv6(&self, src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Vec<u8> {
        let mut msg = Vec::with_capacity(self.buffer_len());
        self.emit(&src, &dst, &mut msg);
        Ipv6Header::new(src, dst, NEXT_HEADER_ICMPV6, hop_limit, &msg).to_vec()
    }
}

/// An ICMPv6 error message (RFC 4443 §3): types 1–4 (any type < 128 parses).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                  Unused / MTU / Pointer                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    As much of invoking packet                 |
/// +                as possible without the ICMPv6 packet          +
/// |                exceeding the minimum IPv6 MTU                 |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorRepr<'a> {
    /// Message type (< 128).
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// Unused, MTU (type 2) or pointer (type 4).
    pub param: u32,
    /// The quoted invoking packet (possibly truncated).
    pub quoted: &'a [u8],
}

impl<'a> ErrorRepr<'a> {
    /// Parses an ICMPv6 error message (without the IPv6 header); the checksum is
    /// not checked.
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        if msg.len() < ICMPV6_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if msg[0] >= 128 {
            return Err(WireError::UnexpectedType(msg[0]));
        }
        Ok(ErrorRepr {
            msg_type: msg[0],
            code: msg[1],
            param: be32(msg, 4).ok_or(WireError::Truncated)?,
            quoted: &msg[ICMPV6_HEADER_LEN..],
        })
    }
}

/// Builds an ICMPv6 error about `offending` (an IPv6 packet), sent from `src`
/// to the offending packet's source, hop limit 64, quoting as much of the
/// packet as fits in 1280 bytes (at most 1232 quoted bytes).
///
/// Returns `None`, as miredo does, when no error may be generated
/// (RFC 4443 §2.4 (e)): `offending` shorter than 40 bytes or not IPv6, an
/// ICMPv6 error message (type < 128) itself, a multicast destination, or a
/// multicast or unspecified source.
pub fn icmpv6_error(
    msg_type: u8,
    code: u8,
    pointer_or_mtu: u32,
    src: Ipv6Addr,
    offending: &[u8],
) -> Option<Vec<u8>> {
    let header = offending.get(..IPV6_HEADER_LEN)?;
    if header[0] >> 4 != 6 {
        return None;
    }
    let off_src = super::ipv6_at(header, 8)?;
    let off_dst = super::ipv6_at(header, 24)?;
    if header[6] == NEXT_HEADER_ICMPV6 {
        if let Some(&t) = offending.get(IPV6_HEADER_LEN) {
            if t < 128 {
                return None;
            }
        }
    }
    if off_dst.is_multicast() || off_src.is_multicast() || off_src.is_unspecified() {
        return None;
    }
    let room = MIN_MTU - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;
    let quoted = &offending[..offending.len().min(room)];
    let mut msg = Vec::with_capacity(ICMPV6_HEADER_LEN + quoted.len());
    msg.extend_from_slice(&[msg_type, code, 0, 0]);
    msg.extend_from_slice(&pointer_or_mtu.to_be_bytes());
    msg.extend_from_slice(quoted);
    Some(emit_icmpv6_packet(src, off_src, 64, msg))
}

/// Gives an IPv6 packet carrying an ICMPv6 message (as [`icmpv6_error`]
/// builds) the source `src`, and its checksum the value that goes with it.
/// False, and `packet` untouched, if it is not such a packet.
///
/// A relay's errors go to remote hosts, so their source must be routable:
/// the kernel does not forward a link-local source (RFC 4291 §2.5.6), and
/// RFC 4443 §2.2 (c) wants the address the node would pick for any packet to
/// that destination. Only the driver can ask the kernel which one that is.
pub fn set_source(packet: &mut [u8], src: Ipv6Addr) -> bool {
    let Ok(h) = Ipv6Header::parse(packet) else {
        return false;
    };
    if h.next_header != NEXT_HEADER_ICMPV6 || h.payload.len() < 4 {
        return false;
    }
    let (dst, end) = (h.dst, h.packet_len());
    packet[8..24].copy_from_slice(&src.octets());
    if let Some(msg) = packet.get_mut(IPV6_HEADER_LEN..end) {
        fill_checksum(&src, &dst, msg);
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "icmpv6_tests.rs"]
mod tests;
