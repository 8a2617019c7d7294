//! SIGHUP: re-read the file and say what changes.
//!
//! UMIP re-parses into a fresh configuration (defaults plus file) and then
//! applies it option by option; some options cannot change at runtime, and a
//! different role aborts the whole reload. One deliberate difference: the
//! command-line overrides (`-d`, `-l`, `-C/-H/-M`) are applied to the new
//! file again, so a daemon started with `-M` and a file without
//! `NodeConfig MN` can still be reloaded (UMIP refuses every reload then).

use std::fmt;
use std::path::Path;

pub use super::directives::ChangeEffect;
use super::directives::{Kind, Reload, Setting, SETTINGS};
use super::model::Config;
use super::{load, Host, LoadError, Overrides};

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

/// Merges a freshly read configuration into the running one, setting by
/// setting as the [`SETTINGS`] table says (UMIP's reload rules, with the
/// deviations listed in `docs/compat.md`).
pub fn merge(running: &Config, new: &Config) -> Result<(Config, Vec<Change>), ReloadError> {
    if SETTINGS
        .iter()
        .any(|s| s.reload == Reload::Refuse && (s.differs)(running, new))
    {
        return Err(ReloadError::RoleChange);
    }
    let mut ranked: Vec<(u8, &Setting)> = SETTINGS
        .iter()
        .filter_map(|s| Some((s.reload.rank()?, s)))
        .collect();
    ranked.sort_by_key(|(rank, _)| *rank);
    let mut out = running.clone();
    let mut changes = Vec::new();
    for (_, s) in ranked {
        if !(s.differs)(running, new) {
            continue;
        }
        let effect = match (s.reload, s.kind) {
            (Reload::Effect(_, effect), _) => effect,
            (Reload::SwitchOnOnly(_), Kind::Bool { get, .. }) if get(new) => ChangeEffect::Applied,
            _ => ChangeEffect::NotChangeable,
        };
        if effect != ChangeEffect::NotChangeable {
            (s.adopt)(&mut out, new);
        }
        changes.push(Change {
            keyword: s.keyword,
            effect,
        });
    }
    Ok((out, changes))
}
