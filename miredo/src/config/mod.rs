//! Configuration files of `miredo`, `miredo-server` and `miredo-checkconf`.
//!
//! Two syntaxes describe the same model:
//! - the legacy line-oriented `miredo.conf` format, parsed by
//!   [`lexer::parse_directives`] into a raw directive list;
//! - a TOML form (our extension), chosen when the file name ends in `.toml`.
//!
//! Both go through the same typed extraction ([`model`]), so values, defaults
//! and messages are identical. Pure functions take the text and a file name
//! (used for messages and to pick the syntax); [`load_miredo`] and
//! [`load_serverd`] read the file first.
//!
//! Messages keep miredo's exact texts. [`Diagnostic::render`] adds a
//! `<file>:<line>: ` (or `<file>: `) prefix for stderr output; the daemons log
//! the bare text to syslog like miredo.

use std::fmt;
use std::io::Read;
use std::path::Path;

pub mod directives;
pub mod lexer;
pub mod model;
pub mod toml_form;
pub mod values;

pub use lexer::{parse_directives, Directive, Directives};
pub use model::{
    extract_miredo, extract_serverd, MiredoConfig, ServerdConfig, DEFAULT_MTU,
    DEFAULT_PEER_QUEUE_BUDGET, MAX_SUPERFLUOUS,
};
pub use toml_form::{miredo_to_toml, serverd_to_toml};
pub use values::{
    is_valid_prefix, parse_c_u16, parse_c_u32, prefix_to_string, Facility, LiteralResolver,
    PortMapping, RelayType, Resolver, SystemResolver, DEFAULT_PREFIX,
};

/// How serious a configuration message is. The daemons go on after
/// warnings; `miredo-checkconf` fails on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Logged at LOG_WARNING; not fatal for the daemons.
    Warning,
    /// Logged at LOG_ERR; the configuration is rejected.
    Error,
}

/// One configuration message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The line the message is about, if any.
    pub line: Option<u32>,
    /// miredo's message text, without file name.
    pub message: String,
    /// `true` when the text already names the file (read errors), so no
    /// file prefix is added when rendering.
    pub names_file: bool,
}

impl Diagnostic {
    /// A warning about `line`.
    pub fn warning(line: Option<u32>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            line,
            message: message.into(),
            names_file: false,
        }
    }

    /// An error about `line`.
    pub fn error(line: Option<u32>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            line,
            message: message.into(),
            names_file: false,
        }
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The message as printed on stderr: `<file>:<line>: <text>`,
    /// `<file>: <text>` when there is no line, or the bare text when it
    /// already names the file.
    pub fn render(&self, file: &str) -> String {
        match (self.names_file, self.line) {
            (true, _) => self.message.clone(),
            (false, Some(l)) => format!("{file}:{l}: {}", self.message),
            (false, None) => format!("{file}: {}", self.message),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// All messages about one configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The file name used in rendered messages.
    pub file: String,
    /// Messages in the order miredo would emit them.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// An empty report about `file`.
    pub fn new(file: impl Into<String>) -> Self {
        Report {
            file: file.into(),
            diagnostics: Vec::new(),
        }
    }

    /// Whether any message is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Whether there is no message at all (what checkconf calls clean).
    pub fn is_clean(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// Every message rendered for stderr (see [`Diagnostic::render`]).
    pub fn rendered(&self) -> Vec<String> {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.file))
            .collect()
    }
}

/// The result of parsing: the configuration plus its warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded<T> {
    /// The configuration.
    pub config: T,
    /// Warnings only (an error gives `Err(Report)` instead).
    pub report: Report,
}

/// Naming style of a directive list, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// `miredo.conf` directive names (`BindPort`).
    #[default]
    Legacy,
    /// TOML keys (`bind_port`).
    Toml,
}

/// The two syntaxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The line-oriented `miredo.conf` syntax.
    Legacy,
    /// TOML.
    Toml,
}

impl Format {
    /// TOML when the name ends in `.toml`, else legacy.
    pub fn from_file_name(file: &str) -> Self {
        if file.ends_with(".toml") {
            Format::Toml
        } else {
            Format::Legacy
        }
    }
}

static SYSTEM_RESOLVER: SystemResolver = SystemResolver;

/// What the caller wants from the typed extraction.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// The `SERVER_NAME` command-line argument: overrides `ServerAddress`
    /// (miredo, client mode) or `ServerBindAddress` (miredo-server).
    pub server_name: Option<&'a str>,
    /// checkconf semantics: resolve `ServerAddress`/`ServerAddress2`, no
    /// warning for the `restricted` relay type.
    pub checkconf: bool,
    /// Resolver for host names.
    pub resolver: &'a dyn Resolver,
}

