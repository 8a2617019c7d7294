//! The Home Address destination option (RFC 6275 §6.3) in its Destination
//! Options header (RFC 8200 §4.6).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |  Hdr Ext Len  |  PadN (1)     |  Length (2)   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           0               0   |  Option Type  | Option Length |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                          Home Address                         |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The HAO (type 201, length 16) must sit at 8n+6, so after the 2-octet
//! header a 4-octet PadN comes first: 24 octets, Hdr Ext Len 2, which is also
//! what the Linux kernel's MIP6 XFRM type writes.

use std::net::Ipv6Addr;

use super::{emit_pad, ipv6_at, Result, WireError};

/// Option type of the Home Address option (binary 11 0 01001: discard and
/// send ICMP if unrecognized, data does not change en route).
pub const OPT_HOME_ADDRESS: u8 = 201;
/// Length of the Destination Options header [`HaoRepr::emit`] produces.
pub const HAO_HEADER_LEN: usize = 24;

/// A checked view over a Destination Options header.
#[derive(Debug, Clone, Copy)]
pub struct HaoPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> HaoPacket<T> {
    /// Wraps `buffer` after checking it holds the whole header Hdr Ext Len declares.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        let Some(&len) = b.get(1) else {
            return Err(WireError::Truncated);
        };
        if b.len() < (usize::from(len) + 1) * 8 {
            return Err(WireError::Truncated);
        }
        Ok(HaoPacket { buffer })
    }

    /// Next Header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Length of the whole header in octets.
    pub fn header_len(&self) -> usize {
        (usize::from(self.buffer.as_ref()[1]) + 1) * 8
    }

    /// The options area.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[2..self.header_len()]
    }

    /// The home address of the first HAO. Padding and unknown options whose
    /// action bits say "skip" (RFC 8200 §4.2) are passed over; other unknown
    /// options are an error.
    pub fn home_address(&self) -> Result<Ipv6Addr> {
        let opts = self.options();
        let mut at = 0;
        while at < opts.len() {
            let ty = opts[at];
            if ty == 0 {
                at += 1;
                continue;
            }
            let len = usize::from(*opts.get(at + 1).ok_or(WireError::TruncatedOption)?);
            let data = opts
                .get(at + 2..at + 2 + len)
                .ok_or(WireError::TruncatedOption)?;
            match ty {
                OPT_HOME_ADDRESS if len == 16 => return ipv6_at(data, 0),
                OPT_HOME_ADDRESS => return Err(WireError::BadOptionLength { ty, len: len as u8 }),
                1 => {}
                _ if ty >> 6 == 0 => {}
                _ => return Err(WireError::UnknownDestOption(ty)),
            }
            at += 2 + len;
        }
        Err(WireError::NoHomeAddress)
    }
}

/// A Destination Options header carrying a Home Address option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaoRepr {
    /// Next Header after the Destination Options header.
    pub next_header: u8,
    /// The mobile node's home address.
    pub home_address: Ipv6Addr,
}

impl HaoRepr {
    /// Parses a Destination Options header; returns the repr and the header's
    /// length (where the next header starts).
    pub fn parse(bytes: &[u8]) -> Result<(Self, usize)> {
        let p = HaoPacket::new_checked(bytes)?;
        let repr = HaoRepr {
            next_header: p.next_header(),
            home_address: p.home_address()?,
        };
        Ok((repr, p.header_len()))
    }

    /// The 24-octet header: PadN(2 data octets), then the HAO at offset 6.
    pub fn emit(&self) -> [u8; HAO_HEADER_LEN] {
        let mut v = Vec::with_capacity(HAO_HEADER_LEN);
        v.extend_from_slice(&[self.next_header, (HAO_HEADER_LEN / 8 - 1) as u8]);
        emit_pad(&mut v, 4);
        v.extend_from_slice(&[OPT_HOME_ADDRESS, 16]);
        v.extend_from_slice(&self.home_address.octets());
        let mut out = [0; HAO_HEADER_LEN];
        out.copy_from_slice(&v);
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const HAO_MH: [u8; 24] = [
        // Next header 135 (MH), Hdr Ext Len 2, PadN with 2 zero octets.
        135, 2, 1, 2, 0, 0,
        // HAO type 201 length 16 at offset 6 (8n+6), 2001:db8:1::100.
        201, 16,
        0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
    ];

    #[test]
    fn byte_exact_round_trip() {
        let r = HaoRepr {
            next_header: 135,
            home_address: "2001:db8:1::100".parse().unwrap(),
        };
        assert_eq!(r.emit(), HAO_MH);
        assert_eq!(HaoRepr::parse(&HAO_MH).unwrap(), (r, 24));
    }

    #[test]
    fn rejects_malformed() {
        for n in 0..HAO_MH.len() {
            assert!(HaoRepr::parse(&HAO_MH[..n]).is_err(), "len {n}");
        }
        let mut b = HAO_MH;
        b[7] = 15;
        assert!(HaoRepr::parse(&b).is_err());
        let mut b = HAO_MH;
        b[6] = 1; // the HAO becomes a PadN: no home address left.
        assert_eq!(HaoRepr::parse(&b), Err(WireError::NoHomeAddress));
        let mut b = HAO_MH;
        b[2] = 0x85; // unknown option, action "discard"
        assert_eq!(HaoRepr::parse(&b), Err(WireError::UnknownDestOption(0x85)));
        let mut b = HAO_MH;
        b[2] = 0x05; // unknown option, action "skip"
        assert_eq!(HaoRepr::parse(&b).unwrap().0.next_header, 135);
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(nh in any::<u8>(), a in any::<[u8; 16]>()) {
            let r = HaoRepr { next_header: nh, home_address: Ipv6Addr::from(a) };
            prop_assert_eq!(HaoRepr::parse(&r.emit()).unwrap(), (r, HAO_HEADER_LEN));
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = HaoRepr::parse(&b);
        }
    }
}
