//! The Teredo peer list (RFC 4380 §5.2.3, miredo's `peerlist.c` behaviour).
//!
//! Peers are keyed by their full IPv6 address. Each one remembers the UDP
//! mapping packets for it go to, whether that mapping is trusted, when it last
//! sent and received, how many bubbles and ping tests it has been sent, and a
//! small queue of packets waiting for the mapping to be confirmed.
//!
//! # Expiry
//!
//! Two generations, as in miredo: every [`GC_INTERVAL`] (30 s) the *old*
//! generation is freed and the *recent* one becomes old. Every lookup through
//! [`PeerList::get_mut`] or [`PeerList::get_or_insert`] moves a peer back to the
//! recent generation, so a peer vanishes 30–60 s after its last use. The list
//! owns no timer: the caller asks [`PeerList::poll_timeout`] when to call
//! [`PeerList::handle_timeout`].
//!
//! # Queue
//!
//! Each peer holds at most [`QUEUE_BUDGET`] (1280) bytes of pending packets,
//! incoming and outgoing together; a packet that does not fit is refused.
//! All queues together hold at most the list's total budget
//! ([`DEFAULT_TOTAL_QUEUE_BUDGET`] unless configured; our addition, see
//! `docs/compat.md`): without it, a million peers, each one made up by a
//! received datagram, could hold 1280 bytes each, over a gigabyte. Queues
//! are reached through [`PeerMut`], which keeps the total.
//! miredo flushes the queue newest first (LIFO). We flush **oldest first**
//! (FIFO): LIFO reorders the very packets (TCP SYN then data, DNS retries) that
//! the queue exists to save. See `docs/compat.md`.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddrV4};
use std::time::{Duration, Instant};

/// Garbage-collection period; a peer lives 30–60 s after its last use.
pub const GC_INTERVAL: Duration = Duration::from_secs(30);
/// How long after its last receive a trusted peer may be sent to directly.
pub const PEER_VALIDITY: Duration = Duration::from_secs(30);
/// Per-peer queue budget in bytes, shared by both directions.
pub const QUEUE_BUDGET: usize = 1280;
/// Peer-list capacity of miredo as Debian builds it (libJudy).
pub const DEFAULT_CAPACITY: usize = 1 << 20;
/// Default budget of queued bytes over all peers: 4 MiB, room for the full
/// queues of over 3,000 peers being set up at once.
pub const DEFAULT_TOTAL_QUEUE_BUDGET: usize = 4 << 20;
/// Bubbles or ping tests sent to a peer before it is given up on.
pub const MAX_ATTEMPTS: u8 = 4;
/// Bubbles and pings to one peer must be spaced by more than this.
pub const ATTEMPT_SPACING: Duration = Duration::from_secs(2);
/// After [`MAX_ATTEMPTS`], nothing more is sent to the peer for this long.
pub const ATTEMPT_BLOCK: Duration = Duration::from_secs(300);

/// What a rate limiter says about sending one more bubble or ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Send it (the attempt has been counted).
    Send,
    /// Too soon after the previous one: send nothing, keep waiting.
    Wait,
    /// The limit is reached: the peer is deemed unreachable for now.
    Blocked,
}

/// Rate limit for bubbles or ping tests to one peer: at most
/// [`MAX_ATTEMPTS`], spaced by more than [`ATTEMPT_SPACING`], then none for
/// [`ATTEMPT_BLOCK`] after the last one, after which the count starts over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Attempts made since the last reset.
    pub count: u8,
    /// When the last attempt was made.
    pub last: Option<Instant>,
}

