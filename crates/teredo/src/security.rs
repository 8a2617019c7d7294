//! Keyed hashes in the style of miredo's `libteredo/security.c`: HMAC-MD5 under a
//! 16-byte secret the caller draws at start-up (this crate never reads a random
//! source or the clock).
//!
//! Used for the RS nonce (RFC 4380 §5.2.1), the bubble source interface ID that
//! lets peers behind symmetric NATs be recognised (RFC 4380 §5.2.3, §5.2.4), the
//! ping-test payload (RFC 4380 §5.2.4) and the random address flags (RFC 5991 §3).
//!
//! The byte layouts hashed here are our own; the values only need to be stable
//! within one process, as with miredo.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use md5::Md5;

use crate::addr::{RANDOM_FLAGS_MASK, TEREDO_PORT};

type HmacMd5 = Hmac<Md5>;

/// Length of the ping-test payload: 2 bytes of time, 16 bytes of HMAC.
pub const PING_PAYLOAD_LEN: usize = 18;
/// How long a ping-test payload stays valid, in seconds.
pub const PING_VALIDITY_SECS: u32 = 30;

/// The 16-byte HMAC key. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub [u8; 16]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl From<[u8; 16]> for Secret {
    fn from(b: [u8; 16]) -> Self {
        Secret(b)
    }
}

impl Secret {
    /// Wraps 16 secret bytes (from the OS random source, in the caller).
    pub fn new(bytes: [u8; 16]) -> Self {
        Secret(bytes)
    }

    fn mac(&self) -> HmacMd5 {
        // HMAC pads short keys with zeros up to the block size, so this is the
        // same as keying with the 16 bytes, without a fallible constructor.
        let mut key = Key::<HmacMd5>::default();
        key[..16].copy_from_slice(&self.0);
        <HmacMd5 as KeyInit>::new(&key)
    }

    fn digest(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut mac = self.mac();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// The 8-byte nonce of a qualification RS: HMAC over the server IPv4, port
    /// 3544, the process id and the qualification deadline (seconds).
    pub fn rs_nonce(&self, server: Ipv4Addr, pid: u32, deadline_secs: u64) -> [u8; 8] {
        let d = self.digest(&[
            b"rs",
            &server.octets(),
            &TEREDO_PORT.to_be_bytes(),
            &pid.to_be_bytes(),
            &deadline_secs.to_be_bytes(),
        ]);
        first8(&d)
    }

    /// Interface ID of the link-local source of our bubbles to the peer at
    /// `mapping`: HMAC over its IPv4 and port, low 2 bits of the first byte
    /// cleared (the universal/local and group bits).
    pub fn bubble_interface_id(&self, mapping: SocketAddrV4) -> [u8; 8] {
        let d = self.digest(&[
            b"bubble",
            &mapping.ip().octets(),
            &mapping.port().to_be_bytes(),
        ]);
        let mut id = first8(&d);
        id[0] &= !0x03;
        id
    }

    /// Nonce of the router solicitation our side port `via` sends to learn
    /// its mapping, for the peer at `mapping` (port prediction behind a
    /// sequential NAT): only our server's answer carries it back.
    pub fn probe_nonce(&self, via: u16, mapping: SocketAddrV4) -> [u8; 8] {
        let d = self.digest(&[
            b"probe",
            &via.to_be_bytes(),
            &mapping.ip().octets(),
            &mapping.port().to_be_bytes(),
        ]);
        first8(&d)
    }

    /// Source address of our bubbles to the peer at `mapping`:
    /// `fe80::` + [`bubble_interface_id`](Self::bubble_interface_id).
    pub fn bubble_source(&self, mapping: SocketAddrV4) -> Ipv6Addr {
        let mut o = [0u8; 16];
        o[0] = 0xfe;
        o[1] = 0x80;
        o[8..].copy_from_slice(&self.bubble_interface_id(mapping));
        Ipv6Addr::from(o)
    }

    /// True if `addr` is the bubble source we would use towards `mapping`
    /// (fe80::/64 and matching interface ID).
    pub fn is_bubble_source(&self, addr: &Ipv6Addr, mapping: SocketAddrV4) -> bool {
        let o = addr.octets();
        o[..8] == [0xfe, 0x80, 0, 0, 0, 0, 0, 0] && o[8..] == self.bubble_interface_id(mapping)
    }

    fn ping_mac(&self, src: &Ipv6Addr, dst: &Ipv6Addr, pid: u32, unix_secs: u32) -> HmacMd5 {
        let mut mac = self.mac();
        mac.update(b"ping");
        mac.update(&src.octets());
        mac.update(&dst.octets());
        mac.update(&pid.to_be_bytes());
        mac.update(&unix_secs.to_be_bytes());
        mac
    }

    /// The 18-byte data of a ping-test echo request from `src` to `dst`: the
    /// high 16 bits of `unix_secs`, then a 16-byte HMAC over the addresses,
    /// `pid` and `unix_secs`. The echo sequence number carries the low 16
    /// bits of `unix_secs`, and the identifier the low 16 bits of `pid`.
    pub fn ping_payload(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        pid: u32,
        unix_secs: u32,
    ) -> [u8; PING_PAYLOAD_LEN] {
        let mut out = [0u8; PING_PAYLOAD_LEN];
        out[..2].copy_from_slice(&((unix_secs >> 16) as u16).to_be_bytes());
        let tag: [u8; 16] = self
            .ping_mac(src, dst, pid, unix_secs)
            .finalize()
            .into_bytes()
            .into();
        out[2..].copy_from_slice(&tag);
        out
    }

    /// Checks the data of an echo reply to our ping test. `src` and `dst` are
    /// the addresses of the *request* (our address, the target), `seq` the
    /// reply's sequence number. True if the HMAC matches and the request is
    /// less than 30 s old (and not from the future) at `now_unix_secs`.
    pub fn ping_check(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        pid: u32,
        seq: u16,
        payload: &[u8],
        now_unix_secs: u32,
    ) -> bool {
        let Some((high, tag)) = payload.split_first_chunk::<2>() else {
            return false;
        };
        if tag.len() != 16 {
            return false;
        }
        let sent = (u32::from(u16::from_be_bytes(*high)) << 16) | u32::from(seq);
        if now_unix_secs.wrapping_sub(sent) >= PING_VALIDITY_SECS {
            return false;
        }
        self.ping_mac(src, dst, pid, sent).verify_slice(tag).is_ok()
    }

    /// Random address flags (RFC 5991 §3) drawn from an HMAC of the time:
    /// only bits of [`RANDOM_FLAGS_MASK`] can be set.
    pub fn random_flags(&self, now_nanos: u128) -> u16 {
        let d = self.digest(&[b"flags", &now_nanos.to_be_bytes()]);
        u16::from_be_bytes([d[0], d[1]]) & RANDOM_FLAGS_MASK
    }
}

fn first8(d: &[u8; 16]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new(*b"0123456789abcdef")
    }

