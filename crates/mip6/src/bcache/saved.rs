//! The home agent's binding cache on disk (`NonVolatileBindingCache`,
//! `docs/compat.md`): a small versioned text format of our own, and the
//! checks a saved entry must pass before a restarted home agent rebuilds its
//! kernel state from it. No I/O: the driver reads and writes the file.
//!
//! The file, one record a line, fields separated by one space:
//!
//! ```text
//! mip6d-binding-cache 1
//! binding HOA COA HA FLAGS SEQ LIFETIME EXPIRES IFACE MNPS
//! ...
//! end COUNT CRC32
//! ```
//!
//! `FLAGS` are the accepted BU's flags as four hex digits (RFC 6275 §6.1.7:
//! H, L, K; RFC 3963 §4.1: R), `SEQ` its sequence number, `LIFETIME` the
//! granted lifetime in seconds, `EXPIRES` the absolute expiry in seconds
//! since the Unix epoch (wall clock: a monotonic instant means nothing after
//! a reboot), `IFACE` the home link's interface, `MNPS` a mobile router's
//! prefixes as `PREFIX/LEN` joined by commas, or `-`. `CRC32` (IEEE, eight
//! hex digits) covers every byte before the `end` line, and `COUNT` the
//! number of `binding` lines: a file cut short or edited is refused whole.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use super::{is_routable_unicast, AclDecision, BcEntry};
use crate::consts::BaStatus;
use crate::wire::mh::BuFlags;

/// The first word of the file.
pub const MAGIC: &str = "mip6d-binding-cache";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
/// The longest line read: a binding with a few hundred prefixes.
const MAX_LINE: usize = 16 * 1024;
/// What the whole seconds of the file and the clock may add to a lifetime.
const ROUNDING: Duration = Duration::from_secs(1);
/// The longest interface name (IFNAMSIZ less the NUL).
const MAX_IFNAME: usize = 15;

/// One binding as saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedBinding {
    /// Home address.
    pub home_address: Ipv6Addr,
    /// Care-of address.
    pub care_of_address: Ipv6Addr,
    /// The home agent address the BU was sent to.
    pub home_agent: Ipv6Addr,
    /// Flags of the accepted BU.
    pub flags: BuFlags,
    /// Last accepted sequence number (a replayed older BU is still refused).
    pub sequence: u16,
    /// The granted lifetime, seconds.
    pub lifetime_secs: u32,
    /// When the binding expires, seconds since the Unix epoch.
    pub expires_unix: u64,
    /// The home link's interface.
    pub interface: String,
    /// A mobile router's prefixes (RFC 3963 §6.2).
    pub mobile_network_prefixes: Vec<(Ipv6Addr, u8)>,
}

impl SavedBinding {
    /// `entry` as saved at `now` (= `now_unix` on the wall clock), on the
    /// home link `interface`.
    pub fn from_entry(entry: &BcEntry, now: Instant, now_unix: u64, interface: &str) -> Self {
        let remaining = entry.expires_at.saturating_duration_since(now);
        SavedBinding {
            home_address: entry.home_address,
            care_of_address: entry.care_of_address,
            home_agent: entry.home_agent,
            flags: entry.flags,
            sequence: entry.sequence,
            lifetime_secs: u32::try_from(entry.lifetime.as_secs()).unwrap_or(u32::MAX),
            // Rounded up: a binding is not cut short by the save.
            expires_unix: now_unix
                .saturating_add(remaining.as_secs())
                .saturating_add(u64::from(remaining.subsec_nanos() > 0)),
            interface: interface.to_owned(),
            mobile_network_prefixes: entry.mobile_network_prefixes.clone(),
        }
    }
}

/// Why a file was refused whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// The file is empty.
    Empty,
    /// The first line is not `mip6d-binding-cache VERSION`.
    NotACacheFile,
    /// A version this code does not read.
    Version(String),
    /// No `end` line: the file was cut short.
    Truncated,
    /// Line `line` (1-based) is malformed.
    Line {
        /// The line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The `end` line's count differs from the bindings read.
    Count {
        /// Said by the `end` line.
        said: usize,
        /// Read.
        read: usize,
    },
    /// The checksum differs: the file was changed or damaged.
    Checksum {
        /// Said by the `end` line.
        said: u32,
        /// Computed over the content.
        computed: u32,
    },
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Empty => write!(f, "empty file"),
            FileError::NotACacheFile => write!(f, "line 1: not a {MAGIC} file"),
            FileError::Version(v) => {
                write!(f, "line 1: version {v} not supported (reads {VERSION})")
            }
            FileError::Truncated => write!(f, "truncated: no end line"),
            FileError::Line { line, reason } => write!(f, "line {line}: {reason}"),
            FileError::Count { said, read } => {
                write!(f, "end line says {said} bindings, {read} read")
            }
            FileError::Checksum { said, computed } => {
                write!(
                    f,
                    "checksum mismatch: end line says {said:08x}, content has {computed:08x}"
                )
            }
        }
    }
}

