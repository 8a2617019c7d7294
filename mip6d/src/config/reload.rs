//! SIGHUP (reference §2.7): re-read the file and say what changes.
//!
//! UMIP re-parses into a fresh configuration (defaults plus file) and then
//! applies it option by option; some options cannot change at runtime, and a
//! different role aborts the whole reload. One deliberate difference: the
//! command-line overrides (`-d`, `-l`, `-C/-H/-M`) are applied to the new
//! file again, so a daemon started with `-M` and a file without
//! `NodeConfig MN` can still be reloaded (UMIP refuses every reload then).

use std::fmt;
use std::path::Path;

use super::model::Config;
use super::{load, Host, LoadError, Overrides};

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

/// One setting that differs between the running and the re-read configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The keyword (`mip6d.conf` spelling).
    pub keyword: &'static str,
    /// What happens to it.
    pub effect: ChangeEffect,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.effect {
            ChangeEffect::Applied => "applied",
            ChangeEffect::NewBindings => "applies to new bindings",
            ChangeEffect::NewInterfaces => "applies to interfaces that appear from now on",
            ChangeEffect::NotChangeable => "cannot be changed at runtime; restart to apply",
        };
        write!(f, "{}: {what}", self.keyword)
    }
}

/// The outcome of a successful reload.
#[derive(Debug, Clone, PartialEq)]
pub struct Reloaded {
    /// The configuration to run with from now on: the new values where they
    /// can change, the running ones where they cannot.
    pub config: Config,
    /// Every setting that differs, in keyword order.
    pub changes: Vec<Change>,
    /// Non-fatal parse messages.
    pub warnings: Vec<String>,
}

/// Why nothing was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadError {
    /// The file does not parse (or cannot be read).
    Invalid(LoadError),
    /// The file names another role.
    RoleChange,
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::Invalid(e) => write!(
                f,
                "{e}\nError in the new configuration file, changes not applied"
            ),
            ReloadError::RoleChange => f.write_str("Cannot change the role on-the-fly"),
        }
    }
}

impl std::error::Error for ReloadError {}

/// Re-reads `path` (with the command-line `overrides` applied again) and
/// merges it into `running`.
pub fn reload(
    running: &Config,
    path: &Path,
    overrides: &Overrides,
    host: &dyn Host,
) -> Result<Reloaded, ReloadError> {
    let loaded = load(path, host).map_err(ReloadError::Invalid)?;
    let mut new = loaded.config;
    overrides.apply(&mut new);
    let (config, changes) = merge(running, &new)?;
    Ok(Reloaded {
        config,
        changes,
        warnings: loaded.warnings,
    })
}

/// Merges a freshly read configuration into the running one (the rules of
/// reference §2.5's reload column).
pub fn merge(running: &Config, new: &Config) -> Result<(Config, Vec<Change>), ReloadError> {
    use ChangeEffect::{Applied, NewBindings, NewInterfaces, NotChangeable};
    if new.node_config != running.node_config {
        return Err(ReloadError::RoleChange);
    }
    let mut out = running.clone();
    let mut changes = Vec::new();
    macro_rules! field {
        ($kw:literal, $f:ident, $effect:expr) => {
            if running.$f != new.$f {
                let effect = $effect;
                if effect != NotChangeable {
                    out.$f = new.$f.clone();
                }
                changes.push(Change {
                    keyword: $kw,
                    effect,
                });
            }
        };
    }
    // The level changes, but a daemon cannot detach (or re-attach) later.
    field!("DebugLevel", debug_level, Applied);
    field!("DebugLogFile", debug_log_file, NotChangeable);
    field!(
        "DoRouteOptimizationCN",
        do_route_optimization_cn,
        NewBindings
    );
    field!("CnBindingPolicySet", cn_binding_policy, NotChangeable);
    field!("CnMaxBindings", cn_max_bindings, NewBindings);
    field!(
        "NonVolatileBindingCache",
        non_volatile_binding_cache,
        Applied
    );
    field!("Interface", interface, NewInterfaces);
    field!("UseMnHaIPsec", use_mn_ha_ipsec, NotChangeable);
    field!("KeyMngMobCapability", key_mng_mob_capability, Applied);
    // The kernel policies are installed at start (deviation: UMIP applies
    // added and removed sets at once; docs/compat.md).
    field!("IPsecPolicySet", ipsec_policy_set, NotChangeable);
    field!("UseMovementModule", use_movement_module, Applied);
    field!("HaMaxBindingLife", ha_max_binding_life, NewBindings);
    field!("HaMaxBindings", ha_max_bindings, NewBindings);
    field!("SendMobPfxAdvs", send_mob_pfx_advs, Applied);
    field!("SendUnsolMobPfxAdvs", send_unsol_mob_pfx_advs, Applied);
    field!(
        "MinMobPfxAdvInterval",
        min_mob_pfx_adv_interval,
        NewBindings
    );
    field!(
        "MaxMobPfxAdvInterval",
        max_mob_pfx_adv_interval,
        NewBindings
    );
    field!("HaAcceptMobRtr", ha_accept_mob_rtr, Applied);
    field!("HaServedPrefix", ha_served_prefix, Applied);
    field!("BindingAclPolicy", binding_acl_policy, NewBindings);
    field!(
        "DefaultBindingAclPolicy",
        default_binding_acl_policy,
        NewBindings
    );
    field!("MnMaxHaBindingLife", mn_max_ha_binding_life, NewBindings);
    field!("MnMaxCnBindingLife", mn_max_cn_binding_life, NewBindings);
    field!("MnDiscardHaParamProb", mn_discard_ha_param_prob, Applied);
    field!("MnResetDhaadAtHome", mn_reset_dhaad_at_home, Applied);
    field!("MnFlushAllAtHome", mn_flush_all_at_home, Applied);
    field!(
        "MnMaxCnConsecutiveResends",
        mn_max_cn_consecutive_resends,
        Applied
    );
    field!(
        "MnMaxHaConsecutiveResends",
        mn_max_ha_consecutive_resends,
        Applied
    );
    field!("SendMobPfxSols", send_mob_pfx_sols, Applied);
    // Route optimisation can be switched on at runtime, not off.
    field!(
        "DoRouteOptimizationMN",
        do_route_optimization_mn,
        if new.do_route_optimization_mn {
            Applied
        } else {
            NotChangeable
        }
    );
    field!("MnUseAllInterfaces", mn_use_all_interfaces, NewInterfaces);
    field!("MobRtrUseExplicitMode", mob_rtr_use_explicit_mode, Applied);
    field!("UseCnBuAck", use_cn_bu_ack, Applied);
    field!(
        "InterfaceInitialInitDelay",
        interface_initial_init_delay,
        NotChangeable
    );
    field!("MnRouterProbes", mn_router_probes, Applied);
    field!("MnRouterProbeTimeout", mn_router_probe_timeout, Applied);
    field!(
        "InitialBindackTimeoutFirstReg",
        initial_bindack_timeout_first_reg,
        NewBindings
    );
    field!(
        "InitialBindackTimeoutReReg",
        initial_bindack_timeout_re_reg,
        NewBindings
    );
    field!("InitialSolicitTimer", initial_solicit_timer, NotChangeable);
    field!("OptimisticHandoff", optimistic_handoff, Applied);
    field!("NoHomeReturn", no_home_return, Applied);
    field!("MnHomeLink", mn_home_link, NotChangeable);
    Ok((out, changes))
}
