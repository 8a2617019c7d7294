//! What a remote sender can make a client send to a third host: the bubbles a
//! client sends in answer to received datagrams are bounded per destination
//! IPv4 and in all (`teredo::relay::replies`), and a datagram whose Teredo
//! source names another IPv4 than the one it came from makes it send nothing.
//! Each test replays an attack and counts the bubbles it gets out.

mod relay_harness;

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use relay_harness::*;
use teredo::addr::{TeredoAddr, DEFAULT_PREFIX, TEREDO_PORT};
use teredo::relay::replies::{DEST_BURST, DEST_WINDOW, GLOBAL_BURST, GLOBAL_WINDOW};
use teredo::relay::{Config, Mode, Output, Outputs, OwnAddress, TeredoTunnel};
use teredo::wire::{emit_bubble, emit_with_origin, TeredoPacket};

const VICTIM: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 77);
const FAKE_SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);
/// The endpoint our client keeps a NAT hole open to (its relay).
const HOLE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), TEREDO_PORT);

fn own() -> Ipv6Addr {
    teredo_of("198.51.100.10:40000".parse().expect("ep"))
}

fn client(now: Instant) -> TeredoTunnel {
    let mut t = TeredoTunnel::new(Config::new(Mode::Client, 7, secret(0)), now);
    t.set_state(Some(OwnAddress {
        addr: own(),
        server: SERVER,
        mtu: 1280,
    }));
    t
}

/// The `i`-th variant of a Teredo address naming `ip` and `server`: flags
/// and port differ, so each is a new peer.
fn spoofed(i: u16, ip: Ipv4Addr, server: Ipv4Addr) -> Ipv6Addr {
    TeredoAddr {
        prefix: DEFAULT_PREFIX,
        server,
        flags: i.wrapping_mul(0x0101) & 0x3cff,
        mapped_port: 40_000 + i,
        mapped_ip: ip,
    }
    .to_ipv6()
}

/// Bubbles in `out`, counted per destination IPv4; nothing else may be sent.
fn bubbles(out: &mut Outputs, tally: &mut HashMap<Ipv4Addr, usize>) {
    for o in out.drain_owned() {
        match o {
            Output::Transmit { dst, payload } => {
                assert!(
                    TeredoPacket::parse(&payload).is_ok_and(|p| p.is_bubble()),
                    "only bubbles are sent"
                );
                *tally.entry(*dst.ip()).or_default() += 1;
            }
            other => panic!("unexpected output {other:?}"),
        }
    }
}

fn total(tally: &HashMap<Ipv4Addr, usize>) -> usize {
    tally.values().sum()
}

#[test]
fn spoofed_sources_naming_a_victim_get_no_bubbles() {
    // 64 datagrams through the hole towards our relay, each claiming another
    // variant of a Teredo address that embeds the victim and a fake server.
    // Before, each made a new peer and two bubbles: 128 in all.
    let t0 = Instant::now();
    let mut t = client(t0);
    let mut out = Outputs::new();
    let mut tally = HashMap::new();
    for i in 0..64u16 {
        let src = spoofed(i, VICTIM, FAKE_SERVER);
        let now = t0 + Duration::from_millis(u64::from(i) * 10);
        t.handle_udp_packet(now, UNIX0, HOLE, &ipv6_packet(src, own(), 20, 0), &mut out);
        bubbles(&mut out, &mut tally);
    }
    assert_eq!(total(&tally), 0, "{tally:?}");
    assert!(t.peers().is_empty(), "no state either");
    assert_eq!(t.stats().dropped_unauthenticated, 64);
    assert_eq!(t.stats().queued, 0);
}

#[test]
fn spoofed_sources_from_the_victims_ipv4_are_bounded_per_destination() {
    // A sender that can use the victim's IPv4 as its source (a client that is
    // reachable directly) passes the same-IPv4 rule; the per-destination
    // window then bounds what it gets towards the victim and the fake server,
    // however many peer variants it makes up.
    let t0 = Instant::now();
    let mut t = client(t0);
    let mut out = Outputs::new();
    let mut tally = HashMap::new();
    let rounds = 8u32;
    for round in 0..rounds {
        let now = t0 + DEST_WINDOW * round;
        tally.clear();
        for i in 0..64u16 {
            let variant = (round as u16) * 64 + i;
            let src = spoofed(variant, VICTIM, FAKE_SERVER);
            let from = SocketAddrV4::new(VICTIM, 1000 + variant);
            t.handle_udp_packet(now, UNIX0, from, &ipv6_packet(src, own(), 20, 0), &mut out);
            bubbles(&mut out, &mut tally);
        }
        let burst = DEST_BURST as usize;
        assert_eq!(tally.get(&VICTIM).copied().unwrap_or(0), burst, "{tally:?}");
        assert_eq!(tally.get(&FAKE_SERVER).copied().unwrap_or(0), burst);
        assert_eq!(total(&tally), 2 * burst);
    }
    let st = t.stats();
    let sent = u64::from(rounds * 2 * DEST_BURST);
    assert_eq!(st.bubbles_sent, sent);
    assert_eq!(st.bubbles_refused_dest, u64::from(rounds) * 128 - sent);
    assert!(t.own_address().is_some());
}

