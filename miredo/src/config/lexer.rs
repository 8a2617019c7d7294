//! The line-oriented syntax shared by `miredo.conf` and `miredo-server.conf`:
//! one directive per line, `Name Value`, the rest ignored.
//!
//! The lexer works on raw bytes so that any file (or fuzz input) can be fed
//! to it; names and values are converted to text lossily.

use super::{Diagnostic, Style};

/// Longest line text (without its newline) that is parsed; longer lines are
/// skipped with a warning. miredo reads lines into a 1056-byte buffer.
pub const MAX_LINE: usize = 1054;
/// Significant characters of a directive name; the rest spills into the value.
pub const MAX_NAME: usize = 31;
/// Longest value kept; the rest is dropped.
pub const MAX_VALUE: usize = 1023;

/// One `Name Value` line of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The name as written in the file (at most 31 characters).
    pub name: String,
    /// The value (second token, at most 1023 characters).
    pub value: String,
    /// 1-based line number.
    pub line: u32,
    consumed: bool,
}

impl Directive {
    /// A directive that has not been consumed yet.
    pub fn new(name: impl Into<String>, value: impl Into<String>, line: u32) -> Self {
        Directive {
            name: name.into(),
            value: value.into(),
            line,
            consumed: false,
        }
    }

    /// Whether the typed extraction has used this directive.
    pub fn is_consumed(&self) -> bool {
        self.consumed
    }
}

/// The directives of one file, in file order, with their "consumed" marks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    items: Vec<Directive>,
    pub(crate) style: Style,
}

impl Directives {
    /// Wraps a directive list (legacy naming style).
    pub fn new(items: Vec<Directive>) -> Self {
        Directives {
            items,
            style: Style::Legacy,
        }
    }

    pub(crate) fn with_style(items: Vec<Directive>, style: Style) -> Self {
        Directives { items, style }
    }

    /// All directives in file order.
    pub fn items(&self) -> &[Directive] {
        &self.items
    }

    /// Takes the *first* not-yet-consumed directive called `name`
    /// (case-insensitive) and marks it consumed. Later duplicates stay
    /// unconsumed and are reported as superfluous.
    pub fn take(&mut self, name: &str) -> Option<(String, u32)> {
        // First occurrence wins: only the very first match is ever eligible.
        let style = self.style;
        let d = self
            .items
            .iter_mut()
            .find(|d| names_match(style, &d.name, name))?;
        if d.consumed {
            return None;
        }
        d.consumed = true;
        Some((d.value.clone(), d.line))
    }

    /// Takes the first not-yet-consumed directive called `name`, for the
    /// directives that may be repeated (`ServerAddress`, our extension);
    /// [`Directives::take`] must have taken the first one.
    pub fn take_next(&mut self, name: &str) -> Option<(String, u32)> {
        let style = self.style;
        let d = self
            .items
            .iter_mut()
            .find(|d| !d.consumed && names_match(style, &d.name, name))?;
        d.consumed = true;
        Some((d.value.clone(), d.line))
    }

    /// How the directive `canonical` (e.g. `BindPort`) is called in
    /// messages: itself in legacy files, its key (`bind_port`) in TOML.
    pub fn label(&self, canonical: &str) -> String {
        match self.style {
            Style::Legacy => canonical.to_owned(),
            Style::Toml => super::directives::key_of(canonical),
        }
    }

    /// The unconsumed directives, reported as warnings (at most `max`).
    pub fn superfluous(&self, max: usize) -> Vec<Diagnostic> {
        self.items
            .iter()
            .filter(|d| !d.consumed)
            .take(max)
            .map(|d| {
                Diagnostic::warning(
                    Some(d.line),
                    format!("Superfluous directive {} at line {}", d.name, d.line),
                )
            })
            .collect()
    }
}

