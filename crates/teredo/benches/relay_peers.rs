//! Relay peer table at scale: memory per peer and the
//! forwarding rate with N peers, through the sans-IO relay core alone (no
//! sockets, no kernel): what the table itself costs.
//!
//!   cargo bench -p teredo --bench relay_peers            # 100,000 peers
//!   PEERS=1048576 cargo bench -p teredo --bench relay_peers
//!
//! Memory is what the global allocator holds (live bytes), counted by a
//! wrapper around the system allocator, so the figure is exact and does not
//! depend on the machine's page-cache noise.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use teredo::addr::TeredoAddr;
use teredo::relay::{Action, Config, Mode, Outputs, TeredoTunnel};
use teredo::security::Secret;
use teredo::wire::{emit_bubble, IPV6_HEADER_LEN};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// The i-th client: a distinct public mapping in 100.64.0.0/10 (a global
/// unicast range for this purpose would do; the core checks only the server).
fn client(i: u32) -> (Ipv6Addr, SocketAddrV4) {
    let ip = Ipv4Addr::from(0x6440_0000 | (i >> 6));
    let port = 10_000 + (i & 63) as u16;
    let mapping = SocketAddrV4::new(ip, port);
    let addr = TeredoAddr {
        prefix: 0x2001_0000,
        server: SERVER,
        flags: 0,
        mapped_port: port,
        mapped_ip: ip,
    }
    .to_ipv6();
    (addr, mapping)
}

/// An IPv6 packet with a 1220-byte payload (a full 1280-byte Teredo MTU).
fn packet(src: Ipv6Addr, dst: Ipv6Addr, payload: usize) -> Vec<u8> {
    let mut p = vec![0u8; IPV6_HEADER_LEN + payload];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p
}

fn main() {
    let peers: u32 = std::env::var("PEERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let native: Ipv6Addr = "2001:db8:1::1".parse().expect("literal");
    let t0 = Instant::now();
    let before = LIVE.load(Ordering::Relaxed);
    let mut relay = TeredoTunnel::new(
        Config::new(
            Mode::Relay {
                cone: true,
                prefix: 0x2001_0000,
            },
            1,
            Secret::new([7; 16]),
        ),
        t0,
    );
    let mut out = Outputs::new();

    // Fill the table the way traffic does: a native packet toward each client
    // (peer created, packet queued, indirect bubble), then the client's
    // direct bubble back (peer trusted, queue flushed).
    let fill = Instant::now();
    for i in 0..peers {
        let (addr, mapping) = client(i);
        relay.handle_tun_packet(t0, 0, &packet(native, addr, 100), &mut out);
        out.clear();
        let bubble = emit_bubble(addr, teredo::addr::CLIENT_LINK_LOCAL);
        relay.handle_udp_packet(t0, 0, mapping, &bubble, &mut out);
        out.clear();
    }
    let fill_time = fill.elapsed();
    let table = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    let trusted = (0..peers)
        .filter(|&i| relay.peers().get(&client(i).0).is_some_and(|p| p.trusted))
        .count();

    // Forwarding: native → client (encapsulate) and client → native
    // (decapsulate), spread over the whole table.
    let rounds = 2_000_000u32;
    let mut sent = 0u64;
    let mut delivered = 0u64;
    let tx_packets: Vec<Vec<u8>> = (0..1024)
        .map(|i| packet(native, client(i * 97 % peers).0, 1220))
        .collect();
    let rx_packets: Vec<(SocketAddrV4, Vec<u8>)> = (0..1024)
        .map(|i| {
            let (addr, mapping) = client(i * 89 % peers);
            (mapping, packet(addr, native, 1220))
        })
        .collect();
    let fwd = Instant::now();
    for i in 0..rounds {
        let k = (i as usize) & 1023;
        if i & 1 == 0 {
            relay.handle_tun_packet(t0, 0, &tx_packets[k], &mut out);
        } else {
            let (from, pkt) = &rx_packets[k];
            relay.handle_udp_packet(t0, 0, *from, pkt, &mut out);
        }
        for o in out.iter() {
            match o.action {
                Action::Transmit(_) | Action::TransmitVia(..) => sent += 1,
                Action::ToTun => delivered += 1,
                Action::Icmpv6Error(_) => {}
            }
        }
        out.clear();
    }
    let fwd_time = fwd.elapsed();

    let per_s = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
    println!("relay peer table, sans-IO core, {peers} peers");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| peers trusted after fill | {trusted} |");
    println!(
        "| fill rate (peer created + confirmed) | {:.0} peers/s |",
        per_s(u64::from(peers), fill_time)
    );
    println!(
        "| table memory (allocator, live) | {:.1} MiB |",
        table as f64 / 1048576.0
    );
    println!(
        "| memory per peer | {:.0} bytes |",
        table as f64 / f64::from(peers.max(1))
    );
    println!(
        "| forwarding, 1280-byte packets, both directions | {:.2} Mpps ({} encapsulated, {} delivered) |",
        per_s(sent + delivered, fwd_time) / 1e6,
        sent,
        delivered
    );
    assert_eq!(trusted as u32, peers, "every peer confirmed");
    assert_eq!(
        sent + delivered,
        u64::from(rounds),
        "every packet forwarded"
    );
}
