//! Port prediction behind a port-preserving or a sequential symmetric NAT
//! (RFC 6081 §3.3 and §3.4, the Random Port Trailer of §4; our reading of
//! them, see `docs/nat-traversal.md#port-prediction`).
//!
//! A symmetric NAT gives each destination its own mapping, so the mapping our
//! address names (the one towards our server) is of no use to a peer behind a
//! port-restricted NAT: our direct bubble reaches it from a port it never
//! wrote to. Many symmetric NATs **preserve the port** when they can: a new
//! mapping keeps the inside port as its public port unless that port is
//! already taken. Our Teredo port is taken (by the mapping towards the
//! server), but a fresh local port is not. So, towards each peer, the client
//! writes from a socket of its own — a *side port* `R` the driver binds — and
//! tells the peer, in a Random Port trailer on the indirect bubble, that it
//! will appear as our public IPv4 and port `R`. The peer bubbles that
//! endpoint, which opens its NAT to it, and from then on the two talk through
//! that pair of mappings.
//!
//! A **sequential** NAT gives each new mapping the next port of one counter
//! (RFC 6081 §3.4). There the side port's first datagram is a router
//! solicitation to our server, whose answer names the mapping it got, `c`;
//! its second is the direct bubble to the peer, which gets `c + step` (the
//! step the NAT tests saw between the mappings towards the server's two
//! addresses). That prediction goes in the trailer once the answer is in. It
//! fails when another host behind the NAT takes a port in between, and then
//! the peer is reached as without prediction.
//!
//! What is ours, beyond RFC 4380:
//! - **The side port's sender.** The first datagram from `R` goes to the peer
//!   (the direct bubble to the mapping in its address), so the mapping the
//!   NAT preserves is the one towards the peer. Every later datagram to that
//!   peer, data included, leaves from `R` ([`Action::TransmitVia`]).
//! - **The receiver's side.** A bubble forwarded by our server with a Random
//!   Port trailer is answered at the origin, as RFC 4380 §5.2.3 says, and also
//!   at the origin's IPv4 with the trailer's port — never another IPv4, within
//!   the limits of `replies`, so a forged trailer buys one bubble to a host
//!   the server already saw. Whatever arrives from there is still checked as
//!   any packet from a port its address does not name (keyed bubbles,
//!   `rx.rs`).
//! - **Peers that reach us first.** When an indirect bubble arrives from a
//!   peer we have no side port for, we take one, answer from it, and send the
//!   peer our own indirect bubble with the trailer: one more round trip.
//!
//! The driver turns prediction on when the NAT tests found a symmetric NAT
//! that kept our port towards the first server address
//! ([`TeredoTunnel::set_port_prediction`]), keeps a small stock of bound side
//! sockets ([`TeredoTunnel::side_ports_wanted`],
//! [`TeredoTunnel::add_side_port`]) and closes those whose peer left the
//! list ([`TeredoTunnel::take_released_side_ports`]). At most
//! [`MAX_SIDE_PORTS`] are in use: past that, new peers are reached as
//! without prediction.

use std::net::{Ipv6Addr, SocketAddrV4};
use std::time::Instant;

use super::{reply_bubble_from, send_bubble_with, Action, Mode, Outputs, TeredoTunnel};
use crate::addr::{self, TeredoAddr, TEREDO_PORT};
use crate::qualified::PortAllocation;
use crate::wire::emit_rs;
use crate::wire::trailers::Trailers;

/// Side ports kept bound ahead of need, so that the first bubble to a new
/// peer leaves at once.
pub const STOCK: usize = 2;
/// Most side ports in use at once (each holds a socket and a NAT mapping).
pub const MAX_SIDE_PORTS: usize = 32;
/// Most of them given to peers that wrote to us first: anyone who can send
/// from our server's endpoint can make up such peers, and the rest stay for
/// the peers we write to.
pub const MAX_UNSOLICITED: usize = MAX_SIDE_PORTS / 4;

/// One side port given to a peer.
#[derive(Debug, Clone, Copy)]
struct Side {
    via: u16,
    /// The peer's address, and the mapping it names.
    peer: Ipv6Addr,
    mapping: SocketAddrV4,
    /// Our public port towards the peer, once known: the port itself behind
    /// a preserving NAT, the probe's answer plus the step behind a
    /// sequential one.
    announced: Option<u16>,
    /// Taken for a peer that wrote to us first ([`MAX_UNSOLICITED`]).
    unsolicited: bool,
}

/// The side ports: bound by the driver, given to peers, given back.
#[derive(Debug, Default)]
pub(super) struct SidePorts {
    kind: Option<PortAllocation>,
    /// Bound, not yet given to a peer.
    free: Vec<u16>,
    /// Given to peers and not yet given back. A peer's bubble names only its
    /// keyed link-local source, and our server tells us the mapping it came
    /// from: the side is found by that mapping.
    given: Vec<Side>,
    /// To close: free ones when prediction stops.
    released: Vec<u16>,
}

