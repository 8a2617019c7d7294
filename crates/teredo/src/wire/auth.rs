//! Teredo authentication header and origin indication (RFC 4380 §5.1.1).

use std::net::{Ipv4Addr, SocketAddrV4};

use super::{be16, be32, Result, WireError};

/// Indicator of an authentication header.
pub const AUTH_INDICATOR: u16 = 0x0001;
/// Indicator of an origin indication.
pub const ORIGIN_INDICATOR: u16 = 0x0000;
/// Length of an authentication header without client identifier or
/// authentication value.
pub const AUTH_MIN_LEN: usize = 13;
/// Length of an origin indication.
pub const ORIGIN_LEN: usize = 8;

/// A checked view of a Teredo authentication header (RFC 4380 §5.1.1).
///
/// ```text
/// +--------+--------+--------+--------+
/// |  0x00  | 0x01   | ID-len | AU-len |
/// +--------+--------+--------+--------+
/// |  Client identifier (ID-len        |
/// +-----------------+-----------------+
/// |  octets)        |  Authentication |
/// +-----------------+--------+--------+
/// | value (AU-len octets)    | Nonce  |
/// +--------------------------+--------+
/// | value (8 octets)                  |
/// +--------------------------+--------+
/// |                          | Conf.  |
/// +--------------------------+--------+
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AuthHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> AuthHeader<T> {
    /// Wraps a buffer without checking it; accessors may then return garbage
    /// (but never panic: they return empty slices / zeros).
    pub fn new_unchecked(buffer: T) -> Self {
        AuthHeader { buffer }
    }

    /// Wraps a buffer that starts with a complete authentication header
    /// (it may be followed by more data).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let h = AuthHeader { buffer };
        h.check()?;
        Ok(h)
    }

    fn check(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        if buf.len() < 4 {
            return Err(WireError::Truncated);
        }
        if be16(buf, 0) != Some(AUTH_INDICATOR) {
            return Err(WireError::BadIndicator);
        }
        if buf.len() < self.header_len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    /// ID-len: length of the client identifier.
    pub fn id_len(&self) -> usize {
        usize::from(self.byte(2))
    }

    /// AU-len: length of the authentication value.
    pub fn au_len(&self) -> usize {
        usize::from(self.byte(3))
    }

    /// Total header length: 13 + ID-len + AU-len.
    pub fn header_len(&self) -> usize {
        AUTH_MIN_LEN + self.id_len() + self.au_len()
    }

    /// The client identifier.
    pub fn client_id(&self) -> &[u8] {
        let start = 4;
        self.buffer
            .as_ref()
            .get(start..start + self.id_len())
            .unwrap_or(&[])
    }

    /// The authentication value.
    pub fn auth_value(&self) -> &[u8] {
        let start = 4 + self.id_len();
        self.buffer
            .as_ref()
            .get(start..start + self.au_len())
            .unwrap_or(&[])
    }

    /// The 8-byte nonce.
    pub fn nonce(&self) -> [u8; 8] {
        let start = 4 + self.id_len() + self.au_len();
        self.buffer
            .as_ref()
            .get(start..start + 8)
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; 8])
    }

    /// The confirmation byte (non-zero: the server rejects our credentials).
    pub fn confirmation(&self) -> u8 {
        self.byte(self.header_len() - 1)
    }
}

/// A parsed authentication header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRepr<'a> {
    /// Client identifier (empty for miredo).
    pub client_id: &'a [u8],
    /// Authentication value (empty for miredo).
    pub auth_value: &'a [u8],
    /// Nonce, echoed by the server.
    pub nonce: [u8; 8],
    /// Confirmation byte: 0 means accepted.
    pub confirmation: u8,
}

impl<'a> AuthRepr<'a> {
    /// The header miredo sends: no identifier, no value, confirmation 0.
    pub fn with_nonce(nonce: [u8; 8]) -> AuthRepr<'static> {
        AuthRepr {
            client_id: &[],
            auth_value: &[],
            nonce,
            confirmation: 0,
        }
    }

    /// Parses the authentication header at the start of `buf`.
    pub fn parse(header: &AuthHeader<&'a [u8]>) -> Result<Self> {
        header.check()?;
        let buf: &'a [u8] = header.buffer;
        let id_end = 4 + header.id_len();
        let au_end = id_end + header.au_len();
        Ok(AuthRepr {
            client_id: buf.get(4..id_end).ok_or(WireError::Truncated)?,
            auth_value: buf.get(id_end..au_end).ok_or(WireError::Truncated)?,
            nonce: header.nonce(),
            confirmation: header.confirmation(),
        })
    }

    /// Encoded length. Identifier and value longer than 255 bytes are cut at
    /// 255 by [`emit`](Self::emit).
    pub fn buffer_len(&self) -> usize {
        AUTH_MIN_LEN + self.client_id.len().min(255) + self.auth_value.len().min(255)
    }

    /// Appends the encoded header to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let id = &self.client_id[..self.client_id.len().min(255)];
        let au = &self.auth_value[..self.auth_value.len().min(255)];
        out.extend_from_slice(&AUTH_INDICATOR.to_be_bytes());
        out.push(id.len() as u8);
        out.push(au.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(au);
        out.extend_from_slice(&self.nonce);
        out.push(self.confirmation);
    }
}

