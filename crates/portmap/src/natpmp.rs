//! NAT Port Mapping Protocol (RFC 6886): the external address and UDP mapping
//! requests and their responses.
//!
//! Parsing never panics: every length is checked before a field is read.

use std::net::Ipv4Addr;

use thiserror::Error;

/// The NAT-PMP version (RFC 6886 §3).
pub const VERSION: u8 = 0;
/// The port NAT-PMP gateways listen on (RFC 6886 §3.1).
pub const SERVER_PORT: u16 = 5351;
/// External address opcode (RFC 6886 §3.2).
pub const OP_EXTERNAL_ADDRESS: u8 = 0;
/// UDP mapping opcode (RFC 6886 §3.3).
pub const OP_MAP_UDP: u8 = 1;
/// TCP mapping opcode (RFC 6886 §3.3).
pub const OP_MAP_TCP: u8 = 2;

const RESPONSE_BIT: u8 = 0x80;
/// Version, opcode, result code and epoch: what every response starts with
/// and all an error response is sure to carry (RFC 6886 §3.5).
const RESPONSE_HEADER_LEN: usize = 8;

/// Why a datagram is not a NAT-PMP response we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// Shorter than its opcode requires.
    #[error("truncated NAT-PMP message")]
    Truncated,
    /// Not version 0; 2 is PCP (RFC 6887 §9).
    #[error("NAT-PMP version {0} not supported")]
    Version(u8),
    /// A request where a response was expected, or the reverse.
    #[error("wrong NAT-PMP message direction")]
    Direction,
}

/// Result codes (RFC 6886 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// 0
    Success,
    /// 1: the gateway speaks another version.
    UnsupportedVersion,
    /// 2: mapping is disabled or refused for this client.
    NotAuthorized,
    /// 3: the gateway has no external address right now (e.g. no DHCP lease).
    NetworkFailure,
    /// 4: no more mappings.
    OutOfResources,
    /// 5: the opcode is not known.
    UnsupportedOpcode,
    /// A code this codec does not know.
    Other(u16),
}

impl From<u16> for ResultCode {
    fn from(v: u16) -> Self {
        use ResultCode::*;
        match v {
            0 => Success,
            1 => UnsupportedVersion,
            2 => NotAuthorized,
            3 => NetworkFailure,
            4 => OutOfResources,
            5 => UnsupportedOpcode,
            o => Other(o),
        }
    }
}

impl From<ResultCode> for u16 {
    fn from(c: ResultCode) -> u16 {
        use ResultCode::*;
        match c {
            Success => 0,
            UnsupportedVersion => 1,
            NotAuthorized => 2,
            NetworkFailure => 3,
            OutOfResources => 4,
            UnsupportedOpcode => 5,
            Other(o) => o,
        }
    }
}

/// The external address request (RFC 6886 §3.2): version 0, opcode 0.
pub fn external_address_request() -> Vec<u8> {
    vec![VERSION, OP_EXTERNAL_ADDRESS]
}

/// A mapping request (RFC 6886 §3.3); lifetime 0 with external port 0
/// destroys the mapping (RFC 6886 §3.4).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Vers = 0      | OP = x        | Reserved                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Internal Port                 | Suggested External Port       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Requested Port Mapping Lifetime in Seconds                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingRequest {
    /// [`OP_MAP_UDP`] or [`OP_MAP_TCP`].
    pub opcode: u8,
    /// The client's port.
    pub internal_port: u16,
    /// Preferred external port; 0 for no preference.
    pub external_port: u16,
    /// Seconds; 0 deletes.
    pub lifetime: u32,
}

impl MappingRequest {
    /// Wire length.
    pub const LEN: usize = 12;

    /// The datagram payload.
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN);
        out.extend_from_slice(&[VERSION, self.opcode, 0, 0]);
        out.extend_from_slice(&self.internal_port.to_be_bytes());
        out.extend_from_slice(&self.external_port.to_be_bytes());
        out.extend_from_slice(&self.lifetime.to_be_bytes());
        out
    }

    /// Reads a mapping request (for tests and fuzzing).
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        let b: &[u8; Self::LEN] = b
            .get(..Self::LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::Truncated)?;
        if b[0] != VERSION {
            return Err(Error::Version(b[0]));
        }
        if !matches!(b[1], OP_MAP_UDP | OP_MAP_TCP) {
            return Err(Error::Direction);
        }
        Ok(MappingRequest {
            opcode: b[1],
            internal_port: u16::from_be_bytes([b[4], b[5]]),
            external_port: u16::from_be_bytes([b[6], b[7]]),
            lifetime: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        })
    }
}

/// What follows the common response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// An error response cut after the header (allowed by RFC 6886 §3.5), or
    /// an opcode we do not know.
    None,
    /// External address response (RFC 6886 §3.2).
    ExternalAddress(Ipv4Addr),
    /// Mapping response (RFC 6886 §3.3).
    Mapping {
        /// The client's port, echoed.
        internal_port: u16,
        /// The port the gateway chose.
        external_port: u16,
        /// Granted seconds.
        lifetime: u32,
    },
}

