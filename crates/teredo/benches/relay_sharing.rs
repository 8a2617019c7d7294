//! What sharing one relay's peer table between threads costs, through the
//! sans-IO core alone: T threads (default 2) forward packets for their own
//! peers, both directions alternating, with
//!
//! - `per-thread`: a [`TeredoTunnel`] per thread, owning that thread's peers
//!   (what steering both directions of a peer to one thread would allow);
//! - `one lock`: one tunnel behind one mutex, locked per packet;
//! - `16 shards`: 16 tunnels behind a mutex each, the peer's shard chosen by
//!   its address, locked per packet.
//!
//!   cargo bench -p teredo --bench relay_sharing
//!   THREADS=4 PACKETS=2000000 cargo bench -p teredo --bench relay_sharing
//!
//! The figures are indicative: the threads share the machine with whatever
//! else runs. See docs/datapath.md.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use teredo::addr::{TeredoAddr, CLIENT_LINK_LOCAL};
use teredo::relay::{Config, Mode, Outputs, TeredoTunnel};
use teredo::security::Secret;
use teredo::wire::{emit_bubble, Ipv6Header};

const PEERS_PER_THREAD: u32 = 256;
const SHARDS: usize = 16;

fn relay(now: Instant) -> TeredoTunnel {
    let mode = Mode::Relay {
        cone: true,
        prefix: 0x2001_0000,
    };
    TeredoTunnel::new(Config::new(mode, 1, Secret::new([7; 16])), now)
}

fn native() -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1)
}

/// Peer `i`: its Teredo address and mapping (in 100.64.0.0/10).
fn client(i: u32) -> (Ipv6Addr, SocketAddrV4) {
    let mapping = SocketAddrV4::new(
        Ipv4Addr::from(0x6440_0000 | (i >> 6)),
        10_000 + (i & 63) as u16,
    );
    let addr = TeredoAddr {
        prefix: 0x2001_0000,
        server: Ipv4Addr::new(192, 0, 2, 1),
        flags: 0,
        mapped_port: mapping.port(),
        mapped_ip: *mapping.ip(),
    }
    .to_ipv6();
    (addr, mapping)
}

fn packet(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    Ipv6Header::new(src, dst, 17, 64, &[0x5a; 1232]).to_vec()
}

/// Makes peer `i` known and confirmed, as traffic does.
fn establish(t: &mut TeredoTunnel, now: Instant, i: u32) {
    let (addr, mapping) = client(i);
    let mut out = Outputs::new();
    t.handle_tun_packet(now, 0, &packet(native(), addr), &mut out);
    t.handle_udp_packet(
        now,
        0,
        mapping,
        &emit_bubble(addr, CLIENT_LINK_LOCAL),
        &mut out,
    );
}

/// The packets a thread forwards: (peer, to the peer, from the peer).
type Work = Vec<(u32, Vec<u8>, (SocketAddrV4, Vec<u8>))>;

fn work(thread: u32) -> Work {
    (0..PEERS_PER_THREAD)
        .map(|k| {
            let i = thread * PEERS_PER_THREAD + k;
            let (addr, mapping) = client(i);
            (i, packet(native(), addr), (mapping, packet(addr, native())))
        })
        .collect()
}

/// Runs `threads` threads, each forwarding `packets` packets through
/// `with_tunnel(peer, f)`; returns the packets per second of all together.
fn run<F>(threads: u32, packets: u32, with_tunnel: F) -> f64
where
    F: Fn(u32, &mut dyn FnMut(&mut TeredoTunnel)) + Sync,
{
    let now = Instant::now();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let with_tunnel = &with_tunnel;
            s.spawn(move || {
                let w = work(t);
                let mut out = Outputs::new();
                for n in 0..packets {
                    let (peer, to, (from, back)) = &w[n as usize % w.len()];
                    with_tunnel(*peer, &mut |tunnel| {
                        if n % 2 == 0 {
                            tunnel.handle_tun_packet(now, 0, to, &mut out);
                        } else {
                            tunnel.handle_udp_packet(now, 0, *from, back, &mut out);
                        }
                    });
                    if n % 64 == 63 {
                        out.clear();
                    }
                }
            });
        }
    });
    f64::from(threads) * f64::from(packets) / start.elapsed().as_secs_f64()
}

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let threads = env_or("THREADS", 2);
    let packets = env_or("PACKETS", 1_000_000);
    let now = Instant::now();
    println!("{threads} threads x {packets} packets of 1232 payload bytes, {PEERS_PER_THREAD} peers each");

    let per_thread: Vec<Mutex<TeredoTunnel>> = (0..threads)
        .map(|t| {
            let mut tunnel = relay(now);
            for k in 0..PEERS_PER_THREAD {
                establish(&mut tunnel, now, t * PEERS_PER_THREAD + k);
            }
            Mutex::new(tunnel)
        })
        .collect();
    // Each thread only ever touches its own tunnel: the lock is never
    // contended, and costs what an uncontended lock costs.
    let rate = run(threads, packets, |peer, f| {
        let mut t = per_thread[(peer / PEERS_PER_THREAD) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut t);
    });
    println!("{:12} {:.2} Mpackets/s", "per-thread", rate / 1e6);

    let mut shared = relay(now);
    for i in 0..threads * PEERS_PER_THREAD {
        establish(&mut shared, now, i);
    }
    let shared = Arc::new(Mutex::new(shared));
    let rate = run(threads, packets, |_, f| {
        f(&mut shared.lock().unwrap_or_else(PoisonError::into_inner));
    });
    println!("{:12} {:.2} Mpackets/s", "one lock", rate / 1e6);

    let shards: Vec<Mutex<TeredoTunnel>> = (0..SHARDS)
        .map(|s| {
            let mut tunnel = relay(now);
            for i in (0..threads * PEERS_PER_THREAD).filter(|i| *i as usize % SHARDS == s) {
                establish(&mut tunnel, now, i);
            }
            Mutex::new(tunnel)
        })
        .collect();
    let rate = run(threads, packets, |peer, f| {
        let mut t = shards[peer as usize % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut t);
    });
    println!("{:12} {:.2} Mpackets/s", "16 shards", rate / 1e6);
}
