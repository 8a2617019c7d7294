//! TUN segmentation and receive offloads: the virtio-net header framing.
//!
//! With `IFF_VNET_HDR` every read from and write to the TUN starts with a
//! `struct virtio_net_hdr` (Linux `include/uapi/linux/virtio_net.h`; the
//! framing of the virtio 1.1 specification §5.1.6). After `TUNSETOFFLOAD`
//! with `TUN_F_TSO4|TUN_F_TSO6|TUN_F_CSUM` the kernel may hand us one TCP
//! super-segment of up to 64 KiB (`gso_type` TCPV6, `gso_size` the MSS) and
//! packets whose checksum it left for us to finish (`NEEDS_CSUM`); we may
//! write super-segments back the same way.
//!
//! [`TunRecvBatch`] cuts what one read returned into IPv6 packets no larger
//! than the interface MTU, each with its checksum complete, so the Teredo
//! core checks and forwards every packet on its own; the segmentation itself
//! is tun-rs's (a port of wireguard-go's tun offloads), this module keeps the
//! buffers and bounds the segment size by the MTU. `TunSendBatch` (in
//! `tun_gro.rs`) collects packets for the kernel and coalesces consecutive
//! TCP segments of one flow into one write.

use std::io;
use std::ops::Range;
use std::time::{Duration, Instant};

use tun_rs::VirtioNetHdr;

/// Bytes of `struct virtio_net_hdr` before every packet when offloads are on.
pub const VNET_HDR_LEN: usize = tun_rs::VIRTIO_NET_HDR_LEN;

