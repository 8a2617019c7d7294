//! Neighbor discovery options (RFC 4861 §4.6) with the Mobile IPv6 additions
//! (RFC 6275 §7.2–§7.4), shared by Teredo's Router Advertisement (RFC 4380
//! §5.2.1) and Mobile IPv6's ND, DHAAD and mobile prefix messages.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |    Length     |              ...              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                              ...                              ~
//! ```
//!
//! Length is in units of 8 octets, type and length included; 0 is invalid.

use std::net::Ipv6Addr;

/// Why an options area was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NdOptError {
    /// Data ends inside a fixed-size field.
    #[error("option truncated")]
    Truncated,
    /// An option runs past the end of the options area.
    #[error("truncated option")]
    TruncatedOption,
    /// A known option has a length its type does not allow.
    #[error("option type {ty} has bad length {len}")]
    BadOptionLength {
        /// Option type.
        ty: u8,
        /// Option length as sent (units of 8 octets).
        len: u8,
    },
    /// An option of length 0 (RFC 4861 §4.6).
    #[error("neighbor discovery option with length 0")]
    ZeroLengthOption,
    /// An option too long for its 8-bit length field.
    #[error("value too large for its field")]
    TooLong,
}

type Result<T> = core::result::Result<T, NdOptError>;

fn be16(buf: &[u8], at: usize) -> Result<u16> {
    buf.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(NdOptError::Truncated)
}

fn be32(buf: &[u8], at: usize) -> Result<u32> {
    buf.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(NdOptError::Truncated)
}

fn ipv6_at(buf: &[u8], at: usize) -> Result<Ipv6Addr> {
    buf.get(at..at + 16)
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(Ipv6Addr::from)
        .ok_or(NdOptError::Truncated)
}

/// Option type: source link-layer address.
pub const OPT_SOURCE_LL: u8 = 1;
/// Option type: target link-layer address.
pub const OPT_TARGET_LL: u8 = 2;
/// Option type: prefix information.
pub const OPT_PREFIX_INFO: u8 = 3;
/// Option type: MTU.
pub const OPT_MTU: u8 = 5;
/// Option type: Advertisement Interval (RFC 6275 §7.3).
pub const OPT_ADV_INTERVAL: u8 = 7;
/// Option type: Home Agent Information (RFC 6275 §7.4).
pub const OPT_HOME_AGENT_INFO: u8 = 8;

/// A Prefix Information option (RFC 4861 §4.6.2, R flag of RFC 6275 §7.2).
///
/// ```text
/// |     Type      |    Length     | Prefix Length |L|A|R|Reserved1|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Valid Lifetime                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Preferred Lifetime                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                           Reserved2                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Prefix (128 bits)                         |
/// ```
///
/// With R set, the Prefix field carries the router's full global address
/// (used to build the HA list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInfo {
    /// Prefix length.
    pub prefix_len: u8,
    /// L, A, R flags and Reserved1 bits, as sent.
    pub flags: u8,
    /// Valid lifetime (s; 0xffffffff infinite).
    pub valid_lifetime: u32,
    /// Preferred lifetime (s).
    pub preferred_lifetime: u32,
    /// Prefix (or router address when R is set).
    pub prefix: Ipv6Addr,
}

impl PrefixInfo {
    /// On-link flag (L).
    pub const ON_LINK: u8 = 0x80;
    /// Autonomous address-configuration flag (A).
    pub const AUTONOMOUS: u8 = 0x40;
    /// Router address flag (R, RFC 6275 §7.2).
    pub const ROUTER_ADDRESS: u8 = 0x20;
    /// Length of the option, type and length octets included.
    pub const LEN: usize = 32;

