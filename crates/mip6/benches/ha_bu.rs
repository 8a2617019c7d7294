//! Home agent Binding Update processing at scale: BU/s sustained and memory per binding with
//! 10,000 mobile nodes, through the sans-IO core (parse and verify the MH, the checks of
//! docs/protocol-notes.md#home-agent-bu-checks, the binding cache, the BA) — what the daemon
//! does per BU before the kernel.
//!
//!   cargo bench -p mip6 --bench ha_bu            # 10,000 mobile nodes, 10 rounds
//!   MNS=100000 ROUNDS=3 cargo bench -p mip6 --bench ha_bu
//!
//! Memory is the allocator's live bytes (a counting wrapper around the
//! system allocator), so it is exact and free of page-cache noise.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mip6::bcache::{
    check_home_bu, AclDecision, BindingCache, HomeBuContext, HomeBuVerdict, HomePrefixLifetimes,
};
use mip6::bul::{BulEntry, BulEvent, HomeRegistrationConfig};
use mip6::consts::BaStatus;
use mip6::wire::{MhMessage, MhRepr};

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

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ha() -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1)
}

/// The i-th mobile node's home address and its care-of address in round r.
fn addresses(i: u32, r: u32) -> (Ipv6Addr, Ipv6Addr) {
    let [a, b] = [(i >> 16) as u16, i as u16];
    let hoa = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 1, a, b);
    let coa = Ipv6Addr::new(0x2001, 0xdb8, 0xa, r as u16, 0, 1, a, b);
    (hoa, coa)
}

fn main() {
    let mns = env_or("MNS", 10_000);
    let rounds = env_or("ROUNDS", 10).max(1);
    let t0 = Instant::now();

    // The mobile nodes' BUs, built beforehand: round 0 registers, every later
    // round is a handover to a new care-of address (same cache entry).
    let mut bul: Vec<BulEntry> = (0..mns)
        .map(|i| BulEntry::new(HomeRegistrationConfig::new(addresses(i, 0).0, ha()), 1))
        .collect();
    let mut wire: Vec<Vec<(Ipv6Addr, Ipv6Addr, Vec<u8>)>> = Vec::new();
    for r in 0..rounds {
        let mut batch = Vec::with_capacity(mns as usize);
        for (i, e) in bul.iter_mut().enumerate() {
            let (hoa, coa) = addresses(i as u32, r);
            let ev = e.register(t0, coa, Duration::from_secs(600));
            let Some(BulEvent::SendBindingUpdate { message, .. }) = ev.into_iter().next() else {
                panic!("no BU for MN {i} in round {r}");
            };
            let bytes = message.emit(&hoa, &ha()).expect("emit BU");
            batch.push((hoa, coa, bytes));
        }
        wire.push(batch);
    }
    drop(bul);

    let before = LIVE.load(Ordering::Relaxed);
    let mut cache = BindingCache::with_max_bindings(usize::try_from(mns).unwrap_or(usize::MAX));
    let mut per_round = Vec::new();
    let mut accepted = 0u64;
    for batch in &wire {
        let start = Instant::now();
        for (hoa, coa, bytes) in batch {
            let mh = MhRepr::parse_verified(bytes, hoa, &ha()).expect("valid BU");
            let MhMessage::BindingUpdate(bu) = mh.message else {
                panic!("not a BU");
            };
            let ctx = HomeBuContext {
                packet_source: *coa,
                home_address: *hoa,
                bu,
                options: &mh.options,
                existing: cache.existing(hoa),
                coa_has_binding: cache.has_binding(coa),
                dst_is_ha_address: true,
                home_prefix: Some(HomePrefixLifetimes {
                    valid: Duration::from_secs(86_400),
                    preferred: Duration::from_secs(14_400),
                }),
                served_prefix_covers_hoa: false,
                accept_mobile_router: false,
                acl: AclDecision {
                    status: BaStatus::ACCEPTED,
                    prefixes: None,
                },
                max_binding_life: Duration::from_secs(3600),
                key_mgmt_capable: false,
                ipsec_required: false,
                ipsec_protected: false,
                cache_full: cache.is_full(),
            };
            let HomeBuVerdict::Accept(a) = check_home_bu(&ctx) else {
                panic!("BU refused");
            };
            cache.apply(t0, *hoa, ha(), &bu, &a);
            let _ = cache.dad_finished(t0, hoa, false);
            let ba = a.binding_ack().emit(&ha(), hoa).expect("emit BA");
            std::hint::black_box(ba);
            accepted += 1;
        }
        per_round.push(start.elapsed());
    }
    let memory = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    let total: Duration = per_round.iter().sum();
    let first = per_round[0];
    let mut rest: Vec<Duration> = per_round[1..].to_vec();
    rest.sort();
    let bu_s = |d: Duration| f64::from(mns) / d.as_secs_f64();

    println!("home agent BU processing, sans-IO core, {mns} mobile nodes, {rounds} rounds");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| bindings in the cache | {} |", cache.len());
    println!("| first registrations | {:.0} BU/s |", bu_s(first));
    if let Some(median) = rest.get(rest.len() / 2) {
        println!(
            "| handovers (new CoA), median round | {:.0} BU/s |",
            bu_s(*median)
        );
    }
    println!(
        "| sustained over all rounds | {:.0} BU/s |",
        accepted as f64 / total.as_secs_f64()
    );
    println!(
        "| memory per binding (allocator, live) | {:.0} bytes |",
        memory as f64 / f64::from(mns.max(1))
    );
    assert_eq!(cache.len(), mns as usize, "one binding per mobile node");
}
