//! The `miredo` process: command line, configuration, privilege split, and the
//! reload loop around the client driver.
//!
//! # Processes and privileges
//!
//! miredo 1.2.6 runs three processes (root monitor, unprivileged worker, root
//! `miredo-privproc`). We run two:
//!
//! - the **daemon** (the PID in the pidfile): after start-up it runs as the
//!   unprivileged user (`-u`, default `miredo`) keeping only `CAP_NET_ADMIN` —
//!   needed to create the TUN again on SIGHUP and for the built-in hook's netlink
//!   configuration — plus `CAP_NET_BIND_SERVICE` only when `BindPort` is below
//!   1024 (miredo binds after dropping privileges and fails there). No monitor
//!   process is needed because a reload happens inside the daemon.
//! - the **hook runner** ([`crate::privproc`]): forked while still root, before any
//!   thread exists; it stays uid 0 with `CAP_NET_ADMIN` only (what `ip` in the hook
//!   script needs) and does nothing but run the script chosen at start-up for the
//!   typed, checked events the daemon sends.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use daemon::privileges::Capability;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::cli::{Cli, Program};
use crate::client::sink::ClientSink;
use crate::client::{self, ClientSetup, Control, Stop};
use crate::config::{MiredoConfig, RelayType};
use crate::dbus::Publisher;
use crate::privproc::{PrivProc, RunnerConfig};
use crate::relayd;
use crate::startup::{self, Started};

/// The hook script miredo runs (docs/compat.md, "Hook path").
pub const DEFAULT_HOOK: &str = "/etc/miredo/client-hook";

/// Entry point of the `miredo` binary.
pub fn main_miredo() -> ExitCode {
    startup::main(Program::Miredo, run)
}

fn hook_path(cli: &Cli, conf: &MiredoConfig) -> PathBuf {
    cli.client_hook
        .clone()
        .or_else(|| conf.client_hook.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_HOOK))
}

fn run(cli: &Cli) -> i32 {
    let Some(Started { log, conf, user }) =
        startup::begin::<MiredoConfig>(cli, "reloads and reconnects in place")
    else {
        return 1;
    };
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    {
        eprintln!(
            "Error: /dev/net/tun character device not found or unavailable ({e}).\n\
             You might try to run this command to load it:\n$ modprobe tun"
        );
        return 1;
    }

    let Some(pidfile) = startup::detach_and_lock(cli, user.gid) else {
        return 1;
    };
    info!("Starting...");

    // Hook runner: before any thread, while root. The script is chosen here,
    // once: the runner accepts no path from the daemon (see crate::privproc).
    let runner = RunnerConfig {
        hook: hook_path(cli, &conf),
        pidfile: Some(cli.pidfile.clone()),
        daemon_pid: std::process::id(),
    };
    let privproc = match PrivProc::spawn(runner) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            error!("Could not start the hook runner: {e:#}");
            return 1;
        }
    };
    // What the daemon keeps, and why (nothing else; the bounding set, the
    // inheritable and ambient sets are emptied too, see drop_to_user):
    // - CAP_NET_ADMIN: the TUN is created after this point, at start-up and
    //   again at every SIGHUP (TUNSETIFF of a new device), with its
    //   addr_gen_mode sysctl; the built-in hook (no script) and the relay's
    //   interface set-up write links, addresses, routes and rules over
    //   netlink. Moving those into the root runner would let it go.
    // - Not CAP_NET_RAW: ICMPv6 errors go into the TUN, no raw socket
    //   (docs/compat.md, "Protocol"). Not for the UDP socket buffers either:
    //   SO_RCVBUF/SO_SNDBUF need none (the kernel caps them at rmem_max).
    // - CAP_NET_BIND_SERVICE only for a BindPort below 1024, bound later.
    // Checked by miredo/tests/privsep.rs::daemon_and_hook_runner_keep_only_their_capabilities.
    let mut keep = vec![Capability::CAP_NET_ADMIN];
    if conf.bind_port != 0 && conf.bind_port < 1024 {
        keep.push(Capability::CAP_NET_BIND_SERVICE);
    }
    if let Err(e) = daemon::privileges::drop_to_user(&user, &keep) {
        daemon::alert!("{e}");
        return 1;
    }

    // One thread: a client's packet path is a single loop, and a
    // multi-thread runtime only adds cross-thread wake-ups to every
    // readiness event. A relay's further packet loops run on threads of their
    // own, each with its own runtime (relayd::loops).
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
    let code = rt.block_on(reload_loop(cli, conf, privproc, log));
    drop(pidfile);
    code
}

