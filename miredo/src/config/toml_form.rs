//! The TOML form of the configuration files (our extension).
//!
//! Keys are the directive names in snake_case (`BindPort` → `bind_port`).
//! A TOML file is turned into the same directive list as a legacy file, so
//! the typed extraction, defaults and messages are shared. Unknown keys and
//! wrongly typed values are errors with the line of the offending key.

use std::fmt::Write as _;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::lexer::{Directive, Directives};
use super::model::{MiredoConfig, ServerdConfig};
use super::values::prefix_to_string;
use super::{Diagnostic, Style};

/// Which file the TOML text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `miredo.conf`.
    Miredo,
    /// `miredo-server.conf`.
    Serverd,
}

const KEYS: [(&str, &str); 13] = [
    ("RelayType", "relay_type"),
    ("ServerAddress", "server_address"),
    ("ServerAddress2", "server_address2"),
    ("Prefix", "prefix"),
    ("InterfaceMTU", "interface_mtu"),
    ("InterfaceName", "interface_name"),
    ("BindAddress", "bind_address"),
    ("BindPort", "bind_port"),
    ("SyslogFacility", "syslog_facility"),
    ("ClientHook", "client_hook"),
    ("PeerQueueBudget", "peer_queue_budget"),
    ("ServerBindAddress", "server_bind_address"),
    ("ServerBindAddress2", "server_bind_address2"),
];

/// The TOML key of a directive (`InterfaceMTU` → `interface_mtu`).
pub fn key_of(directive: &str) -> String {
    KEYS.iter()
        .find(|(d, _)| d.eq_ignore_ascii_case(directive))
        .map_or_else(|| directive.to_ascii_lowercase(), |(_, k)| (*k).to_owned())
}

type Str = Option<Spanned<String>>;
type Int = Option<Spanned<i64>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MiredoToml {
    relay_type: Str,
    server_address: Str,
    server_address2: Str,
    prefix: Str,
    interface_mtu: Int,
    interface_name: Str,
    bind_address: Str,
    bind_port: Int,
    syslog_facility: Str,
    client_hook: Str,
    peer_queue_budget: Int,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerdToml {
    server_bind_address: Str,
    server_bind_address2: Str,
    prefix: Str,
    interface_mtu: Int,
    syslog_facility: Str,
}

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
    fn s(&mut self, key: &'static str, v: Str) {
        if let Some(v) = v {
            let span = v.span();
            let value = v.into_inner();
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
    }

    fn i(&mut self, key: &'static str, v: Int) {
        if let Some(v) = v {
            let span = v.span();
            self.entries.push((span, key, v.into_inner().to_string()));
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
            .map(|(span, key, value)| Directive::new(key, value, line_of(self.text, span.start)))
            .collect();
        Ok(Directives::with_style(items, Style::Toml))
    }
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
    let mut c = Collector {
        text,
        entries: Vec::new(),
        errors: Vec::new(),
    };
    match kind {
        Kind::Miredo => {
            let t: MiredoToml = toml::from_str(text).map_err(serde_err)?;
            c.s("relay_type", t.relay_type);
            c.s("server_address", t.server_address);
            c.s("server_address2", t.server_address2);
            c.s("prefix", t.prefix);
            c.i("interface_mtu", t.interface_mtu);
            c.s("interface_name", t.interface_name);
            c.s("bind_address", t.bind_address);
            c.i("bind_port", t.bind_port);
            c.s("syslog_facility", t.syslog_facility);
            c.s("client_hook", t.client_hook);
            c.i("peer_queue_budget", t.peer_queue_budget);
        }
        Kind::Serverd => {
            let t: ServerdToml = toml::from_str(text).map_err(serde_err)?;
            c.s("server_bind_address", t.server_bind_address);
            c.s("server_bind_address2", t.server_bind_address2);
            c.s("prefix", t.prefix);
            c.i("interface_mtu", t.interface_mtu);
            c.s("syslog_facility", t.syslog_facility);
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
    kv("relay_type", quote(c.relay_type.keyword()));
    if c.relay_type.is_client() {
        if let Some(s) = &c.server_address {
            kv("server_address", quote(s));
        }
        if let Some(s) = &c.server_address2 {
            kv("server_address2", quote(s));
        }
        if let Some(p) = &c.client_hook {
            kv("client_hook", quote(&p.to_string_lossy()));
        }
    } else {
        kv("prefix", quote(&prefix_to_string(c.prefix)));
        kv("interface_mtu", c.interface_mtu.to_string());
    }
    if let Some(s) = &c.interface_name {
        kv("interface_name", quote(s));
    }
    if let Some(a) = c.bind_address {
        kv("bind_address", quote(&a.to_string()));
    }
    kv("bind_port", c.bind_port.to_string());
    kv("syslog_facility", quote(c.syslog_facility.keyword()));
    if c.peer_queue_budget != super::model::DEFAULT_PEER_QUEUE_BUDGET {
        kv("peer_queue_budget", c.peer_queue_budget.to_string());
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
        "server_bind_address",
        quote(&c.server_bind_address.to_string()),
    );
    if let Some(a) = c.server_bind_address2 {
        kv("server_bind_address2", quote(&a.to_string()));
    }
    kv("prefix", quote(&prefix_to_string(c.prefix)));
    kv("interface_mtu", c.interface_mtu.to_string());
    kv("syslog_facility", quote(c.syslog_facility.keyword()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(key_of("InterfaceMTU"), "interface_mtu");
        assert_eq!(key_of("bindport"), "bind_port");
        assert_eq!(key_of("Other"), "other");
    }

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
