//! Logging: `tracing` events to stderr and to syslog, like miredo's
//! `openlog(ident, LOG_PID | LOG_PERROR, facility)`.
//!
//! Every event is written to stderr as `ident[pid]: message` (glibc's `LOG_PERROR`
//! format) and sent to the local syslog socket as an RFC 3164 datagram. Without a syslog
//! socket, stderr remains and a single line says so.
//!
//! Severity: `ERROR` → `LOG_ERR`, `WARN` → `LOG_WARNING`, `INFO` → `LOG_INFO`, `DEBUG` and
//! `TRACE` → `LOG_DEBUG`. An event may override it with a `syslog_level` field
//! (`"emerg"`, `"alert"`, `"crit"`, `"err"`, `"warning"`, `"notice"`, `"info"`,
//! `"debug"`); the [`notice!`](crate::notice), [`alert!`](crate::alert) and
//! [`crit!`](crate::crit) macros do that for the levels `tracing` lacks.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

pub use crate::priority::{Facility, Severity, UnknownFacility};
use crate::syslog::{self, SyslogWriter};

/// The field name that overrides an event's syslog severity.
pub const SYSLOG_LEVEL_FIELD: &str = "syslog_level";

/// How to set up logging.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The syslog ident (program name): `miredo`, `miredo-server`, `mip6d`.
    pub ident: String,
    /// The initial facility (miredo's default is `daemon`).
    pub facility: Facility,
    /// The syslog socket; `None` disables syslog. Default `/dev/log`.
    pub syslog_socket: Option<PathBuf>,
    /// Whether to copy messages to stderr (`LOG_PERROR`). Default on.
    pub stderr: bool,
    /// The least severe level copied to stderr: `Debug` (the default) copies all;
    /// `Warning` keeps a quiet daemon's start-up terminal to its problems.
    pub stderr_threshold: Severity,
    /// A filter in `RUST_LOG`'s target form (`info`, `warn,miredo=debug`);
    /// `None` reads `RUST_LOG`, falling back to `info`.
    pub filter: Option<String>,
}

impl LogConfig {
    /// Defaults for `ident`: facility daemon, `/dev/log`, stderr on, `RUST_LOG` or `info`.
    pub fn new(ident: impl Into<String>) -> Self {
        LogConfig {
            ident: ident.into(),
            facility: Facility::Daemon,
            syslog_socket: Some(PathBuf::from(syslog::DEFAULT_SOCKET)),
            stderr: true,
            stderr_threshold: Severity::Debug,
            filter: None,
        }
    }
}

/// Logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The filter directive does not parse.
    #[error("invalid log filter: {0}")]
    Filter(String),
    /// A global subscriber was already installed.
    #[error("logging already initialised: {0}")]
    AlreadyInit(String),
}

struct Shared {
    ident: String,
    facility: AtomicU8,
    stderr: bool,
    stderr_threshold: u8,
    syslog: Option<Mutex<SyslogWriter>>,
}

/// Changes the running logger (e.g. `SyslogFacility` on reload).
#[derive(Clone)]
pub struct LogHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogHandle")
            .field("ident", &self.shared.ident)
            .field("facility", &self.facility())
            .finish()
    }
}

impl LogHandle {
    /// Sets the facility of later messages.
    pub fn set_facility(&self, facility: Facility) {
        self.shared
            .facility
            .store(facility.code(), Ordering::Relaxed);
    }

    /// The current facility.
    pub fn facility(&self) -> Facility {
        Facility::from_code(self.shared.facility.load(Ordering::Relaxed))
    }

    /// Whether the syslog socket is currently connected.
    pub fn syslog_connected(&self) -> bool {
        self.shared
            .syslog
            .as_ref()
            .and_then(|m| m.lock().ok().map(|w| w.is_connected()))
            .unwrap_or(false)
    }
}

/// The `tracing` layer writing to stderr and syslog.
pub struct SyslogLayer {
    shared: Arc<Shared>,
}