impl std::error::Error for FileError {}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// The file's text for `bindings`.
pub fn encode(bindings: &[SavedBinding]) -> String {
    let mut s = format!("{MAGIC} {VERSION}\n");
    for b in bindings {
        s.push_str(&binding_line(b));
        s.push('\n');
    }
    let crc = crc32(s.as_bytes());
    s.push_str(&end_line(bindings.len(), crc));
    s.push('\n');
    s
}

/// One `binding` line, without its newline.
fn binding_line(b: &SavedBinding) -> String {
    let mnps = if b.mobile_network_prefixes.is_empty() {
        "-".to_owned()
    } else {
        let v: Vec<String> = b
            .mobile_network_prefixes
            .iter()
            .map(|(p, l)| format!("{p}/{l}"))
            .collect();
        v.join(",")
    };
    format!(
        "binding {} {} {} {:04x} {} {} {} {} {}",
        b.home_address,
        b.care_of_address,
        b.home_agent,
        b.flags.0,
        b.sequence,
        b.lifetime_secs,
        b.expires_unix,
        b.interface,
        mnps
    )
}

/// The `end` line, without its newline.
fn end_line(count: usize, crc: u32) -> String {
    format!("end {count} {crc:08x}")
}

/// Reads a file's bytes: every binding, or why the file is refused whole.
pub fn decode(data: &[u8]) -> Result<Vec<SavedBinding>, FileError> {
    if data.is_empty() {
        return Err(FileError::Empty);
    }
    let mut bindings = Vec::new();
    let mut offset = 0;
    let mut number = 0;
    while offset < data.len() {
        number += 1;
        let rest = &data[offset..];
        let Some(len) = rest.iter().position(|&b| b == b'\n') else {
            // A last line without its newline: written by nobody, cut short.
            return Err(if number == 1 {
                FileError::NotACacheFile
            } else {
                FileError::Truncated
            });
        };
        let line_at = offset;
        offset += len + 1;
        let bad = |reason: &str| FileError::Line {
            line: number,
            reason: reason.to_owned(),
        };
        if len > MAX_LINE {
            return Err(bad("line too long"));
        }
        let Ok(line) = std::str::from_utf8(&rest[..len]) else {
            return Err(if number == 1 {
                FileError::NotACacheFile
            } else {
                bad("not UTF-8")
            });
        };
        let fields: Vec<&str> = line.split(' ').collect();
        if number == 1 {
            match fields.as_slice() {
                [MAGIC, v] if *v == VERSION.to_string() => continue,
                [MAGIC, v] => return Err(FileError::Version((*v).to_owned())),
                _ => return Err(FileError::NotACacheFile),
            }
        }
        match fields.first() {
            Some(&"binding") => {
                let b = parse_binding(&fields[1..]).map_err(|r| bad(&r))?;
                // Only what `encode` writes: one spelling per file (no
                // upper-case hex, leading zeros or other address forms).
                if binding_line(&b) != line {
                    return Err(bad("not in the form mip6d writes"));
                }
                bindings.push(b);
            }
            Some(&"end") => {
                let [_, count, crc] = fields.as_slice() else {
                    return Err(bad("end line needs COUNT CRC32"));
                };
                let said: usize = count.parse().map_err(|_| bad("bad count"))?;
                if crc.len() != 8 {
                    return Err(bad("bad checksum"));
                }
                let said_crc = u32::from_str_radix(crc, 16).map_err(|_| bad("bad checksum"))?;
                if end_line(said, said_crc) != line {
                    return Err(bad("not in the form mip6d writes"));
                }
                if offset != data.len() {
                    return Err(FileError::Line {
                        line: number + 1,
                        reason: "content after the end line".to_owned(),
                    });
                }
                let computed = crc32(&data[..line_at]);
                if computed != said_crc {
                    return Err(FileError::Checksum {
                        said: said_crc,
                        computed,
                    });
                }
                if said != bindings.len() {
                    return Err(FileError::Count {
                        said,
                        read: bindings.len(),
                    });
                }
                return Ok(bindings);
            }
            _ => return Err(bad("neither a binding nor the end line")),
        }
    }
    Err(FileError::Truncated)
}