impl RateLimit {
    /// Decides on one more attempt at `now`, counting it if it is allowed.
    pub fn attempt(&mut self, now: Instant) -> Attempt {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last);
            if self.count >= MAX_ATTEMPTS {
                if elapsed <= ATTEMPT_BLOCK {
                    return Attempt::Blocked;
                }
                self.count = 0;
            } else if self.count > 0 && elapsed <= ATTEMPT_SPACING {
                return Attempt::Wait;
            }
        }
        self.count = self.count.saturating_add(1);
        self.last = Some(now);
        Attempt::Send
    }

    /// Forgets every attempt (the peer answered).
    pub fn reset(&mut self) {
        *self = RateLimit::default();
    }
}

/// A packet waiting for its peer's mapping to be confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// An IPv6 packet read from the tunnel, to encapsulate to the peer.
    Outgoing(Vec<u8>),
    /// An IPv6 packet received from the peer, to deliver once the mapping it
    /// came from is confirmed.
    Incoming {
        /// The outer UDP source it arrived from.
        from: SocketAddrV4,
        /// The decapsulated IPv6 packet.
        packet: Vec<u8>,
    },
}

impl Queued {
    fn len(&self) -> usize {
        match self {
            Queued::Outgoing(p) | Queued::Incoming { packet: p, .. } => p.len(),
        }
    }
}

/// Everything known about one peer.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Where packets for this peer go (public IPv4 and UDP port).
    pub mapping: SocketAddrV4,
    /// True once the mapping has been confirmed (bubble or ping answered).
    pub trusted: bool,
    /// Last time a packet was accepted from the peer's mapping.
    pub last_rx: Option<Instant>,
    /// Last time a packet was encapsulated to the peer.
    pub last_tx: Option<Instant>,
    /// Bubbles sent and when.
    pub bubbles: RateLimit,
    /// Ping tests sent and when.
    pub pings: RateLimit,
    /// The local port of the side socket this peer's packets leave from,
    /// when our NAT maps per destination but predictably (RFC 6081 port
    /// prediction, `relay::prediction`); `None`: the Teredo socket.
    pub via: Option<u16>,
    // A Vec, not a VecDeque: the queue is only ever appended to and emptied
    // whole, and the smaller header is paid by every peer in the table.
    queue: Vec<Queued>,
    queued_bytes: u16,
}

impl Peer {
    /// A new, untrusted peer with the given mapping and an empty queue.
    pub fn new(mapping: SocketAddrV4) -> Self {
        Peer {
            mapping,
            trusted: false,
            last_rx: None,
            last_tx: None,
            bubbles: RateLimit::default(),
            pings: RateLimit::default(),
            via: None,
            queue: Vec::new(),
            queued_bytes: 0,
        }
    }

    /// True if the peer is trusted and was heard from within
    /// [`PEER_VALIDITY`]: packets may go straight to its mapping.
    pub fn is_valid(&self, now: Instant) -> bool {
        self.trusted
            && self
                .last_rx
                .is_some_and(|t| now.saturating_duration_since(t) <= PEER_VALIDITY)
    }

    /// Marks the mapping as confirmed at `now`: trusted, `mapping` recorded,
    /// receive time refreshed, bubble and ping counters reset.
    pub fn confirm(&mut self, mapping: SocketAddrV4, now: Instant) {
        self.mapping = mapping;
        self.trusted = true;
        self.touch_rx(now);
    }

    /// Refreshes the receive time and resets the bubble and ping counters.
    pub fn touch_rx(&mut self, now: Instant) {
        self.last_rx = Some(now);
        self.bubbles.reset();
        self.pings.reset();
    }

    /// Queues a packet if it fits in what is left of [`QUEUE_BUDGET`];
    /// returns false (and drops nothing else) if it does not. Only through
    /// [`PeerMut::enqueue`], which keeps the list's total.
    fn enqueue(&mut self, item: Queued) -> bool {
        let len = item.len();
        match usize::from(self.queued_bytes).checked_add(len) {
            Some(total) if total <= QUEUE_BUDGET => {
                // QUEUE_BUDGET fits in a u16.
                self.queued_bytes = total as u16;
                self.queue.push(item);
                true
            }
            _ => false,
        }
    }

