//! The TOML form of the configuration files (our extension).
//!
//! Keys are the directive names in snake_case (`BindPort` → `bind_port`).
//! A TOML file is turned into the same directive list as a legacy file, so
//! the typed extraction, defaults and messages are shared. Unknown keys and
//! wrongly typed values are errors with the line of the offending key.

use std::fmt::Write as _;
use std::ops::Range;

use std::collections::BTreeMap;

use serde::de::{self, Unexpected};
use toml::Spanned;

use super::directives::{
    Directive, ALL, BIND_ADDRESS, BIND_PORT, CLIENT_HOOK, INTERFACE_MTU, INTERFACE_NAME,
    LOCAL_DISCOVERY, PEER_QUEUE_BUDGET, PORT_MAPPING, PREFIX, RELAY_TYPE, SERVER_ADDRESS,
    SERVER_ADDRESS2, SERVER_BIND_ADDRESS, SERVER_BIND_ADDRESS2, SERVER_WORKERS, SYSLOG_FACILITY,
};
use super::lexer::{self, Directives};
use super::model::{MiredoConfig, ServerdConfig};
use super::values::{prefix_to_string, PortMapping};
use super::{Diagnostic, Style};

/// Which file the TOML text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `miredo.conf`.
    Miredo,
    /// `miredo-server.conf`.
    Serverd,
}

type Entries = BTreeMap<String, Spanned<toml::Value>>;

fn line_of(text: &str, offset: usize) -> u32 {
    let upto = text.get(..offset).unwrap_or(text);
    let n = upto.bytes().filter(|&b| b == b'\n').count();
    u32::try_from(n).unwrap_or(u32::MAX - 1) + 1
}

/// Collects `(key, value, span)` entries, then sorts them into file order.
struct Collector<'t> {
    text: &'t str,
    entries: Vec<(Range<usize>, &'static str, String)>,
    errors: Vec<Diagnostic>,
}

impl Collector<'_> {
    fn add(&mut self, key: &'static str, span: Range<usize>, value: String) {
        if value.is_empty() {
            let line = line_of(self.text, span.start);
            self.errors.push(Diagnostic::error(
                Some(line),
                format!("Empty value for {key} at line {line}"),
            ));
        } else {
            self.entries.push((span, key, value));
        }
    }

    fn finish(mut self) -> Result<Directives, Vec<Diagnostic>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        self.entries.sort_by_key(|(span, _, _)| span.start);
        let items = self
            .entries
            .into_iter()
            .map(|(span, key, value)| {
                lexer::Directive::new(key, value, line_of(self.text, span.start))
            })
            .collect();
        Ok(Directives::with_style(items, Style::Toml))
    }
}

/// How serde's derived deserializers name what they found.
fn unexpected(v: &toml::Value) -> Unexpected<'_> {
    match v {
        toml::Value::String(s) => Unexpected::Str(s),
        toml::Value::Integer(i) => Unexpected::Signed(*i),
        toml::Value::Float(f) => Unexpected::Float(*f),
        toml::Value::Boolean(b) => Unexpected::Bool(*b),
        toml::Value::Array(_) => Unexpected::Seq,
        toml::Value::Table(_) | toml::Value::Datetime(_) => Unexpected::Map,
    }
}

/// serde's text for a key that no field takes.
fn unknown_field(key: &str, allowed: &[&Directive]) -> String {
    let names: Vec<String> = allowed.iter().map(|d| format!("`{}`", d.key)).collect();
    match names.as_slice() {
        [] => format!("unknown field `{key}`, there are no fields"),
        [one] => format!("unknown field `{key}`, expected {one}"),
        [a, b] => format!("unknown field `{key}`, expected {a} or {b}"),
        _ => format!(
            "unknown field `{key}`, expected one of {}",
            names.join(", ")
        ),
    }
}