fn parse_binding(f: &[&str]) -> Result<SavedBinding, String> {
    let [hoa, coa, ha, flags, seq, lifetime, expires, iface, mnps] = f else {
        return Err(format!("binding needs 9 fields, has {}", f.len()));
    };
    let addr = |s: &str, what: &str| {
        s.parse::<Ipv6Addr>()
            .map_err(|_| format!("bad {what} {s:?}"))
    };
    if flags.len() != 4 {
        return Err(format!("bad flags {flags:?}"));
    }
    let flags = u16::from_str_radix(flags, 16).map_err(|_| format!("bad flags {flags:?}"))?;
    if iface.is_empty() || iface.len() > MAX_IFNAME || iface.contains('/') {
        return Err(format!("bad interface name {iface:?}"));
    }
    let mobile_network_prefixes = if *mnps == "-" {
        Vec::new()
    } else {
        mnps.split(',')
            .map(|p| {
                let (a, l) = p
                    .split_once('/')
                    .ok_or_else(|| format!("bad prefix {p:?}"))?;
                let len: u8 = l.parse().map_err(|_| format!("bad prefix {p:?}"))?;
                if len > 128 {
                    return Err(format!("bad prefix {p:?}"));
                }
                Ok((addr(a, "prefix")?, len))
            })
            .collect::<Result<Vec<_>, String>>()?
    };
    Ok(SavedBinding {
        home_address: addr(hoa, "home address")?,
        care_of_address: addr(coa, "care-of address")?,
        home_agent: addr(ha, "home agent address")?,
        flags: BuFlags(flags),
        sequence: seq.parse().map_err(|_| format!("bad sequence {seq:?}"))?,
        lifetime_secs: lifetime
            .parse()
            .map_err(|_| format!("bad lifetime {lifetime:?}"))?,
        expires_unix: expires
            .parse()
            .map_err(|_| format!("bad expiry {expires:?}"))?,
        interface: (*iface).to_owned(),
        mobile_network_prefixes,
    })
}

/// What the home agent's configuration and kernel say about one saved
/// binding, gathered by the caller: the same facts a Binding Update for it
/// would be checked against (RFC 6275 §10.3.1).
#[derive(Debug, Clone, Copy)]
pub struct RestoreContext<'a> {
    /// The wall clock now, seconds since the Unix epoch.
    pub now_unix: u64,
    /// The entry's interface is one the home agent serves.
    pub interface_served: bool,
    /// The global prefixes (address, length) of the entry's interface:
    /// the home prefixes.
    pub home_prefixes: &'a [(Ipv6Addr, u8)],
    /// The entry's home agent address is still an address of that interface.
    pub home_agent_present: bool,
    /// `HaServedPrefix` covers the home address (a mobile router's).
    pub served_prefix_covers_hoa: bool,
    /// `HaAcceptMobRtr`.
    pub accept_mobile_router: bool,
    /// The ACL's answer for the home address.
    pub acl: AclDecision<'a>,
    /// `UseMnHaIPsec`.
    pub ipsec_required: bool,
    /// An IPsec policy protects the (home agent, home address) pair.
    pub ipsec_protected: bool,
    /// `HaMaxBindingLife`.
    pub max_binding_life: Duration,
    /// The cache already holds `HaMaxBindings` entries.
    pub cache_full: bool,
    /// The cache already holds a binding for the home address or for the
    /// care-of address (a duplicate line, or a circular binding).
    pub conflicts: bool,
}