    /// Bytes currently queued.
    pub fn queued_bytes(&self) -> usize {
        usize::from(self.queued_bytes)
    }

    /// Number of packets currently queued.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Takes every queued packet, oldest first.
    /// The queue's storage goes with it: a confirmed peer rarely queues again.
    fn take_queue(&mut self) -> impl Iterator<Item = Queued> {
        self.queued_bytes = 0;
        std::mem::take(&mut self.queue).into_iter()
    }
}

/// What [`PeerMut::enqueue`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued.
    Yes,
    /// Dropped: the peer's own queue is full ([`QUEUE_BUDGET`]).
    PeerFull,
    /// Dropped: the queues of all peers hold the list's total budget.
    TotalFull,
}

/// Bytes queued over all peers, and the most allowed.
#[derive(Debug, Clone, Copy)]
struct Total {
    queued: usize,
    budget: usize,
}

/// A peer borrowed from the list, with the list's queue total: reads and
/// writes the peer like `&mut Peer`, and queues within both budgets.
#[derive(Debug)]
pub struct PeerMut<'a> {
    peer: &'a mut Peer,
    total: &'a mut Total,
}

impl std::ops::Deref for PeerMut<'_> {
    type Target = Peer;
    fn deref(&self) -> &Peer {
        self.peer
    }
}

impl std::ops::DerefMut for PeerMut<'_> {
    fn deref_mut(&mut self) -> &mut Peer {
        self.peer
    }
}

impl PeerMut<'_> {
    /// Queues a packet if it fits in both the peer's [`QUEUE_BUDGET`] and what
    /// is left of the list's total budget; drops it otherwise.
    pub fn enqueue(&mut self, item: Queued) -> Enqueued {
        let len = item.len();
        if self.total.queued.saturating_add(len) > self.total.budget {
            return Enqueued::TotalFull;
        }
        if !self.peer.enqueue(item) {
            return Enqueued::PeerFull;
        }
        self.total.queued += len;
        Enqueued::Yes
    }

    /// Takes every queued packet, oldest first (see [`Peer`]).
    pub fn take_queue(&mut self) -> impl Iterator<Item = Queued> {
        self.total.queued = self.total.queued.saturating_sub(self.peer.queued_bytes());
        self.peer.take_queue()
    }
}

/// The peer list: two generations of peers keyed by IPv6 address.
#[derive(Debug)]
pub struct PeerList {
    recent: HashMap<Ipv6Addr, Peer>,
    old: HashMap<Ipv6Addr, Peer>,
    capacity: usize,
    next_gc: Instant,
    total: Total,
    /// Side ports of peers that left the list, for the driver to close.
    released_ports: Vec<u16>,
}

/// Bytes queued by the peers of one generation.
fn queued_in(generation: &HashMap<Ipv6Addr, Peer>) -> usize {
    generation.values().map(Peer::queued_bytes).sum()
}

/// Keeps the side ports of a generation that is being dropped.
fn release_ports(generation: &HashMap<Ipv6Addr, Peer>, into: &mut Vec<u16>) {
    into.extend(generation.values().filter_map(|p| p.via));
}

impl PeerList {
    /// An empty list holding at most `capacity` peers and
    /// [`DEFAULT_TOTAL_QUEUE_BUDGET`] queued bytes; the first collection is
    /// due at `now + GC_INTERVAL`.
    pub fn new(capacity: usize, now: Instant) -> Self {
        Self::with_queue_budget(capacity, DEFAULT_TOTAL_QUEUE_BUDGET, now)
    }

    /// Like [`PeerList::new`], with at most `queue_budget` bytes queued over
    /// all peers.
    pub fn with_queue_budget(capacity: usize, queue_budget: usize, now: Instant) -> Self {
        PeerList {
            recent: HashMap::new(),
            old: HashMap::new(),
            capacity,
            next_gc: now + GC_INTERVAL,
            total: Total {
                queued: 0,
                budget: queue_budget,
            },
            released_ports: Vec::new(),
        }
    }

