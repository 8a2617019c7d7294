//! Packets bound for the TUN, and coalescing the TCP segments (and UDP
//! datagrams) among them into super-segments (receive offload done before
//! the write).
//!
//! With offloads on, a write may carry a virtio-net header saying "this is
//! a TCP/IPv6 super-segment of `gso_size` segments, checksum partial"
//! (`tun_offload.rs`): the kernel then passes it up its stack as one packet,
//! as a NIC's GRO would. Segments are merged only where Linux's own TCP GRO
//! (`net/ipv4/tcp_offload.c`) would merge them, so the receiver sees the
//! same stream: one flow, consecutive sequence numbers, equal segment size
//! (the last may be shorter), identical IPv6 and TCP headers but for the
//! sequence number, checksum and a PSH on the last, only ACK (and PSH)
//! flags, a valid checksum (a merged super-segment gets a fresh one, so a
//! corrupt segment must never be merged), at most 64 KiB in all (the IPv6
//! payload length is 16 bits, RFC 8200 §3). Extension headers and
//! everything not TCP or UDP pass unmerged.
//! A packet of a flow that is not merged ends that flow's super-segment, so
//! nothing is reordered.
//!
//! UDP datagrams are merged too when the TUN takes UDP segmentation
//! (`TUN_F_USO6`, Linux 6.2+; [`TunSendBatch::coalesce`]), as the kernel's
//! UDP GRO would for a socket that asked for it (`net/ipv4/udp_offload.c`):
//! consecutive datagrams of one flow (addresses and ports), equal payload
//! size (the last may be shorter), identical IPv6 class, flow label and hop
//! limit, a valid non-zero checksum, at most [`MAX_UDP_SEGMENTS`] of them.
//! The kernel cuts such a super-datagram back into the original datagrams
//! (UDP has no stream to join them into), so the receiver sees each one.
//!
//! tun-rs has a GRO table too, but it copies each packet to the heap while
//! merging; this one works in buffers that are kept and reused. Queued
//! packets stay in small buffers; a super-segment is built in one of a few
//! 64 KiB buffers, taken when its first merge happens. Growing the queued
//! buffers instead would leave every slot that was ever a flow's head at
//! 64 KiB, resident for the daemon's life.

use tun_rs::VirtioNetHdr;

use crate::tun_offload::{F_NEEDS_CSUM, VNET_HDR_LEN};

/// The fixed IPv6 header (RFC 8200 §3).
const IP6_LEN: usize = 40;
/// Largest super-segment, headers included: the IPv6 payload length is 16
/// bits (RFC 8200 §3) and the kernel's GSO limit for a TUN is 64 KiB.
const MAX_LEN: usize = 65535;
/// TCP flags (RFC 9293 §3.1).
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
/// Super-segments under construction at once; one more flow ends the oldest.
const MAX_OPEN: usize = 8;
/// Datagrams in one UDP super-datagram: the kernel refuses more than its
/// `UDP_MAX_SEGMENTS` (64 before Linux 6.0, 128 since).
pub const MAX_UDP_SEGMENTS: usize = 64;
/// IP protocol numbers (IANA).
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
/// The UDP header (RFC 768).
const UDP_LEN: usize = 8;

/// A TCP/IPv6 segment or UDP/IPv6 datagram that may be merged.
#[derive(Clone, Copy)]
struct Segment {
    udp: bool,
    /// TCP's sequence number; 0 for UDP.
    seq: u32,
    /// The transport header's length.
    l4_len: usize,
    payload: usize,
    psh: bool,
}

/// A super-segment being built: its first segment is queued packet
/// `head`, copied to super-segment buffer `merged_into` at the first merge.
#[derive(Clone, Copy)]
struct Open {
    head: usize,
    /// Its place in `to_write`.
    slot: usize,
    merged_into: Option<usize>,
    len: usize,
    udp: bool,
    next_seq: u32,
    seg_size: usize,
    l4_len: usize,
    merged: usize,
    closed: bool,
}

