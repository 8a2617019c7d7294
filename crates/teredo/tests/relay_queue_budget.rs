//! The peers' queues together stay within `Config::queue_budget` however many
//! peers a remote sender makes up, and what does not fit is counted.

mod relay_harness;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use relay_harness::*;
use teredo::relay::{Config, Mode, Outputs, OwnAddress, TeredoTunnel};

fn own() -> Ipv6Addr {
    teredo_of("198.51.100.10:40000".parse().expect("ep"))
}

#[test]
fn spoofed_native_sources_cannot_queue_past_the_budget() {
    // Each datagram claims a new native IPv6 source (through some relay): a
    // new peer, a ping test, and 1,000 bytes queued until it answers.
    let t0 = Instant::now();
    let budget = 64 * 1024;
    let mut cfg = Config::new(Mode::Client, 7, secret(0));
    cfg.queue_budget = budget;
    let mut t = TeredoTunnel::new(cfg, t0);
    t.set_state(Some(OwnAddress {
        addr: own(),
        server: SERVER,
        mtu: 1280,
    }));
    let relay = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 3544);
    let mut out = Outputs::new();
    let n = 5_000u32;
    for i in 0..n {
        let src = Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + u128::from(i));
        let pkt = ipv6_packet(src, own(), 960, 0);
        let now = t0 + Duration::from_millis(u64::from(i));
        t.handle_udp_packet(now, UNIX0, relay, &pkt, &mut out);
        out.clear();
        assert!(t.peers().queued_bytes() <= budget);
    }
    let st = t.stats();
    let fit = (budget / 1000) as u64;
    assert_eq!(t.peers().queued_bytes(), fit as usize * 1000);
    assert_eq!(st.queued, fit);
    assert_eq!(st.dropped_queue_budget, u64::from(n) - fit);
    assert_eq!(st.dropped_queue_full, 0);
    let named = st.named();
    assert!(named.contains(&("dropped_queue_budget", u64::from(n) - fit)));
}

#[test]
fn local_traffic_to_many_peers_shares_the_budget() {
    // Outgoing packets to many unreachable Teredo peers, from the tunnel.
    let t0 = Instant::now();
    let budget = 16 * 1280;
    let mut cfg = Config::new(Mode::Client, 7, secret(0));
    cfg.queue_budget = budget;
    let mut t = TeredoTunnel::new(cfg, t0);
    t.set_state(Some(OwnAddress {
        addr: own(),
        server: SERVER,
        mtu: 1280,
    }));
    let mut out = Outputs::new();
    for i in 0..100u16 {
        let dst = teredo_of(SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), 1000 + i));
        t.handle_tun_packet(t0, UNIX0, &ipv6_packet(own(), dst, 1240, 0), &mut out);
        out.clear();
    }
    assert_eq!(t.peers().queued_bytes(), budget);
    assert_eq!(t.stats().queued, 16);
    assert_eq!(t.stats().dropped_queue_budget, 84);
}
