//! What a running role's driver gets from the daemon around it: control
//! messages from the signal task ([`Control`]), re-reading the
//! configuration on SIGHUP ([`Reloader`]), and its timer arm
//! ([`sleep_until`]).

use std::path::PathBuf;

use tracing::{error, info, warn};

use crate::config::{self, Config, Overrides, SystemHost};

/// What the signal task tells the role's driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Shut down (the signal number).
    Terminate(i32),
    /// Re-read the configuration.
    Reload,
}

/// Re-reads the configuration for a running driver.
#[derive(Debug, Clone)]
pub struct Reloader {
    file: PathBuf,
    overrides: Overrides,
}

impl Reloader {
    /// Re-reads `file` with the command line's `overrides` applied again.
    pub fn new(file: PathBuf, overrides: Overrides) -> Reloader {
        Reloader { file, overrides }
    }

    /// The merged configuration to run with, or `None` (logged) when the
    /// file is broken or names another role.
    pub fn reload(&self, running: &Config) -> Option<Config> {
        let _ = daemon::notify::reloading();
        match config::reload(running, &self.file, &self.overrides, &SystemHost) {
            Ok(r) => {
                for w in &r.warnings {
                    warn!("{w}");
                }
                for c in &r.changes {
                    info!("reload: {c}");
                }
                info!("configuration {} reloaded", self.file.display());
                notify_reloaded();
                Some(r.config)
            }
            Err(e) => {
                error!("reload of {} failed: {e}", self.file.display());
                notify_reloaded();
                None
            }
        }
    }
}

impl Reloader {
    /// The merged configuration, or the running one when the file is
    /// broken, without a word: for the correspondent node beside another
    /// role, whose driver already logs the reload.
    pub fn reload_quietly(&self, running: &Config) -> Config {
        config::reload(running, &self.file, &self.overrides, &SystemHost)
            .map_or_else(|_| running.clone(), |r| r.config)
    }

    /// What a role's loop does with a control message: a reload replaces
    /// `config` (kept when the file is broken); `false` means stop.
    pub fn handle(&self, control: Option<Control>, config: &mut Config) -> bool {
        match control {
            Some(Control::Reload) => {
                if let Some(new) = self.reload(config) {
                    *config = new;
                }
                true
            }
            Some(Control::Terminate(n)) => {
                info!("terminated ({})", daemon::signals::signal_name(n));
                false
            }
            None => false,
        }
    }
}

/// Sleeps until `deadline`, or forever without one (a role's timer arm).
pub async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Back to `READY=1` after `RELOADING=1`, whatever the reload's outcome.
fn notify_reloaded() {
    let _ = daemon::notify::ready();
}