/// Why a saved binding is not restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// It expired while the home agent was down.
    Expired,
    /// It expires later than `HaMaxBindingLife` from now allows.
    LifetimeAboveMaximum,
    /// Not a home registration (no H flag).
    NotHomeRegistration,
    /// The interface is not one the home agent serves.
    InterfaceNotServed,
    /// The home agent address is no longer on that interface.
    HomeAgentAddressGone,
    /// The home address is not routable unicast.
    HomeAddressNotRoutable,
    /// The home address is on no home prefix of the interface.
    NotOnHomePrefix,
    /// The care-of address is not routable unicast.
    CareOfNotRoutable,
    /// The care-of address is on a home prefix.
    CareOfOnHomePrefix,
    /// A mobile router, and `HaAcceptMobRtr` is off.
    MobileRouterNotAccepted,
    /// The ACL refuses the home address, with this status.
    Acl(BaStatus),
    /// A prefix the ACL does not list for the home address.
    PrefixNotAuthorized,
    /// `UseMnHaIPsec` and no IPsec policy protects the pair.
    NoIpsecPolicy,
    /// `HaMaxBindings` reached.
    CacheFull,
    /// Already bound (a duplicate line), or a circular binding.
    Conflict,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            SkipReason::Expired => "expired",
            SkipReason::LifetimeAboveMaximum => "lifetime above HaMaxBindingLife",
            SkipReason::NotHomeRegistration => "not a home registration",
            SkipReason::InterfaceNotServed => "interface not served",
            SkipReason::HomeAgentAddressGone => "home agent address no longer on the interface",
            SkipReason::HomeAddressNotRoutable => "home address not routable unicast",
            SkipReason::NotOnHomePrefix => "home address on no home prefix",
            SkipReason::CareOfNotRoutable => "care-of address not routable unicast",
            SkipReason::CareOfOnHomePrefix => "care-of address on a home prefix",
            SkipReason::MobileRouterNotAccepted => "mobile router and HaAcceptMobRtr disabled",
            SkipReason::Acl(s) => return write!(f, "refused by the binding ACL (status {})", s.0),
            SkipReason::PrefixNotAuthorized => "mobile network prefix not in the binding ACL",
            SkipReason::NoIpsecPolicy => "UseMnHaIPsec and no IPsec policy protects it",
            SkipReason::CacheFull => "HaMaxBindings reached",
            SkipReason::Conflict => "home or care-of address already bound",
        };
        f.write_str(s)
    }
}

fn on_prefix(addr: Ipv6Addr, prefix: Ipv6Addr, len: u8) -> bool {
    let len = u32::from(len.min(128));
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    u128::from(addr) & mask == u128::from(prefix) & mask
}

/// Whether `entry` may be restored: the remaining lifetime if so. The
/// checks are those a Binding Update creating it would pass now, plus its
/// expiry; a file is an input like a packet.
pub fn check_restore(entry: &SavedBinding, ctx: &RestoreContext) -> Result<Duration, SkipReason> {
    if entry.expires_unix <= ctx.now_unix {
        return Err(SkipReason::Expired);
    }
    let remaining = Duration::from_secs(entry.expires_unix - ctx.now_unix);
    // The saved expiry is rounded up to the second and `now_unix` down:
    // a binding saved and read within the same second may seem one second
    // longer than it was granted.
    if remaining > ctx.max_binding_life + ROUNDING {
        return Err(SkipReason::LifetimeAboveMaximum);
    }
    let remaining = remaining.min(ctx.max_binding_life);
    if !entry.flags.contains(BuFlags::HOME) {
        return Err(SkipReason::NotHomeRegistration);
    }
    if ctx.ipsec_required && !ctx.ipsec_protected {
        return Err(SkipReason::NoIpsecPolicy);
    }
    if !is_routable_unicast(&entry.home_address) {
        return Err(SkipReason::HomeAddressNotRoutable);
    }
    if !is_routable_unicast(&entry.care_of_address) {
        return Err(SkipReason::CareOfNotRoutable);
    }
    if !ctx.interface_served {
        return Err(SkipReason::InterfaceNotServed);
    }
    if !ctx.home_agent_present {
        return Err(SkipReason::HomeAgentAddressGone);
    }
    let is_mr = entry.flags.contains(BuFlags::MOBILE_ROUTER);
    let on_home = |a: Ipv6Addr| ctx.home_prefixes.iter().any(|&(p, l)| on_prefix(a, p, l));
    let served_router = is_mr && ctx.served_prefix_covers_hoa;
    if !(on_home(entry.home_address) || served_router) {
        return Err(SkipReason::NotOnHomePrefix);
    }
    if on_home(entry.care_of_address) {
        return Err(SkipReason::CareOfOnHomePrefix);
    }
    if is_mr && !ctx.accept_mobile_router {
        return Err(SkipReason::MobileRouterNotAccepted);
    }
    if ctx.acl.status != BaStatus::ACCEPTED {
        return Err(SkipReason::Acl(ctx.acl.status));
    }
    if !entry.mobile_network_prefixes.is_empty() {
        let allowed = ctx.acl.prefixes.unwrap_or(&[]);
        if !is_mr
            || !entry
                .mobile_network_prefixes
                .iter()
                .all(|p| allowed.contains(p))
        {
            return Err(SkipReason::PrefixNotAuthorized);
        }
    }
    if ctx.conflicts {
        return Err(SkipReason::Conflict);
    }
    if ctx.cache_full {
        return Err(SkipReason::CacheFull);
    }
    Ok(remaining)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "saved_tests.rs"]
mod tests;
