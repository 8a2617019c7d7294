//! Port Control Protocol (RFC 6887): the MAP request and the responses a MAP
//! client sees, nothing else.
//!
//! Parsing never panics: every length is checked before a field is read, and
//! anything malformed is an [`enum@Error`] the caller drops.

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// The PCP version this codec speaks (RFC 6887 §7.1).
pub const VERSION: u8 = 2;
/// The port PCP servers listen on (RFC 6887 §19.1).
pub const SERVER_PORT: u16 = 5351;
/// ANNOUNCE opcode (RFC 6887 §14); servers send it unsolicited after a restart.
pub const OP_ANNOUNCE: u8 = 0;
/// MAP opcode (RFC 6887 §11).
pub const OP_MAP: u8 = 1;
/// IANA protocol number of UDP, the only one we map (RFC 6887 §11.1).
pub const PROTO_UDP: u8 = 17;
/// Common request and response header length (RFC 6887 §7.1, §7.2).
pub const HEADER_LEN: usize = 24;
/// MAP opcode-specific data length (RFC 6887 §11.1).
pub const MAP_LEN: usize = 36;
/// Largest PCP message (RFC 6887 §7).
pub const MAX_LEN: usize = 1100;

const R_BIT: u8 = 0x80;

/// Why a datagram is not a PCP message we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// Shorter than its fixed parts or its options say.
    #[error("truncated PCP message")]
    Truncated,
    /// Longer than 1100 octets or not a multiple of 4 (RFC 6887 §8.3).
    #[error("PCP message has a bad length")]
    BadLength,
    /// Another version: 0 means a NAT-PMP-only server (RFC 6887 §9).
    #[error("PCP version {0} not supported")]
    Version(u8),
    /// A request where a response was expected, or the reverse.
    #[error("wrong PCP message direction")]
    Direction,
    /// An option runs past the end of the message (RFC 6887 §7.3).
    #[error("malformed PCP option")]
    BadOption,
}

/// Result codes (RFC 6887 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// 0: the request was granted.
    Success,
    /// 1: the server does not speak our version (RFC 6887 §9).
    UnsuppVersion,
    /// 2: the server refuses this client.
    NotAuthorized,
    /// 3: the server could not parse the request.
    MalformedRequest,
    /// 4: the server does not know the opcode.
    UnsuppOpcode,
    /// 5: a mandatory option is not known.
    UnsuppOption,
    /// 6: an option is malformed.
    MalformedOption,
    /// 7: the server has no external connectivity right now.
    NetworkFailure,
    /// 8: the server is out of mappings.
    NoResources,
    /// 9: the protocol cannot be mapped.
    UnsuppProtocol,
    /// 10: this client has used up its quota.
    UserExQuota,
    /// 11: the suggested external address or port cannot be given.
    CannotProvideExternal,
    /// 12: the client address in the request is not the packet's source.
    AddressMismatch,
    /// 13: too many remote peers (PEER only).
    ExcessiveRemotePeers,
    /// A code this codec does not know.
    Other(u8),
}

impl From<u8> for ResultCode {
    fn from(v: u8) -> Self {
        use ResultCode::*;
        match v {
            0 => Success,
            1 => UnsuppVersion,
            2 => NotAuthorized,
            3 => MalformedRequest,
            4 => UnsuppOpcode,
            5 => UnsuppOption,
            6 => MalformedOption,
            7 => NetworkFailure,
            8 => NoResources,
            9 => UnsuppProtocol,
            10 => UserExQuota,
            11 => CannotProvideExternal,
            12 => AddressMismatch,
            13 => ExcessiveRemotePeers,
            o => Other(o),
        }
    }
}

