//! The Teredo packet path of clients and relays (RFC 4380
//! §5.2.3–§5.2.6, §5.4).
//!
//! [`TeredoTunnel`] takes IPv6 packets read from the tunnel interface
//! ([`TeredoTunnel::handle_tun_packet`]) and UDP datagrams received on the Teredo
//! socket ([`TeredoTunnel::handle_udp_packet`]) and says, through [`Outputs`], what
//! to send, what to write to the tunnel and which ICMPv6 errors to report. It
//! owns the [`PeerList`]; it never reads the clock: `now` (monotonic) and
//! `unix_secs` (wall clock, for the ping-test HMAC) are passed in.
//!
//! The qualification state machine ([`crate::maintain`]) is separate: the
//! driver gives datagrams for which [`is_qualification_packet`] holds to it, and
//! reports its result here with [`TeredoTunnel::set_state`].
//!
//! # ICMPv6 errors
//!
//! [`Action::Icmpv6Error`] carries a complete IPv6 packet with a valid checksum,
//! addressed to the source of the offending packet. Its source is our Teredo
//! address when a client is up, else `fe80::ffff:ffff:ffff`, the address every
//! miredo tunnel carries. A **client** driver writes it to the tunnel: the
//! error is for a local socket, the kernel delivers it like any received
//! ICMPv6 error, and no raw socket (nor `CAP_NET_RAW`) is needed. A **relay**'s
//! error goes to a remote host, and the kernel will not forward a link-local
//! source (RFC 4291 §2.5.6): its driver first gives the packet a routable
//! source with [`crate::wire::set_source`], the address the kernel would pick
//! towards `dst` (RFC 4443 §2.2 (c)), then writes it to the tunnel, from which
//! the kernel forwards it. (miredo sends it on a raw ICMPv6 socket, which
//! needs `CAP_NET_RAW`; on the wire the result is the same.)

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use crate::addr::{self, TeredoAddr, CLIENT_LINK_LOCAL};
use crate::peers::{
    Enqueued, PeerList, PeerMut, Queued, DEFAULT_CAPACITY, DEFAULT_TOTAL_QUEUE_BUDGET,
};
pub use crate::qualified::is_qualification_packet;
use crate::qualified::Qualified;
use crate::security::Secret;
use crate::wire::{icmpv6_error, Ipv6Header};

mod local;
mod outputs;
pub mod prediction;
pub mod replies;
mod rx;
mod tx;

pub use local::{LocalLink, ALL_NODES, DISCOVERY_DST, DISCOVERY_GROUP};
pub use outputs::{Action, Output, OutputRef, Outputs};

/// ICMPv6 errors allowed per [`ICMP_RATE_WINDOW`].
pub const ICMP_RATE_LIMIT: u32 = 10;
/// The ICMPv6 error rate-limit window.
pub const ICMP_RATE_WINDOW: Duration = Duration::from_secs(1);
/// Hop limit of ping-test echo requests.
pub const PING_HOP_LIMIT: u8 = 128;

/// ICMPv6 Destination Unreachable (RFC 4443 §3.1).
const ICMP_DST_UNREACH: u8 = 1;
/// Code 1: communication administratively prohibited.
const UNREACH_ADMIN: u8 = 1;
/// Code 3: address unreachable.
const UNREACH_ADDR: u8 = 3;

/// Whether this tunnel is a client or a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A Teredo client: needs an address from [`TeredoTunnel::set_state`].
    Client,
    /// A Teredo relay (`RelayType relay|cone|restricted`).
    Relay {
        /// True for `cone` and `relay`: no direct bubbles are sent.
        cone: bool,
        /// The Teredo prefix served, as its first 32 bits.
        prefix: u32,
    },
}

/// Our Teredo address, as the qualification procedure found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnAddress {
    /// The Teredo address.
    pub addr: Ipv6Addr,
    /// The Teredo server (ping tests and indirect bubbles go to it).
    pub server: Ipv4Addr,
    /// The tunnel MTU.
    pub mtu: u16,
}

impl From<&Qualified> for OwnAddress {
    fn from(q: &Qualified) -> Self {
        OwnAddress {
            addr: q.address,
            server: q.teredo.server,
            mtu: q.mtu,
        }
    }
}