/// Builds the layer and its handle without installing anything (for tests or custom
/// subscriber stacks). Says once on stderr when the syslog socket is unavailable.
pub fn layer(config: &LogConfig) -> (SyslogLayer, LogHandle) {
    let syslog = config.syslog_socket.as_ref().map(|path| {
        let (writer, err) = SyslogWriter::new(path.clone());
        if let Some(err) = err {
            if config.stderr {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{}[{}]: syslog socket {} unavailable ({}): logging to stderr only",
                    config.ident,
                    std::process::id(),
                    path.display(),
                    crate::pidfile::strerror(&err)
                );
            }
        }
        Mutex::new(writer)
    });
    let shared = Arc::new(Shared {
        ident: config.ident.clone(),
        facility: AtomicU8::new(config.facility.code()),
        stderr: config.stderr,
        stderr_threshold: config.stderr_threshold.code(),
        syslog,
    });
    (
        SyslogLayer {
            shared: shared.clone(),
        },
        LogHandle { shared },
    )
}

/// Installs the global subscriber: the [`SyslogLayer`] behind a per-target
/// level filter. (Not `EnvFilter`: its field-value regexes were a megabyte
/// of resident code for a feature no daemon log uses.)
pub fn init(config: &LogConfig) -> Result<LogHandle, LogError> {
    let filter = match &config.filter {
        Some(directive) => directive
            .parse::<Targets>()
            .map_err(|e| LogError::Filter(e.to_string()))?,
        None => std::env::var("RUST_LOG")
            .ok()
            .and_then(|v| v.parse::<Targets>().ok())
            .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO)),
    };
    let (layer, handle) = layer(config);
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init()
        .map_err(|e| LogError::AlreadyInit(e.to_string()))?;
    Ok(handle)
}

impl Shared {
    fn emit(&self, severity: Severity, message: &str) {
        let pid = std::process::id();
        if self.stderr && severity.code() <= self.stderr_threshold {
            // One write per message, as LOG_PERROR does.
            let line = format!("{}[{pid}]: {message}\n", self.ident);
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        if let Some(syslog) = &self.syslog {
            let facility = Facility::from_code(self.facility.load(Ordering::Relaxed));
            let line = syslog::format_line(
                facility,
                severity,
                &syslog::timestamp_now(),
                &self.ident,
                pid,
                message,
            );
            if let Ok(mut writer) = syslog.lock() {
                let _ = writer.send(line.as_bytes());
            }
        }
    }
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
    severity: Option<Severity>,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            SYSLOG_LEVEL_FIELD => self.severity = Severity::from_keyword(value),
            "message" => self.message.push_str(value),
            name => {
                let _ = write!(self.fields, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            SYSLOG_LEVEL_FIELD => {
                let s = format!("{value:?}");
                self.severity = Severity::from_keyword(s.trim_matches('"'));
            }
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for SyslogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let severity = visitor
            .severity
            .unwrap_or_else(|| Severity::from_level(event.metadata().level()));
        let mut text = visitor.message;
        text.push_str(&visitor.fields);
        self.shared.emit(severity, text.trim_start());
    }
}

/// Logs at syslog `NOTICE` (a `tracing` INFO event with `syslog_level = "notice"`).
///
/// `daemon::notice!("Exiting on signal {} ({})", signo, name);`
#[macro_export]
macro_rules! notice {
    ($($arg:tt)+) => {
        $crate::__tracing::info!(syslog_level = "notice", $($arg)+)
    };
}

/// Logs at syslog `ALERT` (a `tracing` ERROR event with `syslog_level = "alert"`).
#[macro_export]
macro_rules! alert {
    ($($arg:tt)+) => {
        $crate::__tracing::error!(syslog_level = "alert", $($arg)+)
    };
}

/// Logs at syslog `CRIT` (a `tracing` ERROR event with `syslog_level = "crit"`).
#[macro_export]
macro_rules! crit {
    ($($arg:tt)+) => {
        $crate::__tracing::error!(syslog_level = "crit", $($arg)+)
    };
}