/// Reusable buffers for packets bound for the TUN, written together.
pub struct TunSendBatch {
    /// Each packet at [`VNET_HDR_LEN`], its virtio header before it.
    bufs: Vec<Vec<u8>>,
    len: usize,
    /// Buffers of super-segments; the first `supers_used` hold this batch's.
    supers: Vec<Vec<u8>>,
    supers_used: usize,
    /// The frames to write, in order.
    to_write: Vec<Frame>,
    open: Vec<Open>,
}

/// A frame to write: a queued packet as it is, or a super-segment.
#[derive(Clone, Copy)]
enum Frame {
    Queued(usize),
    Super(usize),
}

impl Default for TunSendBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl TunSendBatch {
    /// An empty batch.
    pub fn new() -> TunSendBatch {
        TunSendBatch {
            bufs: Vec::new(),
            len: 0,
            supers: Vec::new(),
            supers_used: 0,
            to_write: Vec::new(),
            open: Vec::with_capacity(MAX_OPEN),
        }
    }

    /// Queues a copy of `packet` (with an all-zero virtio header: a plain
    /// packet, checksum complete). Empty packets are not queued.
    pub fn push(&mut self, packet: &[u8]) {
        if packet.is_empty() {
            return;
        }
        if self.len == self.bufs.len() {
            self.bufs.push(Vec::with_capacity(VNET_HDR_LEN + 2048));
        }
        let b = &mut self.bufs[self.len];
        b.clear();
        b.resize(VNET_HDR_LEN, 0);
        b.extend_from_slice(packet);
        self.to_write.push(Frame::Queued(self.len));
        self.len += 1;
    }

    /// How many packets are queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets the queued packets (keeping the buffers).
    pub fn clear(&mut self) {
        self.len = 0;
        self.supers_used = 0;
        self.to_write.clear();
        self.open.clear();
    }

    /// Merges what may be merged (see the module text) and writes the
    /// virtio header of each super-segment. Call once, after the pushes.
    /// `udp`: merge UDP datagrams too, only for a TUN that accepted
    /// `TUN_F_USO6`.
    pub fn coalesce(&mut self, udp: bool) {
        self.to_write.clear();
        self.open.clear();
        self.supers_used = 0;
        for i in 0..self.len {
            let seg = segment(&self.bufs[i][VNET_HDR_LEN..], udp);
            if let Some(seg) = seg {
                if self.merge(i, seg) {
                    continue;
                }
            }
            self.end_flow_of(i);
            self.to_write.push(Frame::Queued(i));
            if let Some(seg) = seg.filter(|s| !s.psh) {
                if self.open.len() == MAX_OPEN {
                    let oldest = self.open.remove(0);
                    self.finish(oldest);
                }
                self.open.push(Open {
                    head: i,
                    slot: self.to_write.len() - 1,
                    merged_into: None,
                    len: self.bufs[i].len() - VNET_HDR_LEN,
                    udp: seg.udp,
                    next_seq: seg.seq.wrapping_add(seg.payload as u32),
                    seg_size: seg.payload,
                    l4_len: seg.l4_len,
                    merged: 0,
                    closed: false,
                });
            }
        }
        while let Some(o) = self.open.pop() {
            self.finish(o);
        }
    }

    /// The frames to write: virtio header and packet (after
    /// [`TunSendBatch::coalesce`], super-segments in their first segment's
    /// place and no merged segment on its own).
    pub fn frames(&self) -> impl Iterator<Item = &[u8]> {
        self.to_write.iter().map(|&f| match f {
            Frame::Queued(i) => &self.bufs[i][..],
            Frame::Super(s) => &self.supers[s][..],
        })
    }

    /// Bytes the batch keeps allocated between batches (its memory
    /// footprint at most; only pages ever written become resident).
    pub fn retained_bytes(&self) -> usize {
        let queued: usize = self.bufs.iter().map(Vec::capacity).sum();
        let supers: usize = self.supers.iter().map(Vec::capacity).sum();
        queued + supers
    }