/// Settings of a [`TeredoTunnel`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Client or relay.
    pub mode: Mode,
    /// Maximum number of peers ([`DEFAULT_CAPACITY`] in miredo).
    pub peer_capacity: usize,
    /// Most bytes queued over all peers together
    /// ([`DEFAULT_TOTAL_QUEUE_BUDGET`]; our addition, `PeerQueueBudget`).
    pub queue_budget: usize,
    /// Process id: its low 16 bits identify our ping tests.
    pub pid: u32,
    /// Key of the bubble and ping-test HMACs.
    pub secret: Secret,
}

impl Config {
    /// miredo's settings for `mode`.
    pub fn new(mode: Mode, pid: u32, secret: Secret) -> Self {
        Config {
            mode,
            peer_capacity: DEFAULT_CAPACITY,
            queue_budget: DEFAULT_TOTAL_QUEUE_BUDGET,
            pid,
            secret,
        }
    }
}

/// Counters. Every packet that is not passed on is counted under one reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// UDP datagrams received and accepted (delivered, consumed as bubble
    /// or ping reply, or queued).
    pub rx: u64,
    /// Encapsulated packets sent (direct, or flushed from a queue).
    pub tx: u64,
    /// Packets written to the tunnel.
    pub to_tun: u64,
    /// Packets queued while their peer is being validated (both directions).
    pub queued: u64,
    /// Bubbles sent (direct and indirect).
    pub bubbles_sent: u64,
    /// Ping-test echo requests sent.
    pub pings_sent: u64,
    /// ICMPv6 errors emitted.
    pub icmp_errors: u64,
    /// ICMPv6 errors suppressed by the rate limit.
    pub icmp_rate_limited: u64,
    /// Unparsable tunnel packets or UDP payloads.
    pub dropped_malformed: u64,
    /// Multicast destination.
    pub dropped_multicast: u64,
    /// Client not qualified.
    pub dropped_not_qualified: u64,
    /// Tunnel packet to a destination we cannot serve (code 1 or 3 sent).
    pub dropped_no_route: u64,
    /// Teredo destination whose server IPv4 is not global.
    pub dropped_non_global: u64,
    /// Client: link-local inner source (forged RA protection).
    pub dropped_link_local: u64,
    /// Relay: inner source outside the Teredo prefix.
    pub dropped_foreign_prefix: u64,
    /// Relay: Teredo source not in the peer list.
    pub dropped_unknown_peer: u64,
    /// Neither a trusted mapping, a valid ping reply, a matching Teredo
    /// source nor a ping-test candidate (spoofed or stale).
    pub dropped_unauthenticated: u64,
    /// Per-peer queue full.
    pub dropped_queue_full: u64,
    /// The queues of all peers together hold the configured total
    /// ([`Config::queue_budget`]).
    pub dropped_queue_budget: u64,
    /// Peer list full.
    pub dropped_peer_list_full: u64,
    /// Bubbles or pings exhausted for the peer (code 3 sent), or a ping test
    /// for an incoming packet refused by the rate limit.
    pub dropped_rate_limited: u64,
    /// Queued incoming packet whose outer source was not the confirmed mapping.
    pub dropped_wrong_mapping: u64,
    /// Bubbles received and consumed (not passed on).
    pub bubbles_received: u64,
    /// Bubbles in answer to a received datagram not sent: their destination
    /// IPv4 had its share ([`replies::DEST_BURST`] per [`replies::DEST_WINDOW`]).
    pub bubbles_refused_dest: u64,
    /// Bubbles in answer to a received datagram not sent: the global share
    /// ([`replies::GLOBAL_BURST`] per [`replies::GLOBAL_WINDOW`]) was used up.
    pub bubbles_refused_global: u64,
    /// Local discovery bubbles sent (RFC 4380 §5.2.8, periodic or for a packet).
    pub discovery_sent: u64,
    /// Discovery bubbles ignored: not from a client behind our NAT on our
    /// link, malformed, or local discovery off.
    pub dropped_discovery: u64,
}

