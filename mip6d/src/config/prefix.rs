//! `ADDR/PLEN` values of `mip6d.conf`, a leaf of the model that both the
//! main model and its IPsec part use.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPv6 address with a prefix length (`ADDR/PLEN`). The address is kept
/// as written, host bits included (a home address carries its prefix length
/// this way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// The address as written.
    pub addr: Ipv6Addr,
    /// 0..=128.
    pub len: u8,
}

impl Prefix {
    /// `addr/len`; `None` if `len` > 128.
    pub fn new(addr: Ipv6Addr, len: u8) -> Option<Self> {
        (len <= 128).then_some(Prefix { addr, len })
    }

    /// The address with the host bits cleared.
    pub fn masked(self) -> Prefix {
        let bits = u128::from(self.addr);
        let mask = match self.len {
            0 => 0,
            l => u128::MAX << (128 - u32::from(l)),
        };
        Prefix {
            addr: Ipv6Addr::from(bits & mask),
            len: self.len,
        }
    }

    /// Whether `addr` lies inside this prefix.
    pub fn contains(self, addr: Ipv6Addr) -> bool {
        Prefix {
            addr,
            len: self.len,
        }
        .masked()
        .addr
            == self.masked().addr
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("expected ADDRESS/LENGTH, found \"{s}\""))?;
        let addr: Ipv6Addr = a
            .parse()
            .map_err(|_| format!("invalid IPv6 address \"{a}\""))?;
        let len: u8 = l
            .parse()
            .ok()
            .filter(|&n| n <= 128)
            .ok_or_else(|| format!("invalid prefix length {l}"))?;
        Ok(Prefix { addr, len })
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