    /// The packets as queued, without header, for a TUN without offloads.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        self.bufs[..self.len].iter().map(|b| &b[VNET_HDR_LEN..])
    }

    /// Appends segment `i` to the open super-segment of its flow if it may.
    fn merge(&mut self, i: usize, seg: Segment) -> bool {
        let Some(k) = self.open.iter().rposition(|o| {
            same_flow(
                &self.bufs[o.head][VNET_HDR_LEN..],
                &self.bufs[i][VNET_HDR_LEN..],
            )
        }) else {
            return false;
        };
        let o = self.open[k];
        let pkt = &self.bufs[i][VNET_HDR_LEN..];
        // The head's headers are the super-segment's but for the lengths,
        // checksum and PSH, which `same_headers` leaves out.
        let head_pkt = &self.bufs[o.head][VNET_HDR_LEN..];
        let fits = o.len + seg.payload <= MAX_LEN;
        let same = if seg.udp {
            o.udp && o.merged + 1 < MAX_UDP_SEGMENTS && same_ip_headers(head_pkt, pkt)
        } else {
            !o.udp
                && seg.seq == o.next_seq
                && seg.l4_len == o.l4_len
                && same_headers(head_pkt, pkt, seg.l4_len)
        };
        if o.closed || !fits || seg.payload > o.seg_size || !same {
            return false;
        }
        let s = match o.merged_into {
            Some(s) => s,
            None => {
                let s = self.supers_used;
                if s == self.supers.len() {
                    // Kept for later batches: there are only ever as many
                    // as one batch had super-segments.
                    self.supers.push(Vec::with_capacity(VNET_HDR_LEN + MAX_LEN));
                }
                self.supers_used += 1;
                self.supers[s].clear();
                self.supers[s].extend_from_slice(&self.bufs[o.head]);
                self.to_write[o.slot] = Frame::Super(s);
                self.open[k].merged_into = Some(s);
                s
            }
        };
        let sup = &mut self.supers[s];
        sup.extend_from_slice(&self.bufs[i][VNET_HDR_LEN + IP6_LEN + seg.l4_len..]);
        if seg.psh {
            sup[VNET_HDR_LEN + IP6_LEN + 13] |= PSH;
        }
        let o = &mut self.open[k];
        o.len += seg.payload;
        o.next_seq = seg.seq.wrapping_add(seg.payload as u32);
        o.merged += 1;
        o.closed = seg.psh || seg.payload < o.seg_size;
        true
    }

    /// Packet `i` goes out on its own: no later segment of its flow may be
    /// merged into a super-segment written before it.
    fn end_flow_of(&mut self, i: usize) {
        let pkt = &self.bufs[i][VNET_HDR_LEN..];
        for o in &mut self.open {
            if same_flow(&self.bufs[o.head][VNET_HDR_LEN..], pkt) {
                o.closed = true;
            }
        }
    }

    /// Gives a super-segment its lengths, partial checksum and header.
    fn finish(&mut self, o: Open) {
        let Some(s) = o.merged_into.filter(|_| o.merged > 0) else {
            return;
        };
        let buf = &mut self.supers[s];
        let pkt = &mut buf[VNET_HDR_LEN..];
        let payload = pkt.len() - IP6_LEN;
        let len = (payload as u16).to_be_bytes();
        pkt[4..6].copy_from_slice(&len);
        let (proto, gso_type, csum_offset) = if o.udp {
            // The super-datagram's own length: the kernel puts each
            // datagram's back when it cuts (RFC 768 length field).
            pkt[IP6_LEN + 4..IP6_LEN + 6].copy_from_slice(&len);
            (PROTO_UDP, tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4, 6)
        } else {
            (PROTO_TCP, tun_rs::VIRTIO_NET_HDR_GSO_TCPV6, 16)
        };
        // CHECKSUM_PARTIAL: the field holds the pseudo-header sum
        // (RFC 8200 §8.1); the kernel adds the rest per segment.
        let pseudo = tun_rs::checksum(&pkt[8..40], payload as u64 + u64::from(proto));
        let at = IP6_LEN + usize::from(csum_offset);
        pkt[at..at + 2].copy_from_slice(&pseudo.to_be_bytes());
        let hdr = VirtioNetHdr {
            flags: F_NEEDS_CSUM,
            gso_type,
            hdr_len: (IP6_LEN + o.l4_len) as u16,
            gso_size: o.seg_size as u16,
            csum_start: IP6_LEN as u16,
            csum_offset,
        };
        // Cannot fail: the buffer holds at least the header.
        let _ = hdr.encode(&mut buf[..VNET_HDR_LEN]);
    }
}

