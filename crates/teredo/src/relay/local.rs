//! Local client discovery (RFC 4380 §5.2.8): two clients behind the same NAT
//! find each other on the local link and talk there, without going through
//! their NAT (which few NATs loop back: "hairpinning").
//!
//! A client sends a *discovery bubble* — a bubble from its Teredo address to
//! all-nodes (`ff02::1`) — to the Teredo discovery group 224.0.0.253, port
//! 3544, when it qualifies, every 200–300 s after that, and when it has a
//! packet for a peer whose address names the same public IPv4 as its own (a
//! peer behind the same NAT), at most once per [`ON_DEMAND_GAP`].
//!
//! A client that hears a discovery bubble from a peer behind its own NAT
//! does not trust the local endpoint it came from on that word. It sends the
//! peer a keyed direct bubble there, exactly as it would to a remote peer's
//! mapping: only the owner of the peer's address answers it, and the answer
//! (RFC 4380 §5.2.3 with miredo's keyed source, `docs/protocol-notes.md`)
//! makes the peer trusted at that endpoint. A multicast discovery is also
//! answered with a unicast one, so the other side learns this client's
//! endpoint the same way.
//!
//! What this trusts: the local link. Anyone on it can claim to be a client
//! behind the same NAT, as anyone on it can answer ARP for the gateway. From
//! outside, a forged discovery bubble gets at most the limited answers of
//! [`super::replies`], sent to endpoints on our own subnet.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use super::{reply_bubble_to, Action, Outputs, TeredoTunnel};
use crate::addr::{self, TeredoAddr, TEREDO_PORT};
use crate::wire::trailers::{Trailers, MAX_ALTERNATES};
use crate::wire::{emit_bubble, TeredoPacket};

/// The Teredo IPv4 discovery address (IANA: 224.0.0.253, "Teredo").
pub const DISCOVERY_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 253);
/// Where discovery bubbles go.
pub const DISCOVERY_DST: SocketAddrV4 = SocketAddrV4::new(DISCOVERY_GROUP, TEREDO_PORT);
/// The inner destination of a discovery bubble: all nodes on the link.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Shortest interval between periodic discovery bubbles (RFC 4380 §5.2.8).
const PERIOD_MIN: Duration = Duration::from_secs(200);
/// The periodic interval is `PERIOD_MIN` plus up to this much.
const PERIOD_SPREAD_SECS: u64 = 100;
/// Shortest interval between discovery bubbles sent for a packet.
pub const ON_DEMAND_GAP: Duration = Duration::from_secs(2);

/// The client's local link, as the driver found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalLink {
    /// Our IPv4 address on it.
    pub addr: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// The port of our Teredo socket: with `addr`, where a peer on the link
    /// reaches us.
    pub port: u16,
}

impl LocalLink {
    /// True if `ip` is on this link's subnet (and is not ours).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let len = u32::from(self.prefix_len.min(32));
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        ip != self.addr && (u32::from(ip) & mask) == (u32::from(self.addr) & mask)
    }
}

/// Local discovery's state in a client tunnel.
#[derive(Debug)]
pub(super) struct LocalDiscovery {
    /// Set by the driver once it listens to the discovery group.
    link: Option<LocalLink>,
    /// The next periodic discovery bubble; `None`: at once.
    next: Option<Instant>,
    /// A time in the past, for "at once".
    epoch: Instant,
    /// The last discovery bubble sent (periodic or for a packet).
    last_sent: Option<Instant>,
    /// Mixed into the periodic interval so clients do not synchronise.
    sent: u64,
}

impl LocalDiscovery {
    pub(super) fn new(now: Instant) -> Self {
        LocalDiscovery {
            link: None,
            next: None,
            epoch: now,
            last_sent: None,
            sent: 0,
        }
    }

    /// The next discovery bubble goes out at the first chance.
    pub(super) fn due_now(&mut self) {
        self.next = None;
    }
}

