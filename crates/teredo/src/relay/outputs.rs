//! What [`super::TeredoTunnel`] asks its driver to do, kept without a heap
//! allocation per packet.
//!
//! Every output's bytes live in one byte arena owned by [`Outputs`]; an output
//! is an [`Action`] plus the range of its bytes there. The driver reads the
//! outputs of a batch of calls ([`Outputs::iter`]), carries them out, then
//! [`Outputs::clear`]s the list, which keeps the arena's and the list's
//! capacity: once both have grown to a batch's needs, forwarding a packet
//! copies it into memory that is already there.
//!
//! The layout also suits batched sends: consecutive [`Action::Transmit`]s to
//! one destination are contiguous in [`Outputs::arena`], which is what a UDP
//! GSO send (equal-size segments, the last one possibly shorter) takes.

use std::net::{Ipv6Addr, SocketAddrV4};
use std::ops::Range;

/// What to do with one output's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the bytes (a Teredo UDP payload, RFC 4380 §5.1.1) from the
    /// Teredo socket to this IPv4 address and port.
    Transmit(SocketAddrV4),
    /// Send the bytes from the side socket bound to this local port (one
    /// the driver gave with [`super::TeredoTunnel::add_side_port`]) to this
    /// IPv4 address and port: a peer reached through a mapping of its own
    /// on a predictable NAT (`prediction`).
    TransmitVia(u16, SocketAddrV4),
    /// Write the bytes (an IPv6 packet) to the tunnel interface.
    ToTun,
    /// Report the bytes, an ICMPv6 error (RFC 4443 §3) addressed to this
    /// host, as the module documentation of [`super`] says.
    Icmpv6Error(Ipv6Addr),
}

/// One output, borrowed from [`Outputs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRef<'a> {
    /// What to do.
    pub action: Action,
    /// Where the bytes are in [`Outputs::arena`].
    pub range: Range<usize>,
    /// The bytes.
    pub bytes: &'a [u8],
}

impl OutputRef<'_> {
    /// An owned copy (allocates; for tests and slow paths).
    pub fn to_output(&self) -> Output {
        let bytes = self.bytes.to_vec();
        match self.action {
            Action::Transmit(dst) => Output::Transmit {
                dst,
                payload: bytes,
            },
            Action::TransmitVia(port, dst) => Output::TransmitVia {
                port,
                dst,
                payload: bytes,
            },
            Action::ToTun => Output::ToTun(bytes),
            Action::Icmpv6Error(dst) => Output::Icmpv6Error { dst, packet: bytes },
        }
    }
}

/// An owned output: what [`OutputRef::to_output`] copies out, for tests and
/// code that keeps outputs beyond the next [`Outputs::clear`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `payload` from the Teredo UDP socket to `dst`.
    Transmit {
        /// Destination IPv4 and port.
        dst: SocketAddrV4,
        /// UDP payload.
        payload: Vec<u8>,
    },
    /// Send `payload` from the side socket bound to `port` to `dst`.
    TransmitVia {
        /// Local port of the side socket.
        port: u16,
        /// Destination IPv4 and port.
        dst: SocketAddrV4,
        /// UDP payload.
        payload: Vec<u8>,
    },
    /// Write this IPv6 packet to the tunnel interface.
    ToTun(Vec<u8>),
    /// Report an ICMPv6 error.
    Icmpv6Error {
        /// Destination of the error: the source of the offending packet.
        dst: Ipv6Addr,
        /// The whole IPv6 packet, checksum included.
        packet: Vec<u8>,
    },
}

/// An output's action and where its bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    action: Action,
    start: usize,
    end: usize,
}

/// What the calls since the last [`Outputs::clear`] produced, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outputs {
    arena: Vec<u8>,
    entries: Vec<Entry>,
}

impl Outputs {
    /// An empty list.
    pub fn new() -> Self {
        Outputs::default()
    }

    /// Appends an output whose bytes are `bytes`.
    pub fn push(&mut self, action: Action, bytes: &[u8]) {
        self.push_with(action, |arena| arena.extend_from_slice(bytes));
    }

    /// Appends an output whose bytes `write` appends to the arena it is
    /// given (and must not otherwise change): packets are built in place.
    pub fn push_with(&mut self, action: Action, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.arena.len();
        write(&mut self.arena);
        // A writer that shrank the arena would corrupt earlier outputs.
        debug_assert!(self.arena.len() >= start);
        let end = self.arena.len().max(start);
        self.entries.push(Entry { action, start, end });
    }

    /// The outputs, first produced first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = OutputRef<'_>> + '_ {
        self.entries.iter().map(|e| self.entry_ref(e))
    }

    /// Output number `index`, if there are that many.
    pub fn get(&self, index: usize) -> Option<OutputRef<'_>> {
        self.entries.get(index).map(|e| self.entry_ref(e))
    }

    fn entry_ref(&self, e: &Entry) -> OutputRef<'_> {
        OutputRef {
            action: e.action,
            range: e.start..e.end,
            bytes: self.arena.get(e.start..e.end).unwrap_or_default(),
        }
    }

    /// The bytes of every output, in order ([`OutputRef::range`] indexes it).
    pub fn arena(&self) -> &[u8] {
        &self.arena
    }

    /// The arena, writable (e.g. to give an ICMPv6 error a routable source
    /// in place before sending it).
    pub fn arena_mut(&mut self) -> &mut [u8] {
        &mut self.arena
    }

    /// Forgets every output, keeping the storage for the next batch.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.entries.clear();
    }

    /// Owned copies of the outputs (allocates; for tests).
    pub fn to_vec(&self) -> Vec<Output> {
        self.iter().map(|o| o.to_output()).collect()
    }

    /// Owned copies of the outputs, then [`Outputs::clear`] (allocates; for
    /// tests).
    pub fn drain_owned(&mut self) -> Vec<Output> {
        let v = self.to_vec();
        self.clear();
        v
    }

    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_each_other_and_clear_keeps_capacity() {
        let dst = SocketAddrV4::new([192, 0, 2, 1].into(), 3544);
        let mut out = Outputs::new();
        out.push(Action::Transmit(dst), &[1, 2, 3]);
        out.push_with(Action::ToTun, |a| a.extend_from_slice(&[4, 5]));
        let v: Vec<_> = out.iter().collect();
        assert_eq!(v[0].range, 0..3);
        assert_eq!(v[1].range, 3..5);
        assert_eq!(v[1].bytes, &[4, 5]);
        assert_eq!(out.arena(), &[1, 2, 3, 4, 5]);
        let cap = out.arena.capacity();
        out.clear();
        assert!(out.is_empty());
        assert_eq!(out.arena.capacity(), cap);
    }
}
