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
//!
//! # Several servers (our extension)
//!
//! miredo knows one server. Given several (in order of preference), the
//! maintainer qualifies with the first that answers. When the server in use
//! misses an RS, the next one is *probed* with an RS of its own; if the server
//! in use then misses a second RS and the probe was answered, the client moves
//! to the other server at once (its address changes: the server's IPv4 is part
//! of it, RFC 4380 §4). While on a server other than the preferred one, each
//! refresh also probes the preferred one; after two probes answered in a row it
//! returns there. One lost datagram therefore never moves the client, and a
//! server that answers only now and then cannot make it flap at every refresh.

mod address;
mod nat_tests;
mod types;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use crate::addr::{self, TEREDO_PORT};
use crate::security::Secret;
use crate::wire::emit_rs;
use crate::wire::TeredoPacketRepr;
pub use types::{Event, LogMessage, Outputs, Qualified, State, Timers, Transmit, DEFAULT_MTU};

/// Unanswered RS in a row after which an answered probe moves the client.
const FAILOVER_AFTER_MISSES: u32 = 2;
/// Probes of the preferred server answered in a row before returning to it.
const RETURN_AFTER_ANSWERS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the driver to resolve the server.
    Resolving,
    /// RS outstanding; `deadline` is when it times out.
    Soliciting { deadline: Instant, nonce: [u8; 8] },
    /// Qualified (or pausing); next RS at `at`.
    Idle { at: Instant },
}

/// What a checked Router Advertisement offers: the address it would give us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Offer {
    prefix: u32,
    origin: SocketAddrV4,
    mtu: u16,
}

/// An RS sent to a server other than the one in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Probe {
    /// Index in `Maintainer::servers`.
    server: usize,
    nonce: [u8; 8],
    deadline: Instant,
    /// The answer, once it came.
    offer: Option<Offer>,
}

/// The qualification state machine of one Teredo client.
#[derive(Debug)]
pub struct Maintainer {
    timers: Timers,
    secret: Secret,
    pid: u32,
    /// Resolved servers, most preferred first; empty until resolved.
    servers: Vec<Ipv4Addr>,
    /// Index of the server in use in `servers`.
    current: usize,
    /// Servers given up on in a row, to know when every one has been tried.
    failed_servers: usize,
    /// Where the next fail-over probe goes (an index into `servers`).
    next_probe: usize,
    probe: Option<Probe>,
    /// Whether to run the NAT tests after each new qualification.
    nat_tests: bool,
    /// The NAT tests under way, after a new qualification.
    nat_probe: Option<nat_tests::NatProbe>,
    /// Probes of the preferred server answered in a row.
    preferred_streak: u32,
    phase: Phase,
    qualified: Option<Qualified>,
    /// A port mapping on the NAT (`set_port_mapping`).
    port_mapping: Option<SocketAddrV4>,
    /// The (server, mapping) the NAT tests last ran for.
    tested: Option<(Ipv4Addr, SocketAddrV4)>,
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
    /// What the current call produced, handed back when it returns.
    out: Outputs,
}

impl Maintainer {
    /// A maintainer whose first [`Maintainer::handle_timeout`], due at `now`,
    /// asks for the server's address ([`Event::ResolveServer`]).
    pub fn new(timers: Timers, secret: Secret, pid: u32, now: Instant) -> Self {
        // No server yet and `phase` due at `now`: the first `handle_timeout`
        // asks for one.
        Maintainer {
            timers,
            secret,
            pid,
            servers: Vec::new(),
            current: 0,
            failed_servers: 0,
            next_probe: 0,
            probe: None,
            nat_tests: true,
            nat_probe: None,
            preferred_streak: 0,
            phase: Phase::Idle { at: now },
            qualified: None,
            port_mapping: None,
            tested: None,
            previous_mapping: None,
            failures: 0,
            failed_rounds: 0,
            no_reply_logged: false,
            generation: 0,
            out: Outputs::default(),
        }
    }

    /// Whether to run RFC 4380 §5.2.1's NAT tests after each new
    /// qualification (default: yes). Without them [`Event::NatTested`] never
    /// comes and only the RS of qualification and refresh are sent, as by
    /// miredo 1.2.6.
    pub fn with_nat_tests(mut self, on: bool) -> Self {
        self.nat_tests = on;
        self
    }

    /// Current state.
    pub fn state(&self) -> State {
        match (self.qualified, self.phase) {
            (Some(_), _) => State::Up,
            (None, Phase::Soliciting { .. }) => State::Qualifying,
            (None, _) => State::Down,
        }
    }

    /// Our address, when up.
    pub fn qualified(&self) -> Option<&Qualified> {
        self.qualified.as_ref()
    }

