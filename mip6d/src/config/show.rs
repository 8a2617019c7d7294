//! Printing a configuration: UMIP's `--show-config` lines and a legacy
//! `mip6d.conf` rendering that parses back to the same model.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

use super::model::{
    Config, HomeLink, InterfaceConfig, IpsecPolicySet, MovementModule, Prefix, Role,
};

fn on_off(b: bool) -> &'static str {
    if b {
        "enabled"
    } else {
        "disabled"
    }
}

/// `--show-config` in UMIP's order and wording (`conf_show`: `Key = value`,
/// booleans `enabled`/`disabled`, durations `%f`), followed by what UMIP does
/// not print: the remaining scalar keywords and every block, one per line in
/// `mip6d.conf` syntax. The caller adds the debug-log prefix.
pub fn show_umip(c: &Config, config_file: &str) -> Vec<String> {
    let mut v = vec![
        format!("config_file = {config_file}"),
        format!("mip6_entity = {}", c.node_config.entity_number()),
        format!("debug_level = {}", c.debug_level),
        format!(
            "debug_log_file = {}",
            c.debug_log_file.as_deref().unwrap_or("stderr")
        ),
        format!("DefaultBindingAclPolicy = {}", c.default_binding_acl_policy),
        format!(
            "NonVolatileBindingCache = {}",
            on_off(c.non_volatile_binding_cache)
        ),
        format!("KeyMngMobCapability = {}", on_off(c.key_mng_mob_capability)),
        format!("UseMnHaIPsec = {}", on_off(c.use_mn_ha_ipsec)),
        format!("MnMaxHaBindingLife = {}", c.mn_max_ha_binding_life),
        format!("MnMaxCnBindingLife = {}", c.mn_max_cn_binding_life),
        format!("MnRouterProbes = {}", c.mn_router_probes),
        format!("MnRouterProbeTimeout = {:.6}", c.mn_router_probe_timeout),
        format!(
            "InitialBindackTimeoutFirstReg = {:.6}",
            c.initial_bindack_timeout_first_reg
        ),
        format!(
            "InitialBindackTimeoutReReg = {:.6}",
            c.initial_bindack_timeout_re_reg
        ),
        format!("UseCnBuAck = {}", on_off(c.use_cn_bu_ack)),
        format!(
            "DoRouteOptimizationMN = {}",
            on_off(c.do_route_optimization_mn)
        ),
        format!("MnUseAllInterfaces = {}", on_off(c.mn_use_all_interfaces)),
        format!(
            "MnDiscardHaParamProb = {}",
            on_off(c.mn_discard_ha_param_prob)
        ),
        format!("SendMobPfxSols = {}", on_off(c.send_mob_pfx_sols)),
        format!("OptimisticHandoff = {}", on_off(c.optimistic_handoff)),
        format!(
            "MobRtrUseExplicitMode = {}",
            on_off(c.mob_rtr_use_explicit_mode)
        ),
        format!("SendMobPfxAdvs = {}", on_off(c.send_mob_pfx_advs)),
        format!(
            "SendUnsolMobPfxAdvs = {}",
            on_off(c.send_unsol_mob_pfx_advs)
        ),
        format!("MaxMobPfxAdvInterval = {}", c.max_mob_pfx_adv_interval),
        format!("MinMobPfxAdvInterval = {}", c.min_mob_pfx_adv_interval),
        format!("HaMaxBindingLife = {}", c.ha_max_binding_life),
        format!("HaAcceptMobRtr = {}", on_off(c.ha_accept_mob_rtr)),
        format!(
            "DoRouteOptimizationCN = {}",
            on_off(c.do_route_optimization_cn)
        ),
        // Not printed by UMIP 1.0.
        format!("CnMaxBindings = {}", c.cn_max_bindings),
        format!("HaMaxBindings = {}", c.ha_max_bindings),
        format!("MnResetDhaadAtHome = {}", on_off(c.mn_reset_dhaad_at_home)),
        format!("MnFlushAllAtHome = {}", on_off(c.mn_flush_all_at_home)),
        format!(
            "MnMaxHaConsecutiveResends = {}",
            c.mn_max_ha_consecutive_resends
        ),
        format!(
            "MnMaxCnConsecutiveResends = {}",
            c.mn_max_cn_consecutive_resends
        ),
        format!("NoHomeReturn = {}", on_off(c.no_home_return)),
        format!("InitialSolicitTimer = {:.6}", c.initial_solicit_timer),
        format!(
            "InterfaceInitialInitDelay = {:.6}",
            c.interface_initial_init_delay
        ),
        format!(
            "UseMovementModule = {}",
            match &c.use_movement_module {
                MovementModule::Internal => "internal",
                MovementModule::Path(p) => p,
            }
        ),
    ];
    v.extend(c.interface.iter().map(interface_line));
    v.extend(block_lines(c));
    v
}