/// A checked view of a Teredo origin indication (RFC 4380 §5.1.1).
///
/// ```text
/// +--------+--------+-----------------+
/// |  0x00  | 0x00   | Origin port #   |
/// +--------+--------+-----------------+
/// |  Origin IPv4 address              |
/// +-----------------------------------+
/// ```
///
/// Port and address are obfuscated (XOR with all ones) on the wire.
#[derive(Debug, Clone, Copy)]
pub struct OriginIndication<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> OriginIndication<T> {
    /// Wraps a buffer without checking it (accessors return 0 when short).
    pub fn new_unchecked(buffer: T) -> Self {
        OriginIndication { buffer }
    }

    /// Wraps a buffer that starts with an origin indication.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let buf = buffer.as_ref();
        if buf.len() < ORIGIN_LEN {
            return Err(WireError::Truncated);
        }
        if be16(buf, 0) != Some(ORIGIN_INDICATOR) {
            return Err(WireError::BadIndicator);
        }
        Ok(OriginIndication { buffer })
    }

    /// Origin UDP port, in the clear.
    pub fn port(&self) -> u16 {
        !be16(self.buffer.as_ref(), 2).unwrap_or(0xffff)
    }

    /// Origin IPv4 address, in the clear.
    pub fn ipv4(&self) -> Ipv4Addr {
        Ipv4Addr::from(!be32(self.buffer.as_ref(), 4).unwrap_or(0xffff_ffff))
    }

    /// Origin address and port, in the clear.
    pub fn mapping(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.ipv4(), self.port())
    }
}

/// Appends an origin indication for `origin` (obfuscated) to `out`.
pub fn emit_origin(origin: SocketAddrV4, out: &mut Vec<u8>) {
    out.extend_from_slice(&ORIGIN_INDICATOR.to_be_bytes());
    out.extend_from_slice(&(!origin.port()).to_be_bytes());
    out.extend_from_slice(&(!u32::from(*origin.ip())).to_be_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn auth_round_trip() {
        let repr = AuthRepr {
            client_id: b"id",
            auth_value: b"val",
            nonce: [1, 2, 3, 4, 5, 6, 7, 8],
            confirmation: 1,
        };
        let mut buf = Vec::new();
        repr.emit(&mut buf);
        assert_eq!(buf.len(), repr.buffer_len());
        assert_eq!(buf.len(), 18);
        assert_eq!(&buf[..4], &[0, 1, 2, 3]);
        let h = AuthHeader::new_checked(&buf[..]).unwrap();
        assert_eq!(h.header_len(), 18);
        assert_eq!(AuthRepr::parse(&h).unwrap(), repr);
        for n in 0..buf.len() {
            assert!(AuthHeader::new_checked(&buf[..n]).is_err(), "len {n}");
        }
    }

    #[test]
    fn miredo_auth() {
        let mut buf = Vec::new();
        AuthRepr::with_nonce([9; 8]).emit(&mut buf);
        assert_eq!(buf, [0, 1, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 0]);
    }

    #[test]
    fn unchecked_never_panics() {
        let h = AuthHeader::new_unchecked(&[0u8, 1, 200, 200][..]);
        assert_eq!(h.client_id(), b"");
        assert_eq!(h.auth_value(), b"");
        assert_eq!(h.nonce(), [0; 8]);
        assert_eq!(h.confirmation(), 0);
        let o = OriginIndication::new_unchecked(&[][..]);
        assert_eq!(o.mapping(), SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    }

    #[test]
    fn origin_round_trip() {
        let origin: SocketAddrV4 = "192.0.2.10:58730".parse().unwrap();
        let mut buf = Vec::new();
        emit_origin(origin, &mut buf);
        assert_eq!(buf, [0, 0, 0x1a, 0x95, 0x3f, 0xff, 0xfd, 0xf5]);
        let o = OriginIndication::new_checked(&buf[..]).unwrap();
        assert_eq!(o.mapping(), origin);
        for n in 0..buf.len() {
            assert!(OriginIndication::new_checked(&buf[..n]).is_err());
        }
    }
}
