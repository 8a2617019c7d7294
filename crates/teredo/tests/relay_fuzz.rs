//! Random input never panics and every packet is accounted for: each call
//! moves at least one disposition counter (delivered, sent, queued or a drop
//! reason).

mod relay_harness;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use relay_harness::*;
use teredo::addr::DEFAULT_PREFIX;
use teredo::relay::{Config, Mode, Outputs, OwnAddress, Stats, TeredoTunnel};
use teredo::wire::{emit_bubble, emit_with_origin};

fn dispositions(s: &Stats) -> u64 {
    s.rx + s.tx
        + s.queued
        + s.bubbles_received
        + s.dropped_malformed
        + s.dropped_multicast
        + s.dropped_not_qualified
        + s.dropped_no_route
        + s.dropped_non_global
        + s.dropped_link_local
        + s.dropped_foreign_prefix
        + s.dropped_unknown_peer
        + s.dropped_unauthenticated
        + s.dropped_queue_full
        + s.dropped_queue_budget
        + s.dropped_peer_list_full
        + s.dropped_rate_limited
}

fn own_ep() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 40000)
}

fn peer_ep() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 20), 50000)
}

fn tunnels(now: Instant) -> Vec<TeredoTunnel> {
    // A small total queue budget, so that random input reaches its limit.
    let mut cfg = Config::new(Mode::Client, 1, secret(0));
    cfg.queue_budget = 256;
    let mut c = TeredoTunnel::new(cfg, now);
    c.set_state(Some(OwnAddress {
        addr: teredo_of(own_ep()),
        server: SERVER,
        mtu: 1280,
    }));
    let down = TeredoTunnel::new(Config::new(Mode::Client, 2, secret(1)), now);
    let relay = |cone| {
        let mode = Mode::Relay {
            cone,
            prefix: DEFAULT_PREFIX,
        };
        TeredoTunnel::new(Config::new(mode, 3, secret(2)), now)
    };
    vec![c, down, relay(true), relay(false)]
}

/// Plausible packets to mutate, so that the fuzzer gets past the parsers.
fn templates() -> Vec<Vec<u8>> {
    let (me, peer) = (teredo_of(own_ep()), teredo_of(peer_ep()));
    let native = "2001:db8::1".parse().expect("v6");
    vec![
        emit_bubble(peer, me).to_vec(),
        emit_with_origin(peer_ep(), &emit_bubble(peer, me)),
        ipv6_packet(peer, me, 30, 1),
        ipv6_packet(native, me, 30, 2),
        ipv6_packet(me, peer, 30, 3),
        ipv6_packet(me, native, 30, 4),
        ipv6_packet(native, peer, 30, 5),
        teredo::wire::icmpv6_error(1, 3, 0, native, &ipv6_packet(me, native, 20, 0))
            .expect("error"),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Tun(usize, Vec<u8>),
    Udp(usize, bool, Vec<u8>),
    Advance(u64),
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    let mutated = (
        0..templates().len(),
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        any::<Option<usize>>(),
    )
        .prop_map(|(t, flips, cut)| {
            let mut p = templates().swap_remove(t);
            for (i, x) in flips {
                if !p.is_empty() {
                    let n = p.len();
                    p[i % n] ^= x;
                }
            }
            if let Some(c) = cut {
                p.truncate(c % (p.len() + 1));
            }
            p
        });
    prop_oneof![prop::collection::vec(any::<u8>(), 0..120), mutated]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize, bytes()).prop_map(|(n, b)| Op::Tun(n, b)),
        (0..4usize, any::<bool>(), bytes()).prop_map(|(n, s, b)| Op::Udp(n, s, b)),
        (0..40_000u64).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_input_is_counted_and_never_panics(ops in prop::collection::vec(op(), 1..40)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut ts = tunnels(now);
        let mut out = Outputs::new();
        for op in ops {
            let unix = UNIX0 + now.duration_since(t0).as_secs() as u32;
            match op {
                Op::Advance(ms) => {
                    now += Duration::from_millis(ms);
                    for t in &mut ts {
                        t.handle_timeout(now);
                    }
                }
                Op::Tun(n, b) => {
                    let before = dispositions(ts[n].stats());
                    ts[n].handle_tun_packet(now, unix, &b, &mut out);
                    prop_assert!(dispositions(ts[n].stats()) > before);
                }
                Op::Udp(n, from_server, b) => {
                    let from = if from_server { SERVER_EP } else { peer_ep() };
                    let before = dispositions(ts[n].stats());
                    ts[n].handle_udp_packet(now, unix, from, &b, &mut out);
                    prop_assert!(dispositions(ts[n].stats()) > before);
                }
            }
            for o in out.drain_owned() {
                if let teredo::relay::Output::Icmpv6Error { packet, .. } = o {
                    prop_assert!(packet.len() <= 1280);
                }
            }
            for t in &ts {
                prop_assert!(t.peers().queued_bytes() <= t.peers().queue_budget());
            }
        }
    }
}
