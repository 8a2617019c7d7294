//! Typed values of configuration directives: integers (C `strtoul` base 0),
//! keywords (`RelayType`, `SyslogFacility`), IPv4/IPv6 host names.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

/// Parses like C `strtoul(s, &end, 0)` and requires `*end == '\0'` and a
/// result ≤ 65535. Returns the `strerror` text to report on failure.
///
/// `0x…` is hexadecimal, a leading `0` octal; a leading `-` negates modulo
/// 2^64 (so `-0` is 0 and `-1` is out of range).
pub fn parse_c_u16(s: &str) -> Result<u16, &'static str> {
    u16::try_from(parse_c_ulong(s)?).map_err(|_| ERANGE)
}

/// Like [`parse_c_u16`], for values up to 2^32 - 1.
pub fn parse_c_u32(s: &str) -> Result<u32, &'static str> {
    u32::try_from(parse_c_ulong(s)?).map_err(|_| ERANGE)
}

const EINVAL: &str = "Invalid argument";
const ERANGE: &str = "Numerical result out of range";

/// C `strtoul(s, &end, 0)` with `*end == '\0'`, as a `u64`.
fn parse_c_ulong(s: &str) -> Result<u64, &'static str> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = t.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = if lower.as_deref() == Some("0x")
        && t[2..].chars().next().is_some_and(|c| c.is_ascii_hexdigit())
    {
        (16, &t[2..])
    } else if t.starts_with('0') {
        (8, t)
    } else {
        (10, t)
    };
    if digits.is_empty() {
        return Err(EINVAL);
    }
    let mut value: u64 = 0;
    let mut overflow = false;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else {
            return Err(EINVAL); // trailing characters
        };
        match value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
    }
    if overflow {
        return Err(ERANGE);
    }
    Ok(if neg { value.wrapping_neg() } else { value })
}

/// Host-name resolution used by the configuration (kept behind a trait so
/// that tests and fuzzing need no DNS).
pub trait Resolver {
    /// `getaddrinfo(AF_INET)`: the first IPv4 address, or the resolver's
    /// error text (`gai_strerror`).
    fn resolve_ipv4(&self, host: &str) -> Result<Ipv4Addr, String>;
    /// `getaddrinfo(AF_INET6)`: the first IPv6 address, or the error text.
    fn resolve_ipv6(&self, host: &str) -> Result<Ipv6Addr, String>;
}

const EAI_NONAME: &str = "Name or service not known";
const EAI_NODATA: &str = "No address associated with hostname";

/// The system resolver (`getaddrinfo` through the standard library).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

/// A resolver that only accepts numeric addresses (no DNS at all).
#[derive(Debug, Clone, Copy, Default)]
pub struct LiteralResolver;

fn system_lookup(host: &str) -> Result<Vec<IpAddr>, String> {
    match (host, 0u16).to_socket_addrs() {
        Ok(it) => Ok(it.map(|sa| sa.ip()).collect()),
        Err(e) => {
            let text = e.to_string();
            // std prefixes the gai_strerror text; keep only the latter.
            let text = text
                .strip_prefix("failed to lookup address information: ")
                .unwrap_or(&text);
            Err(text.to_owned())
        }
    }
}

impl Resolver for SystemResolver {
    fn resolve_ipv4(&self, host: &str) -> Result<Ipv4Addr, String> {
        if let Ok(a) = host.parse::<Ipv4Addr>() {
            return Ok(a);
        }
        if host.parse::<Ipv6Addr>().is_ok() {
            return Err(EAI_NONAME.to_owned());
        }
        system_lookup(host)?
            .into_iter()
            .find_map(|a| match a {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
            .ok_or_else(|| EAI_NODATA.to_owned())
    }

    fn resolve_ipv6(&self, host: &str) -> Result<Ipv6Addr, String> {
        if let Ok(a) = host.parse::<Ipv6Addr>() {
            return Ok(a);
        }
        if host.parse::<Ipv4Addr>().is_ok() {
            return Err(EAI_NONAME.to_owned());
        }
        system_lookup(host)?
            .into_iter()
            .find_map(|a| match a {
                IpAddr::V6(v6) => Some(v6),
                IpAddr::V4(_) => None,
            })
            .ok_or_else(|| EAI_NODATA.to_owned())
    }
}

impl Resolver for LiteralResolver {
    fn resolve_ipv4(&self, host: &str) -> Result<Ipv4Addr, String> {
        host.parse().map_err(|_| EAI_NONAME.to_owned())
    }
    fn resolve_ipv6(&self, host: &str) -> Result<Ipv6Addr, String> {
        host.parse().map_err(|_| EAI_NONAME.to_owned())
    }
}

/// The `RelayType` directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelayType {
    /// `client` or `autoclient`: Teredo client.
    #[default]
    Client,
    /// `relay` or `cone`: relay with the cone flag (indirect bubbles only).
    Cone,
    /// `restricted`: relay without the cone flag (deprecated).
    Restricted,
}

impl RelayType {
    /// Parses a keyword, case-insensitively.
    pub fn from_keyword(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "client" | "autoclient" => Some(RelayType::Client),
            "relay" | "cone" => Some(RelayType::Cone),
            "restricted" => Some(RelayType::Restricted),
            _ => None,
        }
    }

