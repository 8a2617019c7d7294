//! Forwarding through the sans-IO core alone (no sockets, no kernel): heap
//! allocations per packet and packets per second, for each established path
//! of `tests/forwarding` (relay and Teredo client, client and Teredo peer,
//! client and native host via a relay), both directions alternating.
//!
//!   cargo bench -p teredo --bench forward_alloc
//!   PACKETS=5000000 LEN=1232 cargo bench -p teredo --bench forward_alloc
//!
//! The outputs are cleared every 64 packets, as the driver clears them per
//! batch. The goal is 0 allocations per packet after the warm-up.

#[path = "../tests/forwarding/mod.rs"]
mod forwarding;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use teredo::relay::Outputs;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let packets = env_or("PACKETS", 2_000_000);
    let len = env_or("LEN", 1232) as usize;
    let now = Instant::now();
    println!("{packets} packets of {len} payload bytes per path, both directions alternating");
    for mut path in forwarding::all(now, len) {
        let mut out = Outputs::new();
        forwarding::forward(&mut path, now, 1024, 64, &mut out);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let start = Instant::now();
        forwarding::forward(&mut path, now, packets, 64, &mut out);
        let took = start.elapsed();
        let made = ALLOCATIONS.load(Ordering::Relaxed) - before;
        println!(
            "{:34} {:.3} allocations/packet  {:.2} Mpackets/s",
            path.name,
            made as f64 / f64::from(packets),
            f64::from(packets) / took.as_secs_f64() / 1e6
        );
    }
}
