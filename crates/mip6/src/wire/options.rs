//! Mobility options (RFC 6275 §6.2, RFC 3963 §4.3) and their alignment.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Option Type  | Option Length |   Option Data...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! **Padding and alignment.** A [`MobilityOption`] list never contains Pad1 or
//! PadN: the parser drops them, and the emitter inserts the padding UMIP
//! inserts (`mh.c`), which follows the RFC alignment requirements: before each
//! option, the fewest pad octets that put the option at its alignment,
//! counted from the start of the Mobility Header (Binding Refresh Advice 2n,
//! Alternate CoA 8n+6, Nonce Indices 2n, Binding Authorization Data 8n+2,
//! Mobile Network Prefix 8n+4; unknown options none); then padding up to a
//! multiple of 8 octets. One pad octet is a Pad1, more are one PadN with zero
//! data. UMIP itself adds the final padding only to messages without options;
//! every option set it sends (Alternate CoA and MNPs; Nonce Indices and
//! Binding Authorization Data; Binding Refresh Advice) already ends on a
//! multiple of 8 with the alignment padding, so both rules give the same
//! octets, and ours also keeps Header Len exact for other option sets. So
//! emit(parse(b)) == b for any message a UMIP peer sends, and
//! parse(emit(r)) == r for every list of options.
//!
//! Unknown option types are kept as [`MobilityOption::Unknown`] instead of
//! being rejected: RFC 6275 §6.2.1 says a receiver MUST silently ignore them,
//! and refusing the whole message would break interoperation with newer
//! peers. Known options with a length their type does not allow, and options
//! that run past the end of the header, are rejected.

use std::net::Ipv6Addr;

use super::{array_at, be16, emit_pad, ipv6_at, pad_to, Result, WireError};
use crate::consts::mh_opt;

/// Length of the authenticator of RFC 6275 §6.2.7 (first 96 bits of an
/// HMAC-SHA1).
pub const AUTHENTICATOR_LEN: usize = 12;

/// One mobility option (padding excluded; see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MobilityOption {
    /// Binding Refresh Advice (RFC 6275 §6.2.4), type 2, length 2, alignment 2n.
    ///
    /// ```text
    /// |   Type = 2    |   Length = 2  |       Refresh Interval        |
    /// ```
    ///
    /// The interval is in units of 4 seconds.
    BindingRefreshAdvice {
        /// Refresh interval, 4-second units.
        interval_units: u16,
    },
    /// Alternate Care-of Address (RFC 6275 §6.2.5), type 3, length 16,
    /// alignment 8n+6.
    ///
    /// ```text
    ///                                 |   Type = 3    |  Length = 16  |
    /// |                   Alternate Care-of Address (128 bits)        |
    /// ```
    AlternateCoa(Ipv6Addr),
    /// Nonce Indices (RFC 6275 §6.2.6), type 4, length 4, alignment 2n.
    ///
    /// ```text
    /// |   Type = 4    |   Length = 4  |
    /// |        Home Nonce Index       |     Care-of Nonce Index       |
    /// ```
    NonceIndices {
        /// Home nonce index.
        home: u16,
        /// Care-of nonce index.
        care_of: u16,
    },
    /// Binding Authorization Data (RFC 6275 §6.2.7), type 5, alignment 8n+2;
    /// it must be the last option.
    ///
    /// ```text
    ///                                 |   Type = 5    | Option Length |
    /// |                         Authenticator                         |
    /// ```
    BindingAuthData(Vec<u8>),
    /// Mobile Network Prefix (RFC 3963 §4.3), type 6, length 18, alignment 8n+4.
    ///
    /// ```text
    ///                                 |   Type = 6    |  Length = 18  |
    /// |   Reserved    | Prefix Length |
    /// |                      Mobile Network Prefix (128 bits)         |
    /// ```
    MobileNetworkPrefix {
        /// Prefix length (0–128).
        prefix_len: u8,
        /// The prefix as sent.
        prefix: Ipv6Addr,
    },
    /// An option type this codec does not know, kept for the caller.
    Unknown {
        /// Option type.
        ty: u8,
        /// Option data.
        data: Vec<u8>,
    },
}

