//! Client qualification and maintenance (RFC 4380 §5.2.1, §5.2.7), sans-IO.
//!
//! The client sends a Router Solicitation to its server and builds its Teredo
//! address from the Router Advertisement's prefix and origin indication. It then
//! refreshes the NAT mapping periodically and notices when the server goes away.
//!
//! Where miredo 1.2.6 waits (30 s refresh, 3 × 4 s retries, a fixed 100 s restart
//! delay) this machine is quicker on purpose, see [`Timers`]; the driver can also
//! call [`Maintainer::requalify`] when the host's IPv4 configuration changes, which
//! miredo never noticed.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use crate::addr::{self, TeredoAddr, OBSOLETE_PREFIX, TEREDO_PORT};
use crate::security::Secret;
use crate::wire::TeredoPacketRepr;
use crate::wire::{emit_rs, RouterAdvertisement};

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
}

impl Timers {
    /// miredo 1.2.6: 4 s per RS, 3 tries, 30 s refresh, fixed 100 s restart delay.
    pub const MIREDO: Timers = Timers {
        rs_timeout: Duration::from_secs(4),
        max_attempts: 3,
        refresh: Duration::from_secs(30),
        restart_min: Duration::from_secs(100),
        restart_max: Duration::from_secs(100),
    };
}

impl Default for Timers {
    /// 8 s refresh + 3 × 2 s → loss noticed ≤ 14 s after the last answered RS;
    /// restarts back off 1, 2, 4, 8 s so a returning server is found within ~10 s.
    /// An 8 s refresh also keeps Linux's 30 s UDP conntrack entry alive with margin,
    /// where miredo's 30 s refresh races it.
    fn default() -> Self {
        Timers {
            rs_timeout: Duration::from_secs(2),
            max_attempts: 3,
            refresh: Duration::from_secs(8),
            restart_min: Duration::from_secs(1),
            restart_max: Duration::from_secs(8),
        }
    }
}

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
    /// A log-worthy condition that changes nothing (miredo's messages).
    Log(LogMessage),
}

/// Messages miredo logs from its maintenance thread
/// (docs/protocol-notes.md#qualification-and-maintenance).
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

/// One datagram for the driver to send from the Teredo UDP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination (the server, port 3544).
    pub dst: SocketAddrV4,
    /// UDP payload.
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the driver to resolve the server.
    Resolving,
    /// RS outstanding; `deadline` is when it times out.
    Soliciting { deadline: Instant, nonce: [u8; 8] },
    /// Qualified (or pausing); next RS at `at`.
    Idle { at: Instant },
}

/// The qualification state machine of one Teredo client.
#[derive(Debug)]
pub struct Maintainer {
    timers: Timers,
    secret: Secret,
    pid: u32,
    server: Option<Ipv4Addr>,
    phase: Phase,
    current: Option<Qualified>,
    /// (prefix, server, mapping, flags) of the last accepted RA, kept across losses.
    previous_mapping: Option<(u32, Ipv4Addr, SocketAddrV4, u16)>,
    /// Unanswered RS in the current round.
    failures: u32,
    /// Rounds failed in a row while down, for the back-off.
    failed_rounds: u32,
    /// "No reply" already logged for this outage.
    no_reply_logged: bool,
    /// Counter mixed into nonces and random flags so each is fresh.
    generation: u64,
    transmits: Vec<Transmit>,
    events: std::collections::VecDeque<Event>,
}

impl Maintainer {
    /// A maintainer that starts by asking for the server's address.
    pub fn new(timers: Timers, secret: Secret, pid: u32, now: Instant) -> Self {
        let mut m = Maintainer {
            timers,
            secret,
            pid,
            server: None,
            phase: Phase::Idle { at: now },
            current: None,
            previous_mapping: None,
            failures: 0,
            failed_rounds: 0,
            no_reply_logged: false,
            generation: 0,
            transmits: Vec::new(),
            events: Default::default(),
        };
        m.need_server();
        m
    }

