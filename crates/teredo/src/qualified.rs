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

    /// What this qualification tells about the NAT in front of us, given the
    /// address and port our socket sends from (`None` when the driver could not
    /// tell).
    pub fn nat_type(&self, local: Option<SocketAddrV4>) -> NatType {
        if self.teredo.is_cone() {
            // RFC 4380 §5.2.1: only a client behind a cone NAT (or none) gets
            // an answer to a cone-flagged solicitation.
            NatType::Cone
        } else if local == Some(self.mapping()) {
            NatType::None
        } else {
            NatType::BehindNat
        }
    }
}

/// The NAT between a client and its server, as far as qualification found out
/// (RFC 4380 §5.2.1).
///
/// RFC 4380 probes in three steps: a cone-flagged Router Solicitation (answered
/// only through a cone NAT), then a plain one, then a second server address to
/// compare mappings (a symmetric NAT maps each destination apart). Like miredo
/// 1.2.6 (docs/protocol-notes.md) the client sends only the plain solicitation to
/// the primary address, so beyond "no NAT" (the server saw our own address and
/// port) it learns only that some NAT is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NatType {
    /// Not qualified: nothing known yet (also a relay, which does not qualify).
    #[default]
    Unknown,
    /// The server saw our own address and port: no NAT.
    None,
    /// Our address carries the cone flag: a cone NAT or none (RFC 4380 §5.2.1).
    Cone,
    /// A NAT whose type was not probed (cone and symmetric tests not run); the
    /// client works as RFC 4380 §5.2.1's restricted-NAT client does, without
    /// the cone flag.
    BehindNat,
}

impl NatType {
    /// The name the D-Bus `NatType` property uses (docs/dbus.md).
    pub fn as_str(self) -> &'static str {
        match self {
            NatType::Unknown => "unknown",
            NatType::None => "none",
            NatType::Cone => "cone",
            NatType::BehindNat => "behind-nat",
        }
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::addr::{DEFAULT_PREFIX, FLAG_CONE};

    fn qualified(flags: u16, mapping: SocketAddrV4) -> Qualified {
        let teredo = TeredoAddr {
            prefix: DEFAULT_PREFIX,
            server: Ipv4Addr::new(192, 0, 2, 1),
            flags,
            mapped_port: mapping.port(),
            mapped_ip: *mapping.ip(),
        };
        Qualified {
            address: teredo.to_ipv6(),
            teredo,
            mtu: 1280,
        }
    }

    #[test]
    fn nat_type_from_the_mapping_and_the_local_address() {
        let public = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 1), 40000);
        let private = SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, 10), 40000);
        let q = qualified(0x0123, public);
        assert_eq!(q.nat_type(Some(public)), NatType::None);
        // A port-preserving NAT still changes the address.
        assert_eq!(q.nat_type(Some(private)), NatType::BehindNat);
        assert_eq!(q.nat_type(None), NatType::BehindNat);
        assert_eq!(
            qualified(FLAG_CONE, public).nat_type(Some(private)),
            NatType::Cone
        );
        assert_eq!(NatType::default().as_str(), "unknown");
        assert_eq!(NatType::BehindNat.as_str(), "behind-nat");
    }
}
