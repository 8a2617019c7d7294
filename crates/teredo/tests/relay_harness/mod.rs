//! A simulated Teredo network for the `relay_*` tests: tunnels (clients or
//! relays) at public IPv4 endpoints, a minimal Teredo server at
//! 192.0.2.1:3544 that forwards packets to Teredo destinations with an origin
//! indication (RFC 4380 §5.3), and simulated time. No NAT filtering is
//! modelled: a datagram reaches whichever node owns its destination.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use teredo::addr::{TeredoAddr, DEFAULT_PREFIX, TEREDO_PORT};
use teredo::relay::{Config, Mode, Output, Outputs, OwnAddress, TeredoTunnel};
use teredo::security::Secret;
use teredo::wire::{emit_with_origin, Ipv6Header, TeredoPacket, NEXT_HEADER_ICMPV6};

pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const SERVER_EP: SocketAddrV4 = SocketAddrV4::new(SERVER, TEREDO_PORT);
/// Unix time at the start of every scenario.
pub const UNIX0: u32 = 1_700_000_000;

/// The Teredo address of a client of [`SERVER`] mapped at `public`.
pub fn teredo_of(public: SocketAddrV4) -> Ipv6Addr {
    TeredoAddr {
        prefix: DEFAULT_PREFIX,
        server: SERVER,
        flags: 0x1234,
        mapped_port: public.port(),
        mapped_ip: *public.ip(),
    }
    .to_ipv6()
}

/// An IPv6 UDP-ish packet (next header 17) with `len` payload bytes of `fill`.
pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, len: usize, fill: u8) -> Vec<u8> {
    let payload = vec![fill; len];
    Ipv6Header::new(src, dst, 17, 64, &payload).to_vec()
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub struct Node {
    pub tunnel: TeredoTunnel,
    /// Endpoints that reach this node.
    pub inbound: Vec<SocketAddrV4>,
    /// Endpoint its datagrams appear to come from.
    pub outbound: SocketAddrV4,
    /// Packets it wrote to its tunnel.
    pub tun: Vec<Vec<u8>>,
    /// ICMPv6 errors it reported.
    pub icmp: Vec<(Ipv6Addr, Vec<u8>)>,
}

pub struct Lab {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    /// IPv6 packets the server sent to native IPv6 (ping tests).
    pub native: Vec<Vec<u8>>,
    /// Datagrams nobody received: (from, to, payload).
    pub lost: Vec<(SocketAddrV4, SocketAddrV4, Vec<u8>)>,
    /// Every datagram sent: (from, to, payload).
    pub wire_log: Vec<(SocketAddrV4, SocketAddrV4, Vec<u8>)>,
}

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}

impl Lab {
    pub fn new() -> Self {
        let t0 = Instant::now();
        Lab {
            t0,
            now: t0,
            nodes: Vec::new(),
            native: Vec::new(),
            lost: Vec::new(),
            wire_log: Vec::new(),
        }
    }

    pub fn unix(&self) -> u32 {
        UNIX0 + self.now.duration_since(self.t0).as_secs() as u32
    }

    /// Adds a qualified client mapped at `public`; returns its index.
    pub fn client(&mut self, public: SocketAddrV4) -> usize {
        self.client_with(public, public, 64)
    }

    /// A client whose address embeds `embedded` but whose datagrams leave
    /// from `outbound` (a symmetric NAT).
    pub fn client_with(
        &mut self,
        embedded: SocketAddrV4,
        outbound: SocketAddrV4,
        capacity: usize,
    ) -> usize {
        let idx = self.nodes.len();
        let mut cfg = Config::new(Mode::Client, 1000 + idx as u32, secret(idx));
        cfg.peer_capacity = capacity;
        let mut tunnel = TeredoTunnel::new(cfg, self.now);
        tunnel.set_state(Some(OwnAddress {
            addr: teredo_of(embedded),
            server: SERVER,
            mtu: 1280,
        }));
        self.push(tunnel, vec![embedded, outbound], outbound)
    }

    /// Adds a relay at `public`.
    pub fn relay(&mut self, public: SocketAddrV4, cone: bool) -> usize {
        let idx = self.nodes.len();
        let mode = Mode::Relay {
            cone,
            prefix: DEFAULT_PREFIX,
        };
        let mut cfg = Config::new(mode, 2000 + idx as u32, secret(idx));
        cfg.peer_capacity = 64;
        let tunnel = TeredoTunnel::new(cfg, self.now);
        self.push(tunnel, vec![public], public)
    }

