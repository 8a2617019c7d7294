//! RFC 4380 §5.2.1's NAT tests, run after qualifying (our extension: miredo
//! 1.2.6 dropped them). They decide nothing about the address, which never
//! takes the cone flag (RFC 5991 §3); they tell the user, and the port-mapping
//! decision, what kind of NAT is in front of the client.
//!
//! 1. **Cone test**: an RS from the cone link-local address to the server in
//!    use, which answers it from its *other* address. Only a NAT that lets in
//!    any host (endpoint-independent filtering) passes that answer. It runs
//!    first, while the client has not yet sent anything to the other address.
//! 2. **Mapping test**: a plain RS to the server's second address (the first +
//!    1, as miredo-server binds by default). The mapping it reports, compared
//!    with the one the first address saw, tells a symmetric NAT.
//!
//! Each RS is sent twice at most, one RS timeout apart, so one lost datagram
//! does not make a cone look restricted.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use super::{Event, Maintainer, Transmit};
use crate::addr::{self, TEREDO_PORT};
use crate::qualified::NatTests;
use crate::wire::{emit_cone_rs, emit_rs, TeredoPacketRepr};

/// Tries per test.
const ATTEMPTS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Cone,
    Mapping,
}

/// The tests under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NatProbe {
    step: Step,
    /// The server in use, whose address the RAs must name.
    server: Ipv4Addr,
    nonce: [u8; 8],
    deadline: Instant,
    attempts: u32,
    cone: bool,
}

impl NatProbe {
    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// The server's second address, as miredo-server binds it by default.
fn secondary_of(server: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(server).wrapping_add(1))
}

impl Maintainer {
    /// Starts the tests towards `server`, replacing any under way.
    pub(super) fn start_nat_tests(&mut self, now: Instant, server: Ipv4Addr) {
        let nonce = self.next_nonce(server);
        self.nat_probe = Some(NatProbe {
            step: Step::Cone,
            server,
            nonce,
            deadline: now,
            attempts: 0,
            cone: false,
        });
        self.send_nat_rs(now);
    }

    fn send_nat_rs(&mut self, now: Instant) {
        let timeout = self.rs_timeout();
        let Some(p) = self.nat_probe.as_mut() else {
            return;
        };
        p.attempts += 1;
        p.deadline = now + timeout;
        let (dst, payload) = match p.step {
            Step::Cone => (p.server, emit_cone_rs(p.nonce)),
            Step::Mapping => (secondary_of(p.server), emit_rs(p.nonce)),
        };
        self.out.transmits.push(Transmit {
            dst: SocketAddrV4::new(dst, TEREDO_PORT),
            payload,
        });
    }

    fn next_nat_step(&mut self, now: Instant, cone: bool) {
        let Some(p) = self.nat_probe else { return };
        let secondary = secondary_of(p.server);
        if !addr::is_global_unicast_v4(secondary) {
            self.finish_nat_tests(cone, None);
            return;
        }
        let nonce = self.next_nonce(secondary);
        self.nat_probe = Some(NatProbe {
            step: Step::Mapping,
            nonce,
            attempts: 0,
            cone,
            ..p
        });
        self.send_nat_rs(now);
    }

    fn finish_nat_tests(&mut self, cone: bool, secondary_mapping: Option<SocketAddrV4>) {
        self.nat_probe = None;
        self.out.events.push(Event::NatTested(NatTests {
            cone,
            secondary_mapping,
        }));
    }

    pub(super) fn nat_tests_timeout(&mut self, now: Instant) {
        let Some(p) = self.nat_probe else { return };
        if now < p.deadline {
            return;
        }
        if p.attempts < ATTEMPTS {
            self.send_nat_rs(now);
            return;
        }
        match p.step {
            Step::Cone => self.next_nat_step(now, false),
            Step::Mapping => self.finish_nat_tests(p.cone, None),
        }
    }

    /// An RA with our nonce for the tests; true if it was theirs.
    pub(super) fn nat_tests_packet(
        &mut self,
        now: Instant,
        nonce: [u8; 8],
        packet: &TeredoPacketRepr<'_>,
    ) -> bool {
        let Some(p) = self.nat_probe.filter(|p| p.nonce == nonce) else {
            return false;
        };
        // Both answers name the server in use in their prefix: the second
        // address answers for the same server (RFC 4380 §5.3.1).
        let Some(offer) = self.offer(packet, p.server) else {
            return true;
        };
        match p.step {
            Step::Cone => self.next_nat_step(now, true),
            Step::Mapping => self.finish_nat_tests(p.cone, Some(offer.origin)),
        }
        true
    }
}
