//! Every `mip6d.conf` directive, declared once.
//!
//! [`SETTINGS`] holds one entry per [`Config`] field: its keyword, TOML key,
//! value type and range, default, `--show-config` line and SIGHUP effect.
//! [`LEAVES`] holds the statements that set no field of their own (the
//! contents of `Interface`, `MnHomeLink` and `IPsecPolicySet` blocks, and the
//! refused `UsePolicyModule`). The lexer's keywords, the parser's dispatch,
//! `--show-config`, the `mip6d.conf` rendering, the TOML checks and the
//! reload merge all read these tables; blocks keep their own grammar in the
//! parser and their own rendering in `show`.
//!
//! Table order is the order of statements in the rendered `mip6d.conf`;
//! `--show-config` (UMIP's `conf_show`) and the reload report have orders of
//! their own, given by the ranks in [`Show`] and [`Reload`].

use super::check;
use super::model::{
    Config, HaTunnelDatapath, MovementModule, Role, DEFAULT_CN_MAX_BINDINGS,
    DEFAULT_HA_MAX_BINDINGS, MAX_BINDING_LIFETIME, MAX_RR_BINDING_LIFETIME,
};

/// Where a directive may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// At the top level of the file.
    Global,
    /// Inside `Interface "name" { ... }`.
    Interface,
    /// Inside `MnHomeLink "name" { ... }`.
    HomeLink,
    /// Inside `IPsecPolicySet { ... }`.
    IpsecPolicySet,
}

/// When a changed setting takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeEffect {
    /// At once.
    Applied,
    /// For bindings (or mobile prefix advertisements) made from now on.
    NewBindings,
    /// For interfaces that appear from now on.
    NewInterfaces,
    /// Not at runtime: the running value stays until a restart.
    NotChangeable,
}

/// What a SIGHUP does with a changed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The whole reload is refused (the node's role).
    Refuse,
    /// Reported at `rank` in the list of changes, with this effect.
    Effect(u8, ChangeEffect),
    /// A boolean that can be switched on at runtime but not off; reported at `rank`.
    SwitchOnOnly(u8),
}

impl Reload {
    /// Position in the list of changes (`None` for [`Reload::Refuse`]).
    pub fn rank(self) -> Option<u8> {
        match self {
            Reload::Refuse => None,
            Reload::Effect(r, _) | Reload::SwitchOnOnly(r) => Some(r),
        }
    }
}

/// A line of `--show-config`: its position and the name UMIP prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Show {
    /// Position among the `Key = value` lines (after `config_file`).
    pub rank: u8,
    /// The printed name, when UMIP does not print the keyword itself.
    pub label: Option<&'static str>,
}

const fn at(rank: u8) -> Option<Show> {
    Some(Show { rank, label: None })
}

const fn named(rank: u8, label: &'static str) -> Option<Show> {
    Some(Show {
        rank,
        label: Some(label),
    })
}

/// The value a directive takes, with accessors for the plain scalar kinds.
#[derive(Clone, Copy)]
pub enum Kind {
    /// `BOOL`.
    Bool {
        /// Reads the field.
        get: fn(&Config) -> bool,
        /// Writes the field.
        set: fn(&mut Config, bool),
    },
    /// `NUMBER` (32 bits), with its range check (UMIP's message on failure).
    Number {
        /// Reads the field.
        get: fn(&Config) -> u32,
        /// Writes the field.
        set: fn(&mut Config, u32),
        /// Accepts the value or says why not.
        check: fn(u32) -> Result<u32, String>,
    },
    /// `DECIMAL` seconds.
    Decimal {
        /// Reads the field.
        get: fn(&Config) -> f64,
        /// Writes the field.
        set: fn(&mut Config, f64),
        /// Values ≤ 0 leave the setting as it was (UMIP's `MnRouterProbeTimeout`).
        only_positive: bool,
    },
    /// `CN | MN | HA`.
    Role,
    /// `QSTRING`, the log file.
    LogFile,
    /// `BOOL | NUMBER` read as a BA status (RFC 6275 §6.1.8).
    AclStatus,
    /// `internal | QSTRING`.
    Module,
    /// `shared | per-binding`.
    Datapath,
    /// `Interface QSTRING ( ';' | '{' ... '}' )`, repeated.
    Interfaces,
    /// `ADDR/PLEN`, repeated.
    ServedPrefixes,
    /// `MnHomeLink QSTRING '{' ... '}'`, repeated.
    HomeLinks,
    /// `IPsecPolicySet '{' ... '}'`, repeated.
    IpsecPolicySets,
    /// `'{' ( ADDR [ADDR] BOOL ';' )+ '}'`, repeated.
    CnBindingPolicies,
    /// `ADDR [ '(' MNP, ... ')' ] BOOL|NUMBER`, repeated.
    BindingAcls,
}

