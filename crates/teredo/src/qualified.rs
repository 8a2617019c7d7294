//! What qualification yields and which datagrams belong to it (RFC 4380 §5.2.1).
//!
//! A leaf shared by [`crate::maintain`], which produces a [`Qualified`] address,
//! and [`crate::relay`], which uses it and must hand qualification datagrams
//! back to the maintainer.

use std::net::{Ipv6Addr, SocketAddrV4};

use crate::addr::{TeredoAddr, CLIENT_LINK_LOCAL, CONE_LINK_LOCAL, TEREDO_PORT};
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
    /// tell) and the results of the NAT tests, once they ran.
    pub fn nat_type(&self, local: Option<SocketAddrV4>, tests: Option<NatTests>) -> NatType {
        if self.teredo.is_cone() {
            // RFC 4380 §5.2.1: only a client behind a cone NAT (or none) gets
            // an answer to a cone-flagged solicitation.
            return NatType::Cone;
        }
        if local == Some(self.mapping()) {
            return NatType::None;
        }
        match tests {
            Some(NatTests { cone: true, .. }) => NatType::Cone,
            Some(NatTests {
                secondary_mapping: Some(m),
                ..
            }) if m != self.mapping() => NatType::Symmetric,
            Some(NatTests {
                secondary_mapping: Some(_),
                ..
            }) => NatType::Restricted,
            _ => NatType::BehindNat,
        }
    }

    /// Whether the NAT kept the port our socket sends from (`None` when the
    /// driver could not tell it).
    pub fn port_preserved(&self, local: Option<SocketAddrV4>) -> Option<bool> {
        local.map(|l| l.port() == self.mapping().port())
    }

    /// How a symmetric NAT picks the ports of new mappings, when that can be
    /// predicted (`relay::prediction`): it kept our port towards the first
    /// server address (preserving), or gave the mapping towards the second
    /// address a port a little above the first's (sequential). `None` for
    /// any other NAT, and for one whose ports look random.
    pub fn port_allocation(
        &self,
        local: Option<SocketAddrV4>,
        tests: NatTests,
    ) -> Option<PortAllocation> {
        if self.nat_type(local, Some(tests)) != NatType::Symmetric {
            return None;
        }
        if self.port_preserved(local) == Some(true) {
            return Some(PortAllocation::Preserving);
        }
        let second = tests.secondary_mapping?;
        let step = second.port().wrapping_sub(self.mapping().port());
        (1..=MAX_SEQUENTIAL_STEP)
            .contains(&step)
            .then_some(PortAllocation::Sequential { step })
    }
}

/// Largest distance between two consecutive mappings' ports that still
/// counts as a sequential NAT (other hosts behind it take ports in between).
pub const MAX_SEQUENTIAL_STEP: u16 = 16;

/// How a NAT allocates the public port of a new mapping, as far as a
/// prediction can use it (RFC 6081 §3.3, §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortAllocation {
    /// It keeps the inside port when that one is free.
    Preserving,
    /// It takes the next port of a counter, `step` apart.
    Sequential {
        /// Distance between two consecutive mappings' ports.
        step: u16,
    },
}

/// What RFC 4380 §5.2.1's NAT tests found, run beside qualification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatTests {
    /// A cone-flagged RS was answered from the server's other address: the
    /// NAT lets in packets from any host (endpoint-independent filtering).
    pub cone: bool,
    /// Our mapping as the server's secondary address saw it (`None`: it did
    /// not answer). Another mapping than the primary's means a symmetric NAT.
    pub secondary_mapping: Option<SocketAddrV4>,
}

/// The NAT between a client and its server, as qualification and the NAT
/// tests of RFC 4380 §5.2.1 found it.
///
/// RFC 4380 tests in three steps: a cone-flagged Router Solicitation (answered
/// from the server's other address, so it passes only a NAT that lets in
/// anyone), a plain one, and a plain one to the server's second address to
/// compare mappings (a symmetric NAT maps each destination apart). miredo
/// 1.2.6 dropped the tests; we run them after qualifying, only to know and to
/// say (the address never takes the cone flag, RFC 5991 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NatType {
    /// Not qualified: nothing known yet (also a relay, which does not qualify).
    #[default]
    Unknown,
    /// The server saw our own address and port: no NAT.
    None,
    /// A NAT that lets in packets from any host to a mapping (full cone).
    Cone,
    /// One mapping for every destination, but packets let in only from
    /// hosts (or host and port) we sent to: a restricted or port-restricted
    /// cone. A Teredo server answers from port 3544 only, so the two cannot be
    /// told apart.
    Restricted,
    /// A new mapping per destination: peers see another port than the one in
    /// our address.
    Symmetric,
    /// A NAT whose tests did not complete (still running, or the server's
    /// second address did not answer).
    BehindNat,
}