impl From<ResultCode> for u8 {
    fn from(c: ResultCode) -> u8 {
        use ResultCode::*;
        match c {
            Success => 0,
            UnsuppVersion => 1,
            NotAuthorized => 2,
            MalformedRequest => 3,
            UnsuppOpcode => 4,
            UnsuppOption => 5,
            MalformedOption => 6,
            NetworkFailure => 7,
            NoResources => 8,
            UnsuppProtocol => 9,
            UserExQuota => 10,
            CannotProvideExternal => 11,
            AddressMismatch => 12,
            ExcessiveRemotePeers => 13,
            Other(o) => o,
        }
    }
}

/// An IPv4 address as PCP carries it: IPv4-mapped IPv6 (RFC 6887 §5).
pub fn mapped(v4: Ipv4Addr) -> Ipv6Addr {
    v4.to_ipv6_mapped()
}

/// "No preference" for the suggested external address: `::ffff:0.0.0.0`,
/// because an IPv4 mapping is asked for with an IPv4-mapped zero (RFC 6887 §11.1).
pub const ANY_V4: Ipv6Addr = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0);

/// The opcode-specific part of MAP requests and responses (RFC 6887 §11.1,
/// §11.2); the response calls the last two fields "assigned" rather than
/// "suggested":
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Mapping Nonce (96 bits)                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Protocol    |          Reserved (24 bits)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |        Internal Port          |    Suggested External Port    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Suggested External IP Address (128 bits)            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapBody {
    /// Random value that ties a mapping to its owner (RFC 6887 §11.1).
    pub nonce: [u8; 12],
    /// IANA protocol number; 17 for UDP.
    pub protocol: u8,
    /// The client's port.
    pub internal_port: u16,
    /// Suggested (request) or assigned (response) external port.
    pub external_port: u16,
    /// Suggested or assigned external address, IPv4-mapped for IPv4.
    pub external_addr: Ipv6Addr,
}

impl MapBody {
    fn parse(b: &[u8]) -> Result<Self, Error> {
        let b: &[u8; MAP_LEN] = b
            .get(..MAP_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::Truncated)?;
        let mut nonce = [0; 12];
        nonce.copy_from_slice(&b[0..12]);
        let mut ext = [0; 16];
        ext.copy_from_slice(&b[20..36]);
        Ok(MapBody {
            nonce,
            protocol: b[12],
            internal_port: u16::from_be_bytes([b[16], b[17]]),
            external_port: u16::from_be_bytes([b[18], b[19]]),
            external_addr: Ipv6Addr::from(ext),
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&[self.protocol, 0, 0, 0]);
        out.extend_from_slice(&self.internal_port.to_be_bytes());
        out.extend_from_slice(&self.external_port.to_be_bytes());
        out.extend_from_slice(&self.external_addr.octets());
    }
}

/// A MAP request: the common request header (RFC 6887 §7.1) then the MAP
/// data (RFC 6887 §11.1); we send no options.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Version = 2  |R|   Opcode    |         Reserved              |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Requested Lifetime (32 bits)                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |            PCP Client's IP Address (128 bits)                 |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// :             MAP opcode-specific data (see MapBody)            :
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapRequest {
    /// Seconds; 0 deletes the mapping (RFC 6887 §15).
    pub lifetime: u32,
    /// The client's own address as the server sees it (IPv4-mapped).
    pub client: Ipv6Addr,
    /// Opcode-specific data.
    pub map: MapBody,
}

impl MapRequest {
    /// Wire length: header and MAP data, no options.
    pub const LEN: usize = HEADER_LEN + MAP_LEN;

    /// The datagram payload.
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN);
        out.extend_from_slice(&[VERSION, OP_MAP, 0, 0]);
        out.extend_from_slice(&self.lifetime.to_be_bytes());
        out.extend_from_slice(&self.client.octets());
        self.map.emit(&mut out);
        out
    }

    /// Reads a MAP request (for tests and fuzzing: a client only sends them).
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        check_len(b)?;
        if b[0] != VERSION {
            return Err(Error::Version(b[0]));
        }
        if b[1] & R_BIT != 0 || b[1] != OP_MAP {
            return Err(Error::Direction);
        }
        let mut client = [0; 16];
        client.copy_from_slice(&b[8..24]);
        let map = MapBody::parse(&b[HEADER_LEN..])?;
        skip_options(&b[Self::LEN..])?;
        Ok(MapRequest {
            lifetime: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            client: Ipv6Addr::from(client),
            map,
        })
    }
}

