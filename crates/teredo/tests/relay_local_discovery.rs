//! Local client discovery (RFC 4380 §5.2.8): two clients behind one NAT that
//! does not loop packets back (no hairpinning) find each other on their link
//! and talk there; nobody else gets trusted that way. Simulated time; the
//! "link" delivers to local endpoints and the discovery group, and nothing
//! sent to a public endpoint comes back.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use teredo::addr::{TeredoAddr, DEFAULT_PREFIX};
use teredo::relay::{
    Config, LocalLink, Mode, Output, Outputs, OwnAddress, TeredoTunnel, ALL_NODES, DISCOVERY_DST,
};
use teredo::security::Secret;
use teredo::wire::{emit_bubble, emit_with_origin, Ipv6Header, TeredoPacket};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SERVER_EP: SocketAddrV4 = SocketAddrV4::new(SERVER, 3544);
const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const UNIX0: u32 = 1_700_000_000;

fn local(host: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, host), 40000 + u16::from(host))
}

fn teredo(public_ip: Ipv4Addr, port: u16) -> Ipv6Addr {
    TeredoAddr {
        prefix: DEFAULT_PREFIX,
        server: SERVER,
        flags: 0x0100,
        mapped_port: port,
        mapped_ip: public_ip,
    }
    .to_ipv6()
}

struct Host {
    t: TeredoTunnel,
    addr: Ipv6Addr,
    local: SocketAddrV4,
    /// Its mapping on the NAT, as its address names it.
    public: SocketAddrV4,
    tun: Vec<Vec<u8>>,
}

fn host(n: u8, public_port: u16, now: Instant) -> Host {
    let addr = teredo(PUBLIC, public_port);
    let mut t = TeredoTunnel::new(
        Config::new(Mode::Client, u32::from(n), Secret::new([n; 16])),
        now,
    );
    t.set_state(Some(OwnAddress {
        addr,
        server: SERVER,
        mtu: 1280,
    }));
    t.set_local_link(Some(LocalLink {
        addr: *local(n).ip(),
        prefix_len: 24,
        port: local(n).port(),
    }));
    Host {
        t,
        addr,
        local: local(n),
        public: SocketAddrV4::new(PUBLIC, public_port),
        tun: Vec::new(),
    }
}

/// Delivers outputs on the link until nothing moves; returns every
/// (sender, destination) seen.
fn settle(
    hosts: &mut [Host],
    now: Instant,
    first: Vec<(usize, Outputs)>,
) -> Vec<(usize, SocketAddrV4)> {
    settle_with(hosts, now, first, Link::Multicast)
}

/// What the simulated network between two hosts behind one NAT carries
/// besides their link's unicast.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    /// The discovery group works; nothing reaches the server.
    Multicast,
    /// Multicast is filtered; the server forwards bubbles (with their
    /// trailers and an origin indication) to the public mapping they name,
    /// which the NAT lets in.
    ServerOnly,
}

fn settle_with(
    hosts: &mut [Host],
    now: Instant,
    first: Vec<(usize, Outputs)>,
    link: Link,
) -> Vec<(usize, SocketAddrV4)> {
    let mut wire = Vec::new();
    // In order, as a link delivers.
    let mut todo: VecDeque<(usize, Output)> = first
        .into_iter()
        .flat_map(|(i, o)| o.to_vec().into_iter().map(move |x| (i, x)))
        .collect();
    let mut steps = 0;
    while let Some((i, o)) = todo.pop_front() {
        steps += 1;
        assert!(steps < 1000, "no end to the exchange");
        match o {
            Output::ToTun(p) => hosts[i].tun.push(p),
            // Port prediction is off here: no side port is ever used.
            Output::TransmitVia { .. } => panic!("a side port without prediction"),
            Output::Transmit { dst, payload } => {
                wire.push((i, dst));
                let from = hosts[i].local;
                let public = hosts[i].public;
                let forwarded = (link == Link::ServerOnly && dst == SERVER_EP)
                    .then(|| {
                        let pkt = TeredoPacket::parse(&payload).ok()?;
                        let h = Ipv6Header::parse(pkt.ipv6).ok()?;
                        let to = TeredoAddr::from_ipv6(&h.dst).mapping();
                        let mut fwd = emit_with_origin(public, pkt.ipv6);
                        fwd.extend_from_slice(payload.get(pkt.buffer_len()..)?);
                        Some((to, fwd))
                    })
                    .flatten();
                for (j, h) in hosts.iter_mut().enumerate() {
                    let mut out = Outputs::new();
                    if dst == DISCOVERY_DST && j != i && link == Link::Multicast {
                        h.t.handle_discovery_datagram(now, from, &payload, &mut out);
                    } else if dst == h.local {
                        h.t.handle_udp_packet(now, UNIX0, from, &payload, &mut out);
                    } else if let Some((_, fwd)) = forwarded.as_ref().filter(|f| f.0 == h.public) {
                        h.t.handle_udp_packet(now, UNIX0, SERVER_EP, fwd, &mut out);
                    }
                    todo.extend(out.to_vec().into_iter().map(|x| (j, x)));
                }
            }
            Output::Icmpv6Error { .. } => {}
        }
    }
    wire
}

