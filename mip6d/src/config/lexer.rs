//! Tokens of `mip6d.conf` and the `include` directive.
//!
//! The rules are flex's as UMIP 1.0 writes them: longest match wins between
//! an address, a number, a decimal and a word; keywords are case-sensitive;
//! `include "glob"` is expanded here, so included tokens are spliced into the
//! stream wherever the directive appears.

use std::net::Ipv6Addr;
use std::rc::Rc;

use super::{ConfigError, GlobError, Host};

/// Files may nest this deep below the main file.
pub const MAX_INCLUDE_DEPTH: usize = 5;

/// Reserved words that no grammar rule uses: a syntax error wherever they appear.
pub const RESERVED: &[&str] = &["LinkName", "IfName", "IPsecType", "DoRouteOptimization"];

/// Words that are values, not directives: IPsec policy types and
/// protocols, the built-in movement module, the roles.
pub const VALUE_WORDS: &[&str] = &[
    "HomeRegBinding",
    "Mh",
    "MobPfxDisc",
    "ICMP",
    "any",
    "TunnelHomeTesting",
    "TunnelMh",
    "TunnelPayload",
    "UseESP",
    "UseAH",
    "UseIPComp",
    "internal",
    "shared",
    "per-binding",
    "CN",
    "MN",
    "HA",
];

/// Every keyword the lexer knows (booleans apart): the directives of
/// [`directives`](super::directives), then [`VALUE_WORDS`], [`RESERVED`] last.
pub fn keywords() -> impl Iterator<Item = &'static str> {
    super::directives::keywords()
        .chain(VALUE_WORDS.iter().copied())
        .chain(RESERVED.iter().copied())
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A keyword (the canonical spelling).
    Keyword(&'static str),
    /// A word that is no keyword (always a syntax error).
    Word,
    /// `enabled allow true` / `disabled deny block false`.
    Bool(bool),
    /// Decimal digits; `None` when the value does not fit 32 bits.
    Number(Option<u32>),
    /// `digits.digits`.
    Decimal(f64),
    /// An IPv6 address in one of the accepted forms.
    Addr(Ipv6Addr),
    /// A quoted string, without its quotes.
    Str(String),
    /// One of `{ } ; / ( ) , =`.
    Punct(u8),
    /// Anything else (the text is the offending character or token).
    Invalid,
    /// End of the main file.
    Eof,
}

/// A token with where it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The kind and value.
    pub tok: Tok,
    /// The text as written (what `syntax error at '...'` quotes).
    pub text: String,
    /// Its line in `file`.
    pub line: u32,
    /// The file it was read from.
    pub file: Rc<str>,
}

struct Source {
    file: Rc<str>,
    text: Vec<u8>,
    pos: usize,
    line: u32,
    depth: usize,
}

/// The token stream of a file and everything it includes.
pub struct Lexer<'h> {
    stack: Vec<Source>,
    host: &'h dyn Host,
    /// Messages UMIP prints without failing (unterminated string, include
    /// pattern without match), in order.
    pub warnings: Vec<String>,
    eof_line: u32,
    main_file: Rc<str>,
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Whether `s` (hex digits and colons only) is `H(:H){0,n}` with H = 1–4 hex digits.
fn groups(s: &[u8], max_groups: usize) -> bool {
    let mut count = 0;
    for g in s.split(|&b| b == b':') {
        if g.is_empty() || g.len() > 4 {
            return false;
        }
        count += 1;
    }
    count <= max_groups
}

/// Whether `s` matches UMIP's address pattern as a whole: the full 8-group
/// form, `H(:H){0,6}::[H(:H){0,6}]`, or bare `::`.
fn addr_pattern(s: &[u8]) -> bool {
    if s == b"::" {
        return true;
    }
    match s.windows(2).position(|w| w == b"::") {
        None => groups(s, 8) && s.iter().filter(|&&b| b == b':').count() == 7,
        Some(i) => {
            let (left, right) = (&s[..i], &s[i + 2..]);
            !left.is_empty() && groups(left, 7) && (right.is_empty() || groups(right, 7))
        }
    }
}

/// Length of the longest address-pattern match at the start of `s` (0 if none).
fn addr_len(s: &[u8]) -> usize {
    let run = s
        .iter()
        .take(72)
        .take_while(|&&b| is_hex(b) || b == b':')
        .count();
    (2..=run)
        .rev()
        .find(|&n| addr_pattern(&s[..n]))
        .unwrap_or(0)
}

