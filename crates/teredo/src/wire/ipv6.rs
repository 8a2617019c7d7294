//! A minimal IPv6 header (RFC 8200 §3): what a Teredo node needs to look at.

use std::net::Ipv6Addr;

use super::{be16, be32, ipv6_at, Result, WireError};

/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
pub use wire6::checksum::NEXT_HEADER_ICMPV6;
/// Next header value "no next header" (bubbles).
pub const NEXT_HEADER_NONE: u8 = 59;

/// An IPv6 header and the payload it describes (RFC 8200 §3).
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Traffic Class |           Flow Label                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Payload Length        |  Next Header  |   Hop Limit   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +                         Source Address                        +
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +                      Destination Address                      +
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Extension headers are not walked: `next_header` is the first one and
/// `payload` everything after the fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Header<'a> {
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Payload length field. After [`parse`](Self::parse) it equals `payload.len()`.
    pub payload_len: u16,
    /// Next header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The payload (trimmed to the payload length).
    pub payload: &'a [u8],
}

impl<'a> Ipv6Header<'a> {
    /// A header for `payload`, with traffic class and flow label 0. A payload
    /// above 65535 bytes gets a payload length of 65535 (jumbograms unsupported).
    pub fn new(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: u8,
        hop_limit: u8,
        payload: &'a [u8],
    ) -> Self {
        Ipv6Header {
            traffic_class: 0,
            flow_label: 0,
            payload_len: u16::try_from(payload.len()).unwrap_or(u16::MAX),
            next_header,
            hop_limit,
            src,
            dst,
            payload,
        }
    }

    /// Parses an IPv6 packet: at least 40 bytes, version 6, and a payload
    /// length that fits in `buf`. Bytes beyond the payload length are ignored.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let first = *buf.first().ok_or(WireError::Truncated)?;
        if buf.len() < IPV6_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let version = first >> 4;
        if version != 6 {
            return Err(WireError::NotIpv6(version));
        }
        let word0 = be32(buf, 0).ok_or(WireError::Truncated)?;
        let payload_len = be16(buf, 4).ok_or(WireError::Truncated)?;
        let end = IPV6_HEADER_LEN + usize::from(payload_len);
        let payload = buf
            .get(IPV6_HEADER_LEN..end)
            .ok_or(WireError::BadPayloadLength)?;
        Ok(Ipv6Header {
            traffic_class: (word0 >> 20) as u8,
            flow_label: word0 & 0x000f_ffff,
            payload_len,
            next_header: buf[6],
            hop_limit: buf[7],
            src: ipv6_at(buf, 8).ok_or(WireError::Truncated)?,
            dst: ipv6_at(buf, 24).ok_or(WireError::Truncated)?,
            payload,
        })
    }

    /// Total packet length (header + payload length field).
    pub fn packet_len(&self) -> usize {
        IPV6_HEADER_LEN + usize::from(self.payload_len)
    }

    /// True for a bubble: no payload, next header 59 (RFC 4380 §2.8).
    pub fn is_bubble(&self) -> bool {
        self.payload_len == 0 && self.next_header == NEXT_HEADER_NONE
    }

    /// The 40 header bytes.
    pub fn header_bytes(&self) -> [u8; IPV6_HEADER_LEN] {
        let mut h = [0u8; IPV6_HEADER_LEN];
        let word0 =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff);
        h[0..4].copy_from_slice(&word0.to_be_bytes());
        h[4..6].copy_from_slice(&self.payload_len.to_be_bytes());
        h[6] = self.next_header;
        h[7] = self.hop_limit;
        h[8..24].copy_from_slice(&self.src.octets());
        h[24..40].copy_from_slice(&self.dst.octets());
        h
    }

    /// Appends header and payload to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.header_bytes());
        out.extend_from_slice(self.payload);
    }

    /// Header and payload as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(IPV6_HEADER_LEN + self.payload.len());
        self.emit(&mut v);
        v
    }
}

/// True if `ipv6` is a valid IPv6 packet with payload length 0 and next header
/// 59: a Teredo bubble (RFC 4380 §2.8). Never panics.
pub fn is_bubble(ipv6: &[u8]) -> bool {
    Ipv6Header::parse(ipv6).is_ok_and(|h| h.is_bubble())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap();
        let mut h = Ipv6Header::new(src, dst, 17, 64, b"hello world!");
        h.traffic_class = 0xb8;
        h.flow_label = 0xabcde;
        h.to_vec()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        assert_eq!(bytes.len(), 52);
        assert_eq!(&bytes[..4], &[0x6b, 0x8a, 0xbc, 0xde]);
        let h = Ipv6Header::parse(&bytes).unwrap();
        assert_eq!(h.traffic_class, 0xb8);
        assert_eq!(h.flow_label, 0xabcde);
        assert_eq!(h.payload, b"hello world!");
        assert_eq!(h.next_header, 17);
        assert_eq!(h.hop_limit, 64);
        assert_eq!(h.packet_len(), 52);
        assert_eq!(h.to_vec(), bytes);
        assert!(!h.is_bubble());
    }

    #[test]
    fn trailing_bytes_trimmed() {
        let mut bytes = sample();
        bytes.extend_from_slice(&[0xaa; 7]);
        let h = Ipv6Header::parse(&bytes).unwrap();
        assert_eq!(h.payload, b"hello world!");
    }

    #[test]
    fn rejections() {
        let bytes = sample();
        for n in 0..bytes.len() {
            assert!(Ipv6Header::parse(&bytes[..n]).is_err(), "len {n}");
        }
        assert_eq!(
            Ipv6Header::parse(&bytes[..51]),
            Err(WireError::BadPayloadLength)
        );
        assert_eq!(Ipv6Header::parse(&bytes[..39]), Err(WireError::Truncated));
        let mut v4 = bytes.clone();
        v4[0] = 0x45;
        assert_eq!(Ipv6Header::parse(&v4), Err(WireError::NotIpv6(4)));
    }

    #[test]
    fn bubble_detection() {
        let a: Ipv6Addr = "fe80::1".parse().unwrap();
        let b = Ipv6Header::new(a, a, NEXT_HEADER_NONE, 0, &[]).to_vec();
        assert!(is_bubble(&b));
        assert!(!is_bubble(&b[..39]));
        let mut not = b.clone();
        not[6] = 58;
        assert!(!is_bubble(&not));
        assert!(!is_bubble(&sample()));
    }
}
