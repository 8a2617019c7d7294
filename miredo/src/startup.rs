//! The start-up sequence shared by `miredo` (client and relay) and
//! `miredo-server`, in miredo's order: command line, logging, configuration,
//! `-t` check, user lookup, then (after each binary's own checks) going to the
//! background and locking the pidfile. Every step reports on stderr or in the
//! log with miredo's wording and ends the start with exit 1.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use daemon::logging::{LogConfig, LogHandle};
use daemon::pidfile::{strerror, Pidfile};
use daemon::privileges::User;
use tracing::{error, warn};

use crate::cli::{self, Action, Cli, Program};
use crate::config::{self, Loaded, MiredoConfig, Options, Report, ServerdConfig};

/// A daemon's configuration file: its grammar and the settings start-up reads.
pub trait DaemonConfig: Sized {
    /// Parses the file's text (miredo's or miredo-server's grammar).
    fn parse(text: &[u8], file: &str, opts: &Options<'_>) -> Result<Loaded<Self>, Report>;
    /// The `SyslogFacility` keyword.
    fn facility_keyword(&self) -> &'static str;
}

impl DaemonConfig for MiredoConfig {
    fn parse(text: &[u8], file: &str, opts: &Options<'_>) -> Result<Loaded<Self>, Report> {
        config::parse_miredo(text, file, opts)
    }

    fn facility_keyword(&self) -> &'static str {
        self.syslog_facility.keyword()
    }
}

impl DaemonConfig for ServerdConfig {
    fn parse(text: &[u8], file: &str, opts: &Options<'_>) -> Result<Loaded<Self>, Report> {
        config::parse_serverd(text, file, opts)
    }

    fn facility_keyword(&self) -> &'static str {
        self.syslog_facility.keyword()
    }
}

/// The entry point of `program`: parses the command line, answers `-h` and
/// `-V`, and otherwise runs `run`, whose return value is the exit status.
pub fn main(program: Program, run: impl FnOnce(&Cli) -> i32) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match cli::parse_args(program, &args) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("{e}");
            return exit(e.exit_code);
        }
    };
    match cli.action {
        Action::Help => {
            print!("{}", cli::usage(cli.program));
            return ExitCode::SUCCESS;
        }
        Action::Version => {
            print!("{}", cli::version_banner());
            return ExitCode::SUCCESS;
        }
        Action::Run => {}
    }
    for w in &cli.warnings {
        eprintln!("{w}");
    }
    exit(run(&cli))
}

/// The process exit status for a daemon's return code.
pub fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// What the common part of start-up leaves to the binary.
pub struct Started<T> {
    /// The logger, to change the facility on reload (`None`: stderr only
    /// could not even be set up, already said).
    pub log: Option<LogHandle>,
    /// The configuration.
    pub conf: T,
    /// The unprivileged user (`-u`).
    pub user: User,
}

/// Logging, the configuration, its facility, the `-t` check and the user
/// lookup. `reloads` says why `-t` is not applied (the end of a warning).
/// `None` after a failure already reported.
pub fn begin<T: DaemonConfig>(cli: &Cli, reloads: &str) -> Option<Started<T>> {
    // Logging first (stderr; syslog when /dev/log exists), so configuration
    // messages go where miredo's go.
    let log = match daemon::logging::init(&LogConfig::new(cli.program.name())) {
        Ok(h) => Some(h),
        Err(e) => {
            eprintln!("logging: {e}");
            None
        }
    };
    let conf = load::<T>(cli)?;
    apply_facility(log.as_ref(), &conf);
    if let Some(dir) = &cli.chroot_dir {
        if let Err(e) = check_chroot_dir(dir) {
            eprintln!("{e}");
            return None;
        }
        // Checked like miredo's, not applied: see docs/compat.md ("-t").
        warn!(
            "chroot directory {} is not used: this daemon {reloads}, \
             confine it with the service manager instead",
            dir.display()
        );
    }
    let user = match daemon::privileges::lookup_user(&cli.user) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("{e}");
            return None;
        }
    };
    Some(Started { log, conf, user })
}

