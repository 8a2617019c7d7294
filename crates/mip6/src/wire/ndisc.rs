//! The ICMPv6 messages a mobile node and a home agent exchange: Router
//! Solicitation/Advertisement and Neighbor Solicitation/Advertisement
//! (RFC 4861 §4.1–§4.4, with the H flag of RFC 6275 §7.1), Home Agent Address
//! Discovery (RFC 6275 §6.5–§6.6, R flag of RFC 3963 §4.4–§4.5) and Mobile
//! Prefix Solicitation/Advertisement (RFC 6275 §6.7–§6.8).
//!
//! Bytes are the ICMPv6 message alone (what a raw ICMPv6 socket reads and
//! writes); the checksum covers the pseudo-header with next header 58.
//! Every message here must have code 0.

use std::net::Ipv6Addr;

use super::checksum::{fill, verify};
use super::ndopt::{emit_nd_options, parse_nd_options, NdOption};
use super::{be16, be32, ipv6_at, Result, WireError};
use crate::consts::IPPROTO_ICMPV6;

/// ICMPv6 type: Router Solicitation.
pub const TYPE_ROUTER_SOLICIT: u8 = 133;
/// ICMPv6 type: Router Advertisement.
pub const TYPE_ROUTER_ADVERT: u8 = 134;
/// ICMPv6 type: Neighbor Solicitation.
pub const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
/// ICMPv6 type: Neighbor Advertisement.
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
/// ICMPv6 type: Home Agent Address Discovery Request.
pub const TYPE_DHAAD_REQUEST: u8 = 144;
/// ICMPv6 type: Home Agent Address Discovery Reply.
pub const TYPE_DHAAD_REPLY: u8 = 145;
/// ICMPv6 type: Mobile Prefix Solicitation.
pub const TYPE_MOBILE_PREFIX_SOLICIT: u8 = 146;
/// ICMPv6 type: Mobile Prefix Advertisement.
pub const TYPE_MOBILE_PREFIX_ADVERT: u8 = 147;

/// Router Solicitation (RFC 4861 §4.1).
///
/// ```text
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            Reserved                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterSolicit {
    /// Options (source link-layer address, unless sent from `::`).
    pub options: Vec<NdOption>,
}

/// Router Advertisement (RFC 4861 §4.2; H flag RFC 6275 §7.1).
///
/// ```text
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Cur Hop Limit |M|O|H|Prf|Resvd|       Router Lifetime         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Reachable Time                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                          Retrans Timer                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterAdvert {
    /// Cur Hop Limit (0: unspecified).
    pub cur_hop_limit: u8,
    /// M, O, H, Prf (RFC 4191) and reserved bits, as sent.
    pub flags: u8,
    /// Router lifetime (s).
    pub router_lifetime: u16,
    /// Reachable time (ms, 0: unspecified).
    pub reachable_time: u32,
    /// Retrans timer (ms, 0: unspecified).
    pub retrans_timer: u32,
    /// Options.
    pub options: Vec<NdOption>,
}

impl RouterAdvert {
    /// Managed address configuration (M).
    pub const MANAGED: u8 = 0x80;
    /// Other configuration (O).
    pub const OTHER: u8 = 0x40;
    /// Home Agent (H, RFC 6275 §7.1).
    pub const HOME_AGENT: u8 = 0x20;
    /// Default router preference bits (RFC 4191 §2.2).
    pub const PREFERENCE_MASK: u8 = 0x18;

    /// RFC 4191 router preference: 1 high, 0 medium (and the reserved
    /// value 10, treated as medium), −1 low.
    pub fn preference(&self) -> i8 {
        match (self.flags & Self::PREFERENCE_MASK) >> 3 {
            0b01 => 1,
            0b11 => -1,
            _ => 0,
        }
    }

    /// The prefix information options.
    pub fn prefixes(&self) -> impl Iterator<Item = &super::ndopt::PrefixInfo> {
        self.options.iter().filter_map(|o| match o {
            NdOption::PrefixInfo(p) => Some(p),
            _ => None,
        })
    }

    /// The Advertisement Interval option (ms), if present.
    pub fn adv_interval_ms(&self) -> Option<u32> {
        self.options.iter().find_map(|o| match o {
            NdOption::AdvInterval(v) => Some(*v),
            _ => None,
        })
    }

    /// The Home Agent Information option, if present.
    pub fn home_agent_info(&self) -> Option<super::ndopt::HomeAgentInfo> {
        self.options.iter().find_map(|o| match o {
            NdOption::HomeAgentInfo(h) => Some(*h),
            _ => None,
        })
    }

    /// The MTU option, if present.
    pub fn mtu(&self) -> Option<u32> {
        self.options.iter().find_map(|o| match o {
            NdOption::Mtu(v) => Some(*v),
            _ => None,
        })
    }
}

/// Neighbor Solicitation (RFC 4861 §4.3).
///
/// ```text
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                           Reserved                            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Target Address (128 bits)               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborSolicit {
    /// Target address.
    pub target: Ipv6Addr,
    /// Options.
    pub options: Vec<NdOption>,
}