#[test]
fn two_clients_behind_one_nat_find_each_other_and_talk_on_the_link() {
    let now = Instant::now();
    let mut hosts = vec![host(10, 50000, now), host(11, 50001, now)];
    let (a, b) = (hosts[0].addr, hosts[1].addr);
    let pkt = Ipv6Header::new(a, b, 17, 64, &[7; 40]).to_vec();
    let mut out = Outputs::new();
    hosts[0].t.handle_tun_packet(now, UNIX0, &pkt, &mut out);
    let sent: Vec<SocketAddrV4> = out
        .to_vec()
        .iter()
        .filter_map(|o| match o {
            Output::Transmit { dst, .. } => Some(*dst),
            _ => None,
        })
        .collect();
    assert!(sent.contains(&DISCOVERY_DST), "asks the link: {sent:?}");
    let wire = settle(&mut hosts, now, vec![(0, out)]);
    assert_eq!(
        hosts[1].tun,
        vec![pkt],
        "delivered on the link; wire: {wire:?}"
    );
    for (i, other) in [(0, 1), (1, 0)] {
        let peer = hosts[i].t.peers().get(&hosts[other].addr).expect("peer");
        assert!(peer.trusted);
        assert_eq!(peer.mapping, hosts[other].local, "its endpoint on the link");
    }
    // From now on straight to the local endpoint, both ways.
    let reply = Ipv6Header::new(b, a, 17, 64, &[8; 40]).to_vec();
    let mut out = Outputs::new();
    hosts[1].t.handle_tun_packet(now, UNIX0, &reply, &mut out);
    let wire = settle(&mut hosts, now, vec![(1, out)]);
    assert_eq!(wire, vec![(1, hosts[0].local)]);
    assert_eq!(hosts[0].tun, vec![reply]);
}

#[test]
fn periodic_discovery_starts_at_once_then_every_200_to_300_s() {
    let now = Instant::now();
    let mut h = host(10, 50000, now);
    let due = h.t.next_discovery().expect("on");
    assert!(due <= now);
    let mut out = Outputs::new();
    h.t.send_discovery(now, &mut out);
    let v = out.to_vec();
    assert_eq!(v.len(), 1);
    let Output::Transmit { dst, payload } = &v[0] else {
        panic!("{v:?}");
    };
    assert_eq!(*dst, DISCOVERY_DST);
    assert_eq!(
        payload.as_slice(),
        emit_bubble(h.addr, ALL_NODES).as_slice()
    );
    let next = h.t.next_discovery().expect("on") - now;
    assert!(
        next >= Duration::from_secs(200) && next <= Duration::from_secs(300),
        "{next:?}"
    );
    // Not due yet: nothing.
    let mut out = Outputs::new();
    h.t.send_discovery(now + Duration::from_secs(100), &mut out);
    assert!(out.is_empty());
    // Off, or down: nothing due.
    h.t.set_local_link(None);
    assert_eq!(h.t.next_discovery(), None);
}

