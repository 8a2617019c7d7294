//! The ICMPv6 Parameter Problem message (RFC 4443 §3.4) as a mobile node
//! reads it: which of its own packets drew the error, and whether the
//! pointer names the Mobility Header's protocol number (code 1) or the Home
//! Address option (code 2), the two cases RFC 6275 §11.3.6 tells the mobile
//! node to act on.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Pointer                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    As much of invoking packet                 |
//! +               as possible without the ICMPv6 packet           +
//! |               exceeding the minimum IPv6 MTU [IPv6]           |
//! ```
//!
//! The invoking packet is quoted as the sender's kernel held it. A node
//! with Mobile IPv6 processing swaps the source and the Home Address
//! option's address on input (RFC 6275 §9.3.1), and may or may not swap
//! them back before quoting; [`ParamProblem::involves`] therefore accepts
//! the home and care-of addresses in either place.

use std::net::Ipv6Addr;

use super::hao::OPT_HOME_ADDRESS;
use super::{Result, WireError};
use crate::consts::{IPPROTO_DSTOPTS, IPPROTO_MH, IPPROTO_ROUTING};

/// ICMPv6 type of Parameter Problem (RFC 4443 §3.4).
pub const TYPE_PARAMETER_PROBLEM: u8 = 4;
/// Code 1: unrecognized Next Header type encountered.
pub const CODE_UNRECOGNIZED_NEXT_HEADER: u8 = 1;
/// Code 2: unrecognized IPv6 option encountered.
pub const CODE_UNRECOGNIZED_OPTION: u8 = 2;

const ICMP_HEADER_LEN: usize = 8;
const IPV6_HEADER_LEN: usize = 40;
const IPPROTO_HOPOPTS: u8 = 0;

/// What the pointer of a Parameter Problem names in the quoted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Culprit {
    /// Code 1, the pointer at a Next Header field holding 135: the receiver
    /// does not know the Mobility Header (RFC 6275 §11.3.6).
    MobilityHeader,
    /// Code 2, the pointer at a Home Address option's type: the receiver
    /// cannot process the option (RFC 6275 §11.3.6).
    HomeAddressOption,
}

/// A Parameter Problem naming the Mobility Header or the Home Address
/// option of a quoted packet, with that packet's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamProblem {
    /// What the receiver could not process.
    pub culprit: Culprit,
    /// The quoted packet's source.
    pub source: Ipv6Addr,
    /// The quoted packet's destination.
    pub destination: Ipv6Addr,
    /// The address in its Home Address option, if it had one.
    pub home_address_option: Option<Ipv6Addr>,
}

impl ParamProblem {
    /// Parses an ICMPv6 message. `Ok(None)`: a well-formed Parameter
    /// Problem about something else (another code, or a pointer at another
    /// field); an error: not a Parameter Problem, or too short to tell.
    pub fn parse(icmp: &[u8]) -> Result<Option<ParamProblem>> {
        match icmp.first() {
            Some(&TYPE_PARAMETER_PROBLEM) => {}
            Some(&t) => return Err(WireError::UnexpectedIcmpType(t)),
            None => return Err(WireError::Truncated),
        }
        if icmp.len() < ICMP_HEADER_LEN + IPV6_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let code = icmp[1];
        let pointer = u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]);
        let quoted = &icmp[ICMP_HEADER_LEN..];
        let source = address_at(quoted, 8)?;
        let destination = address_at(quoted, 24)?;
        let walk = walk_headers(quoted);
        let Ok(pointer) = usize::try_from(pointer) else {
            return Ok(None);
        };
        let culprit = match code {
            CODE_UNRECOGNIZED_NEXT_HEADER
                if walk.next_header_fields.contains(&pointer)
                    && quoted.get(pointer) == Some(&IPPROTO_MH) =>
            {
                Culprit::MobilityHeader
            }
            CODE_UNRECOGNIZED_OPTION if walk.hao_type_at == Some(pointer) => {
                Culprit::HomeAddressOption
            }
            _ => return Ok(None),
        };
        Ok(Some(ParamProblem {
            culprit,
            source,
            destination,
            home_address_option: walk.home_address,
        }))
    }

    /// True when the quoted packet was one the mobile node with home
    /// address `hoa` sent to `peer`: from `hoa` (through the tunnel) or
    /// from a care-of address with `hoa` in its Home Address option, in
    /// either order of the swap.
    pub fn involves(&self, hoa: Ipv6Addr, peer: Ipv6Addr) -> bool {
        self.destination == peer && (self.source == hoa || self.home_address_option == Some(hoa))
    }
}

fn address_at(b: &[u8], at: usize) -> Result<Ipv6Addr> {
    let bytes: [u8; 16] = b
        .get(at..at + 16)
        .and_then(|s| s.try_into().ok())
        .ok_or(WireError::Truncated)?;
    Ok(Ipv6Addr::from(bytes))
}

/// What walking the quoted packet's extension headers found.
#[derive(Debug, Default)]
struct Walk {
    /// Offsets of the Next Header fields (the fixed header's, then each
    /// extension header's).
    next_header_fields: Vec<usize>,
    /// Offset of a Home Address option's type octet in a Destination
    /// Options header.
    hao_type_at: Option<usize>,
    home_address: Option<Ipv6Addr>,
}