/// Sets the facility of later log lines to the configuration's.
pub fn apply_facility<T: DaemonConfig>(log: Option<&LogHandle>, conf: &T) {
    if let (Some(log), Ok(f)) = (log, conf.facility_keyword().parse()) {
        log.set_facility(f);
    }
}

/// Reads `cli.config_file` and parses it with `T`'s grammar, logging every
/// diagnostic as miredo does. `None` when the configuration is unusable.
pub fn load<T: DaemonConfig>(cli: &Cli) -> Option<T> {
    let file = cli.config_file.display().to_string();
    let opts = Options::daemon().with_server_name(cli.server_name.as_deref());
    let text = match config::read_file(&cli.config_file) {
        Ok(text) => text,
        Err(report) => {
            for line in report.rendered() {
                error!("{line}");
            }
            cli.server_name.as_ref()?;
            // miredo goes on with the SERVER_NAME argument alone.
            warn!("Loading configuration from {file} failed");
            Vec::new()
        }
    };
    match T::parse(&text, &file, &opts) {
        Ok(loaded) => {
            for line in loaded.report.rendered() {
                warn!("{line}");
            }
            Some(loaded.config)
        }
        Err(report) => {
            for line in report.rendered() {
                error!("{line}");
            }
            daemon::alert!("Fatal configuration error");
            None
        }
    }
}

/// `-t DIR` is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Error ({}): {reason}", dir.display())]
pub struct ChrootDirError {
    /// The directory given.
    pub dir: PathBuf,
    /// `strerror` of why.
    pub reason: String,
}

/// miredo's start-up check of `-t DIR`: it must exist, be a directory and be
/// searchable.
pub fn check_chroot_dir(dir: &Path) -> Result<(), ChrootDirError> {
    let fail = |e: &std::io::Error| ChrootDirError {
        dir: dir.to_path_buf(),
        reason: strerror(e),
    };
    let meta = std::fs::metadata(dir).map_err(|e| fail(&e))?;
    if !meta.is_dir() {
        return Err(fail(&std::io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    nix::unistd::access(dir, nix::unistd::AccessFlags::X_OK)
        .map_err(|e| fail(&std::io::Error::from_raw_os_error(e as i32)))
}

/// Goes to the background unless `-f` (the launcher waits for the outcome),
/// then creates and locks the pidfile, readable by `gid`. `None` after a
/// failure already reported on stderr.
pub fn detach_and_lock(cli: &Cli, gid: u32) -> Option<Pidfile> {
    let detached = if cli.foreground {
        None
    } else {
        match daemon::daemonize::daemonize() {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("fork: {e}");
                return None;
            }
        }
    };
    let pidfile = match Pidfile::create(&cli.pidfile) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            if let Some(hint) = e.hint() {
                eprintln!("{hint}");
            }
            if let Some(d) = detached {
                d.failure();
            }
            return None;
        }
    };
    // Group read access is a convenience for the service's group; the
    // pidfile works without it.
    let _ = pidfile.chown_group(gid);
    if let Some(d) = detached {
        d.success().ok()?;
    }
    Some(pidfile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chroot_dir_errors_read_like_miredos() {
        let dir = std::env::temp_dir().join(format!("miredo-startup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        assert_eq!(check_chroot_dir(&dir), Ok(()));
        let file = dir.join("file");
        std::fs::write(&file, b"").expect("write");
        assert_eq!(
            check_chroot_dir(&file).map_err(|e| e.to_string()),
            Err(format!("Error ({}): Not a directory", file.display()))
        );
        let missing = dir.join("missing");
        assert_eq!(
            check_chroot_dir(&missing).map_err(|e| e.to_string()),
            Err(format!(
                "Error ({}): No such file or directory",
                missing.display()
            ))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