async fn reload_loop(
    cli: &Cli,
    mut conf: MiredoConfig,
    privproc: Arc<PrivProc>,
    log: Option<daemon::logging::LogHandle>,
) -> i32 {
    let (control_tx, mut control_rx) = mpsc::channel::<Control>(16);
    match daemon::signals::Signals::new() {
        Ok(mut signals) => {
            let tx = control_tx.clone();
            tokio::spawn(async move {
                while let Some(sig) = signals.recv().await {
                    use daemon::signals::SignalEvent;
                    let stop = match sig {
                        SignalEvent::Terminate(_) => Stop::Terminate,
                        SignalEvent::Reload(_) => Stop::Reload,
                        // miredo's monitor dies on these; we ignore them on purpose.
                        SignalEvent::User1 | SignalEvent::User2 => continue,
                    };
                    let verb = if stop == Stop::Reload {
                        "Reloading configuration"
                    } else {
                        "Exiting"
                    };
                    daemon::notice!("{verb} on signal {} ({})", sig.signo(), sig.name());
                    if tx.send(Control::Stop(stop)).await.is_err() {
                        break;
                    }
                }
            });
        }
        Err(e) => error!("signal handlers: {e}"),
    }

    let mut bus_warned = false;
    loop {
        let stop = if conf.relay_type == RelayType::Client {
            match client_round(
                cli,
                &conf,
                &privproc,
                &control_tx,
                &mut control_rx,
                &mut bus_warned,
            )
            .await
            {
                Some(stop) => stop,
                None => {
                    privproc.close().await;
                    return 1;
                }
            }
        } else {
            match relay_round(&conf, &control_tx, &mut control_rx, &mut bus_warned).await {
                Some(stop) => stop,
                None => {
                    privproc.close().await;
                    return 1;
                }
            }
        };
        match stop {
            Stop::Terminate => {
                privproc.close().await;
                info!("Terminated with no error.");
                return 0;
            }
            Stop::Reload => {
                let _ = daemon::notify::reloading();
                match startup::load::<MiredoConfig>(cli) {
                    Some(c) => {
                        startup::apply_facility(log.as_ref(), &c);
                        let wanted = hook_path(cli, &c);
                        if c.relay_type == RelayType::Client && wanted != privproc.hook_path() {
                            warn!(
                                "client hook {} is used until a restart: the hook path \
                                 is fixed at start-up (new: {})",
                                privproc.hook_path().display(),
                                wanted.display()
                            );
                        }
                        conf = c;
                    }
                    // miredo exits here; we keep serving with the previous configuration.
                    None => warn!(
                        "Loading configuration from {} failed",
                        cli.config_file.display()
                    ),
                }
            }
        }
    }
}

/// One run of the client, from a new TUN to its `destroy` hook. `None`
/// after a failure that ends the daemon (already logged).
async fn client_round(
    cli: &Cli,
    conf: &MiredoConfig,
    privproc: &Arc<PrivProc>,
    control_tx: &mpsc::Sender<Control>,
    control_rx: &mut mpsc::Receiver<Control>,
    bus_warned: &mut bool,
) -> Option<Stop> {
    let setup = match open_client(conf, cli) {
        Ok(s) => s,
        Err(e) => {
            daemon::alert!("Miredo setup failure: {e:#}");
            return None;
        }
    };
    let tun = setup.tun.clone();
    if !crate::hook::request::valid_iface(tun.name()) {
        warn!(
            "interface name {:?}: the hook runner refuses it (letters, digits, '.', '_' \
             and '-' only, no leading '-'), so the client hook script will not run",
            tun.name()
        );
    }
    let sink = ClientSink::new(
        setup.tun.name().to_owned(),
        setup.tun.index(),
        privproc.clone(),
        control_tx.clone(),
        bus_warned,
    )
    .await;
    let sink = Arc::new(sink);
    let _ = daemon::notify::ready();
    let stop = match client::run(setup, sink.clone(), control_rx).await {
        Ok(stop) => Some(stop),
        Err(e) => {
            error!("Teredo client failure: {e:#}");
            None
        }
    };
    sink.shutdown().await;
    drop(sink);
    // The interface goes away only now, after the down/destroy hooks.
    drop(tun);
    stop
}

/// One run of the relay (RFC 4380 §5.4), from a new TUN to its removal.
async fn relay_round(
    conf: &MiredoConfig,
    control_tx: &mpsc::Sender<Control>,
    control_rx: &mut mpsc::Receiver<Control>,
    bus_warned: &mut bool,
) -> Option<Stop> {
    let (tun, sockets) = match open_relay(conf, relayd::loops::wanted()) {
        Ok(x) => x,
        Err(e) => {
            daemon::alert!("Miredo setup failure: {e:#}");
            return None;
        }
    };
    let tun = Arc::new(tun);
    let bus = Publisher::connect(tun.name(), control_tx.clone(), bus_warned).await;
    let setup = relayd::RelaySetup {
        sockets,
        tun: tun.clone(),
        prefix: conf.prefix,
        cone: conf.relay_type == RelayType::Cone,
        mtu: conf.interface_mtu,
        queue_budget: conf.peer_queue_budget as usize,
    };
    let _ = daemon::notify::ready();
    let stop = match relayd::run(setup, &bus, control_rx).await {
        Ok(stop) => Some(stop),
        Err(e) => {
            error!("Teredo relay failure: {e:#}");
            None
        }
    };
    bus.close().await;
    // Closing the TUN removes the interface, its address and its route.
    drop(tun);
    stop
}