impl fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("server_name", &self.server_name)
            .field("checkconf", &self.checkconf)
            .finish_non_exhaustive()
    }
}

impl Options<'static> {
    /// Daemon semantics with the system resolver.
    pub fn daemon() -> Self {
        Options {
            server_name: None,
            checkconf: false,
            resolver: &SYSTEM_RESOLVER,
        }
    }

    /// checkconf semantics with the system resolver.
    pub fn checkconf() -> Self {
        Options {
            checkconf: true,
            ..Options::daemon()
        }
    }
}

impl<'a> Options<'a> {
    /// Sets the `SERVER_NAME` override.
    pub fn with_server_name<'b>(self, server_name: Option<&'b str>) -> Options<'b>
    where
        'a: 'b,
    {
        Options {
            server_name,
            ..self
        }
    }

    /// Uses another resolver (tests use [`LiteralResolver`]).
    pub fn with_resolver<'b>(self, resolver: &'b dyn Resolver) -> Options<'b>
    where
        'a: 'b,
    {
        Options { resolver, ..self }
    }
}

/// Lexes `text` in the syntax given by `file`'s name.
fn directives_of(text: &[u8], file: &str, kind: toml_form::Kind) -> (Option<Directives>, Report) {
    let mut report = Report::new(file);
    match Format::from_file_name(file) {
        Format::Legacy => {
            let (d, diags) = parse_directives(text);
            report.diagnostics = diags;
            (Some(d), report)
        }
        Format::Toml => match toml_form::toml_directives(text, kind) {
            Ok(d) => (Some(d), report),
            Err(diags) => {
                report.diagnostics = diags;
                (None, report)
            }
        },
    }
}

/// Parses a `miredo.conf` (legacy or TOML, by `file`'s suffix).
pub fn parse_miredo(
    text: &[u8],
    file: &str,
    opts: &Options<'_>,
) -> Result<Loaded<MiredoConfig>, Report> {
    let (d, mut report) = directives_of(text, file, toml_form::Kind::Miredo);
    let mut d = d.ok_or_else(|| report.clone())?;
    let config = extract_miredo(&mut d, opts, &mut report.diagnostics);
    match config {
        Some(config) if !report.has_errors() => Ok(Loaded { config, report }),
        _ => Err(report),
    }
}

/// Parses a `miredo-server.conf` (legacy or TOML, by `file`'s suffix).
pub fn parse_serverd(
    text: &[u8],
    file: &str,
    opts: &Options<'_>,
) -> Result<Loaded<ServerdConfig>, Report> {
    let (d, mut report) = directives_of(text, file, toml_form::Kind::Serverd);
    let mut d = d.ok_or_else(|| report.clone())?;
    let config = extract_serverd(&mut d, opts, &mut report.diagnostics);
    match config {
        Some(config) if !report.has_errors() => Ok(Loaded { config, report }),
        _ => Err(report),
    }
}

/// `strerror`-style text of an I/O error (no "(os error N)" suffix).
pub fn io_error_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_owned(),
        None => e.to_string(),
    }
}

/// Reads a configuration file, with miredo's read-error messages.
pub fn read_file(path: &Path) -> Result<Vec<u8>, Report> {
    let file = path.display().to_string();
    let fail = |message: String| Report {
        file: file.clone(),
        diagnostics: vec![Diagnostic {
            names_file: true,
            ..Diagnostic::error(None, message)
        }],
    };
    let mut f = std::fs::File::open(path).map_err(|e| {
        fail(format!(
            "Error opening configuration file {file}: {}",
            io_error_text(&e)
        ))
    })?;
    let mut text = Vec::new();
    f.read_to_end(&mut text).map_err(|e| {
        fail(format!(
            "Error reading configuration file: {}",
            io_error_text(&e)
        ))
    })?;
    Ok(text)
}

/// Reads and parses a `miredo.conf`.
pub fn load_miredo(path: &Path, opts: &Options<'_>) -> Result<Loaded<MiredoConfig>, Report> {
    let text = read_file(path)?;
    parse_miredo(&text, &path.display().to_string(), opts)
}

/// Reads and parses a `miredo-server.conf`.
pub fn load_serverd(path: &Path, opts: &Options<'_>) -> Result<Loaded<ServerdConfig>, Report> {
    let text = read_file(path)?;
    parse_serverd(&text, &path.display().to_string(), opts)
}

#[cfg(test)]
mod tests;