/// A response: the common response header (RFC 6887 §7.2), then for MAP its
/// data (RFC 6887 §11.2), then options (RFC 6887 §7.3), which are checked
/// for framing and otherwise ignored.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Version = 2  |R|   Opcode    |   Reserved    |  Result Code  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Lifetime (32 bits)                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Epoch Time (32 bits)                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Reserved (96 bits)                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// The request's opcode (R bit cleared).
    pub opcode: u8,
    /// Result code.
    pub result: ResultCode,
    /// Granted lifetime on success; on error, how long the error will last
    /// (RFC 6887 §7.2).
    pub lifetime: u32,
    /// Server's seconds since its state was last lost (RFC 6887 §8.5).
    pub epoch: u32,
    /// MAP data; `Some` exactly when `opcode` is [`OP_MAP`].
    pub map: Option<MapBody>,
}

impl Response {
    /// Reads a response. Opcodes other than MAP keep only the header: their
    /// data length is unknown to us, so their options cannot be checked.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        let &v = b.first().ok_or(Error::Truncated)?;
        if v != VERSION {
            // A NAT-PMP gateway answers in its own 8-octet format (RFC 6886
            // §3.5), another PCP version in ours (RFC 6887 §9). Only a
            // response in either shape means "version mismatch": other noise
            // must not make the client give up on PCP.
            let min = if v == 0 { 8 } else { HEADER_LEN };
            if b.len() < min {
                return Err(Error::Truncated);
            }
            if b[1] & R_BIT == 0 {
                return Err(Error::Direction);
            }
            return Err(Error::Version(v));
        }
        check_len(b)?;
        if b[1] & R_BIT == 0 {
            return Err(Error::Direction);
        }
        let opcode = b[1] & !R_BIT;
        let map = if opcode == OP_MAP {
            let map = MapBody::parse(&b[HEADER_LEN..])?;
            skip_options(&b[HEADER_LEN + MAP_LEN..])?;
            Some(map)
        } else {
            None
        };
        Ok(Response {
            opcode,
            result: ResultCode::from(b[3]),
            lifetime: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            epoch: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            map,
        })
    }

    /// The datagram payload (what a server sends; for tests and seeds).
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + MAP_LEN);
        out.extend_from_slice(&[VERSION, R_BIT | self.opcode, 0, self.result.into()]);
        out.extend_from_slice(&self.lifetime.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&[0; 12]);
        if let Some(map) = &self.map {
            map.emit(&mut out);
        }
        out
    }
}

/// Length rules every PCP message obeys (RFC 6887 §7, §8.3).
fn check_len(b: &[u8]) -> Result<(), Error> {
    if b.len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    if b.len() > MAX_LEN || b.len() % 4 != 0 {
        return Err(Error::BadLength);
    }
    Ok(())
}