/// An address in a form UMIP's lexer reads back: the compressed form when
/// it starts with a group, else the full eight groups (`::1` and
/// `::ffff:192.0.2.1` are not addresses to that lexer).
fn conf_addr(addr: Ipv6Addr) -> String {
    let text = addr.to_string();
    if addr.is_unspecified() || (!text.starts_with("::") && !text.contains('.')) {
        text
    } else {
        super::check::nip6(addr)
    }
}

fn conf_prefix(p: &Prefix) -> String {
    format!("{}/{}", conf_addr(p.addr), p.len)
}

fn prefixes(list: &[Prefix]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let items: Vec<String> = list.iter().map(conf_prefix).collect();
    format!(" ({})", items.join(", "))
}

fn interface_line(i: &InterfaceConfig) -> String {
    let mut s = format!("Interface \"{}\" {{", i.name);
    if let Some(t) = i.if_type {
        let _ = write!(s, " IfType {};", t.keyword());
    }
    let _ = write!(
        s,
        " MnIfPreference {}; Tunnel {}; }}",
        i.mn_if_preference,
        on_off(i.tunnel)
    );
    s
}

fn home_link_line(l: &HomeLink) -> String {
    let mut s = format!(
        "MnHomeLink \"{}\" {{ HomeAgentAddress {}; HomeAddress {}{};",
        l.interface,
        conf_addr(l.home_agent_address),
        conf_prefix(&l.home_address),
        prefixes(&l.mobile_network_prefixes)
    );
    if let Some(p) = l.home_prefix {
        let _ = write!(s, " HomePrefix {};", conf_prefix(&p));
    }
    let _ = write!(
        s,
        " IsMobRtr {}; UseAltCoa {};",
        on_off(l.is_mob_rtr),
        on_off(l.use_alt_coa)
    );
    for r in &l.mn_ro_policy {
        let _ = write!(
            s,
            " MnRoPolicy {} {};",
            conf_addr(r.cn),
            on_off(r.route_optimization)
        );
    }
    s.push_str(" }");
    s
}

fn ipsec_line(set: &IpsecPolicySet) -> String {
    let mut s = format!(
        "IPsecPolicySet {{ HomeAgentAddress {};",
        conf_addr(set.home_agent_address)
    );
    for h in &set.home_address {
        let _ = write!(s, " HomeAddress {};", conf_prefix(h));
    }
    for p in &set.ipsec_policy {
        let protos: Vec<&str> = p.protocols.iter().map(|x| x.keyword()).collect();
        let _ = write!(
            s,
            " IPsecPolicy {} {} {} {} {};",
            p.kind.keyword(),
            protos.join(" "),
            p.reqid_to_ha,
            p.reqid_to_mn,
            on_off(p.allow)
        );
    }
    s.push_str(" }");
    s
}

/// Every block and list entry but `Interface` as one `mip6d.conf` statement.
fn block_lines(c: &Config) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for p in &c.ha_served_prefix {
        v.push(format!("HaServedPrefix {};", conf_prefix(p)));
    }
    for l in &c.mn_home_link {
        v.push(home_link_line(l));
    }
    for set in &c.ipsec_policy_set {
        v.push(ipsec_line(set));
    }
    if !c.cn_binding_policy.is_empty() {
        let mut s = "CnBindingPolicySet {".to_owned();
        for p in &c.cn_binding_policy {
            let _ = write!(
                s,
                " {} {} {};",
                conf_addr(p.peer),
                conf_addr(p.local),
                on_off(p.allow)
            );
        }
        s.push_str(" }");
        v.push(s);
    }
    for a in &c.binding_acl_policy {
        v.push(format!(
            "BindingAclPolicy {}{} {};",
            conf_addr(a.home_address),
            prefixes(&a.mobile_network_prefixes),
            a.status
        ));
    }
    v
}

