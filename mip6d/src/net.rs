//! Address arithmetic the role drivers share.

use std::net::Ipv6Addr;

use crate::config::Prefix;

/// `addr` masked to `len` bits (a length past 128 counts as 128, as a
/// Prefix Information option may carry one, RFC 4861 §4.6.2).
pub fn mask(addr: Ipv6Addr, len: u8) -> Ipv6Addr {
    Prefix {
        addr,
        len: len.min(128),
    }
    .masked()
    .addr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        let a: Ipv6Addr = "2001:db8:1::100".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        assert_eq!(mask(a, 64).to_string(), "2001:db8:1::");
        assert_eq!(mask(a, 0), Ipv6Addr::UNSPECIFIED);
        assert_eq!(mask(a, 128), a);
        assert_eq!(mask(a, 200), a);
    }
}
