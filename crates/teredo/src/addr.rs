//! Teredo addresses (RFC 4380 §4, RFC 5991 §3) and the IPv4 scope test miredo uses.
//!
//! ```text
//! +-------------+-------------+-------+------+-------------+
//! | Prefix      | Server IPv4 | Flags | Port | Client IPv4 |
//! +-------------+-------------+-------+------+-------------+
//!     32 bits       32 bits    16 bits 16 bits   32 bits
//! ```
//!
//! The port and the client IPv4 are stored obfuscated (XOR with all ones) in the
//! address; [`TeredoAddr`] keeps them in the clear.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

/// UDP port of Teredo servers (RFC 4380 §2.1, IANA).
pub const TEREDO_PORT: u16 = 3544;
/// The Teredo prefix 2001:0::/32 as its first 32 bits (RFC 4380 §2.6).
pub const DEFAULT_PREFIX: u32 = 0x2001_0000;
/// The obsolete experimental prefix 3ffe:831f::/32, which miredo rewrites to
/// [`DEFAULT_PREFIX`] when a server advertises it.
pub const OBSOLETE_PREFIX: u32 = 0x3ffe_831f;
/// Cone flag (RFC 4380 §4).
pub const FLAG_CONE: u16 = 0x8000;
/// The 12 random flag bits of RFC 5991 §3 (`CRRr rrUG rrrr rrrr` minus C, R, U, G).
pub const RANDOM_FLAGS_MASK: u16 = 0x3CFF;

/// Link-local address every miredo client and relay uses on its tunnel
/// (and the destination of RAs).
pub const CLIENT_LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xffff, 0xffff, 0xffff);
/// RFC 4380 §5.2.1 link-local address used by cone clients ("TEREDO" in ASCII).
pub const CONE_LINK_LOCAL: Ipv6Addr =
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0x8000, 0x5445, 0x5245, 0x444f);
/// All-routers multicast, the RS destination.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// A decoded Teredo address. Port and IPv4 are in the clear (de-obfuscated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TeredoAddr {
    /// First 32 bits of the address (normally [`DEFAULT_PREFIX`]).
    pub prefix: u32,
    /// The client's Teredo server.
    pub server: Ipv4Addr,
    /// Flags (cone bit, random bits).
    pub flags: u16,
    /// NAT-external UDP port of the client, in the clear.
    pub mapped_port: u16,
    /// NAT-external IPv4 of the client, in the clear.
    pub mapped_ip: Ipv4Addr,
}

impl TeredoAddr {
    /// Decodes any IPv6 address as a Teredo address (the caller checks the prefix,
    /// see [`is_teredo`]).
    pub fn from_ipv6(addr: &Ipv6Addr) -> Self {
        let o = addr.octets();
        TeredoAddr {
            prefix: u32::from_be_bytes([o[0], o[1], o[2], o[3]]),
            server: Ipv4Addr::new(o[4], o[5], o[6], o[7]),
            flags: u16::from_be_bytes([o[8], o[9]]),
            mapped_port: !u16::from_be_bytes([o[10], o[11]]),
            mapped_ip: Ipv4Addr::from(!u32::from_be_bytes([o[12], o[13], o[14], o[15]])),
        }
    }

    /// Encodes the address, obfuscating port and IPv4.
    pub fn to_ipv6(&self) -> Ipv6Addr {
        let mut o = [0u8; 16];
        o[0..4].copy_from_slice(&self.prefix.to_be_bytes());
        o[4..8].copy_from_slice(&self.server.octets());
        o[8..10].copy_from_slice(&self.flags.to_be_bytes());
        o[10..12].copy_from_slice(&(!self.mapped_port).to_be_bytes());
        o[12..16].copy_from_slice(&(!u32::from(self.mapped_ip)).to_be_bytes());
        Ipv6Addr::from(o)
    }

    /// True if the cone flag is set.
    pub fn is_cone(&self) -> bool {
        self.flags & FLAG_CONE != 0
    }

    /// The client's NAT mapping (public IPv4 and port).
    pub fn mapping(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.mapped_ip, self.mapped_port)
    }
}

impl From<TeredoAddr> for Ipv6Addr {
    fn from(a: TeredoAddr) -> Ipv6Addr {
        a.to_ipv6()
    }
}

/// The first 32 bits of an IPv6 address.
pub fn prefix_of(addr: &Ipv6Addr) -> u32 {
    let o = addr.octets();
    u32::from_be_bytes([o[0], o[1], o[2], o[3]])
}

/// True if `addr` lies in `prefix`::/32.
pub fn is_teredo(addr: &Ipv6Addr, prefix: u32) -> bool {
    prefix_of(addr) == prefix
}