impl NatType {
    /// The name the D-Bus `NatType` property uses (docs/dbus.md).
    pub fn as_str(self) -> &'static str {
        match self {
            NatType::Unknown => "unknown",
            NatType::None => "none",
            NatType::Cone => "cone",
            NatType::Restricted => "restricted",
            NatType::Symmetric => "symmetric",
            NatType::BehindNat => "behind-nat",
        }
    }
}

/// True if a datagram belongs to the qualification procedure (the RA answering
/// our RS, RFC 4380 §5.2.1): source port 3544, an authentication header, and inner
/// destination `fe80::ffff:ffff:ffff` (or the cone test's
/// [`CONE_LINK_LOCAL`]). The driver gives those to the maintainer, never to
/// [`crate::relay::TeredoTunnel::handle_udp_packet`].
pub fn is_qualification_packet(from: SocketAddrV4, packet: &TeredoPacketRepr<'_>) -> bool {
    from.port() == TEREDO_PORT
        && packet.auth.is_some()
        && Ipv6Header::parse(packet.ipv6)
            .is_ok_and(|h| h.dst == CLIENT_LINK_LOCAL || h.dst == CONE_LINK_LOCAL)
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
    fn nat_type_from_the_mapping_the_local_address_and_the_tests() {
        let public = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 1), 40000);
        let private = SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, 10), 40000);
        let q = qualified(0x0123, public);
        assert_eq!(q.nat_type(Some(public), None), NatType::None);
        // A port-preserving NAT still changes the address.
        assert_eq!(q.nat_type(Some(private), None), NatType::BehindNat);
        assert_eq!(q.port_preserved(Some(private)), Some(true));
        assert_eq!(q.nat_type(None, None), NatType::BehindNat);
        assert_eq!(
            qualified(FLAG_CONE, public).nat_type(Some(private), None),
            NatType::Cone
        );
        let tests = |cone, secondary_mapping| {
            Some(NatTests {
                cone,
                secondary_mapping,
            })
        };
        let other = SocketAddrV4::new(*public.ip(), 40001);
        assert_eq!(
            q.nat_type(Some(private), tests(true, Some(public))),
            NatType::Cone
        );
        assert_eq!(
            q.nat_type(Some(private), tests(false, Some(public))),
            NatType::Restricted
        );
        assert_eq!(
            q.nat_type(Some(private), tests(false, Some(other))),
            NatType::Symmetric
        );
        assert_eq!(
            q.nat_type(Some(private), tests(false, None)),
            NatType::BehindNat
        );
        // No NAT wins over the tests.
        assert_eq!(
            q.nat_type(Some(public), tests(true, Some(public))),
            NatType::None
        );
        let moved = SocketAddrV4::new(*private.ip(), 5000);
        assert_eq!(q.port_preserved(Some(moved)), Some(false));
        assert_eq!(NatType::default().as_str(), "unknown");
        assert_eq!(NatType::BehindNat.as_str(), "behind-nat");
        assert_eq!(NatType::Symmetric.as_str(), "symmetric");
    }

    #[test]
    fn port_allocation_only_for_predictable_symmetric_nats() {
        let private = SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, 10), 40000);
        let at = |port| SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 1), port);
        let tests = |second: Option<SocketAddrV4>| NatTests {
            cone: false,
            secondary_mapping: second,
        };
        // Symmetric, our port kept towards the first address: preserving.
        let kept = qualified(0, at(40000));
        assert_eq!(
            kept.port_allocation(Some(private), tests(Some(at(51234)))),
            Some(PortAllocation::Preserving)
        );
        // Symmetric, the second mapping a little above the first: sequential.
        let counted = qualified(0, at(30000));
        for step in [1, 2, MAX_SEQUENTIAL_STEP] {
            assert_eq!(
                counted.port_allocation(Some(private), tests(Some(at(30000 + step)))),
                Some(PortAllocation::Sequential { step })
            );
        }
        // Random ports, a step too large, below, or across the wrap.
        for second in [at(51234), at(30000 + MAX_SEQUENTIAL_STEP + 1), at(29999)] {
            assert_eq!(
                counted.port_allocation(Some(private), tests(Some(second))),
                None
            );
        }
        let wraps = qualified(0, at(65535));
        assert_eq!(
            wraps.port_allocation(Some(private), tests(Some(at(0)))),
            Some(PortAllocation::Sequential { step: 1 })
        );
        // Not symmetric: nothing to predict, preserved port or not.
        assert_eq!(
            kept.port_allocation(Some(private), tests(Some(at(40000)))),
            None
        );
        assert_eq!(kept.port_allocation(Some(private), tests(None)), None);
        // Unknown local endpoint: the port cannot be compared, only counted.
        assert_eq!(kept.port_allocation(None, tests(Some(at(51234)))), None);
    }
}