impl Kind {
    /// Whether the directive is a block or a list whose statements are
    /// printed whole rather than as one `Key = value` line.
    pub fn is_block(self) -> bool {
        matches!(
            self,
            Kind::Interfaces
                | Kind::ServedPrefixes
                | Kind::HomeLinks
                | Kind::IpsecPolicySets
                | Kind::CnBindingPolicies
                | Kind::BindingAcls
        )
    }
}

/// A directive that sets one field of [`Config`].
#[derive(Clone, Copy)]
pub struct Setting {
    /// The keyword (case-sensitive).
    pub keyword: &'static str,
    /// The TOML key: the [`Config`] field.
    pub key: &'static str,
    /// Always [`Scope::Global`]: settings of blocks are [`LEAVES`].
    pub scope: Scope,
    /// The value and its range.
    pub kind: Kind,
    /// Its `--show-config` line; `None` for blocks, printed as statements.
    pub show: Option<Show>,
    /// What a SIGHUP does when it changes.
    pub reload: Reload,
    /// A statement that sets a value other than the default.
    pub example: &'static str,
    /// Whether two configurations differ in this setting.
    pub differs: fn(&Config, &Config) -> bool,
    /// Copies this setting from the second configuration into the first.
    pub adopt: fn(&mut Config, &Config),
}

/// A statement that sets no [`Config`] field of its own.
#[derive(Debug, Clone, Copy)]
pub struct Leaf {
    /// The keyword.
    pub keyword: &'static str,
    /// Where it is allowed.
    pub scope: Scope,
    /// The TOML key of what it sets in its block (empty when nothing).
    pub key: &'static str,
    /// What follows the keyword, and its range.
    pub syntax: &'static str,
    /// A whole statement (block included) that uses it.
    pub example: &'static str,
}

macro_rules! kind {
    ($f:ident, Bool) => {
        Kind::Bool {
            get: |c| c.$f,
            set: |c, v| c.$f = v,
        }
    };
    ($f:ident, Number($check:expr)) => {
        Kind::Number {
            get: |c| c.$f,
            set: |c, v| c.$f = v,
            check: $check,
        }
    };
    ($f:ident, Decimal($only_positive:expr)) => {
        Kind::Decimal {
            get: |c| c.$f,
            set: |c, v| c.$f = v,
            only_positive: $only_positive,
        }
    };
    ($f:ident, $k:ident) => {
        Kind::$k
    };
}

/// Declares [`SETTINGS`] and the defaults of [`Config`] from one list.
macro_rules! settings {
    ($(
        $kw:literal => $f:ident: $kind:ident $(($arg:expr))? = $default:expr,
        show $show:expr, reload $reload:expr, example $example:literal;
    )*) => {
        impl Default for Config {
            /// UMIP 1.0's `conf_default`, plus our own settings.
            fn default() -> Self {
                Config { $($f: $default,)* }
            }
        }

        /// One entry per [`Config`] field, in `mip6d.conf` rendering order.
        pub static SETTINGS: &[Setting] = &[$(
            Setting {
                keyword: $kw,
                key: stringify!($f),
                scope: Scope::Global,
                kind: kind!($f, $kind $(($arg))?),
                show: $show,
                reload: $reload,
                example: $example,
                differs: |a, b| a.$f != b.$f,
                adopt: |to, from| to.$f.clone_from(&from.$f),
            },
        )*];
    };
}

fn any(n: u32) -> Result<u32, String> {
    Ok(n)
}

use ChangeEffect::{Applied, NewBindings, NewInterfaces, NotChangeable};
use Reload::{Effect, Refuse, SwitchOnOnly};