    /// Current state.
    pub fn state(&self) -> State {
        match (self.current, self.phase) {
            (Some(_), _) => State::Up,
            (None, Phase::Soliciting { .. }) => State::Qualifying,
            (None, _) => State::Down,
        }
    }

    /// Our address, when up.
    pub fn qualified(&self) -> Option<&Qualified> {
        self.current.as_ref()
    }

    /// The server's IPv4 address, once resolved.
    pub fn server(&self) -> Option<Ipv4Addr> {
        self.server
    }

    fn need_server(&mut self) {
        self.server = None;
        self.phase = Phase::Resolving;
        self.events.push_back(Event::ResolveServer);
    }

    /// The driver's answer to [`Event::ResolveServer`].
    pub fn server_resolved(&mut self, now: Instant, server: Option<Ipv4Addr>) {
        if self.phase != Phase::Resolving {
            return;
        }
        match server {
            Some(ip) if addr::is_global_unicast_v4(ip) => {
                self.server = Some(ip);
                self.start_round(now);
            }
            Some(ip) => {
                self.events
                    .push_back(Event::Log(LogMessage::NonGlobalServer(ip)));
                self.pause_after_failure(now);
            }
            None => {
                self.events.push_back(Event::Log(LogMessage::ResolveFailed));
                self.pause_after_failure(now);
            }
        }
    }

    /// Start a new round of RS right now, e.g. because an IPv4 address or the
    /// default route changed. The current address stays until an RA says otherwise
    /// or the round fails.
    pub fn requalify(&mut self, now: Instant) {
        match self.phase {
            Phase::Resolving => {}
            _ if self.server.is_none() => self.need_server(),
            _ => {
                self.failed_rounds = 0;
                self.start_round(now);
            }
        }
    }

    fn start_round(&mut self, now: Instant) {
        self.failures = 0;
        self.send_rs(now);
    }

    fn send_rs(&mut self, now: Instant) {
        let Some(server) = self.server else {
            self.need_server();
            return;
        };
        self.generation = self.generation.wrapping_add(1);
        let nonce = self.secret.rs_nonce(server, self.pid, self.generation);
        self.transmits.push(Transmit {
            dst: SocketAddrV4::new(server, TEREDO_PORT),
            payload: emit_rs(nonce),
        });
        if self.current.is_none() && !matches!(self.phase, Phase::Soliciting { .. }) {
            self.events.push_back(Event::Qualifying);
        }
        self.phase = Phase::Soliciting {
            deadline: now + self.timers.rs_timeout,
            nonce,
        };
    }

    fn pause_after_failure(&mut self, now: Instant) {
        let shift = self.failed_rounds.min(16);
        self.failed_rounds = self.failed_rounds.saturating_add(1);
        let pause = self
            .timers
            .restart_min
            .saturating_mul(1u32 << shift)
            .min(self.timers.restart_max);
        self.phase = Phase::Idle { at: now + pause };
    }

