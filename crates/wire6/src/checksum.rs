//! The Internet checksum (RFC 1071) of an upper-layer message over the IPv6
//! pseudo-header (RFC 8200 §8.1), as ICMPv6 (RFC 4443 §2.3, next header 58)
//! and the Mobility Header (RFC 6275 §6.1.1, next header 135) use it.
//!
//! The caller picks the pseudo-header addresses: with a Home Address option
//! the source is the home address, with a Type 2 Routing Header the
//! destination is (RFC 6275 §6.1.1).

use std::net::Ipv6Addr;

/// Next header value of ICMPv6 (RFC 4443 §1).
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// Offset of the checksum field in an ICMPv6 message (RFC 4443 §2.1).
pub const ICMPV6_CHECKSUM_OFFSET: usize = 2;

fn sum16(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn pseudo_header_sum(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, len: usize) -> u64 {
    let acc = sum16(0, &src.octets());
    sum16(acc, &dst.octets()) + len as u64 + u64::from(next_header)
}

/// The checksum of `msg` with pseudo-header (`src`, `dst`, length of `msg`,
/// `next_header`), computed as if the two octets at `checksum_offset` were
/// zero. Ready to be stored big-endian at that offset.
pub fn upper_layer_checksum(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: u8,
    msg: &[u8],
    checksum_offset: usize,
) -> u16 {
    let mut acc = pseudo_header_sum(src, dst, next_header, msg.len());
    let (head, tail) = msg.split_at(checksum_offset.min(msg.len()));
    acc = sum16(acc, head);
    // `head` has an even length when the offset is even, so the pairing of
    // octets in `tail` is unchanged.
    acc = sum16(acc, tail.get(2..).unwrap_or(&[]));
    !fold(acc)
}

/// True if the checksum stored at `checksum_offset` in `msg` equals
/// [`upper_layer_checksum`]. Stricter than [`sums_to_ones`]: of the two
/// encodings of a zero sum it takes only the one this module emits.
pub fn verify(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: u8,
    msg: &[u8],
    checksum_offset: usize,
) -> bool {
    let Some(stored) = msg.get(checksum_offset..checksum_offset + 2) else {
        return false;
    };
    let stored = u16::from_be_bytes([stored[0], stored[1]]);
    upper_layer_checksum(src, dst, next_header, msg, checksum_offset) == stored
}

/// The receiver's check of RFC 1071 §1: the sum over pseudo-header and the
/// whole message, checksum field included, is all ones. It takes either
/// encoding of a zero checksum (0x0000 or 0xffff).
pub fn sums_to_ones(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, msg: &[u8]) -> bool {
    let acc = pseudo_header_sum(src, dst, next_header, msg.len());
    fold(sum16(acc, msg)) == 0xffff
}

/// Writes the checksum at `checksum_offset` (no-op if `msg` is too short).
pub fn fill(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: u8,
    msg: &mut [u8],
    checksum_offset: usize,
) {
    let c = upper_layer_checksum(src, dst, next_header, msg, checksum_offset);
    if let Some(slot) = msg.get_mut(checksum_offset..checksum_offset + 2) {
        slot.copy_from_slice(&c.to_be_bytes());
    }
}

/// The ICMPv6 checksum (RFC 4443 §2.3) of `msg`.
pub fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> u16 {
    upper_layer_checksum(src, dst, NEXT_HEADER_ICMPV6, msg, ICMPV6_CHECKSUM_OFFSET)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Independent reference: RFC 1071 sum over an explicit pseudo-header
    /// buffer (RFC 8200 §8.1 layout) followed by the message.
    fn reference(src: &Ipv6Addr, dst: &Ipv6Addr, nh: u8, msg: &[u8], off: usize) -> u16 {
        let mut buf = Vec::new();
        buf.extend_from_slice(&src.octets());
        buf.extend_from_slice(&dst.octets());
        buf.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        buf.extend_from_slice(&[0, 0, 0, nh]);
        let mut m = msg.to_vec();
        m[off] = 0;
        m[off + 1] = 0;
        buf.extend_from_slice(&m);
        if buf.len() % 2 == 1 {
            buf.push(0);
        }
        let mut s: u32 = 0;
        for c in buf.chunks(2) {
            s += u32::from(u16::from_be_bytes([c[0], c[1]]));
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn rfc4443_echo_request_vector() {
        // ICMPv6 echo request, id 0x1234 seq 1, no data, ::1 → ::1. Sum by
        // hand: pseudo-header 0x0001 + 0x0001 + 0x0008 + 0x003a, message
        // 0x8000 + 0x1234 + 0x0001 = 0x9279 → checksum 0x6d86.
        let lo = Ipv6Addr::LOCALHOST;
        let msg = [0x80, 0, 0, 0, 0x12, 0x34, 0x00, 0x01];
        assert_eq!(icmpv6_checksum(&lo, &lo, &msg), 0x6d86);
        let mut filled = msg;
        fill(&lo, &lo, NEXT_HEADER_ICMPV6, &mut filled, 2);
        assert!(verify(&lo, &lo, NEXT_HEADER_ICMPV6, &filled, 2));
        assert!(sums_to_ones(&lo, &lo, NEXT_HEADER_ICMPV6, &filled));
        filled[7] ^= 1;
        assert!(!verify(&lo, &lo, NEXT_HEADER_ICMPV6, &filled, 2));
        assert!(!sums_to_ones(&lo, &lo, NEXT_HEADER_ICMPV6, &filled));
    }

    #[test]
    fn matches_reference_on_odd_and_even_lengths() {
        let s: Ipv6Addr = "2001:db8:1::100".parse().unwrap();
        let d: Ipv6Addr = "2001:db8:ffff::1".parse().unwrap();
        for len in 6..80 {
            let msg: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            for (nh, off) in [(135, 4), (NEXT_HEADER_ICMPV6, 2)] {
                assert_eq!(
                    upper_layer_checksum(&s, &d, nh, &msg, off),
                    reference(&s, &d, nh, &msg, off),
                    "len {len}"
                );
            }
        }
    }

    #[test]
    fn verify_rejects_short_messages() {
        let lo = Ipv6Addr::LOCALHOST;
        assert!(!verify(&lo, &lo, 135, &[59, 0, 0, 0, 0], 4));
    }

    proptest::proptest! {
        #[test]
        fn filled_messages_pass_both_checks(msg in proptest::collection::vec(proptest::prelude::any::<u8>(), 4..200)) {
            let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
            let d: Ipv6Addr = "fe80::ffff:ffff:ffff".parse().unwrap();
            let mut m = msg;
            fill(&s, &d, NEXT_HEADER_ICMPV6, &mut m, 2);
            proptest::prop_assert!(verify(&s, &d, NEXT_HEADER_ICMPV6, &m, 2));
            proptest::prop_assert!(sums_to_ones(&s, &d, NEXT_HEADER_ICMPV6, &m));
        }
    }
}