    /// The canonical keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            RelayType::Client => "client",
            RelayType::Cone => "cone",
            RelayType::Restricted => "restricted",
        }
    }

    /// Whether this is client mode.
    pub fn is_client(self) -> bool {
        self == RelayType::Client
    }
}

impl fmt::Display for RelayType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The `SyslogFacility` directive.
/// `PortMapping` (our extension): when the client asks its NAT for a port
/// mapping (`docs/nat-traversal.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortMapping {
    /// When the NAT tests find a NAT that does not let in any host (not a
    /// full cone, not "no NAT").
    #[default]
    Auto,
    /// As soon as the client is qualified, whatever the NAT.
    Always,
    /// Never.
    Off,
}

impl PortMapping {
    /// Parses `auto`, `always` or `off` (any case).
    pub fn from_keyword(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Some(PortMapping::Auto),
            "always" => Some(PortMapping::Always),
            "off" => Some(PortMapping::Off),
            _ => None,
        }
    }

    /// The keyword, as written in files.
    pub fn keyword(self) -> &'static str {
        match self {
            PortMapping::Auto => "auto",
            PortMapping::Always => "always",
            PortMapping::Off => "off",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub enum Facility {
    Auth,
    Authpriv,
    Cron,
    #[default]
    Daemon,
    Ftp,
    Kern,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
    Lpr,
    Mail,
    News,
    Syslog,
    User,
    Uucp,
}

const FACILITIES: [(&str, Facility, libc::c_int); 20] = [
    ("auth", Facility::Auth, libc::LOG_AUTH),
    ("authpriv", Facility::Authpriv, libc::LOG_AUTHPRIV),
    ("cron", Facility::Cron, libc::LOG_CRON),
    ("daemon", Facility::Daemon, libc::LOG_DAEMON),
    ("ftp", Facility::Ftp, libc::LOG_FTP),
    ("kern", Facility::Kern, libc::LOG_KERN),
    ("local0", Facility::Local0, libc::LOG_LOCAL0),
    ("local1", Facility::Local1, libc::LOG_LOCAL1),
    ("local2", Facility::Local2, libc::LOG_LOCAL2),
    ("local3", Facility::Local3, libc::LOG_LOCAL3),
    ("local4", Facility::Local4, libc::LOG_LOCAL4),
    ("local5", Facility::Local5, libc::LOG_LOCAL5),
    ("local6", Facility::Local6, libc::LOG_LOCAL6),
    ("local7", Facility::Local7, libc::LOG_LOCAL7),
    ("lpr", Facility::Lpr, libc::LOG_LPR),
    ("mail", Facility::Mail, libc::LOG_MAIL),
    ("news", Facility::News, libc::LOG_NEWS),
    ("syslog", Facility::Syslog, libc::LOG_SYSLOG),
    ("user", Facility::User, libc::LOG_USER),
    ("uucp", Facility::Uucp, libc::LOG_UUCP),
];

impl Facility {
    /// Parses a keyword, case-insensitively.
    pub fn from_keyword(s: &str) -> Option<Self> {
        FACILITIES
            .iter()
            .find(|(k, _, _)| k.eq_ignore_ascii_case(s))
            .map(|&(_, f, _)| f)
    }

    /// The keyword, as accepted in configuration files.
    pub fn keyword(self) -> &'static str {
        FACILITIES
            .iter()
            .find(|(_, f, _)| *f == self)
            .map_or("daemon", |&(k, _, _)| k)
    }

    /// The `LOG_*` facility value for `openlog(3)`.
    pub fn to_libc(self) -> libc::c_int {
        FACILITIES
            .iter()
            .find(|(_, f, _)| *f == self)
            .map_or(libc::LOG_DAEMON, |&(_, _, v)| v)
    }
}