/// Neighbor Advertisement (RFC 4861 §4.4).
///
/// ```text
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |R|S|O|                     Reserved                            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Target Address (128 bits)               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborAdvert {
    /// R, S, O flags (and the reserved bits of the first octet).
    pub flags: u8,
    /// Target address.
    pub target: Ipv6Addr,
    /// Options.
    pub options: Vec<NdOption>,
}

impl NeighborAdvert {
    /// Router (R).
    pub const ROUTER: u8 = 0x80;
    /// Solicited (S).
    pub const SOLICITED: u8 = 0x40;
    /// Override (O).
    pub const OVERRIDE: u8 = 0x20;
}

/// Home Agent Address Discovery Request (RFC 6275 §6.5; R: RFC 3963 §4.4).
///
/// ```text
/// |     Type      |     Code      |            Checksum           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Identifier          |R|          Reserved           |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhaadRequest {
    /// Identifier.
    pub identifier: u16,
    /// R flag and reserved bits, as sent.
    pub flags: u16,
}

/// The R (mobile router support) flag of DHAAD messages (RFC 3963 §4.4–§4.5).
pub const DHAAD_FLAG_MOBILE_ROUTER: u16 = 0x8000;

/// Home Agent Address Discovery Reply (RFC 6275 §6.6; R: RFC 3963 §4.5).
///
/// ```text
/// |     Type      |     Code      |            Checksum           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Identifier          |R|          Reserved           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// .                      Home Agent Addresses                     .
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhaadReply {
    /// Identifier (echoed from the request).
    pub identifier: u16,
    /// R flag and reserved bits, as sent.
    pub flags: u16,
    /// Home agents, in order of preference.
    pub home_agents: Vec<Ipv6Addr>,
}

/// Mobile Prefix Solicitation (RFC 6275 §6.7).
///
/// ```text
/// |     Type      |     Code      |            Checksum           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Identifier          |            Reserved           |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MobilePrefixSolicit {
    /// Identifier.
    pub identifier: u16,
}

/// Mobile Prefix Advertisement (RFC 6275 §6.8).
///
/// ```text
/// |     Type      |     Code      |            Checksum           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Identifier          |M|O|        Reserved           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MobilePrefixAdvert {
    /// Identifier (echoed, or fresh for an unsolicited MPA).
    pub identifier: u16,
    /// M and O flags and the reserved bits of that octet.
    pub flags: u8,
    /// Options (prefix information).
    pub options: Vec<NdOption>,
}

/// One of the ICMPv6 messages above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NdRepr {
    /// Type 133.
    RouterSolicit(RouterSolicit),
    /// Type 134.
    RouterAdvert(RouterAdvert),
    /// Type 135.
    NeighborSolicit(NeighborSolicit),
    /// Type 136.
    NeighborAdvert(NeighborAdvert),
    /// Type 144.
    DhaadRequest(DhaadRequest),
    /// Type 145.
    DhaadReply(DhaadReply),
    /// Type 146.
    MobilePrefixSolicit(MobilePrefixSolicit),
    /// Type 147.
    MobilePrefixAdvert(MobilePrefixAdvert),
}

fn fixed_len(ty: u8) -> Option<usize> {
    Some(match ty {
        TYPE_ROUTER_SOLICIT => 8,
        TYPE_ROUTER_ADVERT => 16,
        TYPE_NEIGHBOR_SOLICIT | TYPE_NEIGHBOR_ADVERT => 24,
        TYPE_DHAAD_REQUEST
        | TYPE_DHAAD_REPLY
        | TYPE_MOBILE_PREFIX_SOLICIT
        | TYPE_MOBILE_PREFIX_ADVERT => 8,
        _ => return None,
    })
}

impl NdRepr {
    /// The ICMPv6 type.
    pub fn icmp_type(&self) -> u8 {
        match self {
            NdRepr::RouterSolicit(_) => TYPE_ROUTER_SOLICIT,
            NdRepr::RouterAdvert(_) => TYPE_ROUTER_ADVERT,
            NdRepr::NeighborSolicit(_) => TYPE_NEIGHBOR_SOLICIT,
            NdRepr::NeighborAdvert(_) => TYPE_NEIGHBOR_ADVERT,
            NdRepr::DhaadRequest(_) => TYPE_DHAAD_REQUEST,
            NdRepr::DhaadReply(_) => TYPE_DHAAD_REPLY,
            NdRepr::MobilePrefixSolicit(_) => TYPE_MOBILE_PREFIX_SOLICIT,
            NdRepr::MobilePrefixAdvert(_) => TYPE_MOBILE_PREFIX_ADVERT,
        }
    }