impl MobilityOption {
    /// The option type.
    pub fn option_type(&self) -> u8 {
        match self {
            MobilityOption::BindingRefreshAdvice { .. } => mh_opt::BINDING_REFRESH_ADVICE,
            MobilityOption::AlternateCoa(_) => mh_opt::ALTERNATE_COA,
            MobilityOption::NonceIndices { .. } => mh_opt::NONCE_INDICES,
            MobilityOption::BindingAuthData(_) => mh_opt::BINDING_AUTH_DATA,
            MobilityOption::MobileNetworkPrefix { .. } => mh_opt::MOBILE_NETWORK_PREFIX,
            MobilityOption::Unknown { ty, .. } => *ty,
        }
    }

    /// Alignment requirement `(x, y)`, meaning `x·n + y` octets from the start
    /// of the Mobility Header (RFC 6275 §6.2, RFC 3963 §4.3).
    pub fn alignment(&self) -> (usize, usize) {
        match self {
            MobilityOption::BindingRefreshAdvice { .. } => (2, 0),
            MobilityOption::AlternateCoa(_) => (8, 6),
            MobilityOption::NonceIndices { .. } => (2, 0),
            MobilityOption::BindingAuthData(_) => (8, 2),
            MobilityOption::MobileNetworkPrefix { .. } => (8, 4),
            MobilityOption::Unknown { .. } => (1, 0),
        }
    }

    fn data_len(&self) -> usize {
        match self {
            MobilityOption::BindingRefreshAdvice { .. } => 2,
            MobilityOption::AlternateCoa(_) => 16,
            MobilityOption::NonceIndices { .. } => 4,
            MobilityOption::BindingAuthData(d) => d.len(),
            MobilityOption::MobileNetworkPrefix { .. } => 18,
            MobilityOption::Unknown { data, .. } => data.len(),
        }
    }

    /// Parses one option from its type and data.
    fn parse(ty: u8, data: &[u8]) -> Result<Self> {
        let bad = || WireError::BadOptionLength {
            ty,
            len: u8::try_from(data.len()).unwrap_or(u8::MAX),
        };
        let want = |n: usize| if data.len() == n { Ok(()) } else { Err(bad()) };
        Ok(match ty {
            mh_opt::BINDING_REFRESH_ADVICE => {
                want(2)?;
                MobilityOption::BindingRefreshAdvice {
                    interval_units: be16(data, 0)?,
                }
            }
            mh_opt::ALTERNATE_COA => {
                want(16)?;
                MobilityOption::AlternateCoa(ipv6_at(data, 0)?)
            }
            mh_opt::NONCE_INDICES => {
                want(4)?;
                MobilityOption::NonceIndices {
                    home: be16(data, 0)?,
                    care_of: be16(data, 2)?,
                }
            }
            mh_opt::BINDING_AUTH_DATA => {
                // RFC 6275 §6.2.7 fixes no length; an empty authenticator
                // authenticates nothing.
                if data.is_empty() {
                    return Err(bad());
                }
                MobilityOption::BindingAuthData(data.to_vec())
            }
            mh_opt::MOBILE_NETWORK_PREFIX => {
                want(18)?;
                let prefix_len = data[1];
                if prefix_len > 128 {
                    return Err(bad());
                }
                MobilityOption::MobileNetworkPrefix {
                    prefix_len,
                    prefix: Ipv6Addr::from(array_at::<16>(data, 2)?),
                }
            }
            _ => MobilityOption::Unknown {
                ty,
                data: data.to_vec(),
            },
        })
    }