/// Legacy names compare case-insensitively; TOML keys (`bind_port`) match
/// the directive name they stand for (`BindPort`).
fn names_match(style: Style, stored: &str, wanted: &str) -> bool {
    match style {
        Style::Legacy => stored.eq_ignore_ascii_case(wanted),
        Style::Toml => stored == super::directives::key_of(wanted),
    }
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Splits `line` like `sscanf(line, " %31s %1023s")`: returns the name and
/// the value if there is one.
fn split(line: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let start = line.iter().position(|&b| !is_c_space(b))?;
    let rest = &line[start..];
    let tok_len = rest
        .iter()
        .position(|&b| is_c_space(b))
        .unwrap_or(rest.len());
    let name_len = tok_len.min(MAX_NAME);
    let name = &rest[..name_len];
    // Characters of an over-long name spill into the value (scanf quirk).
    let after = &rest[name_len..];
    let vstart = after.iter().position(|&b| !is_c_space(b));
    let value = vstart.map(|s| {
        let v = &after[s..];
        let vlen = v.iter().position(|&b| is_c_space(b)).unwrap_or(v.len());
        &v[..vlen.min(MAX_VALUE)]
    });
    Some((name, value))
}

/// Parses the text of a configuration file into directives plus the
/// lexical warnings ("Ignoring line N: …", "Skipped overly long line N").
///
/// Deviation from miredo 1.2.6: a final line without a trailing newline is
/// parsed instead of being silently dropped.
pub fn parse_directives(text: &[u8]) -> (Directives, Vec<Diagnostic>) {
    let mut items = Vec::new();
    let mut diags = Vec::new();
    let mut rest = text;
    let mut lineno: u32 = 0;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        lineno = lineno.saturating_add(1);
        if line.len() > MAX_LINE {
            diags.push(Diagnostic::warning(
                Some(lineno),
                format!("Skipped overly long line {lineno}"),
            ));
            continue;
        }
        let Some((name, value)) = split(line) else {
            continue; // blank line
        };
        if name.first() == Some(&b'#') {
            continue; // comment
        }
        let name = String::from_utf8_lossy(name).into_owned();
        match value {
            Some(v) => items.push(Directive::new(
                name,
                String::from_utf8_lossy(v).into_owned(),
                lineno,
            )),
            None => diags.push(Diagnostic::warning(
                Some(lineno),
                format!("Ignoring line {lineno}: {name}"),
            )),
        }
    }
    (Directives::new(items), diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(d: &Directives) -> Vec<(String, String, u32)> {
        d.items()
            .iter()
            .map(|d| (d.name.clone(), d.value.clone(), d.line))
            .collect()
    }

    #[test]
    fn basic_lines() {
        let (d, w) = parse_directives(
            b"# comment\n\n  \t\nServerAddress 192.0.2.1 # trailing\n#x y\nFoo\nBar  baz\tqux\n",
        );
        assert_eq!(
            names(&d),
            vec![
                ("ServerAddress".into(), "192.0.2.1".into(), 4),
                ("Bar".into(), "baz".into(), 7)
            ]
        );
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].message, "Ignoring line 6: Foo");
        assert_eq!(w[0].line, Some(6));
    }

    #[test]
    fn hash_inside_value_is_kept() {
        let (d, _) = parse_directives(b"InterfaceName te#redo\nA #b\n");
        assert_eq!(d.items()[0].value, "te#redo");
        assert_eq!(d.items()[1].value, "#b");
    }

    #[test]
    fn crlf_and_no_trailing_newline() {
        let (d, w) = parse_directives(b"A b\r\nC d");
        assert!(w.is_empty());
        assert_eq!(
            names(&d),
            vec![("A".into(), "b".into(), 1), ("C".into(), "d".into(), 2)]
        );
    }

    #[test]
    fn long_lines() {
        let mut text = Vec::new();
        text.extend_from_slice(b"A ");
        text.extend(std::iter::repeat_n(b'x', MAX_LINE - 2));
        text.push(b'\n');
        text.extend_from_slice(b"B ");
        text.extend(std::iter::repeat_n(b'y', MAX_LINE - 1));
        text.extend_from_slice(b"\nC d\n");
        let (d, w) = parse_directives(&text);
        assert_eq!(d.items().len(), 2);
        assert_eq!(d.items()[0].value.len(), MAX_VALUE);
        assert_eq!(d.items()[1].line, 3);
        assert_eq!(w[0].message, "Skipped overly long line 2");
    }

    #[test]
    fn long_name_spills_into_value() {
        let name = "N".repeat(40);
        let (d, w) = parse_directives(format!("{name} value\n").as_bytes());
        assert!(w.is_empty());
        assert_eq!(d.items()[0].name, "N".repeat(31));
        assert_eq!(d.items()[0].value, "N".repeat(9));
    }

    #[test]
    fn first_occurrence_wins() {
        let (mut d, _) = parse_directives(b"bindport 1\nBINDPORT 2\n");
        assert_eq!(d.take("BindPort"), Some(("1".into(), 1)));
        assert_eq!(d.take("BindPort"), None);
        let s = d.superfluous(5);
        assert_eq!(s[0].message, "Superfluous directive BINDPORT at line 2");
    }

    #[test]
    fn superfluous_capped() {
        let text: String = (1..=8).map(|i| format!("X{i} v\n")).collect();
        let (d, _) = parse_directives(text.as_bytes());
        assert_eq!(d.superfluous(5).len(), 5);
    }

    #[test]
    fn binary_garbage_does_not_panic() {
        let (_, _) = parse_directives(&[0xff, 0xfe, b' ', 0x80, b'\n', 0, b'\r']);
    }
}