    /// The IPv4 address of the server in use, once resolved.
    pub fn server(&self) -> Option<Ipv4Addr> {
        self.servers.get(self.current).copied()
    }

    fn several(&self) -> bool {
        self.servers.len() > 1
    }

    fn refresh(&self) -> Duration {
        if self.several() {
            self.timers.failover_refresh
        } else {
            self.timers.refresh
        }
    }

    fn rs_timeout(&self) -> Duration {
        if self.several() {
            self.timers.failover_rs_timeout
        } else {
            self.timers.rs_timeout
        }
    }

    fn need_server(&mut self) {
        self.servers.clear();
        self.current = 0;
        self.probe = None;
        self.nat_probe = None;
        self.phase = Phase::Resolving;
        self.out.events.push(Event::ResolveServer);
    }

    /// The driver's answer to [`Event::ResolveServer`]: every IPv4 address of
    /// every configured server, most preferred first (empty when none resolved).
    pub fn server_resolved(&mut self, now: Instant, servers: &[Ipv4Addr]) -> Outputs {
        self.resolved(now, servers);
        std::mem::take(&mut self.out)
    }

    fn resolved(&mut self, now: Instant, servers: &[Ipv4Addr]) {
        if self.phase != Phase::Resolving {
            return;
        }
        if servers.is_empty() {
            self.out.events.push(Event::Log(LogMessage::ResolveFailed));
            self.pause_after_failure(now);
            return;
        }
        let mut usable = Vec::with_capacity(servers.len());
        for &ip in servers {
            if !addr::is_global_unicast_v4(ip) {
                self.out
                    .events
                    .push(Event::Log(LogMessage::NonGlobalServer(ip)));
            } else if !usable.contains(&ip) {
                usable.push(ip);
            }
        }
        if usable.is_empty() {
            self.pause_after_failure(now);
            return;
        }
        self.servers = usable;
        self.current = 0;
        self.failed_servers = 0;
        self.next_probe = 0;
        self.preferred_streak = 0;
        self.start_round(now);
    }

    /// Start a new round of RS right now, e.g. because an IPv4 address or the
    /// default route changed. The current address stays until an RA says otherwise
    /// or the round fails.
    pub fn requalify(&mut self, now: Instant) -> Outputs {
        self.start_again(now);
        std::mem::take(&mut self.out)
    }

    fn start_again(&mut self, now: Instant) {
        match self.phase {
            Phase::Resolving => {}
            _ if self.servers.is_empty() => self.need_server(),
            _ => {
                self.failed_rounds = 0;
                self.start_round(now);
            }
        }
    }

    fn start_round(&mut self, now: Instant) {
        self.failures = 0;
        self.probe = None;
        self.send_rs(now);
        if self.qualified.is_some() && self.current != 0 {
            // Away from the preferred server: see whether it is back.
            self.send_probe(now, 0);
        }
    }

    fn next_nonce(&mut self, server: Ipv4Addr) -> [u8; 8] {
        self.generation = self.generation.wrapping_add(1);
        self.secret.rs_nonce(server, self.pid, self.generation)
    }

    fn send_rs(&mut self, now: Instant) {
        let Some(server) = self.server() else {
            self.need_server();
            return;
        };
        let nonce = self.next_nonce(server);
        self.out.transmits.push(Transmit {
            dst: SocketAddrV4::new(server, TEREDO_PORT),
            payload: emit_rs(nonce),
        });
        if self.qualified.is_none() && !matches!(self.phase, Phase::Soliciting { .. }) {
            self.out.events.push(Event::Qualifying);
        }
        self.phase = Phase::Soliciting {
            deadline: now + self.rs_timeout(),
            nonce,
        };
    }

    fn send_probe(&mut self, now: Instant, index: usize) {
        let Some(&server) = self.servers.get(index) else {
            return;
        };
        let nonce = self.next_nonce(server);
        self.out.transmits.push(Transmit {
            dst: SocketAddrV4::new(server, TEREDO_PORT),
            payload: emit_rs(nonce),
        });
        self.probe = Some(Probe {
            server: index,
            nonce,
            deadline: now + self.rs_timeout(),
            offer: None,
        });
    }

    /// The next server to probe when the one in use stops answering.
    fn failover_candidate(&mut self) -> usize {
        let n = self.servers.len();
        let mut i = self.next_probe % n;
        if i == self.current {
            i = (i + 1) % n;
        }
        self.next_probe = i + 1;
        i
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
        let phase = match self.phase {
            Phase::Resolving => None,
            Phase::Soliciting { deadline, .. } => Some(deadline),
            Phase::Idle { at } => Some(at),
        };
        let probe = self.probe.filter(|p| p.offer.is_none()).map(|p| p.deadline);
        let nat = self.nat_probe.map(|p| p.deadline());
        phase.into_iter().chain(probe).chain(nat).min()
    }