settings! {
    "NodeConfig" => node_config: Role = Role::CorrespondentNode,
        show named(0, "mip6_entity"), reload Refuse, example "NodeConfig HA;";
    // The level changes, but a daemon cannot detach (or re-attach) later.
    "DebugLevel" => debug_level: Number(any) = 0,
        show named(1, "debug_level"), reload Effect(0, Applied), example "DebugLevel 3;";
    "DebugLogFile" => debug_log_file: LogFile = None,
        show named(2, "debug_log_file"), reload Effect(1, NotChangeable),
        example "DebugLogFile \"/var/log/mip6d.log\";";
    "DoRouteOptimizationCN" => do_route_optimization_cn: Bool = true,
        show at(26), reload Effect(2, NewBindings), example "DoRouteOptimizationCN disabled;";
    // Route optimisation can be switched on at runtime, not off.
    "DoRouteOptimizationMN" => do_route_optimization_mn: Bool = true,
        show at(14), reload SwitchOnOnly(29), example "DoRouteOptimizationMN disabled;";
    "NonVolatileBindingCache" => non_volatile_binding_cache: Bool = false,
        show at(4), reload Effect(5, Applied), example "NonVolatileBindingCache enabled;";
    "SendMobPfxSols" => send_mob_pfx_sols: Bool = true,
        show at(17), reload Effect(28, Applied), example "SendMobPfxSols disabled;";
    "SendUnsolMobPfxAdvs" => send_unsol_mob_pfx_advs: Bool = true,
        show at(21), reload Effect(14, Applied), example "SendUnsolMobPfxAdvs disabled;";
    "SendMobPfxAdvs" => send_mob_pfx_advs: Bool = true,
        show at(20), reload Effect(13, Applied), example "SendMobPfxAdvs disabled;";
    "UseMnHaIPsec" => use_mn_ha_ipsec: Bool = true,
        show at(6), reload Effect(7, NotChangeable), example "UseMnHaIPsec disabled;";
    "KeyMngMobCapability" => key_mng_mob_capability: Bool = false,
        show at(5), reload Effect(8, Applied), example "KeyMngMobCapability enabled;";
    "HaAcceptMobRtr" => ha_accept_mob_rtr: Bool = false,
        show at(25), reload Effect(17, Applied), example "HaAcceptMobRtr enabled;";
    "MobRtrUseExplicitMode" => mob_rtr_use_explicit_mode: Bool = true,
        show at(19), reload Effect(31, Applied), example "MobRtrUseExplicitMode disabled;";
    "UseCnBuAck" => use_cn_bu_ack: Bool = false,
        show at(13), reload Effect(32, Applied), example "UseCnBuAck enabled;";
    "MnUseAllInterfaces" => mn_use_all_interfaces: Bool = false,
        show at(15), reload Effect(30, NewInterfaces), example "MnUseAllInterfaces enabled;";
    "MnDiscardHaParamProb" => mn_discard_ha_param_prob: Bool = false,
        show at(16), reload Effect(23, Applied), example "MnDiscardHaParamProb enabled;";
    "MnResetDhaadAtHome" => mn_reset_dhaad_at_home: Bool = false,
        show at(29), reload Effect(24, Applied), example "MnResetDhaadAtHome enabled;";
    "MnFlushAllAtHome" => mn_flush_all_at_home: Bool = false,
        show at(30), reload Effect(25, Applied), example "MnFlushAllAtHome enabled;";
    "OptimisticHandoff" => optimistic_handoff: Bool = false,
        show at(18), reload Effect(39, Applied), example "OptimisticHandoff enabled;";
    "NoHomeReturn" => no_home_return: Bool = false,
        show at(33), reload Effect(40, Applied), example "NoHomeReturn enabled;";
    // Not a UMIP keyword: the correspondent's binding cap (docs/compat.md).
    "CnMaxBindings" => cn_max_bindings: Number(any) = DEFAULT_CN_MAX_BINDINGS,
        show at(27), reload Effect(4, NewBindings), example "CnMaxBindings 7;";
    "MaxMobPfxAdvInterval" => max_mob_pfx_adv_interval: Number(any) = 86_400,
        show at(22), reload Effect(16, NewBindings), example "MaxMobPfxAdvInterval 3600;";
    "MinMobPfxAdvInterval" => min_mob_pfx_adv_interval: Number(any) = 600,
        show at(23), reload Effect(15, NewBindings), example "MinMobPfxAdvInterval 60;";
    "HaMaxBindingLife" => ha_max_binding_life: Number(check::binding_life) = MAX_BINDING_LIFETIME,
        show at(24), reload Effect(11, NewBindings), example "HaMaxBindingLife 60;";
    // Not a UMIP keyword: the home agent's binding cap (docs/compat.md).
    "HaMaxBindings" => ha_max_bindings: Number(check::max_bindings) = DEFAULT_HA_MAX_BINDINGS,
        show at(28), reload Effect(12, NewBindings), example "HaMaxBindings 2;";
    // Not a UMIP keyword: the home agent's tunnel datapath (docs/compat.md).
    "HaTunnelDatapath" => ha_tunnel_datapath: Datapath = HaTunnelDatapath::Shared,
        show at(37), reload Effect(42, NotChangeable), example "HaTunnelDatapath per-binding;";
    "MnMaxHaBindingLife" => mn_max_ha_binding_life: Number(check::binding_life) = MAX_BINDING_LIFETIME,
        show at(7), reload Effect(21, NewBindings), example "MnMaxHaBindingLife 60;";
    "MnMaxCnBindingLife" => mn_max_cn_binding_life: Number(check::rr_binding_life) = MAX_RR_BINDING_LIFETIME,
        show at(8), reload Effect(22, NewBindings), example "MnMaxCnBindingLife 30;";
    "MnRouterProbes" => mn_router_probes: Number(any) = 0,
        show at(9), reload Effect(34, Applied), example "MnRouterProbes 2;";
    "MnMaxHaConsecutiveResends" => mn_max_ha_consecutive_resends: Number(any) = 5,
        show at(31), reload Effect(27, Applied), example "MnMaxHaConsecutiveResends 3;";
    "MnMaxCnConsecutiveResends" => mn_max_cn_consecutive_resends: Number(any) = 0,
        show at(32), reload Effect(26, Applied), example "MnMaxCnConsecutiveResends 3;";
    "InitialBindackTimeoutFirstReg" => initial_bindack_timeout_first_reg: Decimal(false) = 1.5,
        show at(11), reload Effect(36, NewBindings),
        example "InitialBindackTimeoutFirstReg 2.5;";
    "InitialBindackTimeoutReReg" => initial_bindack_timeout_re_reg: Decimal(false) = 1.0,
        show at(12), reload Effect(37, NewBindings), example "InitialBindackTimeoutReReg 2.5;";
    "InitialSolicitTimer" => initial_solicit_timer: Decimal(false) = 3.0,
        show at(34), reload Effect(38, NotChangeable), example "InitialSolicitTimer 1.5;";
    "InterfaceInitialInitDelay" => interface_initial_init_delay: Decimal(false) = 2.0,
        show at(35), reload Effect(33, NotChangeable), example "InterfaceInitialInitDelay 0.5;";
    "MnRouterProbeTimeout" => mn_router_probe_timeout: Decimal(true) = 0.0,
        show at(10), reload Effect(35, Applied), example "MnRouterProbeTimeout 0.5;";
    "DefaultBindingAclPolicy" => default_binding_acl_policy: AclStatus = 0,
        show at(3), reload Effect(20, NewBindings), example "DefaultBindingAclPolicy deny;";
    "UseMovementModule" => use_movement_module: Module = MovementModule::Internal,
        show at(36), reload Effect(10, Applied), example "UseMovementModule \"/lib/md.so\";";
    "Interface" => interface: Interfaces = Vec::new(),
        show None, reload Effect(6, NewInterfaces), example "Interface \"eth0\";";
    "HaServedPrefix" => ha_served_prefix: ServedPrefixes = Vec::new(),
        show None, reload Effect(18, Applied), example "HaServedPrefix 2001:db8:1::/64;";
    "MnHomeLink" => mn_home_link: HomeLinks = Vec::new(),
        show None, reload Effect(41, NotChangeable),
        example "MnHomeLink \"eth0\" { HomeAddress 2001:db8::5/64; }";
    // Added and removed sets are applied at once, as UMIP (`ipsec::reload`).
    "IPsecPolicySet" => ipsec_policy_set: IpsecPolicySets = Vec::new(),
        show None, reload Effect(9, Applied),
        example "IPsecPolicySet { HomeAgentAddress 2001:db8::1; \
                 HomeAddress 2001:db8::5/64; IPsecPolicy Mh UseESP 7; }";
    "CnBindingPolicySet" => cn_binding_policy: CnBindingPolicies = Vec::new(),
        show None, reload Effect(3, NotChangeable),
        example "CnBindingPolicySet { 2001:db8::9 deny; }";
    "BindingAclPolicy" => binding_acl_policy: BindingAcls = Vec::new(),
        show None, reload Effect(19, NewBindings),
        example "BindingAclPolicy 2001:db8::5 (2001:db8:2::/48) allow;";
}

