//! The `miredo-server` process: command line, `miredo-server.conf`, sockets,
//! privileges and the packet loop around [`teredo::server::Server`].
//!
//! # Process and privileges
//!
//! miredo-server 1.2.6 runs a root monitor and an unprivileged worker. We run one
//! process: as root it reads the configuration, checks it, opens the raw IPv6 socket
//! and binds UDP 3544 on both addresses, then it switches to the user (`-u`, default
//! `miredo`; Debian's init script passes `miredo-server`) keeping **no** capability
//! (see [`net`] for why the raw socket survives that). Binding happens before
//! daemonizing, so a bad address or a busy port fails the start with exit 1 even in
//! the background (miredo reports those only in its log).
//!
//! SIGHUP re-reads the configuration: new prefix and MTU apply at once, new addresses
//! rebind the UDP sockets (port 3544 needs no privilege); a configuration that does
//! not load keeps the previous one (miredo exits). Counters survive reloads.

pub mod net;
pub mod reaper;
pub mod workers;

use std::net::Ipv6Addr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use teredo::server::{DropReason, ServerConfig, ServerConfigError};
use tracing::{debug, error, info, warn};

use crate::cli::{Cli, Program};
use crate::config::{self, ServerdConfig};
use crate::startup::{self, Started};
use net::{RawIpv6, StdUdpPair, UdpPair};
use workers::Workers;

/// Largest UDP payload received: a UDP datagram in an IPv4 packet (RFC 768, RFC 791).
const RECV_BUFFER: usize = 65507;
/// How often counters are published on D-Bus (when they changed).
const PUBLISH_PERIOD: Duration = Duration::from_secs(1);

/// Entry point of the `miredo-server` binary.
pub fn main_server() -> ExitCode {
    startup::main(Program::MiredoServer, run)
}

/// A `miredo-server.conf` the core refuses, as logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum InvalidConfig {
    /// miredo reports a non-global address as a socket error.
    #[error("Teredo server UDP socket error: {0}")]
    Socket(ServerConfigError),
    /// Anything else, in the core's words.
    #[error(transparent)]
    Other(ServerConfigError),
}

/// The core's settings for `conf`, checked as miredo checks them at start-up.
fn server_config(conf: &ServerdConfig) -> Result<ServerConfig, InvalidConfig> {
    let c = ServerConfig {
        primary: conf.server_bind_address,
        secondary: conf.secondary_address(),
        prefix: conf.prefix,
        mtu: conf.interface_mtu,
    };
    c.validate().map_err(|e| match e {
        ServerConfigError::NotGlobal(_) => InvalidConfig::Socket(e),
        e => InvalidConfig::Other(e),
    })?;
    Ok(c)
}

/// Validates `conf` and binds a socket pair per worker, logging miredo's
/// messages on failure.
fn open(conf: &ServerdConfig, workers: usize) -> Option<(ServerConfig, Vec<StdUdpPair>)> {
    let sc = match server_config(conf) {
        Ok(sc) => sc,
        Err(e) => {
            error!("{e}");
            daemon::alert!("Teredo server fatal error");
            return None;
        }
    };
    match UdpPair::bind_workers(&sc, workers) {
        Ok(pairs) => Some((sc, pairs)),
        Err(e) => {
            error!("{e}");
            daemon::alert!("Teredo server fatal error");
            if e.in_use {
                daemon::notice!(
                    "Make sure another instance of the program is not already running."
                );
            }
            None
        }
    }
}

fn run(cli: &Cli) -> i32 {
    // A reload re-reads the configuration, so a chroot would hide it.
    let Some(Started { log, conf, user }) =
        startup::begin::<ServerdConfig>(cli, "reloads in place")
    else {
        return 1;
    };
    let raw = match RawIpv6::open() {
        Ok(r) => r,
        Err(e) => {
            error!("Raw IPv6 socket not working: {}", config::io_error_text(&e));
            return 1;
        }
    };
    let workers = workers::count(conf.server_workers);
    let Some((server_conf, sockets)) = open(&conf, workers) else {
        return 1;
    };

    let Some(pidfile) = startup::detach_and_lock(cli, user.gid) else {
        return 1;
    };
    info!("Starting...");
    let mut fds = vec![raw.as_raw_fd()];
    for pair in &sockets {
        fds.extend([pair.primary_fd(), pair.secondary_fd()]);
    }
    let reaper = match reaper::spawn(cli.pidfile.clone(), &fds) {
        Ok(r) => r,
        Err(e) => {
            error!("{e:#}");
            return 1;
        }
    };
    if let Err(e) = daemon::privileges::drop_to_user(&user, &[]) {
        daemon::alert!("{e}");
        return 1;
    }
    // The control loop (signals, D-Bus, reloads) needs one light thread; the
    // packets have the workers' (see `workers`).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("tokio: {e}");
            return 1;
        }
    };
    let state = Loop {
        cli,
        log,
        config: server_conf,
    };
    let code = rt.block_on(state.run(sockets, Arc::new(raw)));
    drop(pidfile);
    // The helper unlinks the file; on an early return above it does so once we are gone.
    reaper.finish();
    code
}