/// The largest read: a virtio header and a 64 KiB super-segment.
const RAW_LEN: usize = VNET_HDR_LEN + 65535;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the transport checksum is partial (the
/// pseudo-header sum is in place); the receiver finishes it.
pub(crate) const F_NEEDS_CSUM: u8 = 1;
const GSO_NONE: u8 = 0;
const GSO_ECN: u8 = 0x80;

/// How long a read MTU is trusted before it is read again (the client's
/// hook may change it at any time).
const MTU_TTL: Duration = Duration::from_secs(1);

/// Reusable buffers for reading from the TUN: one raw read, and the packets
/// it was cut into. Nothing is allocated per read once the buffers have
/// grown to the largest super-segment seen.
pub struct TunRecvBatch {
    raw: Vec<u8>,
    /// The read was a single packet: where it lies in `raw` (not copied).
    whole: Option<Range<usize>>,
    segments: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    count: usize,
    mtu: Option<(usize, Instant)>,
}

impl Default for TunRecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl TunRecvBatch {
    /// Buffers for the largest read.
    pub fn new() -> TunRecvBatch {
        TunRecvBatch {
            raw: vec![0u8; RAW_LEN],
            whole: None,
            segments: Vec::new(),
            sizes: Vec::new(),
            count: 0,
            mtu: None,
        }
    }

    /// The packets of the last read, in order.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        let whole = self.whole.clone().map(|r| &self.raw[r]);
        let segments = self.segments[..self.count]
            .iter()
            .zip(&self.sizes)
            .map(|(b, &n)| &b[..n]);
        whole.into_iter().chain(segments)
    }

    /// How many packets the last read gave.
    pub fn len(&self) -> usize {
        usize::from(self.whole.is_some()) + self.count
    }

    /// True when the last read gave no packet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn clear(&mut self) {
        self.whole = None;
        self.count = 0;
    }

    /// The buffer a read goes into.
    pub(crate) fn read_buf(&mut self) -> &mut [u8] {
        self.clear();
        &mut self.raw
    }

    /// A read without offloads put one packet of `len` bytes at the start.
    pub(crate) fn set_plain(&mut self, len: usize) {
        self.whole = Some(0..len.min(self.raw.len()));
    }

    /// The MTU to cut super-segments to, read again through `read` once the
    /// last reading is older than [`MTU_TTL`].
    pub(crate) fn mtu_with(&mut self, read: impl FnOnce() -> io::Result<u16>) -> usize {
        let now = Instant::now();
        match self.mtu {
            Some((mtu, at)) if now.duration_since(at) < MTU_TTL => mtu,
            _ => {
                // IPv6's minimum link MTU (RFC 8200 §5) when it cannot be read.
                let mtu = read().map_or(1280, usize::from).max(1280);
                self.mtu = Some((mtu, now));
                mtu
            }
        }
    }

    /// Whether the frame at the start of the read buffer (virtio header
    /// first) is a super-segment, i.e. needs the MTU to be cut.
    pub(crate) fn is_gso(&self) -> bool {
        self.raw[1] != GSO_NONE
    }

    /// Copies `frame` (a virtio header and a packet, as a read returns them)
    /// into the read buffer and cuts it as [`TunRecvBatch::split`] does.
    pub fn split_frame(&mut self, frame: &[u8], mtu: usize) -> io::Result<usize> {
        self.clear();
        let len = frame.len().min(self.raw.len());
        self.raw[..len].copy_from_slice(&frame[..len]);
        self.split(len, mtu)
    }

    /// Cuts the `len` bytes a read with offloads left in the read buffer into
    /// packets of at most `mtu` bytes (TCP; UDP datagrams keep the sizes the
    /// sender chose), completing the checksums the kernel left partial.
    /// Returns how many packets there are; a malformed frame is an error and
    /// yields none.
    pub fn split(&mut self, len: usize, mtu: usize) -> io::Result<usize> {
        self.clear();
        if len <= VNET_HDR_LEN || len > self.raw.len() {
            return Err(invalid(format!("TUN read of {len} bytes")));
        }
        let mut hdr = VirtioNetHdr::decode(&self.raw[..VNET_HDR_LEN])?;
        let packet = &mut self.raw[VNET_HDR_LEN..len];
        if hdr.gso_type == GSO_NONE {
            if hdr.flags & F_NEEDS_CSUM != 0 {
                finish_checksum(packet, hdr.csum_start, hdr.csum_offset)?;
            }
            self.whole = Some(VNET_HDR_LEN..len);
            return Ok(1);
        }
        let is_v6 = match packet[0] >> 4 {
            6 => true,
            4 => false,
            v => return Err(invalid(format!("super-segment of IP version {v}"))),
        };
        let csum_start = usize::from(hdr.csum_start);
        let is_tcp = hdr.gso_type & !GSO_ECN != tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4;
        // The kernel's hdr_len may cover a whole first segment on the forward
        // path; the transport header's own length is the one to trust.
        let transport_len = if is_tcp {
            let data_offset = packet
                .get(csum_start + 12)
                .ok_or_else(|| invalid("super-segment shorter than its TCP header".into()))?;
            usize::from(data_offset >> 4) * 4
        } else {
            8
        };
        let hdr_len = csum_start + transport_len;
        if hdr_len >= packet.len() || hdr.gso_size == 0 {
            return Err(invalid(format!(
                "super-segment of {} bytes, headers {hdr_len}, segment size {}",
                packet.len(),
                hdr.gso_size
            )));
        }
        let mut seg_size = usize::from(hdr.gso_size);
        if is_tcp {
            // The MSS already fits the route's MTU; bounding it by the
            // interface's too keeps a stale or forged size from producing
            // packets the tunnel would refuse.
            let room = mtu
                .checked_sub(hdr_len)
                .filter(|&r| r > 0)
                .ok_or_else(|| invalid(format!("headers of {hdr_len} bytes exceed MTU {mtu}")))?;
            seg_size = seg_size.min(room);
        }
        hdr.hdr_len = hdr_len as u16;
        hdr.gso_size = seg_size as u16;
        let payload = packet.len() - hdr_len;
        let count = payload.div_ceil(seg_size);
        let seg_len = hdr_len + seg_size.min(payload);
        if self.segments.len() < count {
            self.segments.resize_with(count, Vec::new);
            self.sizes.resize(count, 0);
        }
        for b in &mut self.segments[..count] {
            if b.len() < seg_len {
                b.resize(seg_len, 0);
            }
        }
        let n = tun_rs::gso_split(
            packet,
            hdr,
            &mut self.segments[..count],
            &mut self.sizes[..count],
            0,
            is_v6,
        )?;
        self.count = n;
        Ok(n)
    }
}

/// Completes a partial transport checksum: the field holds the
/// pseudo-header sum; the one's-complement sum from `start` on goes in it.
fn finish_checksum(packet: &mut [u8], start: u16, offset: u16) -> io::Result<()> {
    let start = usize::from(start);
    let at = start + usize::from(offset);
    if at + 2 > packet.len() {
        return Err(invalid(format!(
            "checksum at {at} beyond a {}-byte packet",
            packet.len()
        )));
    }
    let initial = u16::from_be_bytes([packet[at], packet[at + 1]]);
    packet[at..at + 2].fill(0);
    let sum = !tun_rs::checksum(&packet[start..], u64::from(initial));
    packet[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

pub(crate) fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
#[path = "tun_offload_tests.rs"]
mod tests;
