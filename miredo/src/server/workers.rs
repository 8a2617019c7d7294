//! miredo-server's packet loops: one thread per worker, each with its own
//! pair of sockets on UDP 3544 of both server addresses and its own
//! [`Server`] core.
//!
//! The sockets of the workers share their ports (`SO_REUSEPORT`, see
//! [`super::net::UdpPair::bind_workers`]): the kernel gives each datagram to
//! one socket by a hash of its source address and port, so a server serving
//! many clients keeps every worker busy. The core keeps no per-client state
//! (RFC 4380 §5.3: each datagram is answered on its own), so the workers
//! share nothing on the packet path but the raw IPv6 socket, whose sends
//! need no lock. Each core sits behind a mutex of its own that only the
//! control loop (counters, once a second) contends for.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use teredo::server::{Counters, Local, Server, ServerConfig};
use tokio::sync::mpsc;
use tracing::{debug, error};

use super::net::{RawIpv6, StdUdpPair, UdpPair};
use super::RECV_BUFFER;

/// Most workers when the configuration leaves the choice to us
/// (`ServerWorkers 0`): beyond this the sockets' hash spreads too little
/// traffic over each to pay for a thread.
pub const DEFAULT_MAX_WORKERS: usize = 16;

/// How many workers `configured` (`ServerWorkers`) asks for: itself, or for 0
/// one per CPU this process may run on, at most [`DEFAULT_MAX_WORKERS`].
pub fn count(configured: u32) -> usize {
    match configured {
        0 => std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(DEFAULT_MAX_WORKERS),
        n => n as usize,
    }
}

/// What one worker shares with the control loop.
#[derive(Debug)]
struct Shared {
    server: Mutex<Server>,
    send_errors: AtomicU64,
}

impl Shared {
    fn server(&self) -> MutexGuard<'_, Server> {
        // The core holds only counters and settings: usable after a panic.
        self.server.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A change for a worker, applied between two datagrams.
#[derive(Debug)]
struct Reconfigure {
    config: ServerConfig,
    /// New sockets, when the addresses changed.
    sockets: Option<StdUdpPair>,
}

struct Worker {
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Reconfigure>,
    thread: Option<JoinHandle<()>>,
}

/// The running workers.
pub struct Workers {
    workers: Vec<Worker>,
    exited: mpsc::UnboundedReceiver<usize>,
}

impl Workers {
    /// Starts one worker per socket pair.
    pub fn start(
        config: ServerConfig,
        pairs: Vec<StdUdpPair>,
        raw: Arc<RawIpv6>,
    ) -> std::io::Result<Workers> {
        let (exited_tx, exited) = mpsc::unbounded_channel();
        let mut workers = Vec::with_capacity(pairs.len());
        for (index, pair) in pairs.into_iter().enumerate() {
            let shared = Arc::new(Shared {
                server: Mutex::new(Server::new(config)),
                send_errors: AtomicU64::new(0),
            });
            let (control, control_rx) = mpsc::unbounded_channel();
            let (s, raw, exited_tx) = (shared.clone(), raw.clone(), exited_tx.clone());
            let thread = std::thread::Builder::new()
                .name(format!("worker {index}"))
                .spawn(move || {
                    run_worker(&s, pair, &raw, control_rx);
                    // Unexpected unless the control loop is stopping us.
                    let _ = exited_tx.send(index);
                })?;
            workers.push(Worker {
                shared,
                control,
                thread: Some(thread),
            });
        }
        Ok(Workers { workers, exited })
    }

    /// Number of workers.
    pub fn count(&self) -> usize {
        self.workers.len()
    }

    /// Applies `config` in every worker, with `sockets` (one pair per
    /// worker) when the addresses changed.
    pub fn reconfigure(&self, config: ServerConfig, sockets: Option<Vec<StdUdpPair>>) {
        let mut sockets = sockets.map(Vec::into_iter);
        for w in &self.workers {
            let pair = sockets.as_mut().and_then(Iterator::next);
            let _ = w.control.send(Reconfigure {
                config,
                sockets: pair,
            });
        }
    }

    /// The counters of all workers added up, and their send errors.
    pub fn counters(&self) -> (Counters, u64) {
        let mut total = Counters::default();
        let mut send_errors = 0;
        for w in &self.workers {
            total += w.shared.server().counters();
            send_errors += w.shared.send_errors.load(Ordering::Relaxed);
        }
        (total, send_errors)
    }

    /// Waits until a worker ends by itself (it logged why); returns its index.
    pub async fn exited(&mut self) -> Option<usize> {
        self.exited.recv().await
    }

    /// Stops every worker and waits for its thread.
    pub fn stop(mut self) {
        for w in &mut self.workers {
            // Closing the channel ends the worker's loop.
            let (closed, _) = mpsc::unbounded_channel();
            w.control = closed;
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                if t.join().is_err() {
                    error!("a worker thread panicked");
                }
            }
        }
    }
}

/// One worker's packet loop, on a runtime of its own, until its control
/// channel closes or its sockets fail.
fn run_worker(
    shared: &Shared,
    pair: StdUdpPair,
    raw: &RawIpv6,
    mut control: mpsc::UnboundedReceiver<Reconfigure>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("tokio: {e}");
            return;
        }
    };
    rt.block_on(async {
        let mut sockets = match pair.into_tokio() {
            Ok(s) => s,
            Err(e) => {
                error!("tokio: {e}");
                return;
            }
        };
        let mut buf1 = vec![0u8; RECV_BUFFER];
        let mut buf2 = vec![0u8; RECV_BUFFER];
        loop {
            tokio::select! {
                r = sockets.primary.recv_from(&mut buf1) => {
                    datagram(shared, raw, &sockets, Local::Primary, r, &buf1).await;
                }
                r = sockets.secondary.recv_from(&mut buf2) => {
                    datagram(shared, raw, &sockets, Local::Secondary, r, &buf2).await;
                }
                change = control.recv() => {
                    let Some(Reconfigure { config, sockets: fresh }) = change else {
                        break;
                    };
                    if let Some(fresh) = fresh {
                        match fresh.into_tokio() {
                            Ok(s) => sockets = s,
                            Err(e) => {
                                error!("tokio: {e}");
                                break;
                            }
                        }
                    }
                    shared.server().reconfigure(config);
                }
            }
        }
    });
}

/// Answers or forwards one datagram.
async fn datagram(
    shared: &Shared,
    raw: &RawIpv6,
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
    let Some(data) = buf.get(..len) else {
        return;
    };
    // The guard is dropped before the send awaits.
    let decided = shared.server().handle_packet(local, src, data);
    let action = match decided {
        Ok(a) => a,
        Err(reason) => {
            debug!("dropped a datagram from {src}: {}", reason.name());
            return;
        }
    };
    let sent = match action.udp() {
        Some((from, to, payload)) => sockets.get(from).send_to(payload, to).await.map(drop),
        None => match &action {
            teredo::server::Action::Native { dst, packet } => raw.send(*dst, packet),
            _ => Ok(()),
        },
    };
    if let Err(e) = sent {
        shared.send_errors.fetch_add(1, Ordering::Relaxed);
        debug!("send: {e}");
    }
}