    #[test]
    fn hmac_keying_matches_rfc2202_style() {
        // Keying via a zero-padded block gives the same MAC as new_from_slice.
        let s = secret();
        let mut a = s.mac();
        a.update(b"x");
        let mut b = <HmacMd5 as KeyInit>::new_from_slice(&s.0).unwrap();
        b.update(b"x");
        assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes());
        // RFC 2202 test case 2 (HMAC-MD5, key "Jefe").
        let mut k = [0u8; 16];
        k[..4].copy_from_slice(b"Jefe");
        let mut m = Secret(k).mac();
        m.update(b"what do ya want for nothing?");
        let out = m.finalize().into_bytes();
        assert_eq!(
            out[..],
            [
                0x75, 0x0c, 0x78, 0x3e, 0x6a, 0xb0, 0xb5, 0x03, 0xea, 0xa8, 0x6e, 0x31, 0x0a, 0x5d,
                0xb7, 0x38
            ]
        );
    }

    #[test]
    fn nonce_depends_on_inputs() {
        let s = secret();
        let ip = Ipv4Addr::new(192, 0, 2, 1);
        let n = s.rs_nonce(ip, 42, 1000);
        assert_eq!(n, s.rs_nonce(ip, 42, 1000));
        assert_ne!(n, s.rs_nonce(ip, 42, 1004));
        assert_ne!(n, s.rs_nonce(ip, 43, 1000));
        assert_ne!(n, Secret::new([1; 16]).rs_nonce(ip, 42, 1000));
    }

    #[test]
    fn bubble_ids() {
        let s = secret();
        let m: SocketAddrV4 = "192.0.2.10:58730".parse().unwrap();
        for port in 0..64u16 {
            let id = s.bubble_interface_id(SocketAddrV4::new(*m.ip(), port));
            assert_eq!(id[0] & 3, 0);
        }
        let src = s.bubble_source(m);
        assert_eq!(src.segments()[..4], [0xfe80, 0, 0, 0]);
        assert!(s.is_bubble_source(&src, m));
        assert!(!s.is_bubble_source(&src, SocketAddrV4::new(*m.ip(), 1)));
        assert_ne!(s.bubble_source(SocketAddrV4::new(*m.ip(), 1)), src);
    }

    #[test]
    fn ping() {
        let s = secret();
        let a: Ipv6Addr = "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap();
        let b: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let t = 0x6543_2100u32;
        let p = s.ping_payload(&a, &b, 1234, t);
        assert_eq!(&p[..2], &[0x65, 0x43]);
        let seq = t as u16;
        assert!(s.ping_check(&a, &b, 1234, seq, &p, t));
        assert!(s.ping_check(&a, &b, 1234, seq, &p, t + 29));
        assert!(!s.ping_check(&a, &b, 1234, seq, &p, t + 30));
        assert!(!s.ping_check(&a, &b, 1234, seq, &p, t - 1));
        assert!(!s.ping_check(&a, &b, 1234, seq.wrapping_add(1), &p, t + 1));
        assert!(!s.ping_check(&b, &a, 1234, seq, &p, t));
        assert!(!s.ping_check(&a, &b, 1235, seq, &p, t));
        assert!(!s.ping_check(&a, &b, 1234, seq, &p[..17], t));
        assert!(!s.ping_check(&a, &b, 1234, seq, &[], t));
        let mut bad = p;
        bad[10] ^= 1;
        assert!(!s.ping_check(&a, &b, 1234, seq, &bad, t));
    }

    #[test]
    fn flags_masked() {
        let s = secret();
        let mut seen = 0u16;
        for n in 0..200u128 {
            let f = s.random_flags(n * 1_000_003);
            assert_eq!(f & !RANDOM_FLAGS_MASK, 0);
            seen |= f;
        }
        assert_eq!(seen, RANDOM_FLAGS_MASK);
        assert_eq!(format!("{:?}", s), "Secret(..)");
    }
}
