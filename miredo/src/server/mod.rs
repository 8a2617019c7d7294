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

use std::net::{Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use teredo::server::{DropReason, Local, Server, ServerConfig, ServerConfigError};
use tracing::{debug, error, info, warn};

use crate::cli::{Cli, Program};
use crate::config::{self, ServerdConfig};
use crate::startup::{self, Started};
use net::{RawIpv6, StdUdpPair, UdpPair};

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

/// Validates `conf` and binds its sockets, logging miredo's messages on failure.
fn open(conf: &ServerdConfig) -> Option<(ServerConfig, StdUdpPair)> {
    let sc = match server_config(conf) {
        Ok(sc) => sc,
        Err(e) => {
            error!("{e}");
            daemon::alert!("Teredo server fatal error");
            return None;
        }
    };
    match UdpPair::bind(&sc) {
        Ok(pair) => Some((sc, pair)),
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
    let Some((server_conf, sockets)) = open(&conf) else {
        return 1;
    };

    let Some(pidfile) = startup::detach_and_lock(cli, user.gid) else {
        return 1;
    };
    info!("Starting...");
    let reaper = match reaper::spawn(
        cli.pidfile.clone(),
        &[
            raw.as_raw_fd(),
            sockets.primary_fd(),
            sockets.secondary_fd(),
        ],
    ) {
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
    // One thread is plenty: the work per datagram is a few comparisons and a send.
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
        server: Server::new(server_conf),
        raw,
        send_errors: 0,
    };
    let code = rt.block_on(state.run(sockets));
    drop(pidfile);
    // The helper unlinks the file; on an early return above it does so once we are gone.
    reaper.finish();
    code
}

/// The packet loop's state.
struct Loop<'a> {
    cli: &'a Cli,
    log: Option<daemon::logging::LogHandle>,
    server: Server,
    raw: RawIpv6,
    send_errors: u64,
}

impl Loop<'_> {
    async fn run(mut self, sockets: StdUdpPair) -> i32 {
        use daemon::signals::SignalEvent;

        let mut sockets = match sockets.into_tokio() {
            Ok(s) => s,
            Err(e) => {
                error!("tokio: {e}");
                return 1;
            }
        };
        let mut signals = match daemon::signals::Signals::new() {
            Ok(s) => s,
            Err(e) => {
                error!("signal handlers: {e}");
                return 1;
            }
        };
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
        let mut buf1 = vec![0u8; RECV_BUFFER];
        let mut buf2 = vec![0u8; RECV_BUFFER];
        let code = loop {
            tokio::select! {
                r = sockets.primary.recv_from(&mut buf1) => {
                    self.datagram(&sockets, Local::Primary, r, &buf1).await;
                }
                r = sockets.secondary.recv_from(&mut buf2) => {
                    self.datagram(&sockets, Local::Secondary, r, &buf2).await;
                }
                _ = tick.tick() => {
                    let state = self.bus_state();
                    if published.as_ref() != Some(&state) {
                        if let Err(e) = bus.update(state.clone()).await {
                            debug!("D-Bus update: {e}");
                        }
                        published = Some(state);
                    }
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
                        if let Err(code) = self.reload(&mut sockets) {
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

    async fn datagram(
        &mut self,
        sockets: &UdpPair,
        local: Local,
        received: std::io::Result<(usize, SocketAddr)>,
        buf: &[u8],
    ) {
        let (len, src) = match received {
            Ok((len, SocketAddr::V4(src))) => (len, src),
            Ok(_) => return,
            Err(e) => {
                // ICMP errors from earlier sends surface here; nothing to do.
                debug!("receive: {e}");
                return;
            }
        };
        let action = match self.server.handle_packet(local, src, &buf[..len]) {
            Ok(a) => a,
            Err(reason) => {
                debug!("dropped a datagram from {src}: {}", reason.name());
                return;
            }
        };
        let sent = match action.udp() {
            Some((from, to, payload)) => sockets.get(from).send_to(payload, to).await.map(drop),
            None => match &action {
                teredo::server::Action::Native { dst, packet } => self.raw.send(*dst, packet),
                _ => Ok(()),
            },
        };
        if let Err(e) = sent {
            self.send_errors += 1;
            debug!("send: {e}");
        }
    }

    fn reload(&mut self, sockets: &mut UdpPair) -> Result<(), i32> {
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
        if !sockets.serves(&sc) {
            let fresh = UdpPair::bind(&sc).and_then(|p| {
                p.into_tokio().map_err(|e| net::BindError {
                    ip: sc.primary,
                    text: e.to_string(),
                    in_use: false,
                })
            });
            match fresh {
                Ok(p) => *sockets = p,
                Err(e) => {
                    error!("{e}");
                    daemon::alert!("Teredo server fatal error");
                    return Err(1);
                }
            }
        }
        self.server.reconfigure(sc);
        Ok(())
    }

    fn bus_state(&self) -> bus::ServerState {
        let c = self.server.config();
        let counters = self.server.counters();
        bus::ServerState {
            primary: c.primary.to_string(),
            secondary: c.secondary.to_string(),
            prefix: format!("{}/32", Ipv6Addr::from(u128::from(c.prefix) << 96)),
            mtu: u32::from(c.mtu),
            rs_answered: counters.rs_answered,
            forwarded_teredo: counters.forwarded_teredo,
            forwarded_native: counters.forwarded_native,
            send_errors: self.send_errors,
            dropped: DropReason::ALL
                .iter()
                .map(|r| (r.name().to_owned(), counters.dropped(*r)))
                .collect(),
        }
    }
}
