//! What the maintainer is configured with and what it tells its driver.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

pub use crate::qualified::Qualified;

/// Default client MTU when the RA carries no MTU option (RFC 4380 §5.2.1).
pub const DEFAULT_MTU: u16 = 1280;

/// Timing of qualification and refresh.
///
/// miredo's values are kept in [`Timers::MIREDO`] for comparison and tests; the
/// defaults detect a lost server in under 15 s and a returning one in under 10 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// How long to wait for the RA answering one RS.
    pub rs_timeout: Duration,
    /// Consecutive unanswered RS before the server counts as lost.
    pub max_attempts: u32,
    /// Interval between refresh RS while qualified (NAT keep-alive).
    pub refresh: Duration,
    /// First pause after a failed round of RS; doubles up to `restart_max`.
    pub restart_min: Duration,
    /// Longest pause between rounds of RS while the server is unreachable.
    pub restart_max: Duration,
    /// `refresh` when several servers are configured: a lost server is only
    /// noticed at a refresh, and fail-over is what the user asked for.
    pub failover_refresh: Duration,
    /// `rs_timeout` when several servers are configured.
    pub failover_rs_timeout: Duration,
}

impl Timers {
    /// miredo 1.2.6: 4 s per RS, 3 tries, 30 s refresh, fixed 100 s restart delay.
    pub const MIREDO: Timers = Timers {
        rs_timeout: Duration::from_secs(4),
        max_attempts: 3,
        refresh: Duration::from_secs(30),
        restart_min: Duration::from_secs(100),
        restart_max: Duration::from_secs(100),
        // miredo knows one server: these are never used with its timing.
        failover_refresh: Duration::from_secs(30),
        failover_rs_timeout: Duration::from_secs(4),
    };
}

impl Default for Timers {
    /// 8 s refresh + 3 × 2 s → loss noticed ≤ 14 s after the last answered RS;
    /// restarts back off 1, 2, 4, 8 s so a returning server is found within ~10 s.
    /// An 8 s refresh also keeps Linux's 30 s UDP conntrack entry alive with margin,
    /// where miredo's 30 s refresh races it.
    ///
    /// With several servers: a refresh every 3 s and 1 s per RS, so a server
    /// lost right after an answer is left within 3 + 2 × 1 s (two missed RS,
    /// the other server probed after the first). One RS of 61 bytes every 3 s
    /// is a small price for that; a single server keeps the 8 s refresh.
    fn default() -> Self {
        Timers {
            rs_timeout: Duration::from_secs(2),
            max_attempts: 3,
            refresh: Duration::from_secs(8),
            restart_min: Duration::from_secs(1),
            restart_max: Duration::from_secs(8),
            failover_refresh: Duration::from_secs(3),
            failover_rs_timeout: Duration::from_secs(1),
        }
    }
}

/// What the maintainer tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The driver must resolve the server name and call [`Maintainer::server_resolved`].
    ResolveServer,
    /// Qualification started (first RS of a round while not up).
    Qualifying,
    /// Qualified with a new address or MTU (first time, after a loss, or a change).
    Up(Qualified),
    /// Connectivity lost: no answer to `max_attempts` RS while up.
    Down,
    /// The NAT tests run after each new qualification finished
    /// (`maintain/nat_tests.rs`).
    NatTested(crate::qualified::NatTests),
    /// A log-worthy condition that changes nothing (miredo's messages).
    Log(LogMessage),
}

/// Messages miredo logs from its maintenance thread (docs/protocol-notes.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogMessage {
    /// `No reply from Teredo server` (once per outage).
    NoReply,
    /// `Authentication with server failed.`
    AuthFailed,
    /// `Teredo server has a non global IPv4 address.`
    NonGlobalServer(Ipv4Addr),
    /// `Cannot resolve Teredo server address`.
    ResolveFailed,
    /// `Multiple Teredo prefixes received` and other reasons an RA was ignored.
    InvalidRa(String),
}

/// Externally visible state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not qualified and not trying right now (resolving or pausing).
    Down,
    /// RS sent, waiting for the RA.
    Qualifying,
    /// Qualified.
    Up,
}

/// What one call asks of the driver: datagrams to send, then events, each
/// list first produced first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// Datagrams to send from the Teredo UDP socket.
    pub transmits: Vec<Transmit>,
    /// Events for the driver.
    pub events: Vec<Event>,
}

impl Outputs {
    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.transmits.is_empty() && self.events.is_empty()
    }

    /// Moves `other`'s outputs after ours.
    pub fn append(&mut self, mut other: Outputs) {
        self.transmits.append(&mut other.transmits);
        self.events.append(&mut other.events);
    }
}

/// One datagram for the driver to send from the Teredo UDP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination (the server, port 3544).
    pub dst: SocketAddrV4,
    /// UDP payload.
    pub payload: Vec<u8>,
}
