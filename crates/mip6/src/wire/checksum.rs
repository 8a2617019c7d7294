//! The Mobility Header checksum (RFC 6275 §6.1.1, next header 135) and the
//! ICMPv6 one (RFC 4443 §2.3), both over the IPv6 pseudo-header (RFC 8200
//! §8.1), computed by [`wire6::checksum`].
//!
//! When an HAO is present the pseudo-header source is the home address; when
//! a Type 2 Routing Header is present the destination is the home address
//! (RFC 6275 §6.1.1): callers pass the addresses accordingly.

use std::net::Ipv6Addr;

pub use wire6::checksum::{fill, icmpv6_checksum, upper_layer_checksum, verify};

use crate::consts::{IPPROTO_MH, MH_CHECKSUM_OFFSET};

/// The Mobility Header checksum (RFC 6275 §6.1.1) of `mh`.
pub fn mh_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, mh: &[u8]) -> u16 {
    upper_layer_checksum(src, dst, IPPROTO_MH, mh, MH_CHECKSUM_OFFSET)
}
