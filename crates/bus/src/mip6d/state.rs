//! What mip6d publishes: the plain Rust state the daemon fills in, and the records that
//! travel on the bus (also what clients get back).

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zbus::zvariant::{OwnedValue, Type, Value};

/// The node type mip6d runs as (`NodeConfig` / `IfType` in mip6d.conf, `-C -M -H`
/// on its command line). It decides which interfaces the object implements:
/// `Correspondent` always (UMIP runs the correspondent node part in every role),
/// plus `MobileNode` or `HomeAgent`. The serde names are the mip6d.conf keywords.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// `NodeConfig CN`: what every node is, and the default.
    #[default]
    #[serde(rename = "CN")]
    CorrespondentNode,
    /// `NodeConfig MN`.
    #[serde(rename = "MN")]
    MobileNode,
    /// `NodeConfig HA`.
    #[serde(rename = "HA")]
    HomeAgent,
}

impl Role {
    /// `correspondent-node`, `mobile-node` or `home-agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CorrespondentNode => "correspondent-node",
            Role::MobileNode => "mobile-node",
            Role::HomeAgent => "home-agent",
        }
    }

    /// The keyword in `mip6d.conf`.
    pub fn keyword(self) -> &'static str {
        match self {
            Role::CorrespondentNode => "CN",
            Role::MobileNode => "MN",
            Role::HomeAgent => "HA",
        }
    }

    /// UMIP's `MIP6_ENTITY_*` number, as `--show-config` prints it.
    pub fn entity_number(self) -> u32 {
        match self {
            Role::CorrespondentNode => 0,
            Role::MobileNode => 1,
            Role::HomeAgent => 2,
        }
    }

    /// The name in the start/stop syslog lines.
    pub fn long_name(self) -> &'static str {
        match self {
            Role::CorrespondentNode => "Correspondent Node",
            Role::MobileNode => "Mobile Node",
            Role::HomeAgent => "Home Agent",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a home registration stands, as the `RegistrationState` property and the
/// `state` field of binding update list entries spell it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RegistrationState {
    /// Nothing to do yet: no care-of address and not known to be at home.
    #[default]
    Idle,
    /// On the home link: no binding needed.
    Home,
    /// A Binding Update is outstanding and no binding exists.
    Registering,
    /// The home agent acknowledged a binding (a refresh may be outstanding).
    Registered,
    /// A deregistration (lifetime 0) Binding Update is outstanding.
    Deregistering,
    /// The home agent refused the binding, or retransmissions gave up.
    Failed,
}

impl RegistrationState {
    /// `idle`, `home`, `registering`, `registered`, `deregistering` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationState::Idle => "idle",
            RegistrationState::Home => "home",
            RegistrationState::Registering => "registering",
            RegistrationState::Registered => "registered",
            RegistrationState::Deregistering => "deregistering",
            RegistrationState::Failed => "failed",
        }
    }

    /// Parses the property value.
    pub fn parse(s: &str) -> Option<RegistrationState> {
        [
            RegistrationState::Idle,
            RegistrationState::Home,
            RegistrationState::Registering,
            RegistrationState::Registered,
            RegistrationState::Deregistering,
            RegistrationState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

impl fmt::Display for RegistrationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a binding cache entry, as UMIP's `bc` console command names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BindingState {
    /// A home registration the home agent serves.
    #[default]
    Registered,
    /// A route-optimization binding at a correspondent node.
    Cached,
    /// Duplicate address detection for the home address is still running.
    Dad,
    /// Deregistered or expired, being torn down.
    Dying,
}

impl BindingState {
    /// `registered`, `cached`, `dad` or `dying`.
    pub fn as_str(self) -> &'static str {
        match self {
            BindingState::Registered => "registered",
            BindingState::Cached => "cached",
            BindingState::Dad => "dad",
            BindingState::Dying => "dying",
        }
    }
}

impl fmt::Display for BindingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Binding Update flag letters in wire order (RFC 6275 §6.1.7: A H L K; RFC 5380 M;
/// RFC 3963 R; RFC 5213 P), each with its bit in the 16-bit flags word.
const FLAG_LETTERS: [(u16, char); 7] = [
    (0x8000, 'A'),
    (0x4000, 'H'),
    (0x2000, 'L'),
    (0x1000, 'K'),
    (0x0800, 'M'),
    (0x0400, 'R'),
    (0x0200, 'P'),
];

/// The letters of the flags set in a Binding Update flags word (the 16 bits after the
/// sequence number, `mip6::wire::BuFlags.0`), e.g. `0xc000` → `"AH"`.
pub fn bu_flag_letters(flags: u16) -> String {
    FLAG_LETTERS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|&(_, letter)| letter)
        .collect()
}