/// Creates the TUN interface and binds the UDP socket.
fn open_client(conf: &MiredoConfig, cli: &Cli) -> Result<ClientSetup> {
    // The SERVER_NAME argument replaces every ServerAddress line.
    let servers: Vec<String> = match (&cli.server_name, &conf.server_address) {
        (Some(name), _) => vec![name.clone()],
        (None, Some(first)) => std::iter::once(first)
            .chain(&conf.fallback_servers)
            .cloned()
            .collect(),
        (None, None) => anyhow::bail!("Server address not specified"),
    };
    let tun = open_tun(conf)?;
    let socket = bind_socket(conf)?;
    Ok(ClientSetup {
        servers,
        socket,
        tun: Arc::new(tun),
        timers: Default::default(),
        queue_budget: conf.peer_queue_budget as usize,
        port_mapping: conf.port_mapping,
        local_discovery: conf.local_discovery,
    })
}

/// The environment variable that turns the TUN's segmentation offloads off
/// (`0`, `off`, `no` or `false`): a debugging aid, see `docs/tun-offload.md`.
pub const TUN_OFFLOAD_ENV: &str = "MIREDO_TUN_OFFLOAD";

/// Whether to ask for TUN offloads: yes unless [`TUN_OFFLOAD_ENV`] says no.
fn tun_offload_wanted() -> bool {
    let off = std::env::var(TUN_OFFLOAD_ENV).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "off" | "no" | "false"
        )
    });
    !off
}

/// The relay's tunnel and sockets for `loops` packet loops: a multi-queue
/// tunnel and a group of sockets sharing the port; one loop, as miredo,
/// when `loops` is 1 or the kernel refuses either (logged).
fn open_relay(
    conf: &MiredoConfig,
    loops: usize,
) -> Result<(netcfg::tun::Tun, Vec<std::net::UdpSocket>)> {
    if loops > 1 {
        match create_tun(conf, true) {
            Ok(tun) => match crate::udp::bind_group(bind_address(conf), loops) {
                Ok(sockets) => return Ok((tun, sockets)),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(bind_failed(conf, e));
                }
                Err(e) => warn!("one packet loop: sockets sharing the port: {e}"),
            },
            // A busy name fails the same way again below, and is reported.
            Err(e) => warn!("one packet loop: a multi-queue tunnel: {e}"),
        }
    }
    Ok((open_tun(conf)?, vec![bind_socket(conf)?]))
}

/// Creates the tunnel interface named by `InterfaceName`, down, with
/// segmentation offloads where the kernel has them.
fn open_tun(conf: &MiredoConfig) -> Result<netcfg::tun::Tun> {
    create_tun(conf, false).map_err(|e| {
        error!("{e}");
        if e.is_busy() {
            info!("Please make sure another instance of the program is not already running.");
        }
        anyhow::anyhow!("Cannot create IPv6 tunnel")
    })
}

/// The tunnel interface, with several queues (`multi_queue`) for several
/// packet loops, and no kernel link-local address.
fn create_tun(
    conf: &MiredoConfig,
    multi_queue: bool,
) -> std::result::Result<netcfg::tun::Tun, netcfg::tun::TunError> {
    let name = conf.interface_name.as_deref();
    let offload = tun_offload_wanted();
    let tun = if multi_queue {
        netcfg::tun::Tun::create_multi_queue(name, offload)?
    } else {
        netcfg::tun::Tun::create_offloaded(name, offload)?
    };
    // Only fe80::ffff:ffff:ffff belongs on a Teredo interface; a
    // kernel-generated (stable-privacy or random) link-local would be a
    // second one that no peer can reach.
    if let Err(e) = netcfg::sysctl::set_ipv6_conf(tun.name(), "addr_gen_mode", "1") {
        warn!("{}: cannot turn off link-local generation: {e}", tun.name());
    }
    Ok(tun)
}

/// `BindAddress`:`BindPort`.
fn bind_address(conf: &MiredoConfig) -> SocketAddrV4 {
    SocketAddrV4::new(
        conf.bind_address.unwrap_or(Ipv4Addr::UNSPECIFIED),
        conf.bind_port,
    )
}

fn bind_failed(conf: &MiredoConfig, e: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(e).context(format!(
        "libteredo cannot be initialized: binding {}",
        bind_address(conf)
    ))
}

/// Binds the Teredo UDP socket to `BindAddress`:`BindPort`.
fn bind_socket(conf: &MiredoConfig) -> Result<std::net::UdpSocket> {
    crate::udp::bind(bind_address(conf)).map_err(|e| bind_failed(conf, e))
}