impl TeredoTunnel {
    /// Turns local discovery on, for our address `link` on the local link,
    /// or off (`None`). Clients only; the driver calls it once it listens to
    /// [`DISCOVERY_GROUP`] and feeds what arrives there to
    /// [`TeredoTunnel::handle_discovery_datagram`].
    pub fn set_local_link(&mut self, link: Option<LocalLink>) {
        let link = link.filter(|_| self.config.mode == super::Mode::Client);
        if self.local.link != link {
            self.local.link = link;
            self.local.due_now();
        }
    }

    /// When [`TeredoTunnel::send_discovery`] is due: `None` while local
    /// discovery is off or the client is not qualified.
    pub fn next_discovery(&self) -> Option<Instant> {
        self.own?;
        self.local.link?;
        Some(self.local.next.unwrap_or(self.local.epoch))
    }

    /// Sends the periodic discovery bubble if it is due, and schedules the
    /// next one.
    pub fn send_discovery(&mut self, now: Instant, out: &mut Outputs) {
        if self.next_discovery().is_none_or(|t| now < t) {
            return;
        }
        self.local.sent = self.local.sent.wrapping_add(1);
        let seed = self
            .own
            .map_or(0, |o| u128::from(o.addr) as u64)
            .wrapping_add(self.local.sent.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let spread = Duration::from_secs(seed % (PERIOD_SPREAD_SECS + 1));
        self.local.next = Some(now + PERIOD_MIN + spread);
        self.emit_discovery(now, out);
    }

    /// A packet for `dst`, a peer behind the same NAT (its address names our
    /// public IPv4) that is not yet reachable: ask the link, at most once per
    /// [`ON_DEMAND_GAP`].
    pub(super) fn discover_for_packet(
        &mut self,
        now: Instant,
        dst: &TeredoAddr,
        out: &mut Outputs,
    ) {
        if self.local.link.is_none()
            || !self.behind_our_nat(dst.mapped_ip)
            || self
                .local
                .last_sent
                .is_some_and(|t| now.saturating_duration_since(t) < ON_DEMAND_GAP)
        {
            return;
        }
        self.emit_discovery(now, out);
    }

    fn emit_discovery(&mut self, now: Instant, out: &mut Outputs) {
        let Some(own) = self.own else { return };
        self.local.last_sent = Some(now);
        self.stats.discovery_sent += 1;
        out.push(
            Action::Transmit(DISCOVERY_DST),
            &emit_bubble(own.addr, ALL_NODES),
        );
    }

    /// A datagram that arrived on the discovery group (a multicast discovery
    /// bubble). Anything else there is dropped and counted.
    pub fn handle_discovery_datagram(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        payload: &[u8],
        out: &mut Outputs,
    ) {
        let parsed = TeredoPacket::parse(payload).ok().and_then(|p| {
            let h = p.ipv6_header().ok()?;
            (h.is_bubble() && h.dst == ALL_NODES && p.auth.is_none() && p.origin.is_none())
                .then_some(h.src)
        });
        match parsed {
            Some(src) => self.discovered(now, from, src, true, out),
            None => self.stats.dropped_discovery += 1,
        }
    }

    /// A discovery bubble from `src`, received from `from` (on the group, or
    /// unicast on the Teredo socket).
    pub(super) fn discovered(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        src: Ipv6Addr,
        multicast: bool,
        out: &mut Outputs,
    ) {
        let (Some(own), Some(link)) = (self.own, self.local.link) else {
            self.stats.dropped_discovery += 1;
            return;
        };
        let theirs = TeredoAddr::from_ipv6(&src);
        let behind_our_nat = addr::prefix_of(&src) == addr::prefix_of(&own.addr)
            && self.behind_our_nat(theirs.mapped_ip)
            && src != own.addr;
        if !behind_our_nat || !link.contains(*from.ip()) {
            self.stats.dropped_discovery += 1;
            return;
        }
        self.stats.rx += 1;
        self.stats.bubbles_received += 1;
        let Some((mut peer, _)) = self.peers.get_or_insert(&src, from) else {
            self.stats.dropped_peer_list_full += 1;
            return;
        };
        if peer.trusted && peer.mapping == from {
            return;
        }
        if !peer.trusted {
            // Where its keyed bubble goes, and where its queued packets will
            // go once it answers.
            peer.mapping = from;
        }
        peer.last_tx = Some(now);
        // Within the limits of every bubble sent in answer to a datagram,
        // not the peer's own bubble schedule: a packet for it may have just
        // used that up towards its public mapping.
        let keyed = self.config.secret.bubble_source(theirs.mapping());
        let b = (keyed, src, from);
        reply_bubble_to(&mut self.replies, now, b, true, &mut self.stats, out);
        if multicast {
            // So that it learns our endpoint as we learnt its one.
            let b = (own.addr, ALL_NODES, from);
            reply_bubble_to(&mut self.replies, now, b, true, &mut self.stats, out);
        }
    }

    /// True if `dst` is on our local link: bubbles may go there even when it
    /// is a private address.
    pub(super) fn on_local_link(&self, dst: SocketAddrV4) -> bool {
        self.local.link.is_some_and(|l| l.contains(*dst.ip()))
    }

    /// True if `mapped` is our own public IPv4: a peer whose address names it
    /// is behind our NAT.
    pub(super) fn behind_our_nat(&self, mapped: Ipv4Addr) -> bool {
        self.own
            .is_some_and(|o| TeredoAddr::from_ipv6(&o.addr).mapped_ip == mapped)
    }

    /// The trailers of our bubbles to `dst` (RFC 6081, hairpinning extension):
    /// to a peer behind our NAT, our endpoint on the link as an alternate
    /// address, so that it can answer there when the NAT does not loop its
    /// answer back. Nobody else learns our private address.
    pub(super) fn hairpin_trailers(&self, dst: &TeredoAddr) -> Option<Trailers> {
        let link = self.local.link?;
        if !self.behind_our_nat(dst.mapped_ip) {
            return None;
        }
        Some(Trailers {
            alternate: vec![SocketAddrV4::new(link.addr, link.port)],
            ..Trailers::default()
        })
    }

    /// A bubble from a peer behind our NAT, with its alternate addresses:
    /// `answer` (the bubble with its addresses swapped, which proves us to
    /// it) goes to those on our link too (RFC 6081, hairpinning extension).
    pub(super) fn answer_at_alternates(
        &mut self,
        now: Instant,
        answer: (Ipv6Addr, Ipv6Addr),
        trailers: &Trailers,
        out: &mut Outputs,
    ) {
        for alt in trailers.alternate.iter().take(MAX_ALTERNATES) {
            if self.on_local_link(*alt) {
                let b = (answer.0, answer.1, *alt);
                reply_bubble_to(&mut self.replies, now, b, true, &mut self.stats, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_link_contains_its_subnet_but_not_us() {
        let l = LocalLink {
            addr: Ipv4Addr::new(192, 168, 1, 20),
            prefix_len: 24,
            port: 3545,
        };
        assert!(l.contains(Ipv4Addr::new(192, 168, 1, 21)));
        assert!(!l.contains(Ipv4Addr::new(192, 168, 1, 20)));
        assert!(!l.contains(Ipv4Addr::new(192, 168, 2, 21)));
        let all = LocalLink {
            addr: Ipv4Addr::new(192, 0, 2, 1),
            prefix_len: 0,
            port: 3545,
        };
        assert!(all.contains(Ipv4Addr::new(203, 0, 113, 1)));
        let host = LocalLink {
            addr: Ipv4Addr::new(192, 0, 2, 1),
            prefix_len: 32,
            port: 3545,
        };
        assert!(!host.contains(Ipv4Addr::new(192, 0, 2, 2)));
    }
}
