//! The typed configuration of mip6d; each field's keyword, range, default
//! and reload effect are declared in [`directives`](super::directives).
//!
//! One model for both syntaxes: the legacy `mip6d.conf` parser fills it
//! statement by statement, and the TOML form is this struct through serde
//! (keys are the keywords in snake_case). Defaults are UMIP 1.0's
//! `conf_default`, declared with each directive.

use std::net::Ipv6Addr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

pub use super::ipsec::{IpsecPolicy, IpsecPolicySet, IpsecPolicyType, IpsecProtocol};
pub use super::prefix::Prefix;

/// Largest binding lifetime a BU can carry: 0xffff units of 4 s (RFC 6275 §6.1.7).
pub const MAX_BINDING_LIFETIME: u32 = 262_140;
/// Default `HaMaxBindings` (`mip6::bcache::DEFAULT_MAX_BINDINGS`).
pub const DEFAULT_HA_MAX_BINDINGS: u32 = 10_000;
/// MAX_RR_BINDING_LIFETIME (RFC 6275 §12): cap of bindings at correspondents.
pub const MAX_RR_BINDING_LIFETIME: u32 = 420;
/// `MnIfPreference` of listed interfaces without one, and of every unlisted
/// interface under `MnUseAllInterfaces` (the least preferred usable value).
pub const DEFAULT_MN_IF_PREFERENCE: u8 = 10;
/// BA status "Administratively prohibited", what `deny` means in ACLs.
pub const BA_STATUS_PROHIBITED: u8 = 129;
/// `CnMaxBindings` default (docs/compat.md).
pub const DEFAULT_CN_MAX_BINDINGS: u32 = mip6::cn::DEFAULT_MAX_BINDINGS as u32;

/// `NodeConfig` / `IfType` / `-C -H -M`: one type with what mip6d publishes.
pub use bus::Role;

/// `Interface "name" { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    /// Interface name, cut to 15 bytes.
    pub name: String,
    /// `IfType`: restricts the interface to one role; `None` follows the node's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_type: Option<Role>,
    /// `MnIfPreference` 0..=10: 1 is the most preferred, 0 never used.
    #[serde(default = "default_pref")]
    pub mn_if_preference: u8,
    /// `Tunnel`: an externally configured interface (no RS/RA/DAD/sysctls; `docs/compat.md`).
    #[serde(default)]
    pub tunnel: bool,
    /// Whether the HA serves this interface. UMIP decides this while parsing,
    /// with the `NodeConfig` seen so far (statement order matters, `docs/protocol-notes.md`); the legacy
    /// parser records that decision here. `None` (TOML without the key) is
    /// resolved at load time with the file's `node_config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha_interface: Option<bool>,
}

fn default_pref() -> u8 {
    DEFAULT_MN_IF_PREFERENCE
}

impl InterfaceConfig {
    /// An entry with UMIP's per-interface defaults.
    pub fn new(name: &str) -> Self {
        InterfaceConfig {
            name: truncate_if_name(name),
            if_type: None,
            mn_if_preference: DEFAULT_MN_IF_PREFERENCE,
            tunnel: false,
            ha_interface: None,
        }
    }

    /// Whether a node running as `role` uses this interface in that role
    /// (UMIP's `is_if_mn`/`is_if_ha`/`is_if_cn`).
    pub fn serves(&self, role: Role) -> bool {
        self.if_type.is_none_or(|t| t == role)
    }
}

/// Cuts an interface name to IFNAMSIZ - 1 bytes (on a character boundary).
pub fn truncate_if_name(name: &str) -> String {
    let mut end = name.len().min(wire6::IF_NAME_MAX);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

/// `MnRoPolicy [CN] BOOL` inside `MnHomeLink`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoPolicy {
    /// The correspondent; `::` (or omitted) matches every correspondent.
    #[serde(default = "unspecified")]
    pub cn: Ipv6Addr,
    /// Whether route optimisation is used with it.
    pub route_optimization: bool,
}

fn unspecified() -> Ipv6Addr {
    Ipv6Addr::UNSPECIFIED
}

/// `MnHomeLink "if" { ... }`: one home address of the MN (or MR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeLink {
    /// The home link's interface (must exist when the file is read).
    pub interface: String,
    /// `HomeAgentAddress`; `::` means "find it with DHAAD".
    #[serde(default = "unspecified")]
    pub home_agent_address: Ipv6Addr,
    /// `HomeAddress ADDR/PLEN` (mandatory).
    pub home_address: Prefix,
    /// The `( MNP, ... )` list after `HomeAddress`: the MR's mobile network prefixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mobile_network_prefixes: Vec<Prefix>,
    /// `HomePrefix` (undocumented; stored masked). `None`: the home address masked to its length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_prefix: Option<Prefix>,
    /// `IsMobRtr`: a NEMO mobile router (R flag in BUs).
    #[serde(default)]
    pub is_mob_rtr: bool,
    /// `UseAltCoa`: parsed, not used (the home BU always carries the Alternate CoA option).
    #[serde(default)]
    pub use_alt_coa: bool,
    /// `MnRoPolicy` entries in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mn_ro_policy: Vec<RoPolicy>,
}