    /// Parses the option's body: the 30 octets after type and length.
    pub fn parse_body(body: &[u8]) -> Result<Self> {
        Ok(PrefixInfo {
            prefix_len: *body.first().ok_or(NdOptError::Truncated)?,
            flags: *body.get(1).ok_or(NdOptError::Truncated)?,
            valid_lifetime: be32(body, 2)?,
            preferred_lifetime: be32(body, 6)?,
            prefix: ipv6_at(body, 14)?,
        })
    }

    /// Appends the whole option (type 3, length 4) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[OPT_PREFIX_INFO, 4, self.prefix_len, self.flags]);
        out.extend_from_slice(&self.valid_lifetime.to_be_bytes());
        out.extend_from_slice(&self.preferred_lifetime.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.prefix.octets());
    }
}

/// The Home Agent Information option (RFC 6275 §7.4, R flag RFC 3963 §4.3),
/// length 1.
///
/// ```text
/// |     Type      |    Length     |R|         Reserved            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Home Agent Preference     |      Home Agent Lifetime      |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HomeAgentInfo {
    /// Preference (signed; higher is better).
    pub preference: i16,
    /// Lifetime in seconds.
    pub lifetime: u16,
    /// R: the home agent serves mobile routers (RFC 3963 §4.3).
    pub mobile_router: bool,
}

impl HomeAgentInfo {
    /// The R flag in the option's first data octet.
    pub const MOBILE_ROUTER: u8 = 0x80;
}

/// One neighbor discovery option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NdOption {
    /// Source link-layer address (type 1): the data octets, including any
    /// trailing zero padding (6 octets for Ethernet).
    SourceLinkLayer(Vec<u8>),
    /// Target link-layer address (type 2), as above.
    TargetLinkLayer(Vec<u8>),
    /// Prefix information (type 3).
    PrefixInfo(PrefixInfo),
    /// MTU (type 5): `| Type | Length=1 | Reserved | MTU (32) |`.
    Mtu(u32),
    /// Advertisement Interval (type 7, RFC 6275 §7.3), in milliseconds:
    /// `| Type | Length=1 | Reserved | Advertisement Interval (32) |`.
    AdvInterval(u32),
    /// Home Agent Information (type 8).
    HomeAgentInfo(HomeAgentInfo),
    /// Another option type: its data octets.
    Unknown {
        /// Option type.
        ty: u8,
        /// Data octets (length × 8 − 2 of them).
        data: Vec<u8>,
    },
}

impl NdOption {
    fn parse(ty: u8, len_units: u8, data: &[u8]) -> Result<Self> {
        let bad = || NdOptError::BadOptionLength { ty, len: len_units };
        Ok(match ty {
            OPT_SOURCE_LL => NdOption::SourceLinkLayer(data.to_vec()),
            OPT_TARGET_LL => NdOption::TargetLinkLayer(data.to_vec()),
            OPT_PREFIX_INFO => {
                if len_units != 4 {
                    return Err(bad());
                }
                NdOption::PrefixInfo(PrefixInfo::parse_body(data)?)
            }
            OPT_MTU | OPT_ADV_INTERVAL | OPT_HOME_AGENT_INFO => {
                if len_units != 1 {
                    return Err(bad());
                }
                match ty {
                    OPT_MTU => NdOption::Mtu(be32(data, 2)?),
                    OPT_ADV_INTERVAL => NdOption::AdvInterval(be32(data, 2)?),
                    _ => NdOption::HomeAgentInfo(HomeAgentInfo {
                        preference: be16(data, 2)? as i16,
                        lifetime: be16(data, 4)?,
                        mobile_router: data[0] & HomeAgentInfo::MOBILE_ROUTER != 0,
                    }),
                }
            }
            _ => NdOption::Unknown {
                ty,
                data: data.to_vec(),
            },
        })
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.extend_from_slice(&[0, 0]);
        let ty = match self {
            NdOption::SourceLinkLayer(d) => {
                out.extend_from_slice(d);
                OPT_SOURCE_LL
            }
            NdOption::TargetLinkLayer(d) => {
                out.extend_from_slice(d);
                OPT_TARGET_LL
            }
            NdOption::PrefixInfo(p) => {
                // Fixed length: written whole, no padding to compute.
                out.truncate(start);
                p.emit(out);
                return Ok(());
            }
            NdOption::Mtu(v) | NdOption::AdvInterval(v) => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&v.to_be_bytes());
                if matches!(self, NdOption::Mtu(_)) {
                    OPT_MTU
                } else {
                    OPT_ADV_INTERVAL
                }
            }
            NdOption::HomeAgentInfo(h) => {
                let r = if h.mobile_router {
                    HomeAgentInfo::MOBILE_ROUTER
                } else {
                    0
                };
                out.extend_from_slice(&[r, 0]);
                out.extend_from_slice(&h.preference.to_be_bytes());
                out.extend_from_slice(&h.lifetime.to_be_bytes());
                OPT_HOME_AGENT_INFO
            }
            NdOption::Unknown { ty, data } => {
                out.extend_from_slice(data);
                *ty
            }
        };
        // Pad to a multiple of 8 octets (link-layer addresses of 6 octets).
        let len = out.len() - start;
        let padded = len.div_ceil(8) * 8;
        out.resize(start + padded, 0);
        out[start] = ty;
        out[start + 1] = u8::try_from(padded / 8).map_err(|_| NdOptError::TooLong)?;
        Ok(())
    }
}