impl Stats {
    /// Every counter with its field name, in declaration order (for D-Bus
    /// and logs).
    pub fn named(&self) -> [(&'static str, u64); 27] {
        [
            ("rx", self.rx),
            ("tx", self.tx),
            ("to_tun", self.to_tun),
            ("queued", self.queued),
            ("bubbles_sent", self.bubbles_sent),
            ("pings_sent", self.pings_sent),
            ("icmp_errors", self.icmp_errors),
            ("icmp_rate_limited", self.icmp_rate_limited),
            ("dropped_malformed", self.dropped_malformed),
            ("dropped_multicast", self.dropped_multicast),
            ("dropped_not_qualified", self.dropped_not_qualified),
            ("dropped_no_route", self.dropped_no_route),
            ("dropped_non_global", self.dropped_non_global),
            ("dropped_link_local", self.dropped_link_local),
            ("dropped_foreign_prefix", self.dropped_foreign_prefix),
            ("dropped_unknown_peer", self.dropped_unknown_peer),
            ("dropped_unauthenticated", self.dropped_unauthenticated),
            ("dropped_queue_full", self.dropped_queue_full),
            ("dropped_queue_budget", self.dropped_queue_budget),
            ("dropped_peer_list_full", self.dropped_peer_list_full),
            ("dropped_rate_limited", self.dropped_rate_limited),
            ("dropped_wrong_mapping", self.dropped_wrong_mapping),
            ("bubbles_received", self.bubbles_received),
            ("discovery_sent", self.discovery_sent),
            ("dropped_discovery", self.dropped_discovery),
            ("bubbles_refused_dest", self.bubbles_refused_dest),
            ("bubbles_refused_global", self.bubbles_refused_global),
        ]
    }
}

impl std::ops::AddAssign<&Stats> for Stats {
    /// Adds another tunnel's counters (a relay's packet loops, summed).
    fn add_assign(&mut self, other: &Stats) {
        self.rx += other.rx;
        self.tx += other.tx;
        self.to_tun += other.to_tun;
        self.queued += other.queued;
        self.bubbles_sent += other.bubbles_sent;
        self.pings_sent += other.pings_sent;
        self.icmp_errors += other.icmp_errors;
        self.icmp_rate_limited += other.icmp_rate_limited;
        self.dropped_malformed += other.dropped_malformed;
        self.dropped_multicast += other.dropped_multicast;
        self.dropped_not_qualified += other.dropped_not_qualified;
        self.dropped_no_route += other.dropped_no_route;
        self.dropped_non_global += other.dropped_non_global;
        self.dropped_link_local += other.dropped_link_local;
        self.dropped_foreign_prefix += other.dropped_foreign_prefix;
        self.dropped_unknown_peer += other.dropped_unknown_peer;
        self.dropped_unauthenticated += other.dropped_unauthenticated;
        self.dropped_queue_full += other.dropped_queue_full;
        self.dropped_queue_budget += other.dropped_queue_budget;
        self.dropped_peer_list_full += other.dropped_peer_list_full;
        self.dropped_rate_limited += other.dropped_rate_limited;
        self.dropped_wrong_mapping += other.dropped_wrong_mapping;
        self.bubbles_received += other.bubbles_received;
        self.bubbles_refused_dest += other.bubbles_refused_dest;
        self.bubbles_refused_global += other.bubbles_refused_global;
        self.discovery_sent += other.discovery_sent;
        self.dropped_discovery += other.dropped_discovery;
    }
}

/// ICMPv6 error rate limiter: [`ICMP_RATE_LIMIT`] per [`ICMP_RATE_WINDOW`].
#[derive(Debug, Clone, Copy)]
struct IcmpLimiter {
    window_start: Option<Instant>,
    count: u32,
}

impl IcmpLimiter {
    fn allow(&mut self, now: Instant) -> bool {
        let fresh = self
            .window_start
            .is_none_or(|s| now.saturating_duration_since(s) >= ICMP_RATE_WINDOW);
        if fresh {
            self.window_start = Some(now);
            self.count = 0;
        }
        if self.count >= ICMP_RATE_LIMIT {
            return false;
        }
        self.count += 1;
        true
    }
}

/// The Teredo packet path of a client or relay. See the module documentation.
#[derive(Debug)]
pub struct TeredoTunnel {
    config: Config,
    own: Option<OwnAddress>,
    /// The NAT forwards our address's port to us from any host (a port
    /// mapping on it): no direct bubble is needed to open it.
    inbound_open: bool,
    peers: PeerList,
    stats: Stats,
    icmp: IcmpLimiter,
    replies: replies::ReplyLimiter,
    local: local::LocalDiscovery,
    ports: prediction::SidePorts,
}

impl TeredoTunnel {
    /// A tunnel with an empty peer list. A client starts down; a relay is
    /// always up.
    pub fn new(config: Config, now: Instant) -> Self {
        TeredoTunnel {
            peers: PeerList::with_queue_budget(config.peer_capacity, config.queue_budget, now),
            config,
            own: None,
            inbound_open: false,
            stats: Stats::default(),
            icmp: IcmpLimiter {
                window_start: None,
                count: 0,
            },
            replies: replies::ReplyLimiter::default(),
            local: local::LocalDiscovery::new(now),
            ports: prediction::SidePorts::default(),
        }
    }