    fn emit_body(&self, out: &mut Vec<u8>) {
        match self {
            MobilityOption::BindingRefreshAdvice { interval_units } => {
                out.extend_from_slice(&interval_units.to_be_bytes())
            }
            MobilityOption::AlternateCoa(a) => out.extend_from_slice(&a.octets()),
            MobilityOption::NonceIndices { home, care_of } => {
                out.extend_from_slice(&home.to_be_bytes());
                out.extend_from_slice(&care_of.to_be_bytes());
            }
            MobilityOption::BindingAuthData(d) => out.extend_from_slice(d),
            MobilityOption::MobileNetworkPrefix { prefix_len, prefix } => {
                out.extend_from_slice(&[0, *prefix_len]);
                out.extend_from_slice(&prefix.octets());
            }
            MobilityOption::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

/// Parses the options area `opts` of a Mobility Header, dropping Pad1 and PadN.
pub fn parse_options(opts: &[u8]) -> Result<Vec<MobilityOption>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < opts.len() {
        let ty = opts[at];
        if ty == mh_opt::PAD1 {
            at += 1;
            continue;
        }
        let len = usize::from(*opts.get(at + 1).ok_or(WireError::TruncatedOption)?);
        let data = opts
            .get(at + 2..at + 2 + len)
            .ok_or(WireError::TruncatedOption)?;
        at += 2 + len;
        if ty != mh_opt::PADN {
            out.push(MobilityOption::parse(ty, data)?);
        }
    }
    Ok(out)
}

/// Appends `options` to `out`, which already holds the first `out.len()`
/// octets of a Mobility Header, with the padding described in the module
/// documentation, and pads the whole header to a multiple of 8 octets.
pub fn emit_options(out: &mut Vec<u8>, options: &[MobilityOption]) -> Result<()> {
    for opt in options {
        let (x, y) = opt.alignment();
        emit_pad(out, pad_to(out.len(), x, y));
        let len = u8::try_from(opt.data_len()).map_err(|_| WireError::TooLong)?;
        out.extend_from_slice(&[opt.option_type(), len]);
        opt.emit_body(out);
    }
    emit_pad(out, pad_to(out.len(), 8, 0));
    Ok(())
}

/// Length of the options area [`emit_options`] produces after a fixed part
/// of `start` octets (padding included).
pub fn options_len(start: usize, options: &[MobilityOption]) -> usize {
    let mut at = start;
    for opt in options {
        let (x, y) = opt.alignment();
        at += pad_to(at, x, y) + 2 + opt.data_len();
    }
    at += pad_to(at, 8, 0);
    at - start
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn skips_padding_and_keeps_unknown_options() {
        let opts = [0, 1, 1, 0, 200, 2, 0xaa, 0xbb, 2, 2, 0x01, 0x2c];
        assert_eq!(
            parse_options(&opts).unwrap(),
            vec![
                MobilityOption::Unknown {
                    ty: 200,
                    data: vec![0xaa, 0xbb]
                },
                MobilityOption::BindingRefreshAdvice {
                    interval_units: 300
                },
            ]
        );
    }

    #[test]
    fn rejects_bad_lengths_and_truncation() {
        assert_eq!(
            parse_options(&[3, 15, 0, 0]),
            Err(WireError::TruncatedOption)
        );
        assert_eq!(
            parse_options(&[2, 3, 0, 0, 0]),
            Err(WireError::BadOptionLength { ty: 2, len: 3 })
        );
        assert_eq!(
            parse_options(&[4, 2, 0, 0]),
            Err(WireError::BadOptionLength { ty: 4, len: 2 })
        );
        assert_eq!(
            parse_options(&[5, 0]),
            Err(WireError::BadOptionLength { ty: 5, len: 0 })
        );
        assert_eq!(parse_options(&[1]), Err(WireError::TruncatedOption));
        let mut mnp = vec![6, 18, 0, 129];
        mnp.extend_from_slice(&[0; 16]);
        assert_eq!(
            parse_options(&mnp),
            Err(WireError::BadOptionLength { ty: 6, len: 18 })
        );
    }

    #[test]
    fn alignment_padding_follows_rfc6275_6_2() {
        // After a 12-octet BU: PadN(0) to reach 8n+6 for the Alternate CoA,
        // which then ends at 32.
        let mut out = vec![0; 12];
        let coa: Ipv6Addr = "2001:db8:2::1".parse().unwrap();
        emit_options(&mut out, &[MobilityOption::AlternateCoa(coa)]).unwrap();
        assert_eq!(out.len(), 32);
        assert_eq!(out[12..16], [1, 0, 3, 16]);
        assert_eq!(options_len(12, &[MobilityOption::AlternateCoa(coa)]), 20);
        // Nonce indices (2n) at 12 end at 18, already 8n+2 for the BAD,
        // which ends at 32: no padding at all.
        let mut out = vec![0; 12];
        let opts = [
            MobilityOption::NonceIndices {
                home: 1,
                care_of: 2,
            },
            MobilityOption::BindingAuthData(vec![0xab; AUTHENTICATOR_LEN]),
        ];
        emit_options(&mut out, &opts).unwrap();
        assert_eq!(out[12..20], [4, 4, 0, 1, 0, 2, 5, 12]);
        assert_eq!(out.len(), 32);
        assert_eq!(parse_options(&out[12..]).unwrap(), opts);
    }
}
