//! The TOML form of the configuration (our extension): [`Config`] through
//! serde, keys in snake_case (`MnMaxHaBindingLife` → `mn_max_ha_binding_life`),
//! blocks as arrays of tables (`[[interface]]`, `[[mn_home_link]]`,
//! `[[ipsec_policy_set]]` with `[[ipsec_policy_set.ipsec_policy]]`).
//!
//! After deserialising, the same checks as the legacy parser run (binding
//! lifetimes, preferences, interfaces that must exist, IPsec rules). TOML has
//! no statement order, so the role checks of `[[interface]]` entries use the
//! file's `node_config` unless the entry says `ha_interface` itself.

use super::check::{self, Expanded};
use super::directives::{Kind, SETTINGS};
use super::model::{truncate_if_name, Config, Role};
use super::{ConfigError, Host, LoadError, Loaded};

/// Where a check failed: the key, inside the `index`-th `[[table]]` if any.
struct Place<'a> {
    table: Option<(&'a str, usize)>,
    key: &'a str,
}

fn top(key: &str) -> Place<'_> {
    Place { table: None, key }
}

fn within<'a>(table: &'a str, index: usize, key: &'a str) -> Place<'a> {
    Place {
        table: Some((table, index)),
        key,
    }
}

fn is_header(line: &str) -> Option<&str> {
    let l = line.trim();
    let inner = l.strip_prefix("[[").and_then(|r| r.split("]]").next());
    inner
        .or_else(|| l.strip_prefix('[').and_then(|r| r.split(']').next()))
        .map(str::trim)
}

fn is_key(line: &str, key: &str) -> bool {
    line.trim_start()
        .strip_prefix(key)
        .is_some_and(|rest| rest.trim_start().starts_with('='))
}

/// The line of `place` in `text` (best effort: the key's line, else its
/// table's header, else none).
fn locate(text: &str, place: &Place<'_>) -> Option<u32> {
    let mut current: Option<(&str, usize)> = None;
    let mut seen: Vec<(&str, usize)> = Vec::new();
    let mut header_line = None;
    for (n, line) in text.lines().enumerate() {
        let lineno = u32::try_from(n + 1).ok()?;
        if let Some(name) = is_header(line) {
            let count = seen.iter().filter(|(t, _)| *t == name).count();
            seen.push((name, n));
            current = Some((name, count));
            if Some((name, count)) == place.table {
                header_line = Some(lineno);
            }
            continue;
        }
        let in_place = match place.table {
            None => current.is_none(),
            Some(t) => current == Some(t),
        };
        if in_place && is_key(line, place.key) {
            return Some(lineno);
        }
    }
    header_line
}

/// Parses the TOML form. `file` names the text in messages.
pub fn parse_toml(text: &[u8], file: &str, host: &dyn Host) -> Result<Loaded, LoadError> {
    let fail = |line: Option<u32>, message: String| LoadError {
        warnings: Vec::new(),
        error: ConfigError {
            file: file.to_owned(),
            line,
            message,
        },
        unreadable: None,
    };
    let text =
        std::str::from_utf8(text).map_err(|e| fail(None, format!("not valid UTF-8 ({e})")))?;
    let mut config: Config = toml::from_str(text).map_err(|e| {
        let line = e.span().and_then(|s| {
            let upto = text.get(..s.start).unwrap_or(text);
            u32::try_from(upto.matches('\n').count() + 1).ok()
        });
        fail(line, e.message().trim_end().to_owned())
    })?;
    validate(&mut config, host).map_err(|(place, message)| fail(locate(text, &place), message))?;
    Ok(Loaded {
        config,
        warnings: Vec::new(),
    })
}

/// Runs the legacy parser's checks on a deserialised configuration and
/// fills in what the legacy parser derives (truncated names, masked home
/// prefixes, `ha_interface`).
fn validate(c: &mut Config, host: &dyn Host) -> Result<(), (Place<'static>, String)> {
    for s in SETTINGS {
        if let Kind::Number { get, check, .. } = s.kind {
            check(get(c)).map_err(|m| (top(s.key), m))?;
        }
    }
    for s in SETTINGS {
        if let Kind::Decimal { get, .. } = s.kind {
            check::seconds_value(s.key, get(c)).map_err(|m| (top(s.key), m))?;
        }
    }
    let role = c.node_config;
    for (i, iface) in c.interface.iter_mut().enumerate() {
        let written = std::mem::take(&mut iface.name);
        iface.name = truncate_if_name(&written);
        check::if_preference(u32::from(iface.mn_if_preference))
            .map_err(|m| (within("interface", i, "mn_if_preference"), m))?;
        let role_at_entry = match iface.ha_interface {
            Some(true) => Role::HomeAgent,
            Some(false) => Role::CorrespondentNode,
            None => role,
        };
        let ha = check::interface(iface, &written, role_at_entry, host)
            .map_err(|m| (within("interface", i, "name"), m))?;
        iface.ha_interface = Some(ha);
    }
    for (i, link) in c.mn_home_link.iter_mut().enumerate() {
        let written = std::mem::take(&mut link.interface);
        link.interface = truncate_if_name(&written);
        link.home_prefix = link
            .home_prefix
            .map(|p| p.masked())
            .filter(|p| !p.addr.is_unspecified());
        check::home_link(link, &written, host)
            .map_err(|m| (within("mn_home_link", i, "home_address"), m))?;
    }
    let mut done: Vec<Expanded> = Vec::new();
    for (i, set) in c.ipsec_policy_set.iter().enumerate() {
        let place = || within("ipsec_policy_set", i, "ipsec_policy");
        if set.ipsec_policy.is_empty() {
            return Err((place(), "IPsecPolicySet has no IPsecPolicy".to_owned()));
        }
        for p in &set.ipsec_policy {
            if p.protocols.len() > 3 {
                return Err((place(), "IPsecPolicy takes at most 3 protocols".to_owned()));
            }
            check::ipsec_policy(set.home_agent_address, &set.home_address, p, &mut done)
                .map_err(|m| (place(), m))?;
        }
    }
    Ok(())
}

/// The configuration in TOML form; reading it back gives the same [`Config`].
pub fn to_toml(config: &Config) -> String {
    match toml::to_string(config) {
        Ok(body) => format!("# mip6d configuration, TOML form\n{body}"),
        // Every field of Config has a TOML representation.
        Err(e) => format!("# cannot render the configuration as TOML: {e}\n"),
    }
}