#[test]
fn direct_bubble_flood_from_one_address_is_bounded() {
    // Direct bubbles are answered where they came from: a flood from (or
    // spoofing) one IPv4 gets at most the per-destination share back.
    let t0 = Instant::now();
    let mut t = client(t0);
    let mut out = Outputs::new();
    let mut tally = HashMap::new();
    for i in 0..1000u16 {
        let from = SocketAddrV4::new(VICTIM, 1000 + i);
        let src: Ipv6Addr = format!("fe80::{i:x}").parse().expect("v6");
        t.handle_udp_packet(t0, UNIX0, from, &emit_bubble(src, own()), &mut out);
        bubbles(&mut out, &mut tally);
    }
    assert_eq!(total(&tally), DEST_BURST as usize);
    assert_eq!(t.stats().bubbles_received, 1000);
    assert_eq!(t.stats().bubbles_refused_dest, 1000 - u64::from(DEST_BURST));
    assert!(t.peers().is_empty());
}

#[test]
fn direct_bubble_flood_from_many_addresses_is_bounded_globally() {
    // One bubble from each of 10,000 IPv4s over 5 s (spoofed sources): the
    // global share per second bounds the answers.
    let t0 = Instant::now();
    let mut t = client(t0);
    let mut out = Outputs::new();
    let mut tally = HashMap::new();
    let secs = 5u32;
    for i in 0..10_000u32 {
        let now = t0 + GLOBAL_WINDOW * secs * i / 10_000;
        let from = SocketAddrV4::new(Ipv4Addr::from(0xc612_0000 + i), 40_000);
        let src: Ipv6Addr = "fe80::1".parse().expect("v6");
        t.handle_udp_packet(now, UNIX0, from, &emit_bubble(src, own()), &mut out);
        bubbles(&mut out, &mut tally);
    }
    let bound = (secs * GLOBAL_BURST) as usize;
    assert_eq!(total(&tally), bound);
    assert_eq!(t.stats().bubbles_refused_global, 10_000 - bound as u64);
}

#[test]
fn origin_indications_from_a_spoofed_server_are_bounded() {
    // Anyone who can reach us from our server's endpoint (the hole we keep
    // towards it) can name an origin; answers to one IPv4 stay bounded.
    let t0 = Instant::now();
    let mut t = client(t0);
    let mut out = Outputs::new();
    let mut tally = HashMap::new();
    for i in 0..200u16 {
        let origin = SocketAddrV4::new(VICTIM, 2000 + i);
        let src = spoofed(i, VICTIM, SERVER);
        let dgram = emit_with_origin(origin, &emit_bubble(src, own()));
        t.handle_udp_packet(t0, UNIX0, SERVER_EP, &dgram, &mut out);
        bubbles(&mut out, &mut tally);
    }
    assert_eq!(tally.get(&VICTIM).copied(), Some(DEST_BURST as usize));
    assert_eq!(total(&tally), DEST_BURST as usize);
    // The next window admits the next share, no more.
    tally.clear();
    for i in 0..200u16 {
        let origin = SocketAddrV4::new(VICTIM, 3000 + i);
        let dgram = emit_with_origin(origin, &emit_bubble(spoofed(i, VICTIM, SERVER), own()));
        t.handle_udp_packet(t0 + DEST_WINDOW, UNIX0, SERVER_EP, &dgram, &mut out);
        bubbles(&mut out, &mut tally);
    }
    assert_eq!(total(&tally), DEST_BURST as usize);
}

#[test]
fn a_genuine_exchange_fits_in_the_limits() {
    // One peer's bubbles answered over its four rounds (RFC 4380 §5.2.6):
    // nothing refused.
    let t0 = Instant::now();
    let mut t = client(t0);
    let mut out = Outputs::new();
    let mut tally = HashMap::new();
    let peer = SocketAddrV4::new(VICTIM, 50_000);
    let peer_addr = spoofed(1, VICTIM, SERVER);
    for round in 0..4u32 {
        let now = t0 + Duration::from_millis(2001) * round;
        let direct = emit_bubble("fe80::1".parse().expect("v6"), own());
        t.handle_udp_packet(now, UNIX0, peer, &direct, &mut out);
        let indirect = emit_with_origin(peer, &emit_bubble(peer_addr, own()));
        t.handle_udp_packet(now, UNIX0, SERVER_EP, &indirect, &mut out);
        bubbles(&mut out, &mut tally);
    }
    assert_eq!(total(&tally), 8);
    let st = t.stats();
    assert_eq!((st.bubbles_refused_dest, st.bubbles_refused_global), (0, 0));
}