/// The control loop's state.
struct Loop<'a> {
    cli: &'a Cli,
    log: Option<daemon::logging::LogHandle>,
    /// The settings in force.
    config: ServerConfig,
}

impl Loop<'_> {
    async fn run(mut self, sockets: Vec<StdUdpPair>, raw: Arc<RawIpv6>) -> i32 {
        use daemon::signals::SignalEvent;

        // Before the workers exist, so that no thread of theirs misses a
        // handler being installed.
        let mut signals = match daemon::signals::Signals::new() {
            Ok(s) => s,
            Err(e) => {
                error!("signal handlers: {e}");
                return 1;
            }
        };
        let mut workers = match Workers::start(self.config, sockets, raw) {
            Ok(w) => w,
            Err(e) => {
                error!("worker threads: {e}");
                return 1;
            }
        };
        debug!("{} packet loops", workers.count());
        let bus = match bus::ServerService::start().await {
            Ok(s) => s,
            Err(e) => {
                warn!("D-Bus system bus unavailable, counters not published: {e}");
                bus::ServerService::disabled()
            }
        };
        let _ = daemon::notify::ready();
        let mut tick = tokio::time::interval(PUBLISH_PERIOD);
        let mut published = None;
        let code = loop {
            tokio::select! {
                _ = tick.tick() => {
                    let state = self.bus_state(&workers);
                    if published.as_ref() != Some(&state) {
                        if let Err(e) = bus.update(state.clone()).await {
                            debug!("D-Bus update: {e}");
                        }
                        published = Some(state);
                    }
                }
                w = workers.exited() => {
                    error!("packet loop {} stopped", w.unwrap_or_default());
                    break 1;
                }
                sig = signals.recv() => match sig {
                    Some(SignalEvent::Terminate(n)) => {
                        daemon::notice!("Exiting on signal {n} ({})", daemon::signals::signal_name(n));
                        break 0;
                    }
                    Some(SignalEvent::Reload(n)) => {
                        daemon::notice!(
                            "Reloading configuration on signal {n} ({})",
                            daemon::signals::signal_name(n)
                        );
                        let _ = daemon::notify::reloading();
                        if let Err(code) = self.reload(&workers) {
                            break code;
                        }
                        let _ = daemon::notify::ready();
                    }
                    // miredo's monitor dies on these; we ignore them on purpose.
                    Some(SignalEvent::User1 | SignalEvent::User2) => {}
                    None => break 1,
                },
            }
        };
        let _ = daemon::notify::stopping();
        workers.stop();
        if let Err(e) = bus.stop().await {
            debug!("D-Bus stop: {e}");
        }
        if code == 0 {
            info!("Terminated with no error.");
        } else {
            info!("Terminated with error(s).");
        }
        code
    }

    fn reload(&mut self, workers: &Workers) -> Result<(), i32> {
        let file = self.cli.config_file.display().to_string();
        let Some(conf) = startup::load::<ServerdConfig>(self.cli) else {
            warn!("Loading configuration from {file} failed");
            return Ok(());
        };
        let sc = match server_config(&conf) {
            Ok(sc) => sc,
            Err(e) => {
                error!("{e}");
                warn!("Loading configuration from {file} failed");
                return Ok(());
            }
        };
        startup::apply_facility(self.log.as_ref(), &conf);
        let moved = (sc.primary, sc.secondary) != (self.config.primary, self.config.secondary);
        let fresh = if moved {
            // As many pairs as running workers: `ServerWorkers` waits for a restart.
            match UdpPair::bind_workers(&sc, workers.count()) {
                Ok(p) => Some(p),
                Err(e) => {
                    error!("{e}");
                    daemon::alert!("Teredo server fatal error");
                    return Err(1);
                }
            }
        } else {
            None
        };
        workers.reconfigure(sc, fresh);
        self.config = sc;
        Ok(())
    }

    fn bus_state(&self, workers: &Workers) -> bus::ServerState {
        let c = &self.config;
        let (counters, send_errors) = workers.counters();
        bus::ServerState {
            primary: c.primary.to_string(),
            secondary: c.secondary.to_string(),
            prefix: format!("{}/32", Ipv6Addr::from(u128::from(c.prefix) << 96)),
            mtu: u32::from(c.mtu),
            rs_answered: counters.rs_answered,
            forwarded_teredo: counters.forwarded_teredo,
            forwarded_native: counters.forwarded_native,
            send_errors,
            dropped: DropReason::ALL
                .iter()
                .map(|r| (r.name().to_owned(), counters.dropped(*r)))
                .collect(),
        }
    }
}
