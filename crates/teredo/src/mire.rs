//! The stateless Teredo test responder (`teredo-mire`): a fixed Teredo "peer"
//! that answers pings, so that a Teredo client or relay can be tested without
//! a second client.
//!
//! The responder owns a Teredo address made of its own IPv4 address as both
//! the server and the mapped address, and [`MIRE_PORT`] (3545) as the mapped
//! port (RFC 4380 §4). A client that wants to reach that address does what
//! RFC 4380 §5.2.6 says for any Teredo peer: it sends a direct bubble to the
//! mapped address (port 3545) and an indirect bubble to the peer's "server"
//! (port 3544), then waits for a bubble from the mapped address. So:
//!
//! 1. on port 3544 (playing the peer's server), every bubble is answered with a
//!    bubble *from port 3545*, addresses swapped: the peer itself answering
//!    the indirect bubble, which makes the client trust the mapping;
//! 2. on port 3545 (playing the peer), an ICMPv6 Echo Request (RFC 4443 §4.1)
//!    gets an Echo Reply (RFC 4443 §4.2), and a packet whose next header the
//!    responder does not process gets a Parameter Problem (RFC 4443 §3.4,
//!    code 1, pointer 6). Bubbles and routing headers are ignored there.
//!
//! [`handle_datagram`] is the whole protocol: one datagram and the socket it
//! arrived on in, the verdict (and, for [`Verdict::Reply`], the reply's UDP
//! payload) out. Nothing depends on time or on earlier datagrams, so it takes
//! no `now`. docs/protocol-notes.md describes the original's behaviour and
//! docs/compat.md the differences.

use std::net::{Ipv6Addr, SocketAddrV4};

use crate::addr::is_global_unicast_v4;
use crate::wire::icmpv6::{
    emit_icmpv6_packet, TYPE_ECHO_REPLY, TYPE_ECHO_REQUEST, TYPE_PARAM_PROBLEM,
};
use crate::wire::{
    emit_bubble, Ipv6Header, TeredoPacket, WireError, NEXT_HEADER_ICMPV6, NEXT_HEADER_NONE,
};

/// The port of the responder's mapped address (its Teredo "client" side).
pub const MIRE_PORT: u16 = 3545;

/// IPv6 next header value of the Routing header (RFC 8200 §4.4).
pub const NEXT_HEADER_ROUTING: u8 = 43;

/// Parameter Problem code "unrecognized Next Header type encountered"
/// (RFC 4443 §3.4).
pub const PARAM_PROBLEM_NEXT_HEADER: u8 = 1;

/// The Parameter Problem pointer: the offset of the Next Header field in the
/// IPv6 header (RFC 8200 §3).
pub const NEXT_HEADER_POINTER: u32 = 6;

/// Hop limit of every echo reply and error the responder sends.
pub const REPLY_HOP_LIMIT: u8 = 255;

/// Length of the fixed part of an ICMPv6 message (type, code, checksum and a
/// 32-bit field: identifier and sequence number, or the pointer).
const ICMPV6_FIXED_LEN: usize = 8;

/// How much of the offending packet a Parameter Problem quotes: as much as
/// fits in the IPv6 minimum MTU (RFC 4443 §2.4 (c)): 1280 − 40 − 8 octets.
pub const MAX_QUOTED: usize = 1232;

/// Which of the responder's two UDP sockets a datagram arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MireSocket {
    /// Port 3544: the responder plays its own Teredo server.
    Server,
    /// Port 3545 ([`MIRE_PORT`]): the responder plays the Teredo peer.
    Peer,
}

impl MireSocket {
    /// The UDP port of this socket.
    pub fn port(self) -> u16 {
        match self {
            MireSocket::Server => crate::addr::TEREDO_PORT,
            MireSocket::Peer => MIRE_PORT,
        }
    }
}

/// Why a well-formed datagram is not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ignored {
    /// On port 3544, anything but a bubble.
    NotBubble,
    /// A bubble from an IPv4 address that is not global unicast: no bubble is
    /// ever sent there (loopback, RFC 1918, multicast…).
    NonGlobalSender,
    /// On port 3545, a bubble (the client's direct bubble): nothing to say.
    Bubble,
    /// On port 3545, a routing header (next header 43).
    RoutingHeader,
    /// On port 3545, next header 59 with a payload.
    NoNextHeader,
    /// On port 3545, an ICMPv6 message other than an Echo Request (an error
    /// among them: errors are never answered, RFC 4443 §2.4 (e.1)).
    NotEchoRequest,
    /// The reply would come from a multicast address, or go to a multicast or
    /// the unspecified address (RFC 4291 §2.7, RFC 4443 §2.4 (e.3), (e.6)).
    NotUnicast,
}

/// What to do with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the payload written to `out` from port 3545 ([`MIRE_PORT`]) to the
    /// datagram's sender.
    Reply,
    /// Well-formed, deliberately not answered.
    Ignored(Ignored),
    /// Not a Teredo packet, or too short for what its header announces.
    Malformed(WireError),
}

