//! The sans-IO port mapper: PCP (RFC 6887) first, NAT-PMP (RFC 6886) when
//! the gateway does not speak PCP, renewal, loss detection, deletion.
//!
//! One [`PortMapper`] maps one internal UDP port. It never opens a socket or
//! reads the clock: the driver sends [`Outputs::transmits`] to the gateway
//! from any socket on the internal address (PCP checks the client address,
//! RFC 6887 §7.4 ADDRESS_MISMATCH, not the port; the mapped socket itself
//! is simplest, as answers then arrive where the driver already reads),
//! hands every datagram from the gateway's port 5351 to
//! [`PortMapper::handle_packet`], and calls [`PortMapper::handle_timeout`]
//! at [`PortMapper::poll_timeout`].

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use crate::epoch::EpochTracker;
use crate::{natpmp, pcp, Protocol};

mod types;
pub use types::{Config, Event, Failure, Outputs, Stats, Timers, Transmit};

/// Port of PCP and NAT-PMP servers (RFC 6887 §19.1, RFC 6886 §3.1).
pub const SERVER_PORT: u16 = 5351;

/// Longest lifetime we plan with: RFC 6887 §15 has servers cap lifetimes at
/// about a day anyway, and the cap keeps `Instant` additions from overflow.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mapping {
    protocol: Protocol,
    external: SocketAddrV4,
    lifetime: Duration,
    expires: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Requests outstanding; `sent` so far in this round.
    Asking {
        protocol: Protocol,
        sent: u32,
        deadline: Instant,
    },
    /// Nothing outstanding until `at` (renewal, or retry after a failure).
    Idle { at: Instant },
    /// [`PortMapper::stop`] was called.
    Stopped,
}

/// NAT-PMP needs two answers for one mapping: the address (RFC 6886 §3.2)
/// and the port (RFC 6886 §3.3).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct NatPmpRound {
    address: Option<Ipv4Addr>,
    mapping: Option<(u16, u32)>,
}

/// The mapping state machine for one UDP port.
#[derive(Debug)]
pub struct PortMapper {
    config: Config,
    phase: Phase,
    mapping: Option<Mapping>,
    /// The last external endpoint granted, suggested again after a loss so
    /// that a rebooted gateway tends to give the same one back.
    last_external: Option<SocketAddrV4>,
    natpmp: NatPmpRound,
    epoch: EpochTracker,
    /// [`Event::Failed`] in a row, for the back-off.
    failures: u32,
    stats: Stats,
    out: Outputs,
}

