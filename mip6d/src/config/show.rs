//! Printing a configuration: UMIP's `--show-config` lines and a legacy
//! `mip6d.conf` rendering that parses back to the same model.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

use super::directives::{Kind, SETTINGS};
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
    let mut lines: Vec<(u8, String)> = SETTINGS
        .iter()
        .filter_map(|s| {
            let show = s.show?;
            let value = show_value(s.kind, c)?;
            Some((
                show.rank,
                format!("{} = {value}", show.label.unwrap_or(s.keyword)),
            ))
        })
        .collect();
    lines.sort_by_key(|(rank, _)| *rank);
    let mut v = vec![format!("config_file = {config_file}")];
    v.extend(lines.into_iter().map(|(_, line)| line));
    v.extend(c.interface.iter().map(interface_line));
    v.extend(block_lines(c));
    v
}

/// The value of a scalar setting as `--show-config` prints it (`None` for blocks).
fn show_value(kind: Kind, c: &Config) -> Option<String> {
    Some(match kind {
        Kind::Bool { get, .. } => on_off(get(c)).to_owned(),
        Kind::Number { get, .. } => get(c).to_string(),
        Kind::Decimal { get, .. } => format!("{:.6}", get(c)),
        Kind::Role => c.node_config.entity_number().to_string(),
        Kind::LogFile => c.debug_log_file.as_deref().unwrap_or("stderr").to_owned(),
        Kind::AclStatus => c.default_binding_acl_policy.to_string(),
        Kind::Datapath => c.ha_tunnel_datapath.keyword().to_owned(),
        Kind::Module => match &c.use_movement_module {
            MovementModule::Internal => "internal".to_owned(),
            MovementModule::Path(p) => p.clone(),
        },
        _ => return None,
    })
}

/// A scalar setting as a `mip6d.conf` statement (`None` for blocks and unset values).
fn statement(keyword: &str, kind: Kind, c: &Config) -> Option<String> {
    let value = match kind {
        Kind::Bool { get, .. } => on_off(get(c)).to_owned(),
        Kind::Number { get, .. } => get(c).to_string(),
        Kind::Decimal { get, .. } => decimal_text(get(c)),
        Kind::Role => c.node_config.keyword().to_owned(),
        Kind::LogFile => format!("\"{}\"", c.debug_log_file.as_deref()?),
        Kind::AclStatus => c.default_binding_acl_policy.to_string(),
        Kind::Datapath => c.ha_tunnel_datapath.keyword().to_owned(),
        Kind::Module => match &c.use_movement_module {
            MovementModule::Internal => "internal".to_owned(),
            MovementModule::Path(p) => format!("\"{p}\""),
        },
        _ => return None,
    };
    Some(format!("{keyword} {value};"))
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

/// Every block and list entry but `Interface` as one `mip6d.conf`
/// statement, in table order.
fn block_lines(c: &Config) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for s in SETTINGS {
        match s.kind {
            Kind::ServedPrefixes => {
                for p in &c.ha_served_prefix {
                    v.push(format!("{} {};", s.keyword, conf_prefix(p)));
                }
            }
            Kind::HomeLinks => v.extend(c.mn_home_link.iter().map(home_link_line)),
            Kind::IpsecPolicySets => v.extend(c.ipsec_policy_set.iter().map(ipsec_line)),
            Kind::CnBindingPolicies if !c.cn_binding_policy.is_empty() => {
                let mut line = format!("{} {{", s.keyword);
                for p in &c.cn_binding_policy {
                    let _ = write!(
                        line,
                        " {} {} {};",
                        conf_addr(p.peer),
                        conf_addr(p.local),
                        on_off(p.allow)
                    );
                }
                line.push_str(" }");
                v.push(line);
            }
            Kind::BindingAcls => {
                for a in &c.binding_acl_policy {
                    v.push(format!(
                        "{} {}{} {};",
                        s.keyword,
                        conf_addr(a.home_address),
                        prefixes(&a.mobile_network_prefixes),
                        a.status
                    ));
                }
            }
            _ => {}
        }
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
    for s in SETTINGS {
        if let Some(line) = statement(s.keyword, s.kind, c) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    for line in block_lines(c) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