/// miredo's notion of a "global unicast" IPv4 address (`libteredo/v4global.c`).
///
/// Rejects 0/8, 10/8, 127/8, 169.254/16, 172.16/12, 192.168/16, 192.88.99/24,
/// 224/4 (multicast) and 255.255.255.255. Everything else is accepted, notably
/// 100.64/10, 192.0.2/24, 198.18/15 and 240/4.
pub fn is_global_unicast_v4(ip: Ipv4Addr) -> bool {
    let v = u32::from(ip);
    let in_net = |net: u32, len: u32| (v ^ net) >> (32 - len) == 0;
    !(in_net(0x0000_0000, 8)
        || in_net(0x0a00_0000, 8)
        || in_net(0x7f00_0000, 8)
        || in_net(0xa9fe_0000, 16)
        || in_net(0xac10_0000, 12)
        || in_net(0xc0a8_0000, 16)
        || in_net(0xc058_6300, 24)
        || in_net(0xe000_0000, 4)
        || v == 0xffff_ffff)
}

/// True if `prefix`::/32 may serve as a Teredo prefix: anything but multicast
/// (ff00::/8).
///
/// miredo 1.2.6 meant this but tested the wrong byte (host byte order); this is
/// the corrected check (see `docs/compat.md`).
pub fn prefix_is_valid(prefix: u32) -> bool {
    prefix >> 24 != 0xff
}

/// The link-local address of a Teredo server, used as the RA source:
/// `fe80::8000:f227:<~server>` (cone flag, obfuscated port 3544, obfuscated IPv4).
pub fn server_link_local(server: Ipv4Addr) -> Ipv6Addr {
    let s = !u32::from(server);
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        FLAG_CONE,
        !TEREDO_PORT,
        (s >> 16) as u16,
        s as u16,
    )
}

/// The Teredo /64 a server with `prefix` and address `server` advertises:
/// `<prefix>:<server>::`.
pub fn teredo_prefix64(prefix: u32, server: Ipv4Addr) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o[0..4].copy_from_slice(&prefix.to_be_bytes());
    o[4..8].copy_from_slice(&server.octets());
    Ipv6Addr::from(o)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn observed_vector() {
        let a = TeredoAddr {
            prefix: DEFAULT_PREFIX,
            server: Ipv4Addr::new(192, 0, 2, 1),
            flags: 0x18af,
            mapped_port: 58730,
            mapped_ip: Ipv4Addr::new(192, 0, 2, 10),
        };
        let v6: Ipv6Addr = "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap();
        assert_eq!(a.to_ipv6(), v6);
        assert_eq!(TeredoAddr::from_ipv6(&v6), a);
        assert!(!a.is_cone());
        assert_eq!(a.mapping(), "192.0.2.10:58730".parse().unwrap());
        assert!(is_teredo(&v6, DEFAULT_PREFIX));
        assert!(!is_teredo(&v6, 0x2001_0db8));
        assert_eq!(Ipv6Addr::from(a), v6);
    }

    #[test]
    fn link_locals() {
        assert_eq!(
            server_link_local(Ipv4Addr::new(192, 0, 2, 1)),
            "fe80::8000:f227:3fff:fdfe".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            CLIENT_LINK_LOCAL,
            "fe80::ffff:ffff:ffff".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            CONE_LINK_LOCAL,
            "fe80::8000:5445:5245:444f".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            teredo_prefix64(DEFAULT_PREFIX, Ipv4Addr::new(192, 0, 2, 1)),
            "2001:0:c000:201::".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn global_v4() {
        // The private and special ranges appear here only as inputs that must be
        // refused (sans-IO: nothing is sent to them).
        let rejected = [
            "0.1.2.3",
            "10.0.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.88.99.1",
            "224.0.0.1",
            "239.255.255.255",
            "255.255.255.255",
        ];
        for s in rejected {
            assert!(!is_global_unicast_v4(s.parse().unwrap()), "{s}");
        }
        let accepted = [
            "100.64.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.254",
            "240.0.0.1",
            "255.255.255.254",
            "172.32.0.1",
            "172.15.255.255",
            "8.8.8.8",
            "192.88.98.1",
            "169.253.1.1",
        ];
        for s in accepted {
            assert!(is_global_unicast_v4(s.parse().unwrap()), "{s}");
        }
    }

    #[test]
    fn prefix_validity() {
        assert!(prefix_is_valid(DEFAULT_PREFIX));
        assert!(prefix_is_valid(0x2001_00ff)); // miredo wrongly rejects 2001:ff::
        assert!(!prefix_is_valid(0xff02_0000)); // miredo wrongly accepts ff02::
        assert!(!prefix_is_valid(0xff00_0000));
    }
}