/// A DECIMAL token for `d`: Rust never writes an exponent, and DECIMAL needs the dot.
fn decimal_text(d: f64) -> String {
    let s = d.to_string();
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// The configuration as a `mip6d.conf` file.
///
/// `Interface` lines keep their order; a `NodeConfig` line before each one
/// that needs it makes the role-order rule give it the same `ha_interface`
/// again, and the last `NodeConfig` line is the node's role.
pub fn to_legacy(c: &Config) -> String {
    let mut out = String::from("# mip6d configuration\n");
    let mut role = Role::CorrespondentNode;
    for i in &c.interface {
        let want = if i.ha_interface.unwrap_or(false) {
            Some(Role::HomeAgent)
        } else if role == Role::HomeAgent && i.serves(Role::HomeAgent) {
            Some(Role::CorrespondentNode)
        } else {
            None
        };
        if let Some(r) = want.filter(|&r| r != role) {
            let _ = writeln!(out, "NodeConfig {};", r.keyword());
            role = r;
        }
        out.push_str(&interface_line(i));
        out.push('\n');
    }
    let _ = writeln!(out, "NodeConfig {};", c.node_config.keyword());
    let _ = writeln!(out, "DebugLevel {};", c.debug_level);
    if let Some(f) = &c.debug_log_file {
        let _ = writeln!(out, "DebugLogFile \"{f}\";");
    }
    let bools = [
        ("DoRouteOptimizationCN", c.do_route_optimization_cn),
        ("DoRouteOptimizationMN", c.do_route_optimization_mn),
        ("NonVolatileBindingCache", c.non_volatile_binding_cache),
        ("SendMobPfxSols", c.send_mob_pfx_sols),
        ("SendUnsolMobPfxAdvs", c.send_unsol_mob_pfx_advs),
        ("SendMobPfxAdvs", c.send_mob_pfx_advs),
        ("UseMnHaIPsec", c.use_mn_ha_ipsec),
        ("KeyMngMobCapability", c.key_mng_mob_capability),
        ("HaAcceptMobRtr", c.ha_accept_mob_rtr),
        ("MobRtrUseExplicitMode", c.mob_rtr_use_explicit_mode),
        ("UseCnBuAck", c.use_cn_bu_ack),
        ("MnUseAllInterfaces", c.mn_use_all_interfaces),
        ("MnDiscardHaParamProb", c.mn_discard_ha_param_prob),
        ("MnResetDhaadAtHome", c.mn_reset_dhaad_at_home),
        ("MnFlushAllAtHome", c.mn_flush_all_at_home),
        ("OptimisticHandoff", c.optimistic_handoff),
        ("NoHomeReturn", c.no_home_return),
    ];
    for (k, b) in bools {
        let _ = writeln!(out, "{k} {};", on_off(b));
    }
    let numbers = [
        ("CnMaxBindings", c.cn_max_bindings),
        ("MaxMobPfxAdvInterval", c.max_mob_pfx_adv_interval),
        ("MinMobPfxAdvInterval", c.min_mob_pfx_adv_interval),
        ("HaMaxBindingLife", c.ha_max_binding_life),
        ("HaMaxBindings", c.ha_max_bindings),
        ("MnMaxHaBindingLife", c.mn_max_ha_binding_life),
        ("MnMaxCnBindingLife", c.mn_max_cn_binding_life),
        ("MnRouterProbes", c.mn_router_probes),
        ("MnMaxHaConsecutiveResends", c.mn_max_ha_consecutive_resends),
        ("MnMaxCnConsecutiveResends", c.mn_max_cn_consecutive_resends),
    ];
    for (k, n) in numbers {
        let _ = writeln!(out, "{k} {n};");
    }
    let decimals = [
        (
            "InitialBindackTimeoutFirstReg",
            c.initial_bindack_timeout_first_reg,
        ),
        (
            "InitialBindackTimeoutReReg",
            c.initial_bindack_timeout_re_reg,
        ),
        ("InitialSolicitTimer", c.initial_solicit_timer),
        ("InterfaceInitialInitDelay", c.interface_initial_init_delay),
        ("MnRouterProbeTimeout", c.mn_router_probe_timeout),
    ];
    for (k, d) in decimals {
        let _ = writeln!(out, "{k} {};", decimal_text(d));
    }
    let _ = writeln!(
        out,
        "DefaultBindingAclPolicy {};",
        c.default_binding_acl_policy
    );
    match &c.use_movement_module {
        MovementModule::Internal => out.push_str("UseMovementModule internal;\n"),
        MovementModule::Path(p) => {
            let _ = writeln!(out, "UseMovementModule \"{p}\";");
        }
    }
    for line in block_lines(c) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
