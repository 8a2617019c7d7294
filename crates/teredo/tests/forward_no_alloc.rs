//! Forwarding a packet through an established peer allocates nothing once
//! the output buffers have grown: the bytes go into [`Outputs`]' arena, which
//! the driver clears per batch and which keeps its capacity.
//!
//! A test file of its own: its global allocator counts the allocations made
//! by the test's own thread (a thread-local counter, so the harness's other
//! threads do not disturb the count).

mod forwarding;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use teredo::relay::Outputs;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the slot may be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn forwarding_allocates_nothing_after_warm_up() {
    let now = Instant::now();
    for len in [0, 100, 1232] {
        for mut path in forwarding::all(now, len) {
            let mut out = Outputs::new();
            // Warm-up: the arena and the list grow to a batch's size.
            forwarding::forward(&mut path, now, 256, 64, &mut out);
            let before = allocations();
            forwarding::forward(&mut path, now, 10_000, 64, &mut out);
            let made = allocations() - before;
            assert_eq!(
                made, 0,
                "{} ({len}-byte payloads): {made} allocations for 10000 packets",
                path.name
            );
        }
    }
}

#[test]
fn the_counter_sees_allocations() {
    // The check above is only worth something if an allocation is counted.
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert_eq!(allocations() - before, 1);
    drop(v);
}