/// Follows hop-by-hop, routing and destination options headers (RFC 8200
/// §4) as far as the quote goes; a truncated quote ends the walk.
fn walk_headers(p: &[u8]) -> Walk {
    let mut w = Walk {
        next_header_fields: vec![6],
        ..Walk::default()
    };
    let mut next = p[6];
    let mut at = IPV6_HEADER_LEN;
    while matches!(next, IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS) {
        let (Some(&nh), Some(&len)) = (p.get(at), p.get(at + 1)) else {
            break;
        };
        let end = at + (usize::from(len) + 1) * 8;
        if next == IPPROTO_DSTOPTS {
            find_hao(p, at + 2, end.min(p.len()), &mut w);
        }
        w.next_header_fields.push(at);
        next = nh;
        at = end;
    }
    w
}

/// The options of a Destination Options header between `from` and `to`
/// (RFC 8200 §4.2): Pad1 is one octet, every other option type-length-value.
fn find_hao(p: &[u8], from: usize, to: usize, w: &mut Walk) {
    let mut at = from;
    while at < to {
        let t = p[at];
        if t == 0 {
            at += 1;
            continue;
        }
        let Some(&len) = p.get(at + 1) else {
            return;
        };
        if t == OPT_HOME_ADDRESS && w.hao_type_at.is_none() {
            w.hao_type_at = Some(at);
            if len == 16 {
                w.home_address = address_at(p, at + 2).ok();
            }
        }
        at += 2 + usize::from(len);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const COA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 5);
    const HOA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
    const CN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);

    /// A Parameter Problem quoting `src` → `dst`, with a Destination
    /// Options header holding an HAO for `hao` when given, then an MH.
    fn error(
        code: u8,
        pointer: u32,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hao: Option<Ipv6Addr>,
    ) -> Vec<u8> {
        let mut m = vec![TYPE_PARAMETER_PROBLEM, code, 0, 0];
        m.extend_from_slice(&pointer.to_be_bytes());
        let first = if hao.is_some() {
            IPPROTO_DSTOPTS
        } else {
            IPPROTO_MH
        };
        m.extend_from_slice(&[0x60, 0, 0, 0, 0, 40, first, 64]);
        m.extend_from_slice(&src.octets());
        m.extend_from_slice(&dst.octets());
        if let Some(h) = hao {
            // Next header, length 2 (24 octets), PadN(2), HAO.
            m.extend_from_slice(&[IPPROTO_MH, 2, 1, 2, 0, 0, OPT_HOME_ADDRESS, 16]);
            m.extend_from_slice(&h.octets());
        }
        m.extend_from_slice(&[59, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        m
    }

    #[test]
    fn code_1_at_the_mobility_header_of_a_hoti_through_the_tunnel() {
        let p = ParamProblem::parse(&error(1, 6, HOA, CN, None))
            .unwrap()
            .unwrap();
        assert_eq!(p.culprit, Culprit::MobilityHeader);
        assert!(p.involves(HOA, CN));
        assert!(!p.involves(HOA, HOA));
    }

    #[test]
    fn code_1_behind_the_destination_options() {
        let p = ParamProblem::parse(&error(1, 40, COA, CN, Some(HOA)))
            .unwrap()
            .unwrap();
        assert_eq!(p.culprit, Culprit::MobilityHeader);
        assert!(p.involves(HOA, CN));
    }

    #[test]
    fn code_2_at_the_home_address_option_in_either_order_of_the_swap() {
        // 40 (fixed header) + 2 (next header, length) + 4 (PadN).
        let p = ParamProblem::parse(&error(2, 46, COA, CN, Some(HOA)))
            .unwrap()
            .unwrap();
        assert_eq!(p.culprit, Culprit::HomeAddressOption);
        assert_eq!(p.home_address_option, Some(HOA));
        assert!(p.involves(HOA, CN));
        let swapped = ParamProblem::parse(&error(2, 46, HOA, CN, Some(COA)))
            .unwrap()
            .unwrap();
        assert!(swapped.involves(HOA, CN));
    }

    #[test]
    fn other_pointers_and_codes_are_not_about_mobile_ipv6() {
        // Code 1 at the HAO, code 2 at the Next Header field, code 0.
        assert_eq!(
            ParamProblem::parse(&error(1, 46, COA, CN, Some(HOA))).unwrap(),
            None
        );
        assert_eq!(
            ParamProblem::parse(&error(2, 6, COA, CN, Some(HOA))).unwrap(),
            None
        );
        assert_eq!(
            ParamProblem::parse(&error(0, 6, HOA, CN, None)).unwrap(),
            None
        );
        // A pointer past the quote.
        assert_eq!(
            ParamProblem::parse(&error(1, 4000, HOA, CN, None)).unwrap(),
            None
        );
    }

    #[test]
    fn truncated_and_foreign_messages_are_errors_not_panics() {
        let full = error(2, 46, COA, CN, Some(HOA));
        for n in 0..full.len() {
            let _ = ParamProblem::parse(&full[..n]);
        }
        assert!(ParamProblem::parse(&full[..20]).is_err());
        let mut echo = full.clone();
        echo[0] = 128;
        assert!(ParamProblem::parse(&echo).is_err());
        // A header length running past the quote.
        let mut long = full;
        long[8 + 41] = 200;
        let _ = ParamProblem::parse(&long);
    }
}