impl SidePorts {
    /// A free side port for the peer `peer` (whose address names
    /// `mapping`), if prediction is on and one is left.
    pub(super) fn take(&mut self, peer: Ipv6Addr, mapping: SocketAddrV4) -> Option<u16> {
        self.take_for(peer, mapping, false)
    }

    fn take_for(
        &mut self,
        peer: Ipv6Addr,
        mapping: SocketAddrV4,
        unsolicited: bool,
    ) -> Option<u16> {
        let kind = self.kind?;
        let via = self.free.pop()?;
        let announced = match kind {
            PortAllocation::Preserving => Some(via),
            PortAllocation::Sequential { .. } => None,
        };
        self.given.push(Side {
            via,
            peer,
            mapping,
            announced,
            unsolicited,
        });
        Some(via)
    }

    fn side(&self, via: u16) -> Option<&Side> {
        self.given.iter().find(|s| s.via == via)
    }

    /// The side port of the peer whose address names `mapping`.
    fn towards(&self, mapping: SocketAddrV4) -> Option<u16> {
        self.given
            .iter()
            .find(|s| s.mapping == mapping)
            .map(|s| s.via)
    }

    /// Our public port towards the peer of side port `via`, if known.
    pub(super) fn announced(&self, via: u16) -> Option<u16> {
        self.side(via).and_then(|s| s.announced)
    }
}

/// The trailers announcing our public port `port` to a peer.
pub(super) fn announce(port: u16) -> Trailers {
    Trailers {
        random_port: Some(port),
        ..Trailers::default()
    }
}

impl TeredoTunnel {
    /// Turns port prediction on for a port-preserving symmetric NAT, or off.
    pub fn set_port_prediction(&mut self, on: bool) {
        self.set_prediction(on.then_some(PortAllocation::Preserving));
    }

    /// Sets how our NAT allocates ports (`None`: prediction off). Off, the
    /// free side ports are given back; peers keep theirs until they leave
    /// the list.
    pub fn set_prediction(&mut self, kind: Option<PortAllocation>) {
        let kind = kind.filter(|_| self.config.mode == Mode::Client);
        self.ports.kind = kind;
        if kind.is_none() {
            let free = std::mem::take(&mut self.ports.free);
            self.ports.released.extend(free);
        }
    }

    /// Whether port prediction is on.
    pub fn port_prediction(&self) -> bool {
        self.ports.kind.is_some()
    }

    /// The prediction in use, if any.
    pub fn prediction(&self) -> Option<PortAllocation> {
        self.ports.kind
    }

    /// How many more side sockets the driver should bind and give with
    /// [`TeredoTunnel::add_side_port`].
    pub fn side_ports_wanted(&self) -> usize {
        if self.ports.kind.is_none() || self.own.is_none() {
            return 0;
        }
        let held = self.ports.given.len() + self.ports.free.len();
        let room = MAX_SIDE_PORTS.saturating_sub(held);
        STOCK.saturating_sub(self.ports.free.len()).min(room)
    }

    /// A side socket the driver bound, by its local port. Given back at once
    /// (in [`TeredoTunnel::take_released_side_ports`]) if prediction is off.
    pub fn add_side_port(&mut self, port: u16) {
        if self.ports.kind.is_some() && port != 0 {
            self.ports.free.push(port);
        } else {
            self.ports.released.push(port);
        }
    }

    /// The side ports nothing will be sent from any more: their peers left
    /// the list, or prediction stopped. The driver closes their sockets.
    pub fn take_released_side_ports(&mut self) -> Vec<u16> {
        let mut ports = std::mem::take(&mut self.ports.released);
        ports.extend(self.peers.take_released_ports());
        self.ports.given.retain(|s| !ports.contains(&s.via));
        ports
    }

    /// True if packets to `peer` should leave from a side port of their own:
    /// prediction is on, our NAT is not open to all (a cone flag or a port
    /// mapping), and the peer is not behind our own NAT (local discovery and
    /// hairpinning reach those).
    pub(super) fn predicts_for(&self, peer: &TeredoAddr) -> bool {
        self.ports.kind.is_some() && !self.own_cone() && !self.behind_our_nat(peer.mapped_ip)
    }

    /// Behind a sequential NAT, before the first datagram to the peer of
    /// side port `via` while our port towards it is unknown: a router
    /// solicitation from `via` to our server, whose answer names the mapping
    /// it got ([`TeredoTunnel::probe_answered`]).
    pub(super) fn probe_side_port(&mut self, via: u16, out: &mut Outputs) {
        let (Some(own), Some(side)) = (self.own, self.ports.side(via)) else {
            return;
        };
        if side.announced.is_some() {
            return;
        }
        let nonce = self.config.secret.probe_nonce(via, side.mapping);
        let server = SocketAddrV4::new(own.server, TEREDO_PORT);
        out.push(Action::TransmitVia(via, server), &emit_rs(nonce));
    }

