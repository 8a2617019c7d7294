//! The lab's topology as `scripts/lab.sh` builds it: its fixed addresses,
//! the NAT types, and what [`crate::Lab::up`] is asked to build.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The Teredo server's primary IPv4 (node `srv`).
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The Teredo server's secondary IPv4 (node `srv`).
pub const SERVER_IP2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The second Teredo server's primary IPv4 (node `srv`, for fail-over tests).
pub const SERVER2_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);
/// The second Teredo server's secondary IPv4.
pub const SERVER2_IP2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 4);
/// The server's native IPv6 address.
pub const SERVER_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff02, 0, 0, 0, 0, 2);
/// The relay's IPv4 (node `relay`).
pub const RELAY_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The relay's native IPv6 address.
pub const RELAY_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff01, 0, 0, 0, 0, 2);
/// The IPv6-only target host (node `tgt`).
pub const TARGET_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
/// The Teredo interface name used by the lab's configurations.
pub const TEREDO_IFACE: &str = "teredo";

/// Public (WAN) IPv4 of `natN` as the lab creates it.
pub fn nat_public_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, n)
}

/// IPv4 of `clN` as the lab creates it (behind `natN`).
pub fn client_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, n, 10)
}

/// The NAT in front of a client (see the table in `scripts/lab.sh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Inbound from anyone to a mapped public port.
    FullCone,
    /// Inbound from any port of an IP the client has contacted.
    RestrictedCone,
    /// Inbound only from the exact IP:port contacted (plain masquerade).
    PortRestricted,
    /// A new public port per destination (`masquerade fully-random`).
    Symmetric,
    /// No NAT: the client's address is routed as is.
    None,
    /// A full cone that loops packets from inside to its public address back
    /// in (hairpinning, RFC 4787 REQ-9).
    Hairpin,
    /// A port-preserving symmetric NAT (RFC 6081 §3.3): mapping and filtering
    /// depend on the destination address and port, but an inside endpoint's
    /// first mapping keeps its port; later ones get random ports.
    PortPreserving,
    /// A sequential port-symmetric NAT (RFC 6081 §3.4): mapping and filtering
    /// depend on the destination address and port, and every new mapping (of
    /// any inside endpoint) takes the next public port of one counter.
    Sequential,
}

impl Nat {
    /// The name `lab.sh up --nats` takes.
    pub fn as_arg(self) -> &'static str {
        match self {
            Nat::FullCone => "full",
            Nat::RestrictedCone => "restricted",
            Nat::PortRestricted => "port",
            Nat::Symmetric => "symmetric",
            Nat::None => "none",
            Nat::Hairpin => "hairpin",
            Nat::PortPreserving => "preserving",
            Nat::Sequential => "sequential",
        }
    }
}

/// What [`Lab::up`] builds.
#[derive(Debug, Clone)]
pub struct LabOpts {
    /// `natN`/`clN` pairs: the Nth entry is the NAT type of `natN` (N from 1).
    pub nats: Vec<Nat>,
    /// Conntrack UDP timeout (unreplied and assured) in the NATs, in seconds; `None` keeps
    /// Linux's 30 s / 120 s (set explicitly).
    pub udp_timeout: Option<u32>,
    /// Start a private system bus right away (see [`Lab::dbus_up`]).
    pub dbus: bool,
    /// NATs (numbers from 1) with a second client, `clNb`, on the same link
    /// as `clN` (`lab.sh up --pair`).
    pub pairs: Vec<u8>,
}

impl Default for LabOpts {
    fn default() -> Self {
        LabOpts {
            nats: vec![
                Nat::PortRestricted,
                Nat::FullCone,
                Nat::RestrictedCone,
                Nat::Symmetric,
            ],
            udp_timeout: None,
            dbus: false,
            pairs: Vec::new(),
        }
    }
}

impl LabOpts {
    /// A lab with these NATs (`nat1` = `nats[0]`, …).
    pub fn with_nats(nats: &[Nat]) -> Self {
        LabOpts {
            nats: nats.to_vec(),
            ..LabOpts::default()
        }
    }
}