fn word_len(s: &[u8]) -> usize {
    let plain = match s.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => s
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
            .count(),
        _ => return 0,
    };
    // A hyphen joins words only in the value words that have one
    // (`per-binding`); elsewhere it stays the invalid character it was.
    let hyphenated = s
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        .count();
    let joined = std::str::from_utf8(&s[..hyphenated]).unwrap_or("");
    if hyphenated > plain && VALUE_WORDS.contains(&joined) {
        hyphenated
    } else {
        plain
    }
}

fn digits_len(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// Length of `digits.digits` at the start of `s` (0 if none).
fn decimal_len(s: &[u8]) -> usize {
    let d = digits_len(s);
    if d == 0 || s.get(d) != Some(&b'.') {
        return 0;
    }
    match digits_len(&s[d + 1..]) {
        0 => 0,
        f => d + 1 + f,
    }
}

fn word_token(w: &str) -> Tok {
    match w {
        "enabled" | "allow" | "true" => Tok::Bool(true),
        "disabled" | "deny" | "block" | "false" => Tok::Bool(false),
        _ => keywords().find(|k| *k == w).map_or(Tok::Word, Tok::Keyword),
    }
}

impl<'h> Lexer<'h> {
    /// A lexer over `text`, the contents of `file`.
    pub fn new(file: &str, text: &[u8], host: &'h dyn Host) -> Self {
        let file: Rc<str> = Rc::from(file);
        Lexer {
            stack: vec![Source {
                file: file.clone(),
                text: text.to_vec(),
                pos: 0,
                line: 1,
                depth: 0,
            }],
            host,
            warnings: Vec::new(),
            eof_line: 1,
            main_file: file,
        }
    }

    /// The next token; `Err` only for a failed `include`.
    pub fn next_token(&mut self) -> Result<Token, ConfigError> {
        loop {
            let depth = self.stack.len();
            let Some(src) = self.stack.last_mut() else {
                return Ok(Token {
                    tok: Tok::Eof,
                    text: String::new(),
                    line: self.eof_line,
                    file: self.main_file.clone(),
                });
            };
            let Some(&b) = src.text.get(src.pos) else {
                if depth == 1 {
                    self.eof_line = src.line;
                }
                self.stack.pop();
                continue;
            };
            match b {
                b'\n' => {
                    src.line += 1;
                    src.pos += 1;
                }
                // '\r' too, so that CRLF files read like LF files.
                b' ' | b'\t' | b'\r' => src.pos += 1,
                b'#' => {
                    while src.text.get(src.pos).is_some_and(|&c| c != b'\n') {
                        src.pos += 1;
                    }
                }
                b'"' => {
                    let rest = &src.text[src.pos + 1..];
                    match rest.iter().position(|&c| c == b'"' || c == b'\n') {
                        Some(end) if rest[end] == b'"' => {
                            let value = String::from_utf8_lossy(&rest[..end]).into_owned();
                            let token = Token {
                                text: format!("\"{value}\""),
                                tok: Tok::Str(value),
                                line: src.line,
                                file: src.file.clone(),
                            };
                            src.pos += end + 2;
                            return Ok(token);
                        }
                        other => {
                            // flex prints this and drops the rest of the line.
                            self.warnings.push("Unterminated string".to_owned());
                            src.pos += 1 + other.unwrap_or(rest.len());
                        }
                    }
                }
                _ => return self.scan_token(),
            }
        }
    }

    fn scan_token(&mut self) -> Result<Token, ConfigError> {
        let Some(src) = self.stack.last_mut() else {
            return self.next_token();
        };
        let s = &src.text[src.pos..];
        let (a, w, n, d) = (addr_len(s), word_len(s), digits_len(s), decimal_len(s));
        let longest = a.max(w).max(n).max(d);
        let (len, tok) = if longest == 0 {
            match s[0] {
                b'{' | b'}' | b';' | b'/' | b'(' | b')' | b',' | b'=' => (1, Tok::Punct(s[0])),
                _ => (utf8_len(s), Tok::Invalid),
            }
        } else if longest == a {
            let text = String::from_utf8_lossy(&s[..a]);
            (a, text.parse().map_or(Tok::Invalid, Tok::Addr))
        } else if longest == w {
            let text = String::from_utf8_lossy(&s[..w]);
            if text == "include" {
                if let Some(tok) = self.include(w)? {
                    return Ok(tok);
                }
                return self.next_token();
            }
            (w, word_token(&text))
        } else if longest == d {
            let text = String::from_utf8_lossy(&s[..d]);
            (d, text.parse().map_or(Tok::Invalid, Tok::Decimal))
        } else {
            let text = String::from_utf8_lossy(&s[..n]);
            (n, Tok::Number(text.parse().ok()))
        };
        let Some(src) = self.stack.last_mut() else {
            return self.next_token();
        };
        let end = (src.pos + len).min(src.text.len());
        let token = Token {
            tok,
            text: String::from_utf8_lossy(&src.text[src.pos..end]).into_owned(),
            line: src.line,
            file: src.file.clone(),
        };
        src.pos = end;
        Ok(token)
    }

    /// Handles `include "pattern"` at the current position (`w` is the
    /// length of the word `include`). Returns the word itself as a token when
    /// no quoted pattern follows on the same line, `None` when files were
    /// pushed (or nothing matched).
    fn include(&mut self, w: usize) -> Result<Option<Token>, ConfigError> {
        let Some(src) = self.stack.last_mut() else {
            return Ok(None);
        };
        let after = &src.text[src.pos + w..];
        let gap = after
            .iter()
            .take_while(|&&c| c == b' ' || c == b'\t')
            .count();
        let quoted = after.get(gap) == Some(&b'"');
        let close = after[(gap + 1).min(after.len())..]
            .iter()
            .position(|&c| c == b'"' || c == b'\n');
        let (line, file, depth) = (src.line, src.file.clone(), src.depth);
        let end = match close {
            Some(e) if quoted && after[gap + 1 + e] == b'"' => gap + 1 + e,
            _ => {
                let token = Token {
                    tok: Tok::Word,
                    text: "include".to_owned(),
                    line,
                    file,
                };
                src.pos += w;
                return Ok(Some(token));
            }
        };
        let pattern = String::from_utf8_lossy(&after[gap + 1..end]).into_owned();
        src.pos += w + end + 1;
        let fail = |message: String| ConfigError {
            file: file.to_string(),
            line: Some(line),
            message,
        };
        if depth >= MAX_INCLUDE_DEPTH {
            self.warnings.push(format!(
                "Reached {MAX_INCLUDE_DEPTH} inclusion levels in configuration files. Giving up"
            ));
            return Err(fail(format!(
                "include \"{pattern}\" nests deeper than {MAX_INCLUDE_DEPTH} levels"
            )));
        }
        let matches = match self.host.glob(&pattern) {
            Ok(m) => m,
            Err(GlobError::NoMatch) => Vec::new(),
            Err(GlobError::Aborted(e)) => {
                self.warnings
                    .push("An error was encountered in include directive.".to_owned());
                return Err(fail(format!("include \"{pattern}\": {e}")));
            }
        };
        if matches.is_empty() {
            self.warnings.push(format!(
                "WARNING: No match found for provided include pattern \"{pattern}\""
            ));
            return Ok(None);
        }
        let mut sources = Vec::with_capacity(matches.len());
        for path in matches {
            let text = self.host.read(&path).map_err(|e| {
                fail(format!(
                    "cannot read included file {}: {}",
                    path.display(),
                    super::io_error_text(&e)
                ))
            })?;
            sources.push(Source {
                file: Rc::from(path.display().to_string()),
                text,
                pos: 0,
                line: 1,
                depth: depth + 1,
            });
        }
        // Last match at the bottom, so the first is read first.
        self.stack.extend(sources.into_iter().rev());
        Ok(None)
    }
}

/// Length of the UTF-8 sequence that starts `s` (1 for a stray byte).
fn utf8_len(s: &[u8]) -> usize {
    let want = match s.first() {
        Some(b) if *b >= 0xf0 => 4,
        Some(b) if *b >= 0xe0 => 3,
        Some(b) if *b >= 0xc0 => 2,
        _ => 1,
    };
    if s.len() >= want && std::str::from_utf8(&s[..want]).is_ok() {
        want
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        assert_eq!(addr_len(b"2001:db8::1;"), 11);
        assert_eq!(addr_len(b"2001:db8::"), 10);
        assert_eq!(addr_len(b"::"), 2);
        assert_eq!(addr_len(b"::1"), 2);
        assert_eq!(addr_len(b"1:2:3:4:5:6:7:8"), 15);
        assert_eq!(addr_len(b"1:2:3:4:5:6:7:8:9"), 15);
        assert_eq!(addr_len(b"1:2"), 0);
        assert_eq!(addr_len(b"dead"), 0);
        assert_eq!(addr_len(b"FE80::A/64"), 7);
        assert_eq!(decimal_len(b"1.5;"), 3);
        assert_eq!(decimal_len(b"1."), 0);
        assert_eq!(decimal_len(b"2"), 0);
    }
}