fn addr_or_empty(addr: Option<Ipv6Addr>) -> String {
    addr.map(|a| a.to_string()).unwrap_or_default()
}

/// Whole seconds, saturating at `u32::MAX` (lifetimes are at most 262,140 s).
fn secs_u32(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

fn remaining_secs(expires: Option<Instant>, now: Instant) -> u32 {
    expires.map_or(0, |at| secs_u32(at.saturating_duration_since(now)))
}

/// One binding update list entry, as the mobile node's core knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulEntryInfo {
    /// The node the binding is with: the home agent, or a correspondent node.
    pub peer: Ipv6Addr,
    /// The home address registered.
    pub home_address: Ipv6Addr,
    /// The care-of address of the last Binding Update, if one was sent.
    pub care_of_address: Option<Ipv6Addr>,
    /// The lifetime granted (or, while registering, requested).
    pub lifetime: Duration,
    /// When the binding expires; `None` while none exists. The published `remaining`
    /// is computed from it whenever the value is read, so it needs no updates.
    pub expires: Option<Instant>,
    /// The sequence number of the last Binding Update sent.
    pub sequence: u16,
    /// The Binding Update flags word (`mip6::wire::BuFlags.0`).
    pub flags: u16,
    /// Where this registration stands.
    pub state: RegistrationState,
    /// The status of the last Binding Acknowledgement (0–255), if any arrived.
    pub last_status: Option<u8>,
}

impl BulEntryInfo {
    /// The bus form, `remaining` counted from `now`.
    pub fn record(&self, now: Instant) -> BulRecord {
        BulRecord {
            peer: self.peer.to_string(),
            home_address: self.home_address.to_string(),
            care_of_address: addr_or_empty(self.care_of_address),
            lifetime: secs_u32(self.lifetime),
            remaining: remaining_secs(self.expires, now),
            sequence: self.sequence,
            flags: bu_flag_letters(self.flags),
            state: self.state.as_str().to_owned(),
            last_status: self.last_status.map_or(-1, i16::from),
        }
    }
}

/// One binding cache entry (home agent or correspondent node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingInfo {
    /// The mobile node's home address.
    pub home_address: Ipv6Addr,
    /// Its registered care-of address.
    pub care_of_address: Ipv6Addr,
    /// Our address the Binding Update was sent to, if known.
    pub local_address: Option<Ipv6Addr>,
    /// The lifetime granted.
    pub lifetime: Duration,
    /// When the binding expires (`remaining` is computed from it when read).
    pub expires: Instant,
    /// The sequence number of the accepted Binding Update.
    pub sequence: u16,
    /// The Binding Update flags word (`mip6::wire::BuFlags.0`).
    pub flags: u16,
    /// The entry's state.
    pub state: BindingState,
}

impl BindingInfo {
    /// The bus form, `remaining` counted from `now`.
    pub fn record(&self, now: Instant) -> BindingRecord {
        BindingRecord {
            home_address: self.home_address.to_string(),
            care_of_address: self.care_of_address.to_string(),
            local_address: addr_or_empty(self.local_address),
            lifetime: secs_u32(self.lifetime),
            remaining: remaining_secs(Some(self.expires), now),
            sequence: self.sequence,
            flags: bu_flag_letters(self.flags),
            state: self.state.as_str().to_owned(),
        }
    }
}

/// Everything `org.umip_rs.Mip6d1.MobileNode` publishes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MobileNodeState {
    /// `HomeAddress` (the first home address when several are configured).
    pub home_address: Option<Ipv6Addr>,
    /// `HomeAgent`: the home agent's address.
    pub home_agent: Option<Ipv6Addr>,
    /// `CareOfAddress`: the care-of address in use, `None` at home or when none.
    pub care_of_address: Option<Ipv6Addr>,
    /// `CareOfInterface`: the interface the care-of address is on, or "".
    pub care_of_interface: String,
    /// `RegistrationState`: the home registration's state.
    pub registration: RegistrationState,
    /// `BindingUpdateList`.
    pub binding_update_list: Vec<BulEntryInfo>,
}