    /// Advance timers.
    pub fn handle_timeout(&mut self, now: Instant) -> Outputs {
        self.timeout(now);
        std::mem::take(&mut self.out)
    }

    fn timeout(&mut self, now: Instant) {
        self.nat_tests_timeout(now);
        if let Some(p) = self.probe {
            if p.offer.is_none() && now >= p.deadline {
                if p.server == 0 {
                    self.preferred_streak = 0;
                }
                self.probe = None;
            }
        }
        match self.phase {
            Phase::Resolving => {}
            Phase::Idle { at } if now >= at => {
                if self.servers.is_empty() {
                    self.need_server();
                } else {
                    self.start_round(now);
                }
            }
            Phase::Soliciting { deadline, .. } if now >= deadline => self.missed(now),
            _ => {}
        }
    }

    /// The RS to the server in use went unanswered.
    fn missed(&mut self, now: Instant) {
        self.failures += 1;
        if self.several() && self.probe.is_none() {
            let next = self.failover_candidate();
            self.send_probe(now, next);
        }
        if self.switch_if_due(now) {
            return;
        }
        if self.failures < self.timers.max_attempts {
            self.send_rs(now);
            return;
        }
        if !self.no_reply_logged {
            self.no_reply_logged = true;
            self.out.events.push(Event::Log(LogMessage::NoReply));
        }
        let was_up = self.qualified.take().is_some();
        if was_up {
            self.nat_probe = None;
            self.tested = None;
            self.out.events.push(Event::Down);
        }
        self.failed_servers += 1;
        if self.several() && self.failed_servers < self.servers.len() {
            // Another server is left to try: no pause.
            self.current = (self.current + 1) % self.servers.len();
            self.start_round(now);
            return;
        }
        self.failed_servers = 0;
        if was_up {
            // Re-resolve: the server may have moved (miredo does too, docs/protocol-notes.md).
            self.servers.clear();
        }
        self.current = 0;
        self.pause_after_failure(now);
    }

    /// Moves to the probed server when its answer is in hand and either the
    /// server in use stopped answering or the probe was the preferred server's
    /// second answer in a row.
    fn switch_if_due(&mut self, now: Instant) -> bool {
        let Some(Probe {
            server: index,
            offer: Some(offer),
            ..
        }) = self.probe
        else {
            return false;
        };
        let lost = self.failures >= FAILOVER_AFTER_MISSES;
        let back_home = index == 0
            && self.current != 0
            && self.qualified.is_some()
            && self.preferred_streak >= RETURN_AFTER_ANSWERS;
        if !lost && !back_home {
            return false;
        }
        let Some(&server) = self.servers.get(index) else {
            return false;
        };
        self.current = index;
        self.failed_servers = 0;
        self.preferred_streak = 0;
        self.probe = None;
        self.accept(now, server, offer);
        true
    }

    /// Is this datagram for us (RFC 4380 §5.2.1)? Such packets must be given
    /// to [`Maintainer::handle_packet`] and never to the kernel.
    pub fn is_qualification_packet(from: SocketAddrV4, packet: &TeredoPacketRepr<'_>) -> bool {
        crate::qualified::is_qualification_packet(from, packet)
    }

    /// A datagram that passed [`Maintainer::is_qualification_packet`].
    pub fn handle_packet(&mut self, now: Instant, packet: &TeredoPacketRepr<'_>) -> Outputs {
        self.packet(now, packet);
        std::mem::take(&mut self.out)
    }

    fn packet(&mut self, now: Instant, packet: &TeredoPacketRepr<'_>) {
        let Some(auth) = &packet.auth else { return };
        if let (Phase::Soliciting { nonce, .. }, Some(server)) = (self.phase, self.server()) {
            if auth.nonce == nonce {
                if let Some(offer) = self.offer(packet, server) {
                    self.accept(now, server, offer);
                }
                return;
            }
        }
        if self.nat_tests_packet(now, auth.nonce, packet) {
            return;
        }
        let Some(probe) = self
            .probe
            .filter(|p| p.offer.is_none() && p.nonce == auth.nonce)
        else {
            return;
        };
        let Some(&server) = self.servers.get(probe.server) else {
            return;
        };
        let Some(offer) = self.offer(packet, server) else {
            return;
        };
        self.probe = Some(Probe {
            offer: Some(offer),
            ..probe
        });
        if probe.server == 0 {
            self.preferred_streak = self.preferred_streak.saturating_add(1);
        }
        self.switch_if_due(now);
    }
}