/// Answers one datagram that arrived on `socket` from `sender`.
///
/// `out` is cleared; on [`Verdict::Reply`] it holds the reply's UDP payload
/// (a bare IPv6 packet, without authentication or origin indication). The
/// datagram may carry an authentication header and an origin indication
/// (RFC 4380 §5.1.1): both are skipped. Bytes after the IPv6 payload length
/// are ignored. Never panics.
pub fn handle_datagram(
    socket: MireSocket,
    sender: SocketAddrV4,
    datagram: &[u8],
    out: &mut Vec<u8>,
) -> Verdict {
    out.clear();
    let packet = match TeredoPacket::parse(datagram) {
        Ok(p) => p,
        Err(e) => return Verdict::Malformed(e),
    };
    let header = match packet.ipv6_header() {
        Ok(h) => h,
        Err(e) => return Verdict::Malformed(e),
    };
    match socket {
        MireSocket::Server => answer_bubble(sender, &header, out),
        MireSocket::Peer => answer_peer(&header, packet.ipv6, out),
    }
}

/// Port 3544: a bubble back from the peer itself (RFC 4380 §5.2.6: the
/// answer to an indirect bubble comes from the peer's mapped address).
fn answer_bubble(sender: SocketAddrV4, header: &Ipv6Header<'_>, out: &mut Vec<u8>) -> Verdict {
    if !header.is_bubble() {
        return Verdict::Ignored(Ignored::NotBubble);
    }
    if !is_global_unicast_v4(*sender.ip()) {
        return Verdict::Ignored(Ignored::NonGlobalSender);
    }
    out.extend_from_slice(&emit_bubble(header.dst, header.src));
    Verdict::Reply
}

/// Port 3545: echo replies and Parameter Problems.
fn answer_peer(header: &Ipv6Header<'_>, ipv6: &[u8], out: &mut Vec<u8>) -> Verdict {
    // The reply swaps the addresses: its source is the request's destination.
    let (src, dst) = (header.dst, header.src);
    match header.next_header {
        NEXT_HEADER_ICMPV6 => {
            let msg = header.payload;
            if msg.len() < ICMPV6_FIXED_LEN {
                return Verdict::Malformed(WireError::Truncated);
            }
            if msg[0] != TYPE_ECHO_REQUEST {
                return Verdict::Ignored(Ignored::NotEchoRequest);
            }
            if !unicast_pair(src, dst) {
                return Verdict::Ignored(Ignored::NotUnicast);
            }
            // As the original: neither the code nor the checksum of the
            // request is checked (the UDP checksum covered the datagram); the
            // reply is a fresh message with code 0 and its own checksum, and
            // keeps the request's traffic class and flow label.
            let mut reply = Vec::with_capacity(msg.len());
            reply.extend_from_slice(&[TYPE_ECHO_REPLY, 0, 0, 0]);
            reply.extend_from_slice(&msg[4..]);
            let mut h = Ipv6Header::new(src, dst, NEXT_HEADER_ICMPV6, REPLY_HOP_LIMIT, &[]);
            h.traffic_class = header.traffic_class;
            h.flow_label = header.flow_label;
            emit_with_header(h, reply, out);
            Verdict::Reply
        }
        NEXT_HEADER_NONE if header.payload.is_empty() => Verdict::Ignored(Ignored::Bubble),
        NEXT_HEADER_NONE => Verdict::Ignored(Ignored::NoNextHeader),
        NEXT_HEADER_ROUTING => Verdict::Ignored(Ignored::RoutingHeader),
        _ => {
            if !unicast_pair(src, dst) {
                return Verdict::Ignored(Ignored::NotUnicast);
            }
            let quoted = &ipv6[..ipv6.len().min(MAX_QUOTED)];
            let mut msg = Vec::with_capacity(ICMPV6_FIXED_LEN + quoted.len());
            msg.extend_from_slice(&[TYPE_PARAM_PROBLEM, PARAM_PROBLEM_NEXT_HEADER, 0, 0]);
            msg.extend_from_slice(&NEXT_HEADER_POINTER.to_be_bytes());
            msg.extend_from_slice(quoted);
            out.extend_from_slice(&emit_icmpv6_packet(src, dst, REPLY_HOP_LIMIT, msg));
            Verdict::Reply
        }
    }
}

/// A reply from `src` to `dst` is allowed: `src` not multicast (RFC 4291
/// §2.7), `dst` neither multicast nor unspecified (RFC 4443 §2.4 (e.6)).
fn unicast_pair(src: Ipv6Addr, dst: Ipv6Addr) -> bool {
    !src.is_multicast() && !dst.is_multicast() && !dst.is_unspecified()
}

/// Appends `header` (its payload length set to `msg`'s) and the ICMPv6
/// message `msg` with its checksum filled in.
fn emit_with_header(header: Ipv6Header<'_>, mut msg: Vec<u8>, out: &mut Vec<u8>) {
    crate::wire::icmpv6::fill_checksum(&header.src, &header.dst, &mut msg);
    let mut h = header;
    h.payload = &msg;
    h.payload_len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
    h.emit(out);
}

/// What a responder has done since it started, one counter per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MireCounters {
    /// Datagrams answered.
    pub replied: u64,
    /// Well-formed datagrams not answered.
    pub ignored: u64,
    /// Malformed datagrams dropped.
    pub malformed: u64,
}

impl MireCounters {
    /// Counts one verdict.
    pub fn count(&mut self, verdict: &Verdict) {
        let c = match verdict {
            Verdict::Reply => &mut self.replied,
            Verdict::Ignored(_) => &mut self.ignored,
            Verdict::Malformed(_) => &mut self.malformed,
        };
        *c = c.saturating_add(1);
    }

    /// All datagrams seen.
    pub fn total(&self) -> u64 {
        self.replied
            .saturating_add(self.ignored)
            .saturating_add(self.malformed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "mire_tests.rs"]
mod tests;