/// The home agent's Binding Update counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuCounters {
    /// Binding Updates received (accepted, rejected or dropped).
    pub received: u64,
    /// Accepted: a Binding Acknowledgement with a status below 128 was sent.
    pub accepted: u64,
    /// Rejected, by the status (≥ 128) of the Binding Acknowledgement sent.
    pub rejected: BTreeMap<u8, u64>,
    /// Dropped without any Binding Acknowledgement (malformed, no HAO, bad checksum…).
    pub dropped: u64,
}

impl BuCounters {
    /// All rejections.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Everything `org.umip_rs.Mip6d1.HomeAgent` publishes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HomeAgentState {
    /// `BindingCache`: the home registrations served.
    pub binding_cache: Vec<BindingInfo>,
    /// `BindingUpdatesReceived`, `…Accepted`, `…Rejected`, `…Dropped`, `RejectedByStatus`.
    pub counters: BuCounters,
}

/// A binding update list entry on the bus: D-Bus signature `(sssuuqssn)`.
///
/// Addresses are strings ("" when unknown), `lifetime` and `remaining` whole seconds,
/// `flags` letters from `AHLKMRP`, `last_status` the last Binding Acknowledgement status
/// or -1 when none arrived yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type, Value, OwnedValue)]
pub struct BulRecord {
    /// The home agent or correspondent node.
    pub peer: String,
    /// The home address.
    pub home_address: String,
    /// The care-of address of the last Binding Update, or "".
    pub care_of_address: String,
    /// Lifetime granted (or requested), seconds.
    pub lifetime: u32,
    /// Seconds left when the value was read.
    pub remaining: u32,
    /// Sequence number of the last Binding Update.
    pub sequence: u16,
    /// Flag letters.
    pub flags: String,
    /// A [`RegistrationState`] name.
    pub state: String,
    /// Last Binding Acknowledgement status, -1 if none.
    pub last_status: i16,
}

/// A binding cache entry on the bus: D-Bus signature `(sssuuqss)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type, Value, OwnedValue)]
pub struct BindingRecord {
    /// The home address.
    pub home_address: String,
    /// The care-of address.
    pub care_of_address: String,
    /// Our address the Binding Update was sent to, or "".
    pub local_address: String,
    /// Lifetime granted, seconds.
    pub lifetime: u32,
    /// Seconds left when the value was read.
    pub remaining: u32,
    /// Sequence number of the accepted Binding Update.
    pub sequence: u16,
    /// Flag letters.
    pub flags: String,
    /// A [`BindingState`] name.
    pub state: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_letters() {
        assert_eq!(bu_flag_letters(0), "");
        assert_eq!(bu_flag_letters(0xc000), "AH");
        assert_eq!(bu_flag_letters(0xf000), "AHLK");
        assert_eq!(bu_flag_letters(0xc400), "AHR");
        assert_eq!(bu_flag_letters(0xffff), "AHLKMRP");
    }

    #[test]
    fn registration_state_names_round_trip() {
        for name in [
            "idle",
            "home",
            "registering",
            "registered",
            "deregistering",
            "failed",
        ] {
            let state = RegistrationState::parse(name).expect("known");
            assert_eq!(state.as_str(), name);
        }
        assert_eq!(RegistrationState::parse("up"), None);
    }

    #[test]
    fn records_count_remaining_from_now() {
        let now = Instant::now();
        let hoa: Ipv6Addr = "2001:db8:1::100".parse().expect("addr");
        let entry = BulEntryInfo {
            peer: "2001:db8:1::1".parse().expect("addr"),
            home_address: hoa,
            care_of_address: None,
            lifetime: Duration::from_secs(420),
            expires: Some(now + Duration::from_millis(300_900)),
            sequence: 7,
            flags: 0xc000,
            state: RegistrationState::Registered,
            last_status: Some(0),
        };
        let rec = entry.record(now);
        assert_eq!(rec.care_of_address, "");
        assert_eq!((rec.lifetime, rec.remaining), (420, 300));
        assert_eq!(rec.flags, "AH");
        assert_eq!(rec.last_status, 0);
        let later = entry.record(now + Duration::from_secs(1000));
        assert_eq!(later.remaining, 0, "expired entries saturate at zero");
        let none = BulEntryInfo {
            expires: None,
            last_status: None,
            ..entry
        };
        assert_eq!(none.record(now).remaining, 0);
        assert_eq!(none.record(now).last_status, -1);
        assert_eq!(<BulRecord as Type>::SIGNATURE.to_string(), "(sssuuqssn)");
        assert_eq!(<BindingRecord as Type>::SIGNATURE.to_string(), "(sssuuqss)");
    }
}