impl PortMapper {
    /// A mapper whose first [`PortMapper::handle_timeout`], due at `now`,
    /// sends the first PCP request.
    pub fn new(config: Config, now: Instant) -> Self {
        PortMapper {
            config,
            phase: Phase::Idle { at: now },
            mapping: None,
            last_external: None,
            natpmp: NatPmpRound::default(),
            epoch: EpochTracker::default(),
            failures: 0,
            stats: Stats::default(),
            out: Outputs::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current mapping: protocol and external endpoint.
    pub fn mapping(&self) -> Option<(Protocol, SocketAddrV4)> {
        self.mapping.map(|m| (m.protocol, m.external))
    }

    /// Dropped datagrams so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The address answers must come from.
    pub fn server(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.config.gateway, SERVER_PORT)
    }

    /// When [`PortMapper::handle_timeout`] must be called next; `None` once stopped.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let at = match self.phase {
            Phase::Asking { deadline, .. } => deadline,
            Phase::Idle { at } => at,
            Phase::Stopped => return None,
        };
        Some(self.mapping.map_or(at, |m| at.min(m.expires)))
    }

    /// Advance timers.
    pub fn handle_timeout(&mut self, now: Instant) -> Outputs {
        self.timeout(now);
        std::mem::take(&mut self.out)
    }

    /// A datagram that arrived from `from`.
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddrV4, payload: &[u8]) -> Outputs {
        self.packet(now, from, payload);
        std::mem::take(&mut self.out)
    }

    /// Deletes the mapping (lifetime 0, RFC 6887 §15, RFC 6886 §3.4) and stops.
    /// The delete is sent once, best effort: a lost one expires with its
    /// lifetime. A request still unanswered may have been granted, so its
    /// protocol gets a delete too.
    pub fn stop(&mut self, _now: Instant) -> Outputs {
        let protocol = match (self.mapping, self.phase) {
            (Some(m), _) => Some(m.protocol),
            (None, Phase::Asking { protocol, .. }) => Some(protocol),
            _ => None,
        };
        match protocol {
            Some(Protocol::Pcp) => self.send_pcp(0),
            Some(Protocol::NatPmp) => self.send_natpmp_mapping(0, 0),
            None => {}
        }
        self.mapping = None;
        self.phase = Phase::Stopped;
        std::mem::take(&mut self.out)
    }

    fn timeout(&mut self, now: Instant) {
        if let Some(m) = self.mapping {
            if now >= m.expires && self.phase != Phase::Stopped {
                self.lose(now);
                return;
            }
        }
        match self.phase {
            Phase::Idle { at } if now >= at => match self.mapping {
                Some(m) => self.start_round(now, m.protocol),
                None => self.start_round(now, Protocol::Pcp),
            },
            Phase::Asking {
                protocol,
                sent,
                deadline,
            } if now >= deadline => {
                if sent < self.config.timers.tries {
                    self.send_round(now, protocol, sent);
                } else {
                    self.round_unanswered(now, protocol);
                }
            }
            _ => {}
        }
    }

    fn round_unanswered(&mut self, now: Instant, protocol: Protocol) {
        if let Some(m) = self.mapping {
            // A silent renewal is not a lost mapping yet: try again halfway
            // to the expiry, as DHCP does, and give up only at the expiry.
            let left = m.expires.saturating_duration_since(now);
            let wait = (left / 2).max(Duration::from_secs(1)).min(left);
            self.phase = Phase::Idle { at: now + wait };
        } else if protocol == Protocol::Pcp {
            self.start_round(now, Protocol::NatPmp);
        } else {
            self.fail(now, Failure::NoAnswer, Duration::ZERO);
        }
    }

    fn start_round(&mut self, now: Instant, protocol: Protocol) {
        self.natpmp = NatPmpRound::default();
        self.send_round(now, protocol, 0);
    }

    /// Sends the round's requests once more; `sent` were sent before.
    fn send_round(&mut self, now: Instant, protocol: Protocol, sent: u32) {
        let lifetime = self.config.lifetime_secs();
        match protocol {
            Protocol::Pcp => self.send_pcp(lifetime),
            Protocol::NatPmp => {
                if self.natpmp.address.is_none() {
                    self.out.transmits.push(Transmit {
                        dst: self.server(),
                        payload: natpmp::external_address_request(),
                    });
                }
                if self.natpmp.mapping.is_none() {
                    let suggested = self
                        .last_external
                        .or(self.config.suggested_external)
                        .map_or(0, |e| e.port());
                    self.send_natpmp_mapping(suggested, lifetime);
                }
            }
        }
        let wait = self
            .config
            .timers
            .first_timeout
            .saturating_mul(1 << sent.min(16));
        self.phase = Phase::Asking {
            protocol,
            sent: sent + 1,
            deadline: now + wait,
        };
    }

    fn send_pcp(&mut self, lifetime: u32) {
        // Renewals and re-mappings suggest what we had (RFC 6887 §11.2.1).
        let (external_port, external_addr) =
            match self.last_external.or(self.config.suggested_external) {
                Some(e) => (e.port(), pcp::mapped(*e.ip())),
                None => (0, pcp::ANY_V4),
            };
        let req = pcp::MapRequest {
            lifetime,
            client: pcp::mapped(self.config.internal_addr),
            map: pcp::MapBody {
                nonce: self.config.nonce,
                protocol: pcp::PROTO_UDP,
                internal_port: self.config.internal_port,
                external_port,
                external_addr,
            },
        };
        self.out.transmits.push(Transmit {
            dst: self.server(),
            payload: req.emit(),
        });
    }

    fn send_natpmp_mapping(&mut self, external_port: u16, lifetime: u32) {
        let req = natpmp::MappingRequest {
            opcode: natpmp::OP_MAP_UDP,
            internal_port: self.config.internal_port,
            external_port,
            lifetime,
        };
        self.out.transmits.push(Transmit {
            dst: self.server(),
            payload: req.emit(),
        });
    }

    /// The mapping is gone: say so and ask again at once, with the same
    /// protocol since the gateway just answered in it.
    fn lose(&mut self, now: Instant) {
        if let Some(m) = self.mapping.take() {
            self.out.events.push(Event::Lost);
            self.start_round(now, m.protocol);
        }
    }

    /// Gives up for now; `hint` is how long the server said its error will
    /// last (RFC 6887 §7.2), a floor for the pause.
    fn fail(&mut self, now: Instant, failure: Failure, hint: Duration) {
        if self.mapping.take().is_some() {
            self.out.events.push(Event::Lost);
        }
        self.out.events.push(Event::Failed(failure));
        let t = self.config.timers;
        let backoff = t
            .retry_min
            .saturating_mul(1 << self.failures.min(16))
            .min(t.retry_max);
        self.failures = self.failures.saturating_add(1);
        let pause = backoff.max(hint.min(t.retry_max));
        self.phase = Phase::Idle { at: now + pause };
    }

    fn accept(&mut self, now: Instant, protocol: Protocol, external: SocketAddrV4, lifetime: u32) {
        let lifetime = Duration::from_secs(u64::from(lifetime)).min(MAX_LIFETIME);
        self.failures = 0;
        let changed = self.mapping.map(|m| (m.protocol, m.external)) != Some((protocol, external));
        self.mapping = Some(Mapping {
            protocol,
            external,
            lifetime,
            expires: now + lifetime,
        });
        self.last_external = Some(external);
        if changed {
            self.out.events.push(Event::Mapped {
                protocol,
                external,
                lifetime,
            });
        }
        // RFC 6887 §11.2.1: renew at half the lifetime.
        self.phase = Phase::Idle {
            at: now + lifetime / 2,
        };
    }

    /// The protocol answers are read in: the one being asked, else the one
    /// that holds the mapping (for announcements).
    fn listening(&self) -> Option<Protocol> {
        match (self.phase, self.mapping) {
            (Phase::Stopped, _) => None,
            (Phase::Asking { protocol, .. }, _) => Some(protocol),
            (_, Some(m)) => Some(m.protocol),
            (_, None) => None,
        }
    }

    fn asking(&self, protocol: Protocol) -> bool {
        matches!(self.phase, Phase::Asking { protocol: p, .. } if p == protocol)
    }

    /// Checks the epoch of an answer we accepted as ours; false (and the
    /// mapping re-asked for) when the gateway lost its state.
    fn epoch_ok(&mut self, now: Instant, protocol: Protocol, epoch: u32) -> bool {
        if self.epoch.check(protocol, now, epoch) || self.mapping.is_none() {
            return true;
        }
        self.lose(now);
        false
    }

    fn packet(&mut self, now: Instant, from: SocketAddrV4, payload: &[u8]) {
        if from != self.server() {
            self.stats.wrong_source += 1;
            return;
        }
        match self.listening() {
            Some(Protocol::Pcp) => self.pcp_packet(now, payload),
            Some(Protocol::NatPmp) => self.natpmp_packet(now, payload),
            None => self.stats.unexpected += 1,
        }
    }

    fn pcp_packet(&mut self, now: Instant, payload: &[u8]) {
        let resp = match pcp::Response::parse(payload) {
            Ok(r) => r,
            Err(pcp::Error::Version(_)) if self.asking(Protocol::Pcp) && self.mapping.is_none() => {
                // RFC 6887 §9: a NAT-PMP-only gateway answers version 0.
                self.start_round(now, Protocol::NatPmp);
                return;
            }
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        if resp.opcode == pcp::OP_ANNOUNCE {
            // An unsolicited ANNOUNCE after a restart (RFC 6887 §14):
            // only its epoch matters.
            if resp.result == pcp::ResultCode::Success {
                self.epoch_ok(now, Protocol::Pcp, resp.epoch);
            } else {
                self.stats.mismatched += 1;
            }
            return;
        }
        let Some(map) = resp.map.filter(|m| {
            m.nonce == self.config.nonce
                && m.protocol == pcp::PROTO_UDP
                && m.internal_port == self.config.internal_port
        }) else {
            self.stats.mismatched += 1;
            return;
        };
        if !self.asking(Protocol::Pcp) {
            self.stats.unexpected += 1;
            return;
        }
        if !self.epoch_ok(now, Protocol::Pcp, resp.epoch) {
            return;
        }
        match resp.result {
            pcp::ResultCode::Success => {
                let external = map
                    .external_addr
                    .to_ipv4_mapped()
                    .map(|ip| SocketAddrV4::new(ip, map.external_port));
                match external {
                    // Teredo needs an IPv4 endpoint; a port 0 or lifetime 0
                    // "success" grants nothing usable.
                    Some(e) if e.port() != 0 && resp.lifetime != 0 => {
                        self.accept(now, Protocol::Pcp, e, resp.lifetime);
                    }
                    _ => self.stats.malformed += 1,
                }
            }
            pcp::ResultCode::UnsuppVersion if self.mapping.is_none() => {
                self.start_round(now, Protocol::NatPmp);
            }
            code => {
                let hint = Duration::from_secs(u64::from(resp.lifetime));
                self.fail(now, Failure::Pcp(code), hint);
            }
        }
    }

    fn natpmp_packet(&mut self, now: Instant, payload: &[u8]) {
        let resp = match natpmp::Response::parse(payload) {
            Ok(r) => r,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        match (resp.opcode, resp.body) {
            (natpmp::OP_EXTERNAL_ADDRESS, _) => self.natpmp_address(now, resp),
            (natpmp::OP_MAP_UDP, natpmp::Body::Mapping { internal_port, .. })
                if internal_port == self.config.internal_port =>
            {
                self.natpmp_mapping(now, resp)
            }
            // An error may come without a body to check (RFC 6886 §3.5);
            // only the one we are waiting for counts.
            (natpmp::OP_MAP_UDP, natpmp::Body::None)
                if resp.result != natpmp::ResultCode::Success =>
            {
                self.natpmp_mapping(now, resp)
            }
            _ => self.stats.mismatched += 1,
        }
    }

    fn natpmp_address(&mut self, now: Instant, resp: natpmp::Response) {
        let asking = self.asking(Protocol::NatPmp);
        if !asking && resp.result != natpmp::ResultCode::Success {
            self.stats.unexpected += 1;
            return;
        }
        // Gateways multicast this answer when their address changes (RFC
        // 6886 §3.2.1), so it may come while idle.
        if !self.epoch_ok(now, Protocol::NatPmp, resp.epoch) {
            return;
        }
        let natpmp::Body::ExternalAddress(addr) = resp.body else {
            self.fail(now, Failure::NatPmp(resp.result), Duration::ZERO);
            return;
        };
        if resp.result != natpmp::ResultCode::Success {
            self.fail(now, Failure::NatPmp(resp.result), Duration::ZERO);
        } else if asking {
            self.natpmp.address = Some(addr);
            self.natpmp_complete(now);
        } else if self.mapping.is_some_and(|m| *m.external.ip() != addr) {
            // The mapping's port may have moved with the address: ask again.
            self.start_round(now, Protocol::NatPmp);
        }
    }

    fn natpmp_mapping(&mut self, now: Instant, resp: natpmp::Response) {
        if !self.asking(Protocol::NatPmp) {
            self.stats.unexpected += 1;
            return;
        }
        if !self.epoch_ok(now, Protocol::NatPmp, resp.epoch) {
            return;
        }
        match resp.body {
            natpmp::Body::Mapping {
                external_port,
                lifetime,
                ..
            } if resp.result == natpmp::ResultCode::Success => {
                if external_port == 0 || lifetime == 0 {
                    self.stats.malformed += 1;
                    return;
                }
                self.natpmp.mapping = Some((external_port, lifetime));
                self.natpmp_complete(now);
            }
            _ => self.fail(now, Failure::NatPmp(resp.result), Duration::ZERO),
        }
    }

    fn natpmp_complete(&mut self, now: Instant) {
        if let NatPmpRound {
            address: Some(addr),
            mapping: Some((port, lifetime)),
        } = self.natpmp
        {
            self.accept(
                now,
                Protocol::NatPmp,
                SocketAddrV4::new(addr, port),
                lifetime,
            );
        }
    }
}

#[cfg(test)]
mod tests;
