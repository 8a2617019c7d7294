//! The relay on every core: one packet loop per CPU, each with a socket of a
//! `SO_REUSEPORT` group, a queue of the multi-queue tunnel and a
//! [`TeredoTunnel`] of its own (`docs/datapath.md`, "Steering by the peer's
//! IPv4, without eBPF").
//!
//! A Teredo peer belongs to the loop [`steer::owner`] names for the IPv4
//! its address embeds, which is the IPv4 its datagrams come from. The kernel
//! gives each datagram to the owner's socket (a classic BPF program on the
//! group); a tunnel packet mostly reaches the owner's queue too, since the
//! kernel sends a flow's packets to the queue that last wrote that flow, and
//! the rest is handed to the owner over a bounded channel. So every peer's
//! state lives in one loop, and no lock is taken on the packet path.
//!
//! Loop 0 runs on the daemon's runtime (it reads the tunnel's first queue,
//! registered there); the others each on a thread with a runtime of their
//! own. The limits (peer capacity, `PeerQueueBudget`) are split between them.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use netcfg::tun::Tun;
use teredo::addr::TeredoAddr;
use teredo::relay::{Config, Mode, Stats, TeredoTunnel};
use teredo::security::Secret;
use teredo::wire::TeredoPacketRepr;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use crate::client::{Control, Stop};
use crate::dbus::Publisher;
use crate::pump::{HandedOver, PathStats, Pump, BATCH};
use crate::status::TunnelStatus;
use crate::udp::steer;

/// Loops when the environment does not say: one per CPU, at most this many.
pub const DEFAULT_MAX_LOOPS: usize = 4;
/// The environment variable that sets the number of packet loops (a
/// benchmarking aid; `1` is the single loop of earlier versions).
pub const LOOPS_ENV: &str = "MIREDO_RELAY_LOOPS";
/// Most loops [`LOOPS_ENV`] may ask for.
pub const MAX_LOOPS: usize = 64;
/// Tunnel packets waiting for their owner, per loop; more are dropped (as a
/// full queue would drop them).
const HANDOFF_DEPTH: usize = 1024;
/// How often each loop publishes its counters for the sum on D-Bus.
const COUNT_EVERY: Duration = Duration::from_secs(1);

/// How many packet loops the relay runs.
pub fn wanted() -> usize {
    let cpus = || {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(DEFAULT_MAX_LOOPS)
    };
    match std::env::var(LOOPS_ENV) {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(0) => cpus(),
            Ok(n) => n.min(MAX_LOOPS),
            Err(_) => cpus(),
        },
        Err(_) => cpus(),
    }
}

/// The owner of the IPv6 address at `at` in `packet` (16 bytes), if it is a
/// Teredo address of `prefix`; `None` for anything else (handled where it
/// was read).
fn owner_at(packet: &[u8], at: usize, prefix: u32, loops: u32) -> Option<u32> {
    let addr: [u8; 16] = packet.get(at..at + 16)?.try_into().ok()?;
    let teredo = TeredoAddr::from_ipv6(&std::net::Ipv6Addr::from(addr));
    (teredo.prefix == prefix).then(|| steer::owner(teredo.mapped_ip, loops))
}

/// IPv6 source and destination offsets.
const SRC: usize = 8;
const DST: usize = 24;

/// Counters of one loop, for the sum published on D-Bus.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    stats: Stats,
    peers: u32,
    /// Its system calls, and the datagrams and tunnel packets it handed to
    /// their owner.
    path: PathStats,
}

/// What a loop needs besides its socket and tunnel queue.
struct LoopCtx {
    index: u32,
    loops: u32,
    prefix: u32,
    handoff: Vec<mpsc::Sender<HandedOver>>,
    inbox: mpsc::Receiver<HandedOver>,
    counts: Arc<Mutex<Vec<Counts>>>,
    stop: watch::Receiver<bool>,
}

/// Hands `packet` to loop `owner`; a full inbox drops it, as a full queue
/// would.
fn give(handoff: &[mpsc::Sender<HandedOver>], owner: u32, packet: HandedOver) {
    if let Some(tx) = handoff.get(owner as usize) {
        let _ = tx.try_send(packet);
    }
}

