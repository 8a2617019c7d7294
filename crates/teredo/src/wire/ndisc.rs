//! Router Solicitation and Router Advertisement as Teredo qualification uses
//! them (RFC 4861 §4.1, §4.2, §4.6; RFC 4380 §5.2.1, §5.3.1).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use super::auth::{emit_origin, AuthRepr};
use super::icmpv6::{emit_icmpv6_packet, TYPE_ROUTER_ADVERT, TYPE_ROUTER_SOLICIT};
use super::ipv6::{Ipv6Header, NEXT_HEADER_ICMPV6};
use super::{be16, be32, Result, WireError};
use crate::addr::{
    server_link_local, teredo_prefix64, ALL_ROUTERS, CLIENT_LINK_LOCAL, CONE_LINK_LOCAL,
};

/// UDP payload length of miredo's qualification RS.
pub const RS_PAYLOAD_LEN: usize = 61;
/// UDP payload length of miredo-server's RA.
pub const RA_PAYLOAD_LEN: usize = 117;
/// Hop limit of neighbor discovery messages.
pub const ND_HOP_LIMIT: u8 = 255;
/// Retrans timer a Teredo server advertises (ms).
pub const SERVER_RETRANS_TIMER: u32 = 2000;
/// Smallest acceptable MTU option.
pub const MIN_MTU: u32 = 1280;
/// Largest acceptable MTU option.
pub const MAX_MTU: u32 = 65535;
pub use wire6::ndopt::{PrefixInfo, OPT_MTU, OPT_PREFIX_INFO};
/// Prefix information flag: on-link.
pub const PIO_FLAG_ON_LINK: u8 = PrefixInfo::ON_LINK;
/// Prefix information flag: autonomous address configuration.
pub const PIO_FLAG_AUTONOMOUS: u8 = PrefixInfo::AUTONOMOUS;

const RS_LEN: usize = 8;
const RA_LEN: usize = 16;
const PIO_LEN: usize = PrefixInfo::LEN;
const MTU_OPT_LEN: usize = 8;

fn icmp_payload(ipv6: &[u8], expected_type: u8, min_len: usize) -> Result<Ipv6Header<'_>> {
    let h = Ipv6Header::parse(ipv6)?;
    if h.next_header != NEXT_HEADER_ICMPV6 {
        return Err(WireError::NotIcmpv6(h.next_header));
    }
    let msg = h.payload;
    let &[ty, code, ..] = msg else {
        return Err(WireError::Truncated);
    };
    if ty != expected_type {
        return Err(WireError::UnexpectedType(ty));
    }
    if code != 0 {
        return Err(WireError::UnexpectedCode(code));
    }
    if msg.len() < min_len {
        return Err(WireError::Truncated);
    }
    Ok(h)
}

/// A Router Solicitation (RFC 4861 §4.1). Options are ignored.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            Reserved                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options ...
/// +-+-+-+-+-+-+-+-+-+-+-+-
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterSolicitation {
    /// IPv6 source (a link-local address for Teredo clients).
    pub source: Ipv6Addr,
    /// IPv6 destination (ff02::2 or the server's link-local).
    pub destination: Ipv6Addr,
    /// IPv6 hop limit.
    pub hop_limit: u8,
}

impl RouterSolicitation {
    /// The RS a Teredo client sends: fe80::ffff:ffff:ffff → ff02::2, hop limit 255.
    pub const TEREDO_CLIENT: RouterSolicitation = RouterSolicitation {
        source: CLIENT_LINK_LOCAL,
        destination: ALL_ROUTERS,
        hop_limit: ND_HOP_LIMIT,
    };

    /// The cone-flagged RS of RFC 4380 §5.2.1's cone test: from
    /// [`CONE_LINK_LOCAL`], so the server answers from its other address.
    pub const TEREDO_CONE_TEST: RouterSolicitation = RouterSolicitation {
        source: CONE_LINK_LOCAL,
        destination: ALL_ROUTERS,
        hop_limit: ND_HOP_LIMIT,
    };

    /// Parses an IPv6 packet carrying an RS (ICMPv6 type 133, code 0, at least
    /// 8 bytes). The checksum is not verified.
    pub fn parse(ipv6: &[u8]) -> Result<Self> {
        let h = icmp_payload(ipv6, TYPE_ROUTER_SOLICIT, RS_LEN)?;
        Ok(RouterSolicitation {
            source: h.src,
            destination: h.dst,
            hop_limit: h.hop_limit,
        })
    }