/// The packet as a mergeable TCP/IPv6 segment (or UDP/IPv6 datagram,
/// with `udp`), if it is one.
fn segment(pkt: &[u8], udp: bool) -> Option<Segment> {
    if pkt.len() < IP6_LEN + UDP_LEN || pkt[0] >> 4 != 6 {
        return None;
    }
    if usize::from(u16::from_be_bytes([pkt[4], pkt[5]])) != pkt.len() - IP6_LEN {
        return None;
    }
    match pkt[6] {
        PROTO_TCP if pkt.len() >= IP6_LEN + 20 => tcp_segment(pkt),
        PROTO_UDP if udp => udp_datagram(pkt),
        _ => None,
    }
}

/// A UDP/IPv6 datagram with a payload, its length field and checksum right
/// (a zero checksum is not allowed over IPv6, RFC 8200 §8.1).
fn udp_datagram(pkt: &[u8]) -> Option<Segment> {
    let udp = &pkt[IP6_LEN..];
    if usize::from(u16::from_be_bytes([udp[4], udp[5]])) != udp.len() || udp.len() == UDP_LEN {
        return None;
    }
    if udp[6..8] == [0, 0] || !l4_checksum_ok(pkt, PROTO_UDP) {
        return None;
    }
    Some(Segment {
        udp: true,
        seq: 0,
        l4_len: UDP_LEN,
        payload: udp.len() - UDP_LEN,
        psh: false,
    })
}

/// A TCP/IPv6 segment with only ACK (and PSH) set and a right checksum.
fn tcp_segment(pkt: &[u8]) -> Option<Segment> {
    let tcp = &pkt[IP6_LEN..];
    let l4_len = usize::from(tcp[12] >> 4) * 4;
    if l4_len < 20 || tcp.len() <= l4_len {
        return None;
    }
    let flags = tcp[13];
    if flags != ACK && flags != ACK | PSH {
        return None;
    }
    if !l4_checksum_ok(pkt, PROTO_TCP) {
        return None;
    }
    Some(Segment {
        udp: false,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        l4_len,
        payload: tcp.len() - l4_len,
        psh: flags & PSH != 0,
    })
}

/// True when the transport checksum of an extension-free IPv6 packet with
/// next header `proto` is right (RFC 8200 §8.1 pseudo-header).
fn l4_checksum_ok(pkt: &[u8], proto: u8) -> bool {
    let l4 = &pkt[IP6_LEN..];
    let pseudo = tun_rs::checksum_no_fold(&pkt[8..40], l4.len() as u64 + u64::from(proto));
    tun_rs::checksum(l4, pseudo) == 0xffff
}

/// Same addresses and, for TCP and UDP, the same ports: packets whose
/// order the receiver may see.
fn same_flow(a: &[u8], b: &[u8]) -> bool {
    if a.len() < IP6_LEN + 4 || b.len() < IP6_LEN + 4 || b[0] >> 4 != 6 {
        return false;
    }
    let ports = b[6] == PROTO_TCP || b[6] == PROTO_UDP;
    a[8..40] == b[8..40] && (!ports || a[40..44] == b[40..44])
}

/// The IPv6 header fields a super-segment shares: version, class, flow
/// label, next header and hop limit.
fn same_ip_headers(head: &[u8], pkt: &[u8]) -> bool {
    head[..4] == pkt[..4] && head[6..8] == pkt[6..8]
}

/// The headers a TCP super-segment shares: the IPv6 ones
/// ([`same_ip_headers`]); TCP acknowledgment, data offset, flags (but PSH),
/// window, urgent pointer and options.
fn same_headers(head: &[u8], pkt: &[u8], l4_len: usize) -> bool {
    let (h, p) = (&head[IP6_LEN..], &pkt[IP6_LEN..]);
    same_ip_headers(head, pkt)
        && h[8..13] == p[8..13]
        && h[13] & !PSH == p[13] & !PSH
        && h[14..16] == p[14..16]
        && h[18..l4_len] == p[18..l4_len]
}