    fn push(
        &mut self,
        tunnel: TeredoTunnel,
        inbound: Vec<SocketAddrV4>,
        out: SocketAddrV4,
    ) -> usize {
        self.nodes.push(Node {
            tunnel,
            inbound,
            outbound: out,
            tun: Vec::new(),
            icmp: Vec::new(),
        });
        self.nodes.len() - 1
    }

    pub fn addr(&self, node: usize) -> Ipv6Addr {
        self.nodes[node]
            .tunnel
            .own_address()
            .map_or(Ipv6Addr::UNSPECIFIED, |o| o.addr)
    }

    pub fn tunnel(&self, node: usize) -> &TeredoTunnel {
        &self.nodes[node].tunnel
    }

    /// Advances time, running every node's timers.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        let now = self.now;
        for n in &mut self.nodes {
            while n.tunnel.poll_timeout().is_some_and(|t| t <= now) {
                n.tunnel.handle_timeout(now);
            }
        }
    }

    /// Node `node` reads `pkt` from its tunnel; everything that follows is
    /// delivered until the network is quiet.
    pub fn send_from_tun(&mut self, node: usize, pkt: &[u8]) {
        let mut out = Outputs::new();
        let (now, unix) = (self.now, self.unix());
        self.nodes[node]
            .tunnel
            .handle_tun_packet(now, unix, pkt, &mut out);
        self.run(node, out);
    }

    /// A datagram from `from` arrives at node `node`; deliver what follows.
    pub fn inject(&mut self, node: usize, from: SocketAddrV4, payload: &[u8]) {
        let mut out = Outputs::new();
        let (now, unix) = (self.now, self.unix());
        self.nodes[node]
            .tunnel
            .handle_udp_packet(now, unix, from, payload, &mut out);
        self.run(node, out);
    }

    /// Node `node`'s outputs, then everything they cause.
    pub fn run(&mut self, node: usize, out: Outputs) {
        let mut work: VecDeque<(usize, Outputs)> = VecDeque::from([(node, out)]);
        while let Some((src, mut out)) = work.pop_front() {
            let from = self.nodes[src].outbound;
            for o in out.drain_owned() {
                match o {
                    Output::ToTun(p) => self.nodes[src].tun.push(p),
                    Output::Icmpv6Error { dst, packet } => self.nodes[src].icmp.push((dst, packet)),
                    // No NAT is modelled: a side port leaves from the node's
                    // endpoint too.
                    Output::Transmit { dst, payload }
                    | Output::TransmitVia { dst, payload, .. } => {
                        self.wire_log.push((from, dst, payload.clone()));
                        let (from, dst, payload) = if dst == SERVER_EP {
                            match self.server(from, &payload) {
                                Some(fwd) => fwd,
                                None => continue,
                            }
                        } else {
                            (from, dst, payload)
                        };
                        let Some(j) = self.nodes.iter().position(|n| n.inbound.contains(&dst))
                        else {
                            self.lost.push((from, dst, payload));
                            continue;
                        };
                        let mut next = Outputs::new();
                        let (now, unix) = (self.now, self.unix());
                        self.nodes[j]
                            .tunnel
                            .handle_udp_packet(now, unix, from, &payload, &mut next);
                        work.push_back((j, next));
                    }
                }
            }
        }
    }

    /// The fake Teredo server: forwards bubbles and small ICMPv6 packets to
    /// Teredo destinations of this server (with an origin indication) and
    /// records native ones.
    fn server(
        &mut self,
        from: SocketAddrV4,
        payload: &[u8],
    ) -> Option<(SocketAddrV4, SocketAddrV4, Vec<u8>)> {
        let pkt = TeredoPacket::parse(payload).ok()?;
        let h = pkt.ipv6_header().ok()?;
        if !h.is_bubble() && h.next_header != NEXT_HEADER_ICMPV6 {
            return None;
        }
        let dst = TeredoAddr::from_ipv6(&h.dst);
        if dst.prefix != DEFAULT_PREFIX {
            self.native.push(pkt.ipv6.to_vec());
            return None;
        }
        if dst.server != SERVER {
            return None;
        }
        Some((SERVER_EP, dst.mapping(), emit_with_origin(from, pkt.ipv6)))
    }
}

/// A distinct secret per node.
pub fn secret(idx: usize) -> Secret {
    Secret::new([idx as u8 + 1; 16])
}

/// Datagrams in `log` sent to `dst` whose inner packet is a bubble.
pub fn bubbles_to(log: &[(SocketAddrV4, SocketAddrV4, Vec<u8>)], dst: SocketAddrV4) -> usize {
    log.iter()
        .filter(|(_, d, p)| *d == dst && TeredoPacket::parse(p).is_ok_and(|t| t.is_bubble()))
        .count()
}