    /// Parses an ICMPv6 message without looking at its checksum (a raw
    /// ICMPv6 socket has the kernel verify it).
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let (&ty, &code) = match msg {
            [ty, code, ..] => (ty, code),
            _ => return Err(WireError::Truncated),
        };
        let fixed = fixed_len(ty).ok_or(WireError::UnexpectedIcmpType(ty))?;
        if code != 0 {
            return Err(WireError::BadIcmpCode(code));
        }
        if msg.len() < fixed {
            return Err(WireError::Truncated);
        }
        let opts = &msg[fixed..];
        Ok(match ty {
            TYPE_ROUTER_SOLICIT => NdRepr::RouterSolicit(RouterSolicit {
                options: parse_nd_options(opts)?,
            }),
            TYPE_ROUTER_ADVERT => NdRepr::RouterAdvert(RouterAdvert {
                cur_hop_limit: msg[4],
                flags: msg[5],
                router_lifetime: be16(msg, 6)?,
                reachable_time: be32(msg, 8)?,
                retrans_timer: be32(msg, 12)?,
                options: parse_nd_options(opts)?,
            }),
            TYPE_NEIGHBOR_SOLICIT => NdRepr::NeighborSolicit(NeighborSolicit {
                target: ipv6_at(msg, 8)?,
                options: parse_nd_options(opts)?,
            }),
            TYPE_NEIGHBOR_ADVERT => NdRepr::NeighborAdvert(NeighborAdvert {
                flags: msg[4],
                target: ipv6_at(msg, 8)?,
                options: parse_nd_options(opts)?,
            }),
            TYPE_DHAAD_REQUEST => NdRepr::DhaadRequest(DhaadRequest {
                identifier: be16(msg, 4)?,
                flags: be16(msg, 6)?,
            }),
            TYPE_DHAAD_REPLY => {
                if opts.len() % 16 != 0 {
                    return Err(WireError::Truncated);
                }
                NdRepr::DhaadReply(DhaadReply {
                    identifier: be16(msg, 4)?,
                    flags: be16(msg, 6)?,
                    home_agents: opts
                        .chunks_exact(16)
                        .map(|c| ipv6_at(c, 0))
                        .collect::<Result<_>>()?,
                })
            }
            TYPE_MOBILE_PREFIX_SOLICIT => NdRepr::MobilePrefixSolicit(MobilePrefixSolicit {
                identifier: be16(msg, 4)?,
            }),
            _ => NdRepr::MobilePrefixAdvert(MobilePrefixAdvert {
                identifier: be16(msg, 4)?,
                flags: msg[6],
                options: parse_nd_options(opts)?,
            }),
        })
    }

    /// Parses and verifies the checksum for the pseudo-header `src` → `dst`.
    pub fn parse_verified(msg: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<Self> {
        if msg.len() >= 4 && !verify(src, dst, IPPROTO_ICMPV6, msg, 2) {
            return Err(WireError::BadChecksum);
        }
        Self::parse(msg)
    }

    /// The message with a zero checksum (for a raw ICMPv6 socket, where the
    /// kernel always fills it).
    pub fn emit_without_checksum(&self) -> Result<Vec<u8>> {
        let mut out = vec![self.icmp_type(), 0, 0, 0];
        match self {
            NdRepr::RouterSolicit(rs) => {
                out.extend_from_slice(&[0; 4]);
                emit_nd_options(&mut out, &rs.options)?;
            }
            NdRepr::RouterAdvert(ra) => {
                out.extend_from_slice(&[ra.cur_hop_limit, ra.flags]);
                out.extend_from_slice(&ra.router_lifetime.to_be_bytes());
                out.extend_from_slice(&ra.reachable_time.to_be_bytes());
                out.extend_from_slice(&ra.retrans_timer.to_be_bytes());
                emit_nd_options(&mut out, &ra.options)?;
            }
            NdRepr::NeighborSolicit(ns) => {
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&ns.target.octets());
                emit_nd_options(&mut out, &ns.options)?;
            }
            NdRepr::NeighborAdvert(na) => {
                out.extend_from_slice(&[na.flags, 0, 0, 0]);
                out.extend_from_slice(&na.target.octets());
                emit_nd_options(&mut out, &na.options)?;
            }
            NdRepr::DhaadRequest(r) => {
                out.extend_from_slice(&r.identifier.to_be_bytes());
                out.extend_from_slice(&r.flags.to_be_bytes());
            }
            NdRepr::DhaadReply(r) => {
                out.extend_from_slice(&r.identifier.to_be_bytes());
                out.extend_from_slice(&r.flags.to_be_bytes());
                for a in &r.home_agents {
                    out.extend_from_slice(&a.octets());
                }
            }
            NdRepr::MobilePrefixSolicit(s) => {
                out.extend_from_slice(&s.identifier.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
            }
            NdRepr::MobilePrefixAdvert(a) => {
                out.extend_from_slice(&a.identifier.to_be_bytes());
                out.extend_from_slice(&[a.flags, 0]);
                emit_nd_options(&mut out, &a.options)?;
            }
        }
        Ok(out)
    }

    /// The message with its checksum for `src` → `dst`.
    pub fn emit(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<Vec<u8>> {
        let mut out = self.emit_without_checksum()?;
        fill(src, dst, IPPROTO_ICMPV6, &mut out, 2);
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "ndisc_tests.rs"]
mod tests;