    /// Reports the client's state from the maintainer: `Some` when up (with
    /// a new or refreshed address), `None` when down. A new address or MTU
    /// empties the peer list, as going up does in miredo. Ignored by relays.
    pub fn set_state(&mut self, own: Option<OwnAddress>) {
        if self.config.mode != Mode::Client {
            return;
        }
        if own.is_some() && own != self.own {
            self.peers.clear();
            // A new address: tell the link at once.
            self.local.due_now();
        }
        self.own = own;
    }

    /// Whether the NAT forwards the port our address names to us from any
    /// host, because the client holds a port mapping on it (PCP, NAT-PMP or
    /// UPnP). Then, as behind a cone NAT (RFC 4380 §5.2.6), no direct bubble
    /// precedes the indirect one: it would only open a second, useless
    /// mapping towards the peer, from a port the peer does not know, and that
    /// one would collide with the forwarded packets the peer then sends us.
    pub fn set_inbound_open(&mut self, open: bool) {
        self.inbound_open = open;
    }

    /// Our address, if a client is up.
    pub fn own_address(&self) -> Option<OwnAddress> {
        self.own
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The peer list (read only).
    pub fn peers(&self) -> &PeerList {
        &self.peers
    }

    /// When [`TeredoTunnel::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers.poll_timeout()
    }

    /// Runs due timers: peer-list garbage collection.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.peers.handle_timeout(now);
    }

    /// The Teredo prefix in use: the relay's, or that of the client's
    /// address. `None` for a client that is down.
    fn prefix(&self) -> Option<u32> {
        match self.config.mode {
            Mode::Relay { prefix, .. } => Some(prefix),
            Mode::Client => self.own.map(|o| addr::prefix_of(&o.addr)),
        }
    }

    /// True if our own address carries the cone flag, or a port mapping
    /// makes us as reachable (no direct bubbles).
    fn own_cone(&self) -> bool {
        match self.config.mode {
            Mode::Relay { cone, .. } => cone,
            Mode::Client => {
                self.inbound_open
                    || self
                        .own
                        .is_some_and(|o| TeredoAddr::from_ipv6(&o.addr).is_cone())
            }
        }
    }

    /// Emits an ICMPv6 error about `offending`, rate-limited.
    fn icmp_error(&mut self, now: Instant, code: u8, offending: &[u8], out: &mut Outputs) {
        let src = self.own.map_or(CLIENT_LINK_LOCAL, |o| o.addr);
        let Some(packet) = icmpv6_error(ICMP_DST_UNREACH, code, 0, src, offending) else {
            return;
        };
        if !self.icmp.allow(now) {
            self.stats.icmp_rate_limited += 1;
            return;
        }
        let Ok(h) = Ipv6Header::parse(&packet) else {
            return;
        };
        self.stats.icmp_errors += 1;
        out.push(Action::Icmpv6Error(h.dst), &packet);
    }
}

/// How a datagram to `dst` leaves: from the Teredo socket, or from the side
/// socket bound to `via` ([`prediction`]).
fn transmit(via: Option<u16>, dst: SocketAddrV4) -> Action {
    match via {
        Some(port) => Action::TransmitVia(port, dst),
        None => Action::Transmit(dst),
    }
}

/// Sends a bubble as `to` says, with RFC 6081 trailers after it, if any.
fn send_bubble_with(
    src: Ipv6Addr,
    dest: Ipv6Addr,
    to: Action,
    trailers: Option<&crate::wire::trailers::Trailers>,
    stats: &mut Stats,
    out: &mut Outputs,
) {
    stats.bubbles_sent += 1;
    match trailers {
        Some(t) => out.push(
            to,
            &crate::wire::trailers::emit_bubble_with_trailers(src, dest, t),
        ),
        None => out.push(to, &crate::wire::emit_bubble(src, dest)),
    }
}