/// Checks each key against the directives of the file, in file order, with
/// the messages a derived `deny_unknown_fields` struct of `Option` fields gives.
fn check_keys(
    text: &str,
    entries: &Entries,
    allowed: &[&'static Directive],
) -> Result<(), Vec<Diagnostic>> {
    let mut in_order: Vec<(&String, &Spanned<toml::Value>)> = entries.iter().collect();
    in_order.sort_by_key(|(_, v)| v.span().start);
    for (key, value) in in_order {
        let fail = |message: String| {
            let line = line_of(text, value.span().start);
            Err(vec![Diagnostic::error(Some(line), message)])
        };
        let Some(d) = allowed.iter().find(|d| d.key == key.as_str()) else {
            return fail(unknown_field(key, allowed));
        };
        let fits = match value.get_ref() {
            toml::Value::Integer(_) => d.value.is_integer(),
            toml::Value::String(_) => !d.value.is_integer(),
            // Several servers, most preferred first (our extension).
            toml::Value::Array(a) => {
                d.key == SERVER_ADDRESS.key
                    && !a.is_empty()
                    && a.iter().all(|v| matches!(v, toml::Value::String(_)))
            }
            _ => false,
        };
        if !fits {
            let wanted = if d.value.is_integer() {
                "i64"
            } else if d.key == SERVER_ADDRESS.key {
                "a string or a non-empty array of strings"
            } else {
                "a string"
            };
            let e: toml::de::Error = de::Error::invalid_type(unexpected(value.get_ref()), &wanted);
            return fail(e.message().trim_end().to_owned());
        }
    }
    Ok(())
}

/// Parses TOML text into a directive list (TOML keys as names).
pub fn toml_directives(text: &[u8], kind: Kind) -> Result<Directives, Vec<Diagnostic>> {
    let text = std::str::from_utf8(text).map_err(|e| {
        let line = line_of(&String::from_utf8_lossy(text), e.valid_up_to());
        vec![Diagnostic::error(
            Some(line),
            format!("Invalid UTF-8 at line {line}"),
        )]
    })?;
    let serde_err = |e: toml::de::Error| {
        let line = e.span().map(|s| line_of(text, s.start));
        vec![Diagnostic::error(
            line,
            e.message().trim_end().replace('\n', "; "),
        )]
    };
    let entries: Entries = toml::from_str(text).map_err(serde_err)?;
    let allowed: Vec<&'static Directive> = ALL
        .iter()
        .filter(|d| d.in_file(kind == Kind::Serverd))
        .collect();
    check_keys(text, &entries, &allowed)?;
    let mut c = Collector {
        text,
        entries: Vec::new(),
        errors: Vec::new(),
    };
    for d in allowed {
        let Some(v) = entries.get(d.key) else {
            continue;
        };
        match v.get_ref() {
            toml::Value::String(s) => c.add(d.key, v.span(), s.clone()),
            toml::Value::Integer(i) => c.add(d.key, v.span(), i.to_string()),
            toml::Value::Array(a) => {
                for item in a {
                    if let toml::Value::String(s) = item {
                        c.add(d.key, v.span(), s.clone());
                    }
                }
            }
            // check_keys let only strings, integers and server lists through.
            _ => {}
        }
    }
    c.finish()
}

/// A TOML basic string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders a `miredo.conf` model as TOML (only the keys its mode uses, so
/// parsing the result gives the same configuration and no warning).
pub fn miredo_to_toml(c: &MiredoConfig) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(out, "{k} = {v}");
    };
    kv(RELAY_TYPE.key, quote(c.relay_type.keyword()));
    if c.relay_type.is_client() {
        if let Some(s) = &c.server_address {
            if c.fallback_servers.is_empty() {
                kv(SERVER_ADDRESS.key, quote(s));
            } else {
                let all: Vec<String> = std::iter::once(s)
                    .chain(&c.fallback_servers)
                    .map(|s| quote(s))
                    .collect();
                kv(SERVER_ADDRESS.key, format!("[{}]", all.join(", ")));
            }
        }
        if let Some(s) = &c.server_address2 {
            kv(SERVER_ADDRESS2.key, quote(s));
        }
        if let Some(p) = &c.client_hook {
            kv(CLIENT_HOOK.key, quote(&p.to_string_lossy()));
        }
        if c.port_mapping != PortMapping::default() {
            kv(PORT_MAPPING.key, quote(c.port_mapping.keyword()));
        }
        if !c.local_discovery {
            kv(LOCAL_DISCOVERY.key, quote("off"));
        }
    } else {
        kv(PREFIX.key, quote(&prefix_to_string(c.prefix)));
        kv(INTERFACE_MTU.key, c.interface_mtu.to_string());
    }
    if let Some(s) = &c.interface_name {
        kv(INTERFACE_NAME.key, quote(s));
    }
    if let Some(a) = c.bind_address {
        kv(BIND_ADDRESS.key, quote(&a.to_string()));
    }
    kv(BIND_PORT.key, c.bind_port.to_string());
    kv(SYSLOG_FACILITY.key, quote(c.syslog_facility.keyword()));
    if c.peer_queue_budget != super::model::DEFAULT_PEER_QUEUE_BUDGET {
        kv(PEER_QUEUE_BUDGET.key, c.peer_queue_budget.to_string());
    }
    out
}

/// Renders a `miredo-server.conf` model as TOML.
pub fn serverd_to_toml(c: &ServerdConfig) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(out, "{k} = {v}");
    };
    kv(
        SERVER_BIND_ADDRESS.key,
        quote(&c.server_bind_address.to_string()),
    );
    if let Some(a) = c.server_bind_address2 {
        kv(SERVER_BIND_ADDRESS2.key, quote(&a.to_string()));
    }
    kv(PREFIX.key, quote(&prefix_to_string(c.prefix)));
    kv(INTERFACE_MTU.key, c.interface_mtu.to_string());
    kv(SYSLOG_FACILITY.key, quote(c.syslog_facility.keyword()));
    if c.server_workers != 0 {
        kv(SERVER_WORKERS.key, c.server_workers.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
        let v: toml::Table =
            toml::from_str(&format!("k = {}", quote("x\"\\\u{7f}é\n"))).unwrap_or_default();
        assert_eq!(v.get("k").and_then(|v| v.as_str()), Some("x\"\\\u{7f}é\n"));
    }

    #[test]
    fn directives_in_file_order() {
        let d = toml_directives(b"bind_port = 5\n\nrelay_type = \"cone\"\n", Kind::Miredo);
        let d = d.unwrap_or_default();
        let v: Vec<_> = d
            .items()
            .iter()
            .map(|d| (d.name.as_str(), d.value.as_str(), d.line))
            .collect();
        assert_eq!(v, vec![("bind_port", "5", 1), ("relay_type", "cone", 3)]);
    }

    #[test]
    fn errors_carry_lines() {
        let e = toml_directives(b"relay_type = \"cone\"\nbogus = 1\n", Kind::Miredo);
        let e = e.err().unwrap_or_default();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(2));
        assert!(e[0].message.contains("unknown field `bogus`"), "{e:?}");
        let e = toml_directives(b"\nbind_port = \"x\"\n", Kind::Miredo);
        assert_eq!(e.err().unwrap_or_default()[0].line, Some(2));
        let e = toml_directives(b"server_address = \"\"\n", Kind::Miredo);
        assert_eq!(
            e.err().unwrap_or_default()[0].message,
            "Empty value for server_address at line 1"
        );
        let e = toml_directives(b"a\n\xff = 1\n", Kind::Serverd);
        assert_eq!(e.err().unwrap_or_default()[0].line, Some(2));
    }
}