/// Walks the option list (RFC 6887 §7.3) to check its framing. None of the
/// options defined so far changes what a MAP client does with a response
/// (THIRD_PARTY, PREFER_FAILURE and FILTER are request-side choices we do
/// not make), so their contents are not read.
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Option Code  |  Reserved     |       Option Length           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// :                       (optional) data                         :
/// ```
fn skip_options(mut b: &[u8]) -> Result<(), Error> {
    while !b.is_empty() {
        let Some(&[_, _, hi, lo]) = b.get(..4) else {
            return Err(Error::BadOption);
        };
        // The length excludes the padding up to the next multiple of 4.
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let padded = len.div_ceil(4) * 4;
        b = b.get(4 + padded..).ok_or(Error::BadOption)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> MapRequest {
        MapRequest {
            lifetime: 7200,
            client: mapped(Ipv4Addr::new(198, 18, 1, 10)),
            map: MapBody {
                nonce: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
                protocol: PROTO_UDP,
                internal_port: 3544,
                external_port: 0,
                external_addr: ANY_V4,
            },
        }
    }

    fn response() -> Response {
        Response {
            opcode: OP_MAP,
            result: ResultCode::Success,
            lifetime: 3600,
            epoch: 1234,
            map: Some(MapBody {
                external_port: 40000,
                external_addr: mapped(Ipv4Addr::new(203, 0, 113, 7)),
                ..request().map
            }),
        }
    }

    #[test]
    fn request_bytes() {
        let b = request().emit();
        assert_eq!(b.len(), 60);
        assert_eq!(&b[..8], &[2, 1, 0, 0, 0, 0, 0x1c, 0x20]);
        assert_eq!(&b[8..24], &mapped(Ipv4Addr::new(198, 18, 1, 10)).octets());
        assert_eq!(&b[24..36], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(&b[36..40], &[17, 0, 0, 0]);
        assert_eq!(&b[40..44], &[0x0d, 0xd8, 0, 0]);
        assert_eq!(
            &b[44..60],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(MapRequest::parse(&b), Ok(request()));
    }

    #[test]
    fn response_round_trip() {
        let r = response();
        let b = r.emit();
        assert_eq!(b.len(), 60);
        assert_eq!(&b[..4], &[2, 0x81, 0, 0]);
        assert_eq!(Response::parse(&b), Ok(r));
    }

    #[test]
    fn announce_has_no_body() {
        let r = Response {
            opcode: OP_ANNOUNCE,
            result: ResultCode::Success,
            lifetime: 0,
            epoch: 3,
            map: None,
        };
        assert_eq!(Response::parse(&r.emit()), Ok(r));
    }

    #[test]
    fn options_are_skipped() {
        let mut b = response().emit();
        // One option with 5 octets of data padded to 8, then an empty one.
        b.extend_from_slice(&[0x80, 0, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0]);
        b.extend_from_slice(&[0x81, 0, 0, 0]);
        assert_eq!(Response::parse(&b), Ok(response()));
    }

    #[test]
    fn truncated_option_is_invalid() {
        let mut b = response().emit();
        b.extend_from_slice(&[0x80, 0, 0, 8, 1, 2, 3, 4]);
        assert_eq!(Response::parse(&b), Err(Error::BadOption));
        let mut b = response().emit();
        b.extend_from_slice(&[0x80, 0, 0, 0xff]);
        assert_eq!(Response::parse(&b), Err(Error::BadOption));
    }

    #[test]
    fn malformed() {
        let b = response().emit();
        for n in 0..b.len() {
            assert!(Response::parse(&b[..n]).is_err(), "length {n}");
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(Response::parse(&long), Err(Error::BadLength));
        assert_eq!(Response::parse(&vec![2; 1104]), Err(Error::BadLength));
        let mut v1 = b.clone();
        v1[0] = 1;
        assert_eq!(Response::parse(&v1), Err(Error::Version(1)));
        // Noise from the gateway is not a version mismatch.
        assert_eq!(Response::parse(b"garbage!"), Err(Error::Truncated));
        assert_eq!(
            Response::parse(&[0, 1, 0, 1, 0, 0, 0, 0]),
            Err(Error::Direction)
        );
        // A request echoed back is not a response.
        assert_eq!(Response::parse(&request().emit()), Err(Error::Direction));
        assert_eq!(MapRequest::parse(&b), Err(Error::Direction));
    }

    #[test]
    fn natpmp_server_answer_reads_as_version_0() {
        // RFC 6886 §3.5 "Unsupported Version" to our opcode 1.
        let b = [0, 129, 0, 1, 0, 0, 0, 9];
        assert_eq!(Response::parse(&b), Err(Error::Version(0)));
    }

    #[test]
    fn result_codes_round_trip() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(ResultCode::from(v)), v);
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = Response::parse(&b);
            let _ = MapRequest::parse(&b);
        }
    }
}