    /// The IPv6 packet (48 bytes).
    pub fn emit(&self) -> Vec<u8> {
        let msg = vec![TYPE_ROUTER_SOLICIT, 0, 0, 0, 0, 0, 0, 0];
        emit_icmpv6_packet(self.source, self.destination, self.hop_limit, msg)
    }
}

/// The 61-byte UDP payload of a Teredo client's qualification RS: an
/// authentication header with `nonce` (no ID, no value, confirmation 0), then
/// the RS of [`RouterSolicitation::TEREDO_CLIENT`] (checksum 0x7d37).
pub fn emit_rs(nonce: [u8; 8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RS_PAYLOAD_LEN);
    AuthRepr::with_nonce(nonce).emit(&mut out);
    out.extend_from_slice(&RouterSolicitation::TEREDO_CLIENT.emit());
    out
}

/// [`emit_rs`] for the cone test: the RS of
/// [`RouterSolicitation::TEREDO_CONE_TEST`].
pub fn emit_cone_rs(nonce: [u8; 8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RS_PAYLOAD_LEN);
    AuthRepr::with_nonce(nonce).emit(&mut out);
    out.extend_from_slice(&RouterSolicitation::TEREDO_CONE_TEST.emit());
    out
}

/// The Teredo reading of a Prefix Information option (RFC 4380 §4): the
/// prefix's first 64 bits are the Teredo prefix and the server's IPv4 address.
pub trait TeredoPrefixInfo {
    /// First 32 bits of the prefix: the Teredo prefix.
    fn teredo_prefix(&self) -> u32;
    /// Bits 32–63 of the prefix: the Teredo server's IPv4 address.
    fn server(&self) -> Ipv4Addr;
}

impl TeredoPrefixInfo for PrefixInfo {
    fn teredo_prefix(&self) -> u32 {
        crate::addr::prefix_of(&self.prefix)
    }

    fn server(&self) -> Ipv4Addr {
        let o = self.prefix.octets();
        Ipv4Addr::new(o[4], o[5], o[6], o[7])
    }
}

/// A Router Advertisement (RFC 4861 §4.2) with the options Teredo uses:
/// prefix information (§4.6.2) and MTU (§4.6.4). Other options are skipped.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Cur Hop Limit |M|O|  Reserved |       Router Lifetime         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Reachable Time                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                          Retrans Timer                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options ...
/// +-+-+-+-+-+-+-+-+-+-+-+-
///
/// MTU option (§4.6.4):
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |    Length     |           Reserved            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                              MTU                              |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterAdvertisement {
    /// IPv6 source (the server's link-local address).
    pub source: Ipv6Addr,
    /// IPv6 destination (the RS source).
    pub destination: Ipv6Addr,
    /// Cur Hop Limit.
    pub cur_hop_limit: u8,
    /// M and O flags (and reserved bits).
    pub flags: u8,
    /// Router lifetime (s).
    pub router_lifetime: u16,
    /// Reachable time (ms).
    pub reachable_time: u32,
    /// Retrans timer (ms).
    pub retrans_timer: u32,
    /// Prefix information options, in order. After [`parse`](Self::parse)
    /// there is exactly one, of length 64.
    pub prefixes: Vec<PrefixInfo>,
    /// MTU option, if present.
    pub mtu: Option<u32>,
}

impl RouterAdvertisement {
    /// The RA a Teredo server sends (RFC 4380 §5.3): source = the server's
    /// link-local address, router lifetime 0, retrans timer 2000 ms, one PIO
    /// `<prefix>:<server>::/64` with the A flag and infinite lifetimes, and
    /// an MTU option.
    pub fn teredo_server(server: Ipv4Addr, prefix: u32, destination: Ipv6Addr, mtu: u32) -> Self {
        RouterAdvertisement {
            source: server_link_local(server),
            destination,
            cur_hop_limit: 0,
            flags: 0,
            router_lifetime: 0,
            reachable_time: 0,
            retrans_timer: SERVER_RETRANS_TIMER,
            prefixes: vec![PrefixInfo {
                prefix: teredo_prefix64(prefix, server),
                prefix_len: 64,
                flags: PIO_FLAG_AUTONOMOUS,
                valid_lifetime: u32::MAX,
                preferred_lifetime: u32::MAX,
            }],
            mtu: Some(mtu),
        }
    }