/// Sends a bubble in answer to a received datagram (see [`replies`]): like
/// [`send_bubble_with`] from the Teredo socket, within the per-destination and global limits.
fn reply_bubble(
    limiter: &mut replies::ReplyLimiter,
    now: Instant,
    b: (Ipv6Addr, Ipv6Addr, SocketAddrV4),
    stats: &mut Stats,
    out: &mut Outputs,
) {
    reply_bubble_from(limiter, now, b, false, None, stats, out);
}

/// [`reply_bubble`], also to a private destination when `on_local_link`
/// (the caller checked it is on our link, [`local`]).
fn reply_bubble_to(
    limiter: &mut replies::ReplyLimiter,
    now: Instant,
    b: (Ipv6Addr, Ipv6Addr, SocketAddrV4),
    on_local_link: bool,
    stats: &mut Stats,
    out: &mut Outputs,
) {
    reply_bubble_from(limiter, now, b, on_local_link, None, stats, out);
}

/// [`reply_bubble_to`], sent from the side socket `via` if any.
fn reply_bubble_from(
    limiter: &mut replies::ReplyLimiter,
    now: Instant,
    (src, dest, dst): (Ipv6Addr, Ipv6Addr, SocketAddrV4),
    on_local_link: bool,
    via: Option<u16>,
    stats: &mut Stats,
    out: &mut Outputs,
) {
    if !on_local_link && !addr::is_global_unicast_v4(*dst.ip()) {
        return;
    }
    match limiter.allow(now, *dst.ip()) {
        Ok(()) => send_bubble_with(src, dest, transmit(via, dst), None, stats, out),
        Err(replies::Refused::Dest) => stats.bubbles_refused_dest += 1,
        Err(replies::Refused::Global) => stats.bubbles_refused_global += 1,
    }
}

/// Queues `item` for `peer`, counting it or the reason it was dropped.
fn enqueue(peer: &mut PeerMut<'_>, item: Queued, stats: &mut Stats) -> bool {
    match peer.enqueue(item) {
        Enqueued::Yes => {
            stats.queued += 1;
            true
        }
        Enqueued::PeerFull => {
            stats.dropped_queue_full += 1;
            false
        }
        Enqueued::TotalFull => {
            stats.dropped_queue_budget += 1;
            false
        }
    }
}

/// Flushes a peer's queue now that its mapping is confirmed, oldest first:
/// outgoing packets go to the mapping, incoming ones to the tunnel if they
/// came from the mapping.
fn flush_queue(peer: &mut PeerMut<'_>, stats: &mut Stats, out: &mut Outputs) {
    let mapping = peer.mapping;
    let to = transmit(peer.via, mapping);
    for item in peer.take_queue() {
        match item {
            Queued::Outgoing(payload) => {
                stats.tx += 1;
                out.push(to, &payload);
            }
            Queued::Incoming { from, packet } if from == mapping => {
                stats.to_tun += 1;
                out.push(Action::ToTun, &packet);
            }
            Queued::Incoming { .. } => stats.dropped_wrong_mapping += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_limiter_ten_per_second() {
        let t0 = Instant::now();
        let mut l = IcmpLimiter {
            window_start: None,
            count: 0,
        };
        assert_eq!((0..20).filter(|_| l.allow(t0)).count(), 10);
        assert!(!l.allow(t0 + Duration::from_millis(999)));
        assert!(l.allow(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn stats_add_every_counter() {
        let x = Stats {
            rx: 1,
            tx: 2,
            to_tun: 3,
            queued: 4,
            bubbles_sent: 5,
            pings_sent: 6,
            icmp_errors: 7,
            icmp_rate_limited: 8,
            dropped_malformed: 9,
            dropped_multicast: 10,
            dropped_not_qualified: 11,
            dropped_no_route: 12,
            dropped_non_global: 13,
            dropped_link_local: 14,
            dropped_foreign_prefix: 15,
            dropped_unknown_peer: 16,
            dropped_unauthenticated: 17,
            dropped_queue_full: 18,
            dropped_queue_budget: 19,
            dropped_peer_list_full: 20,
            dropped_rate_limited: 21,
            dropped_wrong_mapping: 22,
            bubbles_received: 23,
            bubbles_refused_dest: 24,
            bubbles_refused_global: 25,
            discovery_sent: 26,
            dropped_discovery: 27,
        };
        let mut sum = Stats::default();
        sum += &x;
        sum += &x;
        for ((name, total), (_, one)) in sum.named().iter().zip(x.named()) {
            assert_eq!(*total, 2 * one, "{name}");
        }
    }
}