    /// Bytes queued over all peers.
    pub fn queued_bytes(&self) -> usize {
        self.total.queued
    }

    /// The most bytes all peers may queue together.
    pub fn queue_budget(&self) -> usize {
        self.total.budget
    }

    /// Number of peers in the list.
    pub fn len(&self) -> usize {
        self.recent.len() + self.old.len()
    }

    /// True if the list holds no peer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Maximum number of peers.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every peer (done when the client's address changes).
    pub fn clear(&mut self) {
        release_ports(&self.recent, &mut self.released_ports);
        release_ports(&self.old, &mut self.released_ports);
        self.recent.clear();
        self.old.clear();
        self.total.queued = 0;
    }

    /// Looks a peer up without refreshing it.
    pub fn get(&self, addr: &Ipv6Addr) -> Option<&Peer> {
        self.recent.get(addr).or_else(|| self.old.get(addr))
    }

    /// True if the peer is in the list.
    pub fn contains(&self, addr: &Ipv6Addr) -> bool {
        self.get(addr).is_some()
    }

    /// Looks a peer up and moves it to the recent generation.
    pub fn get_mut(&mut self, addr: &Ipv6Addr) -> Option<PeerMut<'_>> {
        if !self.recent.contains_key(addr) {
            let peer = self.old.remove(addr)?;
            self.recent.insert(*addr, peer);
        }
        let total = &mut self.total;
        self.recent
            .get_mut(addr)
            .map(|peer| PeerMut { peer, total })
    }

    /// Looks a peer up, creating it with `mapping` if it is absent (and the
    /// list is not full), and moves it to the recent generation. The flag is
    /// true if the peer was created. `None` means the list is full.
    pub fn get_or_insert(
        &mut self,
        addr: &Ipv6Addr,
        mapping: SocketAddrV4,
    ) -> Option<(PeerMut<'_>, bool)> {
        let mut created = false;
        if !self.recent.contains_key(addr) {
            match self.old.remove(addr) {
                Some(peer) => {
                    self.recent.insert(*addr, peer);
                }
                None => {
                    if self.len() >= self.capacity {
                        return None;
                    }
                    self.recent.insert(*addr, Peer::new(mapping));
                    created = true;
                }
            }
        }
        let total = &mut self.total;
        self.recent
            .get_mut(addr)
            .map(|peer| (PeerMut { peer, total }, created))
    }

    /// Removes a peer.
    pub fn remove(&mut self, addr: &Ipv6Addr) -> Option<Peer> {
        let peer = self.recent.remove(addr).or_else(|| self.old.remove(addr))?;
        self.total.queued = self.total.queued.saturating_sub(peer.queued_bytes());
        self.released_ports.extend(peer.via);
        Some(peer)
    }

    /// The side ports ([`Peer::via`]) of the peers that left the list since
    /// the last call: nothing will be sent from them any more.
    pub fn take_released_ports(&mut self) -> Vec<u16> {
        std::mem::take(&mut self.released_ports)
    }

    /// When [`PeerList::handle_timeout`] must next be called (always armed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next_gc)
    }

    /// Runs the collections due at `now`: each frees the old generation and
    /// ages the recent one. After a long stall (two periods or more) every
    /// peer is gone and the schedule restarts from `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut rounds = 0;
        while now >= self.next_gc {
            if rounds < 2 {
                let freed = queued_in(&self.old);
                self.total.queued = self.total.queued.saturating_sub(freed);
                release_ports(&self.old, &mut self.released_ports);
                self.old = std::mem::take(&mut self.recent);
                rounds += 1;
                self.next_gc += GC_INTERVAL;
            } else {
                self.next_gc = now + GC_INTERVAL;
            }
        }
    }
}

#[cfg(test)]
mod tests;
