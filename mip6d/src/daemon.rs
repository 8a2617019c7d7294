//! The running daemon: logging, the kernel probe, a current-thread tokio
//! runtime, signals, and the role's driver ([`crate::ha`], [`crate::mn`]).
//!
//! - SIGTERM/SIGINT/SIGQUIT: orderly shutdown; the mobile node deregisters,
//!   every kernel object installed is removed and sysctls are restored;
//!   exit status 0 (`docs/compat.md`).
//! - SIGHUP: the file is re-read and merged ([`crate::config::reload`]);
//!   a broken file or a role change leaves the running configuration.
//! - A kernel without the Mobile IPv6 datapath: one message naming the
//!   missing `CONFIG_` options, exit status 1, before anything is touched.
//! - Going to the background as UMIP (`docs/compat.md`, [`Detach`]), but only
//!   after the configuration and the kernel probe passed, and the launching
//!   process exits only once the daemon is set up: its exit status says
//!   whether the start worked. `READY=1` goes to systemd at the same point.

use std::fs::File;
use std::path::PathBuf;

use daemon::daemonize::{self, Detached};
use daemon::logging::{self, LogConfig};
use daemon::pidfile::Pidfile;
use daemon::signals::{SignalEvent, Signals};
use netcfg::probe::{probe_kernel, KernelFeature};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::{Config, Overrides, Role};
use crate::control::{Control, Reloader};

/// What the daemon needs besides the configuration.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `argv[0]` (the syslog ident is its basename).
    pub argv0: String,
    /// The configuration file, for SIGHUP.
    pub config_file: PathBuf,
    /// Command-line overrides, applied again on reload.
    pub overrides: Overrides,
    /// `--pidfile`: lock this PID file, and always go to the background.
    pub pidfile: Option<PathBuf>,
}

/// Whether the daemon goes to the background (UMIP's `daemon_start` rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detach {
    /// Stay in the foreground: `DebugLevel` > 0 without a log file (debug
    /// output on stderr), or started by PID 1, which waits for nobody.
    Foreground,
    /// Fork; the launcher exits once the daemon is set up.
    Background,
}

impl Detach {
    /// `DebugLevel` 0, a debug log file, or `--pidfile` (an init script)
    /// mean the background, unless the parent is PID 1.
    pub fn decide(debug_level: u32, log_file: bool, pidfile: bool, parent_is_init: bool) -> Detach {
        if !parent_is_init && (debug_level == 0 || log_file || pidfile) {
            Detach::Background
        } else {
            Detach::Foreground
        }
    }
}

/// What start-up leaves for the running daemon: the launcher to release, the
/// PID file to hold, the debug log to write to.
#[derive(Debug)]
struct Startup {
    detached: Option<Detached>,
    debug_log: Option<File>,
    pidfile: Option<Pidfile>,
}

impl Startup {
    /// The daemon is set up: release the launcher (exit 0), point stderr at
    /// the debug log, tell systemd.
    fn ready(&mut self) {
        match self.detached.take() {
            Some(d) => {
                if let Err(e) = d.success_logging_to(self.debug_log.as_ref()) {
                    warn!("cannot detach from the terminal: {e}");
                }
            }
            None => {
                if let Some(log) = &self.debug_log {
                    if let Err(e) = daemonize::redirect_stderr(log) {
                        warn!("cannot write the debug log: {e}");
                    }
                }
            }
        }
        if let Err(e) = daemon::notify::ready() {
            warn!("sd_notify READY=1: {e}");
        }
    }

    /// Start-up failed: the launcher exits 1 (the error was logged to the
    /// terminal, which is still ours).
    fn failed(mut self) -> i32 {
        if let Some(d) = self.detached.take() {
            d.failure();
        }
        1
    }
}

/// Opens the debug log for appending (UMIP writes it only at `DebugLevel` > 0).
fn open_debug_log(config: &Config) -> std::io::Result<Option<File>> {
    match &config.debug_log_file {
        Some(path) if config.debug_level > 0 => std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map(Some),
        _ => Ok(None),
    }
}

/// The kernel features a role needs (the `CONFIG_` options `docs/compat.md` lists).
pub fn needed_features(role: Role) -> Vec<KernelFeature> {
    let mut f = vec![
        KernelFeature::XfrmUser,
        KernelFeature::XfrmSubPolicy,
        KernelFeature::Mip6,
    ];
    if role != Role::CorrespondentNode {
        f.push(KernelFeature::Ip6Tunnel);
        f.push(KernelFeature::Ipv6MultipleTables);
    }
    f
}

