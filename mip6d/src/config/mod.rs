//! `mip6d.conf`: the legacy UMIP syntax and a TOML form of the
//! same model (our extension, chosen when the file name ends in `.toml`).
//!
//! - [`directives`] declares each directive once (keyword, TOML key, type and
//!   range, scope, default, `--show-config` line, reload effect); the modules
//!   below read it;
//! - [`lexer`] and [`parser`] read the legacy syntax with UMIP's rules and
//!   messages (`Error in configuration file F at line N: ...`);
//! - [`toml_form`] reads and writes the TOML form, with the same checks
//!   ([`check`] holds the ones both share);
//! - [`show`] prints the effective configuration as `--show-config` does;
//! - [`reload`] compares a re-read file with the running configuration (SIGHUP).
//!
//! Everything that looks at the system (interfaces that must exist, include
//! globs, included files) goes through [`Host`], so tests and the fuzzer can
//! parse without touching the machine.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub mod check;
pub mod directives;
pub mod glob;
pub mod ipsec;
pub mod lexer;
pub mod model;
pub mod parser;
pub mod prefix;
pub mod reload;
pub mod show;
pub mod toml_form;

pub use model::{
    seconds, truncate_if_name, BindingAclEntry, CnBindingPolicy, Config, HaTunnelDatapath,
    HomeLink, InterfaceConfig, IpsecPolicy, IpsecPolicySet, IpsecPolicyType, IpsecProtocol,
    MovementModule, Prefix, RoPolicy, Role, BA_STATUS_PROHIBITED, DEFAULT_MN_IF_PREFERENCE,
    MAX_BINDING_LIFETIME, MAX_RR_BINDING_LIFETIME,
};
pub use reload::{merge, reload, Change, ChangeEffect, ReloadError, Reloaded};
pub use show::{show_umip, to_legacy};
pub use toml_form::to_toml;

/// Default configuration file (`$(sysconfdir)/mip6d.conf` as distributions build UMIP).
pub const DEFAULT_CONFIG_FILE: &str = "/etc/mip6d.conf";

/// Command-line settings that override the file (`-d`, `-l`, `-C/-H/-M`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `-d`.
    pub debug_level: Option<u32>,
    /// `-l`.
    pub debug_log_file: Option<String>,
    /// `-C`, `-H`, `-M` (the last one given).
    pub node_config: Option<Role>,
}

impl Overrides {
    /// Writes the overrides into `config`.
    pub fn apply(&self, config: &mut Config) {
        if let Some(level) = self.debug_level {
            config.debug_level = level;
        }
        if let Some(file) = &self.debug_log_file {
            config.debug_log_file = Some(file.clone());
        }
        if let Some(role) = self.node_config {
            config.node_config = role;
        }
    }
}

/// Why `glob` found nothing to include.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobError {
    /// Nothing matched (a warning in UMIP).
    NoMatch,
    /// A directory could not be read (`GLOB_ABORTED`, fatal); the reason.
    Aborted(String),
}

/// What the parser needs from the system.
pub trait Host {
    /// Whether a network interface with this exact name exists now
    /// (`if_nametoindex` succeeds).
    fn interface_exists(&self, name: &str) -> bool;
    /// Expands an include pattern (`glob(3)` with `GLOB_ERR`).
    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, GlobError>;
    /// Reads an included file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
}

/// The real system: `if_nametoindex` (in the caller's network namespace,
/// which `/sys/class/net` need not show) and the file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemHost;

impl Host for SystemHost {
    fn interface_exists(&self, name: &str) -> bool {
        let Ok(c_name) = std::ffi::CString::new(name) else {
            return false;
        };
        // SAFETY: `c_name` is a valid NUL-terminated string that outlives the call;
        // if_nametoindex only reads it.
        unsafe { libc::if_nametoindex(c_name.as_ptr()) != 0 }
    }

    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, GlobError> {
        glob::glob(pattern)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// A host with a fixed set of interfaces; includes are read from the file
/// system. For tests and tools that check a file for another machine.
#[derive(Debug, Clone, Default)]
pub struct FixedInterfaces {
    /// The interfaces that exist.
    pub names: Vec<String>,
}

impl FixedInterfaces {
    /// A host whose interfaces are `names`.
    pub fn new<S: AsRef<str>>(names: &[S]) -> Self {
        FixedInterfaces {
            names: names.iter().map(|s| s.as_ref().to_owned()).collect(),
        }
    }
}

impl Host for FixedInterfaces {
    fn interface_exists(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, GlobError> {
        glob::glob(pattern)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// A host without files: every include pattern matches nothing. For the
/// fuzzer and for checking text that must not reach the file system.
#[derive(Debug, Clone, Default)]
pub struct Offline {
    /// The interfaces that exist.
    pub interfaces: Vec<String>,
}

impl Host for Offline {
    fn interface_exists(&self, name: &str) -> bool {
        self.interfaces.iter().any(|n| n == name)
    }

    fn glob(&self, _pattern: &str) -> Result<Vec<PathBuf>, GlobError> {
        Err(GlobError::NoMatch)
    }

    fn read(&self, _path: &Path) -> io::Result<Vec<u8>> {
        Err(io::ErrorKind::NotFound.into())
    }
}

/// A fatal configuration error, rendered in UMIP's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the error is in (an included file names itself).
    pub file: String,
    /// The line, when the error is about one.
    pub line: Option<u32>,
    /// What is wrong (UMIP's text where UMIP has one).
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "Error in configuration file {} at line {line}: {}",
                self.file, self.message
            ),
            None => write!(
                f,
                "Error in configuration file {}: {}",
                self.file, self.message
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A configuration that was read, and what was printed on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Non-fatal messages (unterminated strings, include patterns without a match).
    pub warnings: Vec<String>,
}

/// A configuration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// Non-fatal messages printed before the error.
    pub warnings: Vec<String>,
    /// The error.
    pub error: ConfigError,
    /// Set when the file itself could not be read (e.g. `NotFound`).
    pub unreadable: Option<io::ErrorKind>,
}

impl LoadError {
    /// Every line to print on stderr, in order.
    pub fn lines(&self) -> Vec<String> {
        let mut v = self.warnings.clone();
        v.push(self.error.to_string());
        v
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

impl std::error::Error for LoadError {}

/// The two syntaxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UMIP's `mip6d.conf`.
    Legacy,
    /// The TOML form of [`Config`].
    Toml,
}

impl Format {
    /// TOML when the name ends in `.toml`, else legacy.
    pub fn of_file(file: &str) -> Self {
        if file.ends_with(".toml") {
            Format::Toml
        } else {
            Format::Legacy
        }
    }
}

/// Parses `text`, the contents of `file`, in the syntax `file`'s name selects.
pub fn parse(text: &[u8], file: &str, host: &dyn Host) -> Result<Loaded, LoadError> {
    match Format::of_file(file) {
        Format::Legacy => parser::parse_legacy(text, file, host),
        Format::Toml => toml_form::parse_toml(text, file, host),
    }
}

/// Reads and parses a configuration file.
pub fn load(path: &Path, host: &dyn Host) -> Result<Loaded, LoadError> {
    let file = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| LoadError {
        warnings: Vec::new(),
        error: ConfigError {
            file: file.clone(),
            line: None,
            message: format!("cannot be read: {}", io_error_text(&e)),
        },
        unreadable: Some(e.kind()),
    })?;
    parse(&text, &file, host)
}

/// `strerror`-style text of an I/O error (no "(os error N)" suffix).
pub fn io_error_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}