impl HomeLink {
    /// The home prefix used for home-link detection and the DHAAD anycast address.
    pub fn effective_home_prefix(&self) -> Prefix {
        self.home_prefix.unwrap_or(self.home_address).masked()
    }
}

/// One entry of `CnBindingPolicySet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnBindingPolicy {
    /// The peer's home address.
    pub peer: Ipv6Addr,
    /// Our address; `::` matches any.
    #[serde(default = "unspecified")]
    pub local: Ipv6Addr,
    /// Accept (true) or refuse bindings from that peer.
    pub allow: bool,
}

/// `BindingAclPolicy ADDR [(MNP, ...)] BOOL|NUMBER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingAclEntry {
    /// The MN's home address, matched as a /128.
    pub home_address: Ipv6Addr,
    /// Mobile network prefixes the MR may register.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mobile_network_prefixes: Vec<Prefix>,
    /// BA status to answer: 0 accepts (`allow`), 129 is `deny`, any other number as given.
    #[serde(deserialize_with = "acl_status")]
    pub status: u8,
}

/// Accepts a BA status as a number or as `true`/`false` (0/129), like the legacy syntax.
fn acl_status<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Acl {
        Bool(bool),
        Num(u8),
    }
    Ok(match Acl::deserialize(d)? {
        Acl::Bool(true) => 0,
        Acl::Bool(false) => BA_STATUS_PROHIBITED,
        Acl::Num(n) => n,
    })
}

/// `UseMovementModule internal|"path"`: accepted and ignored, as in UMIP.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MovementModule {
    /// The built-in movement detection.
    #[default]
    Internal,
    /// A path (UMIP ignores it too).
    Path(String),
}

/// `HaTunnelDatapath shared|per-binding` (ours): how the home agent
/// tunnels to its mobile nodes (`docs/home-agent-datapath.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HaTunnelDatapath {
    /// One external-mode ip6tnl device; a binding is an encapsulating
    /// route (used only where the kernel has it).
    #[default]
    Shared,
    /// An ip6tnl device per binding, as UMIP.
    PerBinding,
}

impl HaTunnelDatapath {
    /// The keyword's value.
    pub fn keyword(self) -> &'static str {
        match self {
            HaTunnelDatapath::Shared => "shared",
            HaTunnelDatapath::PerBinding => "per-binding",
        }
    }
}