/// Runs the daemon until a terminating signal; returns the exit status.
pub fn run(config: Config, opts: RunOptions) -> i32 {
    let ident = std::path::Path::new(&opts.argv0)
        .file_name()
        .map_or_else(|| "mip6d".to_owned(), |n| n.to_string_lossy().into_owned());
    let mut log = LogConfig::new(ident);
    if std::env::var_os("RUST_LOG").is_none() {
        log.filter = Some(
            if config.debug_level > 0 {
                "debug"
            } else {
                "info"
            }
            .to_owned(),
        );
    }
    // UMIP copies the log to stderr (LOG_PERROR) only at DebugLevel > 0; at
    // 0 the terminal still gets the problems that stop the start.
    if config.debug_level == 0 {
        log.stderr_threshold = logging::Severity::Warning;
    }
    if let Err(e) = logging::init(&log) {
        eprintln!("{}: {e}", opts.argv0);
    }
    let role = config.node_config;
    // The probe runs in a throwaway namespace of its own thread, before the
    // runtime, so nothing in the daemon's namespace is touched by it.
    match probe_kernel() {
        Ok(probe) => {
            if let Some(msg) = probe.missing_message(&needed_features(role)) {
                error!("cannot run as {}: {msg}", role.long_name());
                return 1;
            }
        }
        Err(e) => {
            error!("kernel probe failed (mip6d needs CAP_SYS_ADMIN and CAP_NET_ADMIN): {e}");
            return 1;
        }
    }
    let debug_log = match open_debug_log(&config) {
        Ok(f) => f,
        Err(e) => {
            let path = config.debug_log_file.as_deref().unwrap_or_default();
            error!("cannot open the debug log file {path}: {e}");
            return 1;
        }
    };
    let detach = Detach::decide(
        config.debug_level,
        debug_log.is_some(),
        opts.pidfile.is_some(),
        daemonize::parent_is_init(),
    );
    // The probe's threads have been joined: the process is single threaded
    // again, as fork needs; the runtime starts after it.
    let detached = match detach {
        Detach::Foreground => None,
        Detach::Background => match daemonize::daemonize() {
            Ok(d) => Some(d),
            Err(e) => {
                error!("cannot go to the background: {e}");
                return 1;
            }
        },
    };
    let mut startup = Startup {
        detached,
        debug_log,
        pidfile: None,
    };
    if let Some(path) = &opts.pidfile {
        match Pidfile::create(path) {
            Ok(p) => startup.pidfile = Some(p),
            Err(e) => {
                error!("{}", e.to_string().replace('\n', ""));
                if let Some(hint) = e.hint() {
                    error!("{hint}");
                }
                return startup.failed();
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return startup.failed();
        }
    };
    rt.block_on(run_role(config, opts, startup))
}

async fn run_role(config: Config, opts: RunOptions, mut startup: Startup) -> i32 {
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return startup.failed();
        }
    };
    let (tx, rx) = mpsc::channel(8);
    // The correspondent node beside a home agent or mobile node gets the
    // same signals (RFC 6275 §8.2: every IPv6 node may be one).
    let (cn_tx, cn_rx) = mpsc::channel(8);
    let cn_signals = cn_tx.clone();
    tokio::spawn(async move {
        while let Some(sig) = signals.recv().await {
            let c = match sig {
                SignalEvent::Terminate(n) => {
                    let _ = daemon::notify::stopping();
                    Control::Terminate(n)
                }
                SignalEvent::Reload(_) => Control::Reload,
                SignalEvent::User1 | SignalEvent::User2 => continue,
            };
            let _ = cn_signals.try_send(c);
            if tx.send(c).await.is_err() {
                break;
            }
        }
    });
    let reloader = Reloader::new(opts.config_file.clone(), opts.overrides.clone());
    let role = config.node_config;
    info!(
        "umip-rs Mobile IPv6 for Linux {} started ({})",
        env!("CARGO_PKG_VERSION"),
        role.long_name()
    );
    let publisher = crate::publish::Publisher::start(role).await;
    let companion = if role == Role::CorrespondentNode {
        None
    } else {
        crate::cn::Companion::start(config.clone(), reloader.clone(), publisher.clone(), cn_rx)
            .await
    };
    // The launcher is released (and systemd told) once the role's own set-up
    // (sockets, kernel state, first dumps) worked, not before.
    let (ready, set_up) = tokio::sync::oneshot::channel::<()>();
    let role_run = async move {
        match role {
            Role::HomeAgent => crate::ha::run(config, reloader, rx, publisher, ready).await,
            Role::MobileNode => crate::mn::run(config, reloader, rx, publisher, ready).await,
            Role::CorrespondentNode => crate::cn::run(config, reloader, rx, publisher, ready).await,
        }
    };
    tokio::pin!(role_run);
    let status = tokio::select! {
        biased;
        r = set_up => match r {
            Ok(()) => {
                startup.ready();
                role_run.await
            }
            Err(_) => {
                // Set-up failed (and said why): the launcher exits 1.
                let _ = role_run.await;
                stop_companion(companion, &cn_tx).await;
                return startup.failed();
            }
        },
        // (The role ended without a word: a failure too.)
        _ = &mut role_run => {
            stop_companion(companion, &cn_tx).await;
            return startup.failed();
        }
    };
    stop_companion(companion, &cn_tx).await;
    info!(
        "umip-rs Mobile IPv6 for Linux {} stopped ({})",
        env!("CARGO_PKG_VERSION"),
        role.long_name()
    );
    // The PID file goes last: a waiting `start-stop-daemon --stop` returns
    // only once the kernel state is cleaned up.
    drop(startup);
    status
}

/// Stops the correspondent node beside the role (if it runs) and waits
/// for its kernel objects to be gone.
async fn stop_companion(companion: Option<crate::cn::Companion>, tx: &mpsc::Sender<Control>) {
    if let Some(c) = companion {
        let _ = tx.try_send(Control::Terminate(libc::SIGTERM));
        c.join().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detaches_as_umip() {
        use Detach::{Background, Foreground};
        // (DebugLevel, log file, --pidfile, parent is PID 1) -> mode
        let cases = [
            ((0, false, false, false), Background),
            ((0, false, false, true), Foreground),
            ((10, false, false, false), Foreground),
            ((10, true, false, false), Background),
            ((10, true, false, true), Foreground),
            ((10, false, true, false), Background),
            ((0, false, true, true), Foreground),
        ];
        for ((level, log, pid, init), want) in cases {
            assert_eq!(
                Detach::decide(level, log, pid, init),
                want,
                "{level} {log} {pid} {init}"
            );
        }
    }

    #[test]
    fn cn_needs_no_tunnel() {
        assert!(!needed_features(Role::CorrespondentNode).contains(&KernelFeature::Ip6Tunnel));
        assert!(needed_features(Role::MobileNode).contains(&KernelFeature::Ip6Tunnel));
    }
}