/// One packet loop, until told to stop or the tunnel fails.
async fn packet_loop(mut ctx: LoopCtx, mut pump: Pump, mut tunnel: TeredoTunnel) -> Result<()> {
    let sleep = tokio::time::sleep(COUNT_EVERY);
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    let mut count_at = Instant::now() + COUNT_EVERY;
    let mut handed = Vec::with_capacity(BATCH);
    let (mut handed_udp, mut handed_tun) = (0u64, 0u64);
    let publish = |tunnel: &TeredoTunnel, pump: &Pump, udp: u64, tun: u64| {
        let mut counts = ctx.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = counts.get_mut(ctx.index as usize) {
            c.stats = *tunnel.stats();
            c.peers = u32::try_from(tunnel.peers().len()).unwrap_or(u32::MAX);
            c.path = PathStats {
                handed_datagrams: udp,
                handed_tun_packets: tun,
                ..pump.path_stats()
            };
        }
    };
    loop {
        let deadline = tunnel.poll_timeout().map_or(count_at, |t| t.min(count_at));
        if Some(deadline) != armed {
            sleep.as_mut().reset(deadline.into());
            armed = Some(deadline);
        }
        let (index, loops, prefix) = (ctx.index, ctx.loops, ctx.prefix);
        tokio::select! {
            _ = ctx.stop.changed() => {
                publish(&tunnel, &pump, handed_udp, handed_tun);
                return Ok(());
            }
            r = pump.udp_readable() => {
                if let Err(e) = r {
                    debug!("UDP receive error: {e}");
                    continue;
                }
                // Mostly steered here by the kernel already; but a peer
                // may answer our keyed bubble from another IPv4 than the
                // one its address names (docs/nat-traversal.md), and its
                // owner holds the peer.
                let handoff = &ctx.handoff;
                let mut hand_off = |_, from, pkt: &TeredoPacketRepr<'_>, data: &[u8]| {
                    match owner_at(pkt.ipv6, SRC, prefix, loops) {
                        Some(owner) if owner != index => {
                            give(handoff, owner, HandedOver::Udp(from, data.to_vec()));
                            handed_udp += 1;
                            true
                        }
                        _ => false,
                    }
                };
                pump.udp_batch(&mut tunnel, Some(&mut hand_off)).await;
            }
            r = pump.tun_readable() => {
                let handoff = &ctx.handoff;
                let hand_off = |packet: &[u8]| match owner_at(packet, DST, prefix, loops) {
                    Some(owner) if owner != index => {
                        give(handoff, owner, HandedOver::Tun(packet.to_vec()));
                        handed_tun += 1;
                        true
                    }
                    _ => false,
                };
                r.and(pump.tun_batch_with(&mut tunnel, hand_off).await)
                    .context("tunnel read error")?;
            }
            Some(first) = ctx.inbox.recv() => {
                handed.clear();
                handed.push(first);
                while handed.len() < BATCH {
                    match ctx.inbox.try_recv() {
                        Ok(p) => handed.push(p),
                        Err(_) => break,
                    }
                }
                pump.handed_over(&mut tunnel, &handed).await;
            }
            () = &mut sleep => {
                armed = None;
                let now = Instant::now();
                pump.timeout(&mut tunnel, now).await;
                if now >= count_at {
                    count_at = now + COUNT_EVERY;
                    publish(&tunnel, &pump, handed_udp, handed_tun);
                }
            }
        }
    }
}

/// The relay's settings every loop shares.
#[derive(Clone)]
pub struct Shared {
    /// `RelayType relay|cone` (true) or `restricted` (false).
    pub cone: bool,
    /// The Teredo prefix served.
    pub prefix: u32,
    /// `PeerQueueBudget`, for all loops together.
    pub queue_budget: usize,
}

fn tunnel_for(shared: &Shared, loops: usize, secret: &Secret, now: Instant) -> TeredoTunnel {
    let mode = Mode::Relay {
        cone: shared.cone,
        prefix: shared.prefix,
    };
    let mut config = Config::new(mode, std::process::id(), secret.clone());
    config.queue_budget = shared.queue_budget / loops;
    config.peer_capacity = (config.peer_capacity / loops).max(1);
    TeredoTunnel::new(config, now)
}