/// Parses an options area.
pub fn parse_nd_options(opts: &[u8]) -> Result<Vec<NdOption>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < opts.len() {
        let ty = opts[at];
        let len_units = *opts.get(at + 1).ok_or(NdOptError::TruncatedOption)?;
        if len_units == 0 {
            return Err(NdOptError::ZeroLengthOption);
        }
        let len = usize::from(len_units) * 8;
        let data = opts
            .get(at + 2..at + len)
            .ok_or(NdOptError::TruncatedOption)?;
        out.push(NdOption::parse(ty, len_units, data)?);
        at += len;
    }
    Ok(out)
}

/// Appends `opts` to `out`.
pub fn emit_nd_options(out: &mut Vec<u8>, opts: &[NdOption]) -> Result<()> {
    opts.iter().try_for_each(|o| o.emit(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prefix_info_round_trips() {
        let p = PrefixInfo {
            prefix_len: 64,
            flags: PrefixInfo::ON_LINK | PrefixInfo::AUTONOMOUS,
            valid_lifetime: 86400,
            preferred_lifetime: 14400,
            prefix: "2001:db8:1::".parse().unwrap(),
        };
        let mut out = Vec::new();
        emit_nd_options(&mut out, &[NdOption::PrefixInfo(p), NdOption::Mtu(1280)]).unwrap();
        assert_eq!(out.len(), PrefixInfo::LEN + 8);
        assert_eq!(&out[..4], &[OPT_PREFIX_INFO, 4, 64, 0xc0]);
        assert_eq!(
            parse_nd_options(&out).unwrap(),
            vec![NdOption::PrefixInfo(p), NdOption::Mtu(1280)]
        );
        assert_eq!(PrefixInfo::parse_body(&out[2..PrefixInfo::LEN]).unwrap(), p);
        assert_eq!(
            PrefixInfo::parse_body(&out[2..20]),
            Err(NdOptError::Truncated)
        );
    }

    #[test]
    fn malformed_areas_are_rejected() {
        assert_eq!(parse_nd_options(&[1, 0]), Err(NdOptError::ZeroLengthOption));
        assert_eq!(parse_nd_options(&[1]), Err(NdOptError::TruncatedOption));
        assert_eq!(
            parse_nd_options(&[1, 2, 0, 0]),
            Err(NdOptError::TruncatedOption)
        );
        assert_eq!(
            parse_nd_options(&[3, 1, 0, 0, 0, 0, 0, 0]),
            Err(NdOptError::BadOptionLength { ty: 3, len: 1 })
        );
    }
}