/// The whole configuration. Field names are the keywords in
/// snake_case; durations (`DECIMAL` keywords) are in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `NodeConfig` (default CN).
    pub node_config: Role,
    /// `DebugLevel`: 0 daemonizes; > 0 stays in the foreground unless a log file is set.
    pub debug_level: u32,
    /// `DebugLogFile` (appended to; used only when the level is > 0). `None`: stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug_log_file: Option<String>,
    /// `DoRouteOptimizationCN`: accept bindings from MNs by default.
    pub do_route_optimization_cn: bool,
    /// `CnMaxBindings` (our addition): route optimisation bindings and
    /// nonce-block entries the correspondent node holds; a new binding past
    /// it gets BA status 130.
    pub cn_max_bindings: u32,
    /// `NonVolatileBindingCache`: the home agent keeps its binding cache on
    /// disk and restores it at start (`docs/compat.md`).
    pub non_volatile_binding_cache: bool,
    /// `UseMnHaIPsec`: protect MN–HA signalling with IPsec (default enabled).
    pub use_mn_ha_ipsec: bool,
    /// `KeyMngMobCapability`: K flag in BU/BA.
    pub key_mng_mob_capability: bool,
    /// `UseMovementModule`.
    pub use_movement_module: MovementModule,
    /// `HaMaxBindingLife` (s, ≤ 262140).
    pub ha_max_binding_life: u32,
    /// `HaMaxBindings` (ours, not UMIP's): the home agent's cap on bindings;
    /// a new one past it is refused with BA status 130 (`docs/compat.md`).
    pub ha_max_bindings: u32,
    /// `HaTunnelDatapath` (ours): the home agent's tunnel datapath.
    pub ha_tunnel_datapath: HaTunnelDatapath,
    /// `SendMobPfxAdvs`: answer mobile prefix solicitations.
    pub send_mob_pfx_advs: bool,
    /// `SendUnsolMobPfxAdvs`: unsolicited mobile prefix advertisements.
    pub send_unsol_mob_pfx_advs: bool,
    /// `MinMobPfxAdvInterval` (s).
    pub min_mob_pfx_adv_interval: u32,
    /// `MaxMobPfxAdvInterval` (s).
    pub max_mob_pfx_adv_interval: u32,
    /// `HaAcceptMobRtr`: accept NEMO mobile routers.
    pub ha_accept_mob_rtr: bool,
    /// `HaServedPrefix` entries (accumulate).
    pub ha_served_prefix: Vec<Prefix>,
    /// `DefaultBindingAclPolicy`: BA status for MNs without an ACL entry (0 = allow).
    #[serde(deserialize_with = "acl_status")]
    pub default_binding_acl_policy: u8,
    /// `MnMaxHaBindingLife` (s, ≤ 262140).
    pub mn_max_ha_binding_life: u32,
    /// `MnMaxCnBindingLife` (s, ≤ 420).
    pub mn_max_cn_binding_life: u32,
    /// `MnDiscardHaParamProb`.
    pub mn_discard_ha_param_prob: bool,
    /// `MnResetDhaadAtHome`.
    pub mn_reset_dhaad_at_home: bool,
    /// `MnFlushAllAtHome`.
    pub mn_flush_all_at_home: bool,
    /// `MnMaxCnConsecutiveResends` (0: retry forever).
    pub mn_max_cn_consecutive_resends: u32,
    /// `MnMaxHaConsecutiveResends` (only for an HA found by DHAAD).
    pub mn_max_ha_consecutive_resends: u32,
    /// `SendMobPfxSols`.
    pub send_mob_pfx_sols: bool,
    /// `DoRouteOptimizationMN`.
    pub do_route_optimization_mn: bool,
    /// `MnUseAllInterfaces`: also use unlisted interfaces, at preference 10.
    pub mn_use_all_interfaces: bool,
    /// `MobRtrUseExplicitMode`.
    pub mob_rtr_use_explicit_mode: bool,
    /// `UseCnBuAck`: A flag in BUs to correspondents.
    pub use_cn_bu_ack: bool,
    /// `InterfaceInitialInitDelay` (s): movement events are held back this long at start.
    pub interface_initial_init_delay: f64,
    /// `MnRouterProbes`.
    pub mn_router_probes: u32,
    /// `MnRouterProbeTimeout` (s; only values > 0 are taken from the file).
    pub mn_router_probe_timeout: f64,
    /// `InitialBindackTimeoutFirstReg` (s).
    pub initial_bindack_timeout_first_reg: f64,
    /// `InitialBindackTimeoutReReg` (s).
    pub initial_bindack_timeout_re_reg: f64,
    /// `InitialSolicitTimer` (s): first MPS retransmission timer.
    pub initial_solicit_timer: f64,
    /// `OptimisticHandoff`.
    pub optimistic_handoff: bool,
    /// `NoHomeReturn`.
    pub no_home_return: bool,
    /// `CnBindingPolicySet` entries (all sets, in order).
    pub cn_binding_policy: Vec<CnBindingPolicy>,
    /// `BindingAclPolicy` entries.
    pub binding_acl_policy: Vec<BindingAclEntry>,
    /// `Interface` entries in file order (a name may repeat; the first wins).
    pub interface: Vec<InterfaceConfig>,
    /// `MnHomeLink` blocks.
    pub mn_home_link: Vec<HomeLink>,
    /// `IPsecPolicySet` blocks.
    pub ipsec_policy_set: Vec<IpsecPolicySet>,
}

impl Config {
    /// The first `Interface` entry with this name (UMIP's lookup order).
    pub fn interface(&self, name: &str) -> Option<&InterfaceConfig> {
        self.interface.iter().find(|i| i.name == name)
    }

    /// Interfaces registered as HA interfaces. Empty means the HA serves
    /// every interface except the loopback (`homeagents_ifall_init`).
    pub fn ha_interfaces(&self) -> impl Iterator<Item = &InterfaceConfig> {
        self.interface
            .iter()
            .filter(|i| i.ha_interface.unwrap_or(false))
    }

    /// `MnIfPreference` the MN gives `name`: the listed value, 10 for an
    /// unlisted interface under `MnUseAllInterfaces`, else 0 (never used).
    pub fn mn_if_preference(&self, name: &str) -> u8 {
        match self.interface(name) {
            Some(i) if i.serves(Role::MobileNode) => i.mn_if_preference,
            Some(_) => 0,
            None if self.mn_use_all_interfaces => DEFAULT_MN_IF_PREFERENCE,
            None => 0,
        }
    }

    /// Every IPsec policy expanded per home address: `(HA, HoA, policy)`.
    pub fn ipsec_policies(&self) -> impl Iterator<Item = (Ipv6Addr, Ipv6Addr, &IpsecPolicy)> {
        self.ipsec_policy_set.iter().flat_map(|set| {
            set.ipsec_policy.iter().flat_map(move |p| {
                set.home_address
                    .iter()
                    .map(move |h| (set.home_agent_address, h.addr, p))
            })
        })
    }

    /// Why the node must refuse to start with this configuration, if it must
    /// (UMIP: an MN with `DoRouteOptimizationMN` and a `TunnelPayload` policy).
    pub fn startup_error(&self) -> Option<String> {
        let tunnel_payload = self
            .ipsec_policies()
            .any(|(_, _, p)| p.kind == IpsecPolicyType::TunnelPayload);
        (self.node_config == Role::MobileNode && self.do_route_optimization_mn && tunnel_payload)
            .then(|| {
                "DoRouteOptimizationMN cannot be used with a TunnelPayload IPsec policy".to_owned()
            })
    }
}

/// A `DECIMAL` setting as a duration; `None` if it is not a finite,
/// non-negative number of seconds that fits a `Duration`.
pub fn seconds(value: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(value).ok()
}