/// Runs `sockets.len()` packet loops (at least 2) until told to stop; `tun`
/// is the tunnel's first queue, the others are opened from it.
pub async fn run(
    sockets: Vec<UdpSocket>,
    tun: Arc<Tun>,
    shared: Shared,
    status: &mut TunnelStatus,
    bus: &Publisher,
    control: &mut mpsc::Receiver<Control>,
) -> Result<Stop> {
    let loops = sockets.len();
    let first = sockets.first().context("no socket")?;
    if let Err(e) = steer::attach(first, loops as u32) {
        // Still correct: each loop hands what it gets for another to the
        // owner, only more often.
        warn!("relay sockets not steered by address: {e}");
    }
    let secret = Secret::new(crate::client::random_secret()?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (exit_tx, mut exit_rx) = mpsc::unbounded_channel::<(usize, Result<()>)>();
    let counts = Arc::new(Mutex::new(vec![Counts::default(); loops]));
    let (senders, inboxes): (Vec<_>, Vec<_>) =
        (0..loops).map(|_| mpsc::channel(HANDOFF_DEPTH)).unzip();
    let mut threads = Vec::new();
    let mut loop0 = None;
    for (index, (socket, inbox)) in sockets.into_iter().zip(inboxes).enumerate() {
        let ctx = LoopCtx {
            index: index as u32,
            loops: loops as u32,
            prefix: shared.prefix,
            handoff: senders.clone(),
            inbox,
            counts: counts.clone(),
            stop: stop_rx.clone(),
        };
        let (shared, secret, tun, exit) =
            (shared.clone(), secret.clone(), tun.clone(), exit_tx.clone());
        if index == 0 {
            let pump = Pump::new(socket, tun)
                .context("registering the UDP socket")?
                .with_routable_errors();
            let tunnel = tunnel_for(&shared, loops, &secret, Instant::now());
            loop0 = Some(packet_loop(ctx, pump, tunnel));
            drop(exit);
            continue;
        }
        let thread = std::thread::Builder::new()
            .name(format!("relay-loop-{index}"))
            .spawn(move || {
                let r = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("a runtime for a packet loop")
                    .and_then(|rt| {
                        rt.block_on(async move {
                            // Registered with this loop's runtime.
                            let queue = Arc::new(tun.open_queue().context("a tunnel queue")?);
                            let pump = Pump::new(socket, queue)
                                .context("registering the UDP socket")?
                                .with_routable_errors();
                            let tunnel = tunnel_for(&shared, loops, &secret, Instant::now());
                            packet_loop(ctx, pump, tunnel).await
                        })
                    });
                let _ = exit.send((index, r));
            })
            .context("starting a packet loop")?;
        threads.push(thread);
    }
    drop(senders);
    // Loop 0 runs here, beside the control below (its diverter-free pump is
    // still not `Send`: it stays on this task).
    let loop0 = loop0.context("no first packet loop")?;
    tokio::pin!(loop0);
    info!("Teredo relay started ({loops} packet loops)");

    let stop_all = |why: &str| {
        debug!("stopping the packet loops: {why}");
        let _ = stop_tx.send(true);
    };
    let mut publish = tokio::time::interval(super::PUBLISH_EVERY);
    let mut loop0_done = false;
    let result = loop {
        tokio::select! {
            c = control.recv() => match c {
                Some(Control::Stop(s)) => break Ok(s),
                // Nothing to re-qualify: a relay has no server.
                Some(Control::Requalify) => {}
                None => break Ok(Stop::Terminate),
            },
            r = &mut loop0 => {
                loop0_done = true;
                let e = r.err().unwrap_or_else(|| anyhow::anyhow!("ended"));
                error!("relay packet loop 0: {e:#}");
                break Err(e);
            }
            Some((index, r)) = exit_rx.recv() => {
                let e = r.err().unwrap_or_else(|| anyhow::anyhow!("ended"));
                error!("relay packet loop {index}: {e:#}");
                break Err(e);
            }
            _ = publish.tick() => {
                let (stats, path, peers) = {
                    let counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
                    counts.iter().fold(
                        (Stats::default(), PathStats::default(), 0u32),
                        |(mut s, mut q, p), c| {
                            s += &c.stats;
                            q += &c.path;
                            (s, q, p.saturating_add(c.peers))
                        },
                    )
                };
                if status.take_counts(peers, stats, path) {
                    bus.update(status).await;
                }
            }
        }
    };
    stop_all("the relay stops");
    if !loop0_done {
        let _ = (&mut loop0).await;
    }
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;
    let counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
    let (udp, tun) = counts.iter().fold((0, 0), |(u, t), c| {
        (u + c.path.handed_datagrams, t + c.path.handed_tun_packets)
    });
    info!("Packet loops handed {udp} datagrams and {tun} tunnel packets to one another");
    result
}