#[test]
fn discovery_claims_from_elsewhere_are_ignored() {
    let now = Instant::now();
    let mut h = host(10, 50000, now);
    let cases = [
        // A client behind another NAT.
        (teredo(Ipv4Addr::new(198, 51, 100, 9), 50001), local(11)),
        // Behind our NAT, but the datagram comes from off our link.
        (
            teredo(PUBLIC, 50001),
            SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 9), 4000),
        ),
        // Our own address.
        (h.addr, local(11)),
    ];
    for (claimed, from) in cases {
        let mut out = Outputs::new();
        h.t.handle_discovery_datagram(now, from, &emit_bubble(claimed, ALL_NODES), &mut out);
        h.t.handle_udp_packet(now, UNIX0, from, &emit_bubble(claimed, ALL_NODES), &mut out);
        assert!(out.is_empty(), "{claimed} from {from}: {:?}", out.to_vec());
        assert!(h.t.peers().get(&claimed).is_none_or(|p| !p.trusted));
    }
    assert_eq!(h.t.stats().dropped_discovery, 6);
    // Not a discovery bubble at all.
    let mut out = Outputs::new();
    h.t.handle_discovery_datagram(now, local(11), b"not teredo", &mut out);
    assert_eq!(h.t.stats().dropped_discovery, 7);
}

#[test]
fn a_discovery_claim_nobody_answers_is_never_trusted() {
    let now = Instant::now();
    let mut h = host(10, 50000, now);
    let claimed = teredo(PUBLIC, 50001);
    let mut out = Outputs::new();
    h.t.handle_discovery_datagram(now, local(11), &emit_bubble(claimed, ALL_NODES), &mut out);
    // A keyed bubble to the claimed endpoint, and our own discovery there.
    let dsts: Vec<SocketAddrV4> = out
        .to_vec()
        .iter()
        .filter_map(|o| match o {
            Output::Transmit { dst, .. } => Some(*dst),
            _ => None,
        })
        .collect();
    assert_eq!(dsts, vec![local(11), local(11)]);
    let peer = h.t.peers().get(&claimed).expect("a candidate");
    assert!(!peer.trusted, "a claim is not a proof");
    // Data from the claimed endpoint before any answer: not delivered.
    let pkt = Ipv6Header::new(claimed, h.addr, 17, 64, &[1; 8]).to_vec();
    let mut out = Outputs::new();
    h.t.handle_udp_packet(now, UNIX0, local(11), &pkt, &mut out);
    assert!(!out.to_vec().iter().any(|o| matches!(o, Output::ToTun(_))));
}

#[test]
fn relays_do_no_local_discovery() {
    let now = Instant::now();
    let mut t = TeredoTunnel::new(
        Config::new(
            Mode::Relay {
                cone: true,
                prefix: DEFAULT_PREFIX,
            },
            1,
            Secret::new([1; 16]),
        ),
        now,
    );
    t.set_local_link(Some(LocalLink {
        addr: Ipv4Addr::new(192, 168, 1, 1),
        prefix_len: 24,
        port: 3545,
    }));
    assert_eq!(t.next_discovery(), None);
}

#[test]
fn without_multicast_the_alternate_address_trailer_does_it_through_the_server() {
    let now = Instant::now();
    let mut hosts = vec![host(10, 50000, now), host(11, 50001, now)];
    let (a, b) = (hosts[0].addr, hosts[1].addr);
    let pkt = Ipv6Header::new(a, b, 17, 64, &[7; 40]).to_vec();
    let mut out = Outputs::new();
    hosts[0].t.handle_tun_packet(now, UNIX0, &pkt, &mut out);
    let wire = settle_with(&mut hosts, now, vec![(0, out)], Link::ServerOnly);
    assert_eq!(hosts[1].tun, vec![pkt], "wire: {wire:?}");
    let reply = Ipv6Header::new(b, a, 17, 64, &[8; 40]).to_vec();
    let mut out = Outputs::new();
    hosts[1].t.handle_tun_packet(now, UNIX0, &reply, &mut out);
    let wire = settle_with(&mut hosts, now, vec![(1, out)], Link::ServerOnly);
    assert_eq!(wire, vec![(1, hosts[0].local)], "straight on the link");
    assert_eq!(hosts[0].tun, vec![reply]);
}

#[test]
fn our_link_endpoint_goes_only_to_peers_behind_our_nat() {
    let now = Instant::now();
    let mut h = host(10, 50000, now);
    let elsewhere = teredo(Ipv4Addr::new(198, 51, 100, 9), 50001);
    let pkt = Ipv6Header::new(h.addr, elsewhere, 17, 64, &[7; 40]).to_vec();
    let mut out = Outputs::new();
    h.t.handle_tun_packet(now, UNIX0, &pkt, &mut out);
    for o in out.to_vec() {
        if let Output::Transmit { payload, .. } = o {
            let p = TeredoPacket::parse(&payload).expect("bubble");
            assert_eq!(p.buffer_len(), payload.len(), "no trailer to {elsewhere}");
        }
    }
}