impl fmt::Display for Facility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The default Teredo prefix 2001:0::/32.
pub const DEFAULT_PREFIX: u32 = 0x2001_0000;

/// Whether `prefix` (the first 32 bits, network order as a number) is a
/// usable Teredo prefix: anything but multicast ff00::/8.
///
/// Deviation: miredo 1.2.6 tests the wrong byte on little-endian hosts.
pub fn is_valid_prefix(prefix: u32) -> bool {
    prefix >> 24 != 0xff
}

/// The prefix as an IPv6 address text (`2001::`).
pub fn prefix_to_string(prefix: u32) -> String {
    Ipv6Addr::from(u128::from(prefix) << 96).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoul_semantics() {
        assert_eq!(parse_c_u16("3545"), Ok(3545));
        assert_eq!(parse_c_u16("0x0DD9"), Ok(3545));
        assert_eq!(parse_c_u16("0X10"), Ok(16));
        assert_eq!(parse_c_u16("010"), Ok(8));
        assert_eq!(parse_c_u16("0"), Ok(0));
        assert_eq!(parse_c_u16("+7"), Ok(7));
        assert_eq!(parse_c_u16("-0"), Ok(0));
        assert_eq!(parse_c_u16("65535"), Ok(65535));
        assert!(parse_c_u16("65536").is_err());
        assert!(parse_c_u16("-1").is_err());
        assert!(parse_c_u16("08").is_err());
        assert!(parse_c_u16("0x").is_err());
        assert!(parse_c_u16("12ab").is_err());
        assert!(parse_c_u16("").is_err());
        assert!(parse_c_u16("+").is_err());
        assert!(parse_c_u16("99999999999999999999999").is_err());
        assert_eq!(parse_c_u16("1x"), Err("Invalid argument"));
        assert_eq!(parse_c_u16("70000"), Err("Numerical result out of range"));
    }

    #[test]
    fn keywords() {
        assert_eq!(
            RelayType::from_keyword("AutoClient"),
            Some(RelayType::Client)
        );
        assert_eq!(RelayType::from_keyword("RELAY"), Some(RelayType::Cone));
        assert_eq!(RelayType::from_keyword("cone"), Some(RelayType::Cone));
        assert_eq!(
            RelayType::from_keyword("Restricted"),
            Some(RelayType::Restricted)
        );
        assert_eq!(RelayType::from_keyword("server"), None);
        for (k, f, v) in FACILITIES {
            assert_eq!(Facility::from_keyword(&k.to_uppercase()), Some(f));
            assert_eq!(f.keyword(), k);
            assert_eq!(f.to_libc(), v);
        }
        assert_eq!(Facility::from_keyword("local8"), None);
    }

    #[test]
    fn prefixes() {
        assert!(is_valid_prefix(DEFAULT_PREFIX));
        assert!(is_valid_prefix(0x2001_00ff));
        assert!(!is_valid_prefix(0xff02_0000));
        assert_eq!(prefix_to_string(DEFAULT_PREFIX), "2001::");
        assert_eq!(prefix_to_string(0x3ffe_831f), "3ffe:831f::");
    }

    #[test]
    fn literal_resolver() {
        assert_eq!(
            LiteralResolver.resolve_ipv4("192.0.2.1"),
            Ok(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert!(LiteralResolver.resolve_ipv4("example.invalid").is_err());
        assert!(LiteralResolver.resolve_ipv6("2001::").is_ok());
    }

    #[test]
    fn system_resolver_literals_and_invalid() {
        assert_eq!(
            SystemResolver.resolve_ipv4("192.0.2.7"),
            Ok(Ipv4Addr::new(192, 0, 2, 7))
        );
        assert!(SystemResolver.resolve_ipv4("2001:db8::1").is_err());
        assert!(SystemResolver.resolve_ipv6("192.0.2.1").is_err());
        let e = SystemResolver.resolve_ipv4("no-such-host.invalid");
        assert!(e.is_err());
        assert!(!e.err().unwrap_or_default().contains("failed to lookup"));
    }
}