/// A response (RFC 6886 §3.2, §3.3, §3.5):
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Vers = 0      | OP = 128 + x  | Result Code                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Seconds Since Start of Epoch                                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | External IPv4 Address (x = 0)  or                             |
/// | Internal Port | Mapped External Port (x = 1, 2)               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Port Mapping Lifetime in Seconds (x = 1, 2)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// The request's opcode (128 subtracted).
    pub opcode: u8,
    /// Result code.
    pub result: ResultCode,
    /// Seconds since the gateway's mapping table was last lost (RFC 6886 §3.6).
    pub epoch: u32,
    /// Opcode-specific part.
    pub body: Body,
}

impl Response {
    /// Reads a response. A success must carry its whole body; an error may
    /// stop after the header. Trailing octets are ignored.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        let Some(h) = b.get(..RESPONSE_HEADER_LEN) else {
            return Err(Error::Truncated);
        };
        if h[0] != VERSION {
            return Err(Error::Version(h[0]));
        }
        if h[1] & RESPONSE_BIT == 0 {
            return Err(Error::Direction);
        }
        let opcode = h[1] & !RESPONSE_BIT;
        let result = ResultCode::from(u16::from_be_bytes([h[2], h[3]]));
        let epoch = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let rest = &b[RESPONSE_HEADER_LEN..];
        let body = match (opcode, rest) {
            (OP_EXTERNAL_ADDRESS, [a, b, c, d, ..]) => {
                Body::ExternalAddress(Ipv4Addr::new(*a, *b, *c, *d))
            }
            (OP_MAP_UDP | OP_MAP_TCP, [i0, i1, e0, e1, l0, l1, l2, l3, ..]) => Body::Mapping {
                internal_port: u16::from_be_bytes([*i0, *i1]),
                external_port: u16::from_be_bytes([*e0, *e1]),
                lifetime: u32::from_be_bytes([*l0, *l1, *l2, *l3]),
            },
            (OP_EXTERNAL_ADDRESS | OP_MAP_UDP | OP_MAP_TCP, _) if result == ResultCode::Success => {
                return Err(Error::Truncated);
            }
            _ => Body::None,
        };
        Ok(Response {
            opcode,
            result,
            epoch,
            body,
        })
    }

    /// The datagram payload (what a gateway sends; for tests and seeds).
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&[VERSION, RESPONSE_BIT | self.opcode]);
        out.extend_from_slice(&u16::from(self.result).to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        match self.body {
            Body::None => {}
            Body::ExternalAddress(a) => out.extend_from_slice(&a.octets()),
            Body::Mapping {
                internal_port,
                external_port,
                lifetime,
            } => {
                out.extend_from_slice(&internal_port.to_be_bytes());
                out.extend_from_slice(&external_port.to_be_bytes());
                out.extend_from_slice(&lifetime.to_be_bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> Response {
        Response {
            opcode: OP_MAP_UDP,
            result: ResultCode::Success,
            epoch: 77,
            body: Body::Mapping {
                internal_port: 3544,
                external_port: 61000,
                lifetime: 7200,
            },
        }
    }

    #[test]
    fn requests() {
        assert_eq!(external_address_request(), [0, 0]);
        let r = MappingRequest {
            opcode: OP_MAP_UDP,
            internal_port: 3544,
            external_port: 0,
            lifetime: 7200,
        };
        let b = r.emit();
        assert_eq!(b, [0, 1, 0, 0, 0x0d, 0xd8, 0, 0, 0, 0, 0x1c, 0x20]);
        assert_eq!(MappingRequest::parse(&b), Ok(r));
    }

    #[test]
    fn responses_round_trip() {
        let m = mapping();
        let b = m.emit();
        assert_eq!(b.len(), 16);
        assert_eq!(&b[..4], &[0, 129, 0, 0]);
        assert_eq!(Response::parse(&b), Ok(m));
        let a = Response {
            opcode: OP_EXTERNAL_ADDRESS,
            result: ResultCode::Success,
            epoch: 5,
            body: Body::ExternalAddress(Ipv4Addr::new(198, 51, 100, 2)),
        };
        let b = a.emit();
        assert_eq!(b.len(), 12);
        assert_eq!(Response::parse(&b), Ok(a));
    }

    #[test]
    fn short_error_response() {
        let b = [0, 129, 0, 2, 0, 0, 0, 9];
        let r = Response::parse(&b).expect("valid");
        assert_eq!(r.result, ResultCode::NotAuthorized);
        assert_eq!(r.body, Body::None);
    }

    #[test]
    fn malformed() {
        let b = mapping().emit();
        for n in 0..b.len() {
            assert!(Response::parse(&b[..n]).is_err(), "length {n}");
        }
        let mut v2 = b.clone();
        v2[0] = 2;
        assert_eq!(Response::parse(&v2), Err(Error::Version(2)));
        let mut req = b.clone();
        req[1] = 1;
        assert_eq!(Response::parse(&req), Err(Error::Direction));
        assert_eq!(MappingRequest::parse(&b), Err(Error::Direction));
        assert_eq!(MappingRequest::parse(&b[..11]), Err(Error::Truncated));
    }

    #[test]
    fn result_codes_round_trip() {
        for v in [0u16, 1, 2, 3, 4, 5, 6, 255, 65535] {
            assert_eq!(u16::from(ResultCode::from(v)), v);
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = Response::parse(&b);
            let _ = MappingRequest::parse(&b);
        }
    }
}