    /// When [`Maintainer::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Resolving => None,
            Phase::Soliciting { deadline, .. } => Some(deadline),
            Phase::Idle { at } => Some(at),
        }
    }

    /// Advance timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Resolving => {}
            Phase::Idle { at } if now >= at => {
                if self.server.is_none() {
                    self.need_server();
                } else {
                    self.start_round(now);
                }
            }
            Phase::Soliciting { deadline, .. } if now >= deadline => {
                self.failures += 1;
                if self.failures < self.timers.max_attempts {
                    self.send_rs(now);
                    return;
                }
                if !self.no_reply_logged {
                    self.no_reply_logged = true;
                    self.events.push_back(Event::Log(LogMessage::NoReply));
                }
                if self.current.take().is_some() {
                    self.events.push_back(Event::Down);
                    // Re-resolve: the server may have moved
                    // (docs/protocol-notes.md#qualification-and-maintenance step 4).
                    self.server = None;
                }
                self.pause_after_failure(now);
            }
            _ => {}
        }
    }

    /// Is this datagram for us (docs/protocol-notes.md#qualification-and-maintenance step 3)?
    /// Such packets must be given to [`Maintainer::handle_packet`] and never to the kernel.
    pub fn is_qualification_packet(from: SocketAddrV4, packet: &TeredoPacketRepr<'_>) -> bool {
        crate::relay::is_qualification_packet(from, packet)
    }

    /// A datagram that passed [`Maintainer::is_qualification_packet`].
    pub fn handle_packet(&mut self, now: Instant, packet: &TeredoPacketRepr<'_>) {
        let Phase::Soliciting { nonce, .. } = self.phase else {
            return;
        };
        let Some(server) = self.server else {
            return;
        };
        let Some(auth) = &packet.auth else { return };
        if auth.nonce != nonce {
            return;
        }
        if auth.confirmation != 0 {
            self.events.push_back(Event::Log(LogMessage::AuthFailed));
            return;
        }
        let Some(origin) = packet.origin else {
            return;
        };
        let ra = match RouterAdvertisement::parse(packet.ipv6) {
            Ok(ra) => ra,
            Err(e) => {
                self.events
                    .push_back(Event::Log(LogMessage::InvalidRa(e.to_string())));
                return;
            }
        };
        let Some(pio) = ra.prefixes.first() else {
            return;
        };
        let p = pio.prefix.octets();
        let mut prefix = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
        let prefix_server = Ipv4Addr::new(p[4], p[5], p[6], p[7]);
        if prefix_server != server {
            self.events
                .push_back(Event::Log(LogMessage::InvalidRa(format!(
                    "prefix names server {prefix_server}, expected {server}"
                ))));
            return;
        }
        if prefix == OBSOLETE_PREFIX {
            prefix = addr::DEFAULT_PREFIX;
        }
        if !addr::prefix_is_valid(prefix) {
            self.events
                .push_back(Event::Log(LogMessage::InvalidRa(format!(
                    "invalid Teredo prefix {prefix:x}::/32"
                ))));
            return;
        }
        let mtu = ra
            .mtu
            .and_then(|m| u16::try_from(m).ok())
            .unwrap_or(DEFAULT_MTU);
        self.accept(now, prefix, server, origin, mtu);
    }

    fn accept(
        &mut self,
        now: Instant,
        prefix: u32,
        server: Ipv4Addr,
        origin: SocketAddrV4,
        mtu: u16,
    ) {
        self.failures = 0;
        self.failed_rounds = 0;
        self.no_reply_logged = false;
        // RFC 5991 §3: the random flag bits stay while the mapping stays, so a
        // refresh or a re-qualification to the same mapping keeps the address.
        let same_mapping = self
            .previous_mapping
            .is_some_and(|(p, s, o, _)| p == prefix && s == server && o == origin);
        let flags = match self.previous_mapping {
            Some((_, _, _, flags)) if same_mapping => flags,
            _ => {
                let seed = (u128::from(self.generation) << 64)
                    | (u128::from(u32::from(*origin.ip())) << 16)
                    | u128::from(origin.port());
                self.secret.random_flags(seed)
            }
        };
        self.previous_mapping = Some((prefix, server, origin, flags));
        let teredo = TeredoAddr {
            prefix,
            server,
            flags,
            mapped_port: origin.port(),
            mapped_ip: *origin.ip(),
        };
        let q = Qualified {
            address: teredo.to_ipv6(),
            teredo,
            mtu,
        };
        if self.current != Some(q) {
            self.current = Some(q);
            self.events.push_back(Event::Up(q));
        }
        self.phase = Phase::Idle {
            at: now + self.timers.refresh,
        };
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.transmits.is_empty() {
            None
        } else {
            Some(self.transmits.remove(0))
        }
    }

    /// Next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}