    /// Parses an IPv6 packet carrying an RA, with miredo's validity checks
    /// (RFC 4380 §5.2.1): ICMPv6 type 134 code 0, at least 32 bytes of
    /// options, exactly one prefix information option and of length 64, an MTU
    /// option (if any) within 1280–65535. The checksum is not verified; the
    /// hop limit is not checked.
    pub fn parse(ipv6: &[u8]) -> Result<Self> {
        let h = icmp_payload(ipv6, TYPE_ROUTER_ADVERT, RA_LEN)?;
        let msg = h.payload;
        let mut options = msg.get(RA_LEN..).unwrap_or(&[]);
        if options.len() < PIO_LEN {
            return Err(WireError::OptionsTooShort);
        }
        let mut prefixes = Vec::new();
        let mut mtu = None;
        while let &[ty, len, ..] = options {
            let len = usize::from(len) * 8;
            if len == 0 {
                return Err(WireError::BadOption);
            }
            let opt = options.get(..len).ok_or(WireError::BadOption)?;
            match ty {
                OPT_PREFIX_INFO => {
                    if len < PIO_LEN {
                        return Err(WireError::BadOption);
                    }
                    if opt[2] != 64 {
                        return Err(WireError::BadPrefixLength(opt[2]));
                    }
                    if !prefixes.is_empty() {
                        return Err(WireError::MultiplePrefixes);
                    }
                    let body = opt.get(2..).ok_or(WireError::BadOption)?;
                    prefixes.push(PrefixInfo::parse_body(body).map_err(|_| WireError::BadOption)?);
                }
                OPT_MTU => {
                    if len < MTU_OPT_LEN {
                        return Err(WireError::BadOption);
                    }
                    let m = be32(opt, 4).ok_or(WireError::BadOption)?;
                    if !(MIN_MTU..=MAX_MTU).contains(&m) {
                        return Err(WireError::BadMtu(m));
                    }
                    mtu = Some(m);
                }
                _ => {}
            }
            options = &options[len..];
        }
        if !options.is_empty() {
            // A lone trailing byte cannot be an option.
            return Err(WireError::BadOption);
        }
        if prefixes.is_empty() {
            return Err(WireError::NoPrefix);
        }
        Ok(RouterAdvertisement {
            source: h.src,
            destination: h.dst,
            cur_hop_limit: msg[4],
            flags: msg[5],
            router_lifetime: be16(msg, 6).ok_or(WireError::Truncated)?,
            reachable_time: be32(msg, 8).ok_or(WireError::Truncated)?,
            retrans_timer: be32(msg, 12).ok_or(WireError::Truncated)?,
            prefixes,
            mtu,
        })
    }

    /// The first prefix information option.
    pub fn prefix(&self) -> Option<&PrefixInfo> {
        self.prefixes.first()
    }

    /// Length of the ICMPv6 message.
    pub fn message_len(&self) -> usize {
        RA_LEN + PIO_LEN * self.prefixes.len() + self.mtu.map_or(0, |_| MTU_OPT_LEN)
    }

    /// Appends the IPv6 packet (hop limit 255, checksum filled in) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut msg = Vec::with_capacity(self.message_len());
        msg.extend_from_slice(&[TYPE_ROUTER_ADVERT, 0, 0, 0, self.cur_hop_limit, self.flags]);
        msg.extend_from_slice(&self.router_lifetime.to_be_bytes());
        msg.extend_from_slice(&self.reachable_time.to_be_bytes());
        msg.extend_from_slice(&self.retrans_timer.to_be_bytes());
        for p in &self.prefixes {
            p.emit(&mut msg);
        }
        if let Some(mtu) = self.mtu {
            msg.extend_from_slice(&[OPT_MTU, 1, 0, 0]);
            msg.extend_from_slice(&mtu.to_be_bytes());
        }
        out.extend_from_slice(&emit_icmpv6_packet(
            self.source,
            self.destination,
            ND_HOP_LIMIT,
            msg,
        ));
    }
}

/// The 117-byte UDP payload of a Teredo server's reply to an RS (RFC 4380
/// §5.3.1): an authentication header echoing `nonce` (confirmation 0), an origin
/// indication of `origin` (the RS's outer source), then
/// [`RouterAdvertisement::teredo_server`] to `destination` (the RS's source).
pub fn emit_ra_payload(
    nonce: [u8; 8],
    origin: SocketAddrV4,
    destination: Ipv6Addr,
    server: Ipv4Addr,
    prefix: u32,
    mtu: u32,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(RA_PAYLOAD_LEN);
    AuthRepr::with_nonce(nonce).emit(&mut out);
    emit_origin(origin, &mut out);
    RouterAdvertisement::teredo_server(server, prefix, destination, mtu).emit(&mut out);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "ndisc_tests.rs"]
mod tests;
