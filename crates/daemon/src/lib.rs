//! Process plumbing shared by the miredo-rs and umip-rs daemons.
//!
//! - [`getopt`]: glibc `getopt_long`'s command-line scan and messages;
//! - [`logging`]: `tracing` to stderr and syslog (`/dev/log`), miredo's facilities and
//!   severities ([`priority`]), with [`notice!`] and [`alert!`] for the levels `tracing` lacks;
//! - [`localtime`]: the broken-down local time for log timestamps;
//! - [`pidfile`]: the locked PID file of miredo (no trailing newline, unlinked on exit);
//! - [`privileges`]: user lookup, the switch to the unprivileged user keeping selected
//!   capabilities, and capability restriction for the root process;
//! - [`ratelimit`]: per-key limits on what a remote peer can make a daemon do (log, create state);
//! - [`signals`]: SIGINT/QUIT/TERM → terminate, SIGHUP → reload, SIGUSR1/2 harmless;
//! - [`notify`]: `sd_notify` READY/RELOADING/STOPPING/STATUS;
//! - [`daemonize`]: fork to the background, the launcher exiting once the PID file is
//!   locked. Call it before any thread (the tokio runtime) starts.

pub mod daemonize;
pub mod getopt;
pub mod localtime;
pub mod logging;
pub mod notify;
pub mod pidfile;
pub mod priority;
pub mod privileges;
pub mod ratelimit;
pub mod signals;
pub mod syslog;

#[doc(hidden)]
pub use tracing as __tracing;
