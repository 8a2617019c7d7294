//! What qualification yields and which datagrams belong to it (RFC 4380 §5.2.1).
//!
//! A leaf shared by [`crate::maintain`], which produces a [`Qualified`] address,
//! and [`crate::relay`], which uses it and must hand qualification datagrams
//! back to the maintainer.

use std::net::{Ipv6Addr, SocketAddrV4};

use crate::addr::{TeredoAddr, CLIENT_LINK_LOCAL, TEREDO_PORT};
use crate::wire::{Ipv6Header, TeredoPacketRepr};

/// Our address once qualified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qualified {
    /// The Teredo address (prefix, server, flags, obfuscated mapping).
    pub address: Ipv6Addr,
    /// The same, decoded.
    pub teredo: TeredoAddr,
    /// MTU from the RA, or 1280.
    pub mtu: u16,
}

impl Qualified {
    /// Public IPv4 address and port the server saw.
    pub fn mapping(&self) -> SocketAddrV4 {
        self.teredo.mapping()
    }
}

/// True if a datagram belongs to the qualification procedure (the RA answering
/// our RS, RFC 4380 §5.2.1): source port 3544, an authentication header, and inner
/// destination `fe80::ffff:ffff:ffff`. The driver gives those to the
/// maintainer, never to [`crate::relay::TeredoTunnel::handle_udp_packet`].
pub fn is_qualification_packet(from: SocketAddrV4, packet: &TeredoPacketRepr<'_>) -> bool {
    from.port() == TEREDO_PORT
        && packet.auth.is_some()
        && Ipv6Header::parse(packet.ipv6).is_ok_and(|h| h.dst == CLIENT_LINK_LOCAL)
}
