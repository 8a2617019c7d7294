//! The mapper's public vocabulary: configuration, timing, what it reports.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use crate::{natpmp, pcp, Protocol};

/// Retransmission and retry timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Wait for the first answer; doubles with each retransmission.
    pub first_timeout: Duration,
    /// Requests per protocol before it counts as silent.
    pub tries: u32,
    /// Pause after the first [`Event::Failed`]; doubles up to `retry_max`.
    pub retry_min: Duration,
    /// Longest pause between attempts while no protocol works.
    pub retry_max: Duration,
}

impl Default for Timers {
    /// RFC 6887 §8.1.1 (3 s first timeout, no limit) and RFC 6886 §3.1 (250
    /// ms doubling, 9 tries: 64 s) are built for a server far away on a slow
    /// path. Ours is the home gateway, one hop and a millisecond away: 250,
    /// 500 and 1000 ms waits still leave two losses' margin, and the driver
    /// knows within 2 × 1.75 s that neither protocol is there and can try
    /// UPnP instead of holding the Teredo client for a minute. Gateways seldom
    /// grow a mapping service later, so later attempts back off from a minute
    /// to half an hour.
    fn default() -> Self {
        Timers {
            first_timeout: Duration::from_millis(250),
            tries: 3,
            retry_min: Duration::from_secs(60),
            retry_max: Duration::from_secs(30 * 60),
        }
    }
}

/// What the mapper needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Our IPv4 address on the gateway's link (PCP's client address, RFC 6887 §11.1).
    pub internal_addr: Ipv4Addr,
    /// The UDP port to map.
    pub internal_port: u16,
    /// The default gateway, where requests go.
    pub gateway: Ipv4Addr,
    /// Lifetime asked for, at least 1 s.
    pub lifetime: Duration,
    /// PCP mapping nonce (RFC 6887 §11.1): random, from the caller so that
    /// tests are deterministic. The same nonce renews and deletes.
    pub nonce: [u8; 12],
    /// Timing.
    pub timers: Timers,
    /// The external address and port to ask for first (PCP's suggested
    /// external address, NAT-PMP's suggested port), `None` for any. A Teredo
    /// client asks for the one its server already sees, so that its address
    /// stays what it is.
    pub suggested_external: Option<SocketAddrV4>,
}

impl Config {
    /// Two hours: RFC 6886 §3.3's recommended lifetime. Renewing at half of
    /// it is one exchange an hour, and a mapping left behind by a crash is
    /// gone within two hours.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(7200);

    /// A configuration with the default lifetime and timers.
    pub fn new(
        internal_addr: Ipv4Addr,
        internal_port: u16,
        gateway: Ipv4Addr,
        nonce: [u8; 12],
    ) -> Self {
        Config {
            internal_addr,
            internal_port,
            gateway,
            lifetime: Self::DEFAULT_LIFETIME,
            nonce,
            timers: Timers::default(),
            suggested_external: None,
        }
    }

    /// The same, asking for `external` first.
    pub fn with_suggested_external(mut self, external: SocketAddrV4) -> Self {
        self.suggested_external = Some(external);
        self
    }

    pub(super) fn lifetime_secs(&self) -> u32 {
        // A lifetime of 0 would ask for a deletion.
        u32::try_from(self.lifetime.as_secs())
            .unwrap_or(u32::MAX)
            .max(1)
    }
}

/// Why no mapping could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Neither PCP nor NAT-PMP answered.
    NoAnswer,
    /// The PCP server refused (RFC 6887 §7.4).
    Pcp(pcp::ResultCode),
    /// The NAT-PMP gateway refused (RFC 6886 §3.5).
    NatPmp(natpmp::ResultCode),
}

/// What the mapper tells its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A mapping is in place: first success, or a new external address or port.
    Mapped {
        /// The protocol that got it.
        protocol: Protocol,
        /// Where peers reach the internal port.
        external: SocketAddrV4,
        /// Granted lifetime; the mapper renews at half of it.
        lifetime: Duration,
    },
    /// The mapping we had is gone (refused renewal, expiry, or a gateway
    /// restart seen in the epoch); the mapper is already asking again.
    Lost,
    /// No mapping service would map the port; the mapper retries later with
    /// back-off, and the driver may try UPnP meanwhile.
    Failed(Failure),
}

/// What one call asks of the driver: datagrams to send, then events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// Datagrams for the gateway.
    pub transmits: Vec<Transmit>,
    /// Events for the driver.
    pub events: Vec<Event>,
}

impl Outputs {
    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.transmits.is_empty() && self.events.is_empty()
    }
}

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Always the gateway, port 5351.
    pub dst: SocketAddrV4,
    /// UDP payload.
    pub payload: Vec<u8>,
}

/// Datagrams dropped, by reason: a gateway that answers oddly, or someone
/// else on the link trying to steer our mapping, shows up here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Not from the gateway's port 5351.
    pub wrong_source: u64,
    /// Not a well-formed response of the protocol in use.
    pub malformed: u64,
    /// Well-formed, but another opcode, nonce, protocol or internal port.
    pub mismatched: u64,
    /// Ours, but nothing was asked (a late duplicate).
    pub unexpected: u64,
}