    /// A datagram from our server with an origin indication arrived on side
    /// port `via`: if it answers that port's probe (its nonce), our port
    /// towards the peer is the next one, announced to the peer at once.
    /// True if it was the probe's answer.
    pub(super) fn probe_answered(
        &mut self,
        now: Instant,
        via: u16,
        nonce: [u8; 8],
        origin: SocketAddrV4,
        out: &mut Outputs,
    ) -> bool {
        let Some(PortAllocation::Sequential { step }) = self.ports.kind else {
            return false;
        };
        let Some(side) = self.ports.given.iter_mut().find(|s| s.via == via) else {
            return false;
        };
        if nonce != self.config.secret.probe_nonce(via, side.mapping) {
            return false;
        }
        let port = origin.port().wrapping_add(step);
        side.announced = Some(port);
        let side = *side;
        self.announce_to(now, &side, port, out);
        true
    }

    /// An indirect bubble to the peer of `side`, through its server, with
    /// our public port towards it, within the limits of `replies`.
    fn announce_to(&mut self, now: Instant, side: &Side, port: u16, out: &mut Outputs) {
        let claimed = TeredoAddr::from_ipv6(&side.peer);
        if !addr::is_global_unicast_v4(claimed.server)
            || self.replies.allow(now, claimed.server).is_err()
        {
            return;
        }
        self.send_announcement(side, port, out);
    }

    /// [`TeredoTunnel::announce_to`] once the limits were checked.
    fn send_announcement(&mut self, side: &Side, port: u16, out: &mut Outputs) {
        let claimed = TeredoAddr::from_ipv6(&side.peer);
        // Our keyed source, as for any bubble to this peer (tx.rs).
        let src = self.config.secret.bubble_source(side.mapping);
        let server = SocketAddrV4::new(claimed.server, TEREDO_PORT);
        send_bubble_with(
            src,
            side.peer,
            Action::Transmit(server),
            Some(&announce(port)),
            &mut self.stats,
            out,
        );
    }

    /// The side port for the peer whose bubble our server forwarded from
    /// `origin`, with source `peer_addr`: the one it has, or, if the source
    /// is its Teredo address and prediction applies, a new one, announced to
    /// it through its server (at once behind a preserving NAT, once the
    /// probe is answered behind a sequential one). `None`: answer from the
    /// Teredo socket.
    ///
    /// A peer of ours writes from a keyed link-local source, which names
    /// nobody: then only the side port we already gave it (looked up by the
    /// mapping the server saw) is found. Where that peer reached us first,
    /// we cannot tell its server our side port (docs/nat-traversal.md).
    pub(super) fn side_port_towards(
        &mut self,
        now: Instant,
        peer_addr: &Ipv6Addr,
        origin: SocketAddrV4,
        out: &mut Outputs,
    ) -> Option<u16> {
        if let Some(via) = self.ports.towards(origin) {
            return Some(via);
        }
        if self.ports.kind.is_none()
            || !self.prefix().is_some_and(|p| addr::is_teredo(peer_addr, p))
        {
            return None;
        }
        if let Some(via) = self.peers.get(peer_addr).and_then(|p| p.via) {
            return Some(via);
        }
        let claimed = TeredoAddr::from_ipv6(peer_addr);
        let unsolicited = self.ports.given.iter().filter(|s| s.unsolicited).count();
        if !self.predicts_for(&claimed)
            || *origin.ip() != claimed.mapped_ip
            || !addr::is_global_unicast_v4(claimed.server)
            || unsolicited >= MAX_UNSOLICITED
            || self.ports.free.is_empty()
        {
            return None;
        }
        // The announcement's share is counted before a port is given, so
        // bubbles the limits refuse take none.
        if self.replies.allow(now, claimed.server).is_err() {
            return None;
        }
        let (mut peer, _) = self.peers.get_or_insert(peer_addr, claimed.mapping())?;
        let via = self.ports.take_for(*peer_addr, claimed.mapping(), true)?;
        peer.via = Some(via);
        let side = *self.ports.side(via)?;
        match side.announced {
            Some(port) => self.send_announcement(&side, port, out),
            // The answer to the peer leaves after the probe.
            None => self.probe_side_port(via, out),
        }
        Some(via)
    }

    /// A bubble our server forwarded from `origin` with `trailers`: if they
    /// announce a side port of the sender (a Random Port trailer), `answer`
    /// (the bubble, addresses swapped) goes there too, at the origin's IPv4
    /// only.
    pub(super) fn answer_random_port(
        &mut self,
        now: Instant,
        answer: (Ipv6Addr, Ipv6Addr),
        origin: SocketAddrV4,
        trailers: &Trailers,
        via: Option<u16>,
        out: &mut Outputs,
    ) {
        let Some(port) = trailers.random_port else {
            return;
        };
        if port == origin.port() {
            return;
        }
        let dst = SocketAddrV4::new(*origin.ip(), port);
        let b = (answer.0, answer.1, dst);
        reply_bubble_from(&mut self.replies, now, b, false, via, &mut self.stats, out);
    }
}
