//! Unit tests of the peer list: rate limits, generations, queues.

use super::*;
use std::net::Ipv4Addr;

fn addr(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, n)
}

fn map(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 10), port)
}

#[test]
fn rate_limit_four_then_block() {
    let t0 = Instant::now();
    let mut r = RateLimit::default();
    assert_eq!(r.attempt(t0), Attempt::Send);
    assert_eq!(r.attempt(t0 + Duration::from_secs(2)), Attempt::Wait);
    assert_eq!(r.attempt(t0 + Duration::from_millis(2001)), Attempt::Send);
    assert_eq!(r.attempt(t0 + Duration::from_secs(5)), Attempt::Send);
    assert_eq!(r.attempt(t0 + Duration::from_secs(8)), Attempt::Send);
    assert_eq!(r.attempt(t0 + Duration::from_secs(20)), Attempt::Blocked);
    assert_eq!(r.attempt(t0 + Duration::from_secs(308)), Attempt::Blocked);
    assert_eq!(r.attempt(t0 + Duration::from_secs(309)), Attempt::Send);
    assert_eq!(r.count, 1);
    r.reset();
    assert_eq!(r.attempt(t0 + Duration::from_secs(309)), Attempt::Send);
}

#[test]
fn expiry_between_30_and_60_s() {
    let t0 = Instant::now();
    let mut l = PeerList::new(8, t0);
    assert!(l.get_or_insert(&addr(1), map(1)).is_some());
    l.handle_timeout(t0 + Duration::from_secs(10));
    assert!(l.contains(&addr(1)));
    l.handle_timeout(t0 + Duration::from_secs(30));
    assert!(l.contains(&addr(1)), "aged, not freed");
    // A lookup brings it back to the recent generation.
    assert!(l.get_mut(&addr(1)).is_some());
    l.handle_timeout(t0 + Duration::from_secs(60));
    assert!(l.contains(&addr(1)));
    l.handle_timeout(t0 + Duration::from_secs(90));
    assert!(!l.contains(&addr(1)), "unused for 30-60 s");
    assert_eq!(l.poll_timeout(), Some(t0 + Duration::from_secs(120)));
}

#[test]
fn long_stall_frees_everything() {
    let t0 = Instant::now();
    let mut l = PeerList::new(8, t0);
    l.get_or_insert(&addr(1), map(1));
    l.handle_timeout(t0 + Duration::from_secs(1000));
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), Some(t0 + Duration::from_secs(1030)));
}

#[test]
fn capacity_and_clear() {
    let t0 = Instant::now();
    let mut l = PeerList::new(2, t0);
    assert!(l.get_or_insert(&addr(1), map(1)).is_some_and(|(_, c)| c));
    assert!(l.get_or_insert(&addr(2), map(2)).is_some());
    assert!(l.get_or_insert(&addr(3), map(3)).is_none());
    assert!(l
        .get_or_insert(&addr(1), map(9))
        .is_some_and(|(p, c)| { !c && p.mapping == map(1) }));
    l.clear();
    assert!(l.is_empty());
    assert!(l.get_or_insert(&addr(3), map(3)).is_some());
    assert!(l.remove(&addr(3)).is_some());
    assert_eq!(l.capacity(), 2);
}

#[test]
fn queue_budget_and_fifo() {
    let mut p = Peer::new(map(1));
    assert!(p.enqueue(Queued::Outgoing(vec![1; 1000])));
    assert!(!p.enqueue(Queued::Outgoing(vec![2; 281])));
    assert!(p.enqueue(Queued::Incoming {
        from: map(7),
        packet: vec![3; 280]
    }));
    assert_eq!(p.queued_bytes(), 1280);
    assert!(!p.enqueue(Queued::Outgoing(vec![4; 1])));
    let q: Vec<_> = p.take_queue().collect();
    assert_eq!(q.len(), 2);
    assert_eq!(q[0], Queued::Outgoing(vec![1; 1000]));
    assert_eq!(p.queued_bytes(), 0);
    assert_eq!(p.queued_len(), 0);
}

#[test]
fn total_budget_holds_across_peers() {
    let t0 = Instant::now();
    let budget = 100 * QUEUE_BUDGET;
    let mut l = PeerList::with_queue_budget(DEFAULT_CAPACITY, budget, t0);
    let (mut queued, mut refused) = (0usize, 0usize);
    // 10,000 peers, each trying to fill its own queue.
    for n in 0..10_000u16 {
        let Some((mut p, _)) = l.get_or_insert(&addr(n), map(n)) else {
            panic!("capacity");
        };
        for _ in 0..2 {
            match p.enqueue(Queued::Outgoing(vec![0; 640])) {
                Enqueued::Yes => queued += 640,
                Enqueued::TotalFull => refused += 1,
                Enqueued::PeerFull => panic!("640 + 640 fits one peer"),
            }
        }
        assert!(l.queued_bytes() <= budget);
    }
    assert_eq!((queued, l.queued_bytes()), (budget, budget));
    assert_eq!(refused, 20_000 - budget / 640);
    // A flushed queue gives its bytes back.
    let Some(mut p) = l.get_mut(&addr(0)) else {
        panic!("peer 0");
    };
    assert_eq!(p.take_queue().count(), 2);
    assert_eq!(l.queued_bytes(), budget - QUEUE_BUDGET);
    let Some((mut p, _)) = l.get_or_insert(&addr(60_000), map(1)) else {
        panic!("capacity");
    };
    assert_eq!(p.enqueue(Queued::Outgoing(vec![0; 1280])), Enqueued::Yes);
    assert_eq!(p.enqueue(Queued::Outgoing(vec![0; 1])), Enqueued::TotalFull);
    // So do removed and collected peers.
    assert!(l.remove(&addr(1)).is_some());
    assert_eq!(l.queued_bytes(), budget - QUEUE_BUDGET);
    l.handle_timeout(t0 + GC_INTERVAL);
    assert_eq!(l.queued_bytes(), budget - QUEUE_BUDGET, "aged, not freed");
    assert!(l.get_mut(&addr(2)).is_some());
    l.handle_timeout(t0 + 2 * GC_INTERVAL);
    assert_eq!(l.queued_bytes(), QUEUE_BUDGET, "only peer 2 is left");
    l.clear();
    assert_eq!(l.queued_bytes(), 0);
}

#[test]
fn validity() {
    let t0 = Instant::now();
    let mut p = Peer::new(map(1));
    assert!(!p.is_valid(t0));
    p.bubbles.attempt(t0);
    p.confirm(map(2), t0);
    assert_eq!(p.bubbles.count, 0);
    assert!(p.is_valid(t0 + PEER_VALIDITY));
    assert!(!p.is_valid(t0 + PEER_VALIDITY + Duration::from_millis(1)));
}