/// Statements that set no [`Config`] field of their own.
pub static LEAVES: &[Leaf] = &[
    Leaf {
        keyword: "IfType",
        scope: Scope::Interface,
        key: "if_type",
        syntax: "CN | MN | HA",
        example: "Interface \"eth0\" { IfType MN; }",
    },
    Leaf {
        keyword: "MnIfPreference",
        scope: Scope::Interface,
        key: "mn_if_preference",
        syntax: "NUMBER 0..=10",
        example: "Interface \"eth0\" { MnIfPreference 3; }",
    },
    Leaf {
        keyword: "Tunnel",
        scope: Scope::Interface,
        key: "tunnel",
        syntax: "BOOL",
        example: "Interface \"eth0\" { Tunnel enabled; }",
    },
    Leaf {
        keyword: "HomeAgentAddress",
        scope: Scope::HomeLink,
        key: "home_agent_address",
        syntax: "ADDR (:: finds the HA with DHAAD)",
        example: "MnHomeLink \"eth0\" { HomeAgentAddress 2001:db8::1; \
                  HomeAddress 2001:db8::5/64; }",
    },
    Leaf {
        keyword: "HomeAddress",
        scope: Scope::HomeLink,
        key: "home_address",
        syntax: "ADDR/PLEN [ '(' MNP, ... ')' ]",
        example: "MnHomeLink \"eth0\" { HomeAddress 2001:db8::5/64 (2001:db8:3::/48); }",
    },
    Leaf {
        keyword: "HomePrefix",
        scope: Scope::HomeLink,
        key: "home_prefix",
        syntax: "ADDR/PLEN",
        example: "MnHomeLink \"eth0\" { HomeAddress 2001:db8::5/64; \
                  HomePrefix 2001:db8::/48; }",
    },
    Leaf {
        keyword: "IsMobRtr",
        scope: Scope::HomeLink,
        key: "is_mob_rtr",
        syntax: "BOOL",
        example: "MnHomeLink \"eth0\" { HomeAddress 2001:db8::5/64; IsMobRtr enabled; }",
    },
    Leaf {
        keyword: "UseAltCoa",
        scope: Scope::HomeLink,
        key: "use_alt_coa",
        syntax: "BOOL",
        example: "MnHomeLink \"eth0\" { HomeAddress 2001:db8::5/64; UseAltCoa enabled; }",
    },
    Leaf {
        keyword: "MnRoPolicy",
        scope: Scope::HomeLink,
        key: "mn_ro_policy",
        syntax: "[ADDR] BOOL",
        example: "MnHomeLink \"eth0\" { HomeAddress 2001:db8::5/64; \
                  MnRoPolicy 2001:db8::9 disabled; }",
    },
    Leaf {
        keyword: "HomeAgentAddress",
        scope: Scope::IpsecPolicySet,
        key: "home_agent_address",
        syntax: "ADDR (first, once)",
        example: "IPsecPolicySet { HomeAgentAddress 2001:db8::1; \
                  HomeAddress 2001:db8::5/64; IPsecPolicy Mh UseESP; }",
    },
    Leaf {
        keyword: "HomeAddress",
        scope: Scope::IpsecPolicySet,
        key: "home_address",
        syntax: "ADDR/PLEN (one or more)",
        example: "IPsecPolicySet { HomeAgentAddress 2001:db8::1; \
                  HomeAddress 2001:db8::5/64; HomeAddress 2001:db8::6/64; \
                  IPsecPolicy Mh UseESP; }",
    },
    Leaf {
        keyword: "IPsecPolicy",
        scope: Scope::IpsecPolicySet,
        key: "ipsec_policy",
        syntax: "TYPE PROTO{1,3} [REQID [REQID]] [BOOL] (one or more)",
        example: "IPsecPolicySet { HomeAgentAddress 2001:db8::1; \
                  HomeAddress 2001:db8::5/64; IPsecPolicy TunnelMh UseESP 3 4 block; }",
    },
    // UMIP loads a shared object built against its own internals; it is
    // refused rather than silently running with another binding policy.
    Leaf {
        keyword: "UsePolicyModule",
        scope: Scope::Global,
        key: "",
        syntax: "QSTRING (refused)",
        example: "",
    },
];

/// The setting a top-level keyword names.
pub fn setting(keyword: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.keyword == keyword)
}

/// Whether `keyword` is a statement allowed in `scope` that sets no field of its own.
pub fn leaf(scope: Scope, keyword: &str) -> Option<&'static Leaf> {
    LEAVES
        .iter()
        .find(|l| l.scope == scope && l.keyword == keyword)
}

/// Every directive keyword (a keyword allowed in two blocks appears twice).
pub fn keywords() -> impl Iterator<Item = &'static str> {
    SETTINGS
        .iter()
        .map(|s| s.keyword)
        .chain(LEAVES.iter().map(|l| l.keyword))
}
