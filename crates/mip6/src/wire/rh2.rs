//! The Type 2 Routing Header (RFC 6275 §6.4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  | Hdr Ext Len=2 | Routing Type=2|Segments Left=1|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Reserved                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                         Home Address                          |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Hdr Ext Len other than 2 and Segments Left above 1 are errors (§6.4 and
//! §9.3.1 say such a packet is discarded with an ICMP Parameter Problem).
//! Segments Left 0 is accepted: it is what a receiver sees after processing.

use std::net::Ipv6Addr;

use super::{ipv6_at, Result, WireError};

/// Length of a Type 2 Routing Header.
pub const RH2_LEN: usize = 24;
/// Routing type of the Type 2 Routing Header.
pub const ROUTING_TYPE_2: u8 = 2;

/// A checked view over a Type 2 Routing Header.
#[derive(Debug, Clone, Copy)]
pub struct Rh2Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Rh2Packet<T> {
    /// Wraps `buffer` after checking length, Hdr Ext Len, type and segments left.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        let (Some(&hlen), Some(&ty), Some(&sl)) = (b.get(1), b.get(2), b.get(3)) else {
            return Err(WireError::Truncated);
        };
        if hlen != 2 {
            return Err(WireError::BadHeaderLength(hlen));
        }
        if b.len() < RH2_LEN {
            return Err(WireError::Truncated);
        }
        if ty != ROUTING_TYPE_2 {
            return Err(WireError::BadRoutingType(ty));
        }
        if sl > 1 {
            return Err(WireError::BadSegmentsLeft(sl));
        }
        Ok(Rh2Packet { buffer })
    }

    /// Next Header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Segments Left.
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[3]
    }

    /// The home address.
    pub fn home_address(&self) -> Ipv6Addr {
        ipv6_at(self.buffer.as_ref(), 8).unwrap_or(Ipv6Addr::UNSPECIFIED)
    }
}

/// A Type 2 Routing Header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rh2Repr {
    /// Next Header.
    pub next_header: u8,
    /// Segments Left: 1 when sent, 0 once processed.
    pub segments_left: u8,
    /// The mobile node's home address.
    pub home_address: Ipv6Addr,
}

impl Rh2Repr {
    /// The header a sender builds (segments left 1).
    pub fn new(next_header: u8, home_address: Ipv6Addr) -> Self {
        Rh2Repr {
            next_header,
            segments_left: 1,
            home_address,
        }
    }

    /// Parses a Type 2 Routing Header (the 24 octets; the rest is ignored).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let p = Rh2Packet::new_checked(bytes)?;
        Ok(Rh2Repr {
            next_header: p.next_header(),
            segments_left: p.segments_left(),
            home_address: p.home_address(),
        })
    }

    /// The 24 octets, reserved field zero.
    pub fn emit(&self) -> [u8; RH2_LEN] {
        let mut out = [0; RH2_LEN];
        out[..4].copy_from_slice(&[self.next_header, 2, ROUTING_TYPE_2, self.segments_left]);
        out[8..].copy_from_slice(&self.home_address.octets());
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const RH2_MH: [u8; 24] = [
        // Next header 135 (MH, a BA), Hdr Ext Len 2, type 2, segments left 1.
        135, 2, 2, 1,
        0, 0, 0, 0,
        // Home address 2001:db8:1::100.
        0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
    ];

    #[test]
    fn byte_exact_round_trip() {
        let r = Rh2Repr::new(135, "2001:db8:1::100".parse().unwrap());
        assert_eq!(r.emit(), RH2_MH);
        assert_eq!(Rh2Repr::parse(&RH2_MH).unwrap(), r);
    }

    #[test]
    fn rejects_malformed() {
        for n in 0..RH2_LEN {
            assert!(Rh2Repr::parse(&RH2_MH[..n]).is_err(), "len {n}");
        }
        let mut b = RH2_MH;
        b[1] = 4;
        assert_eq!(Rh2Repr::parse(&b), Err(WireError::BadHeaderLength(4)));
        let mut b = RH2_MH;
        b[2] = 0;
        assert_eq!(Rh2Repr::parse(&b), Err(WireError::BadRoutingType(0)));
        let mut b = RH2_MH;
        b[3] = 2;
        assert_eq!(Rh2Repr::parse(&b), Err(WireError::BadSegmentsLeft(2)));
        b[3] = 0;
        assert_eq!(Rh2Repr::parse(&b).unwrap().segments_left, 0);
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(nh in any::<u8>(), sl in 0u8..=1, a in any::<[u8; 16]>()) {
            let r = Rh2Repr { next_header: nh, segments_left: sl, home_address: Ipv6Addr::from(a) };
            prop_assert_eq!(Rh2Repr::parse(&r.emit()).unwrap(), r);
        }
    }
}
