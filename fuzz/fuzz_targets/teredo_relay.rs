//! Fuzz the packet path of a client and of a relay (the receive checks of
//! RFC 4380 §5.2.3 and the relay's of §5.4): arbitrary datagrams and tunnel
//! packets, from arbitrary sources, must never panic, and every output must
//! be a well-formed IPv6 packet or a Teredo datagram.
//!
//! The first byte (also the first record's kind, so that the seeds keep their
//! layout) sets up port prediction (`teredo::relay::prediction`): bit 0 turns
//! it on, for a preserving NAT or, with bit 4, a sequential one whose step is
//! 1 + bits 5–7; bits 1–2 give 0–3 side ports at once, bit 3 makes the
//! driver keep the stock it asks for. Datagrams may then arrive on a side
//! socket, and every `TransmitVia` must leave from a side port given and not
//! yet given back.
#![no_main]

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use teredo::qualified::PortAllocation;
use teredo::relay::{Action, Config, LocalLink, Mode, Outputs, OwnAddress, TeredoTunnel};
use teredo::security::Secret;
use teredo::wire::{Ipv6Header, TeredoPacket};

fn tunnels(now: Instant) -> [TeredoTunnel; 2] {
    // A small total queue budget, so that the input reaches it; the bounds on
    // answering bubbles are reached by records close together in time.
    let mut cfg = Config::new(Mode::Client, 1, Secret::new([3; 16]));
    cfg.queue_budget = 4096;
    let mut client = TeredoTunnel::new(cfg, now);
    client.set_state(Some(OwnAddress {
        addr: "2001:0:c000:201:0:f227:3cff:ffef".parse().expect("literal"),
        server: Ipv4Addr::new(192, 0, 2, 1),
        mtu: 1280,
    }));
    // Local discovery on a wide link, so that fuzzed sources land on it.
    client.set_local_link(Some(LocalLink {
        addr: Ipv4Addr::new(198, 18, 1, 10),
        prefix_len: 8,
        port: 3545,
    }));
    let relay = TeredoTunnel::new(
        Config::new(
            Mode::Relay {
                cone: false,
                prefix: 0x2001_0000,
            },
            1,
            Secret::new([4; 16]),
        ),
        now,
    );
    [client, relay]
}

/// The side ports of one run, each given with `add_side_port` once.
struct SidePorts {
    /// The last port given.
    last: u16,
    /// Given and not yet given back.
    live: BTreeSet<u16>,
}

impl SidePorts {
    fn give(&mut self, tunnel: &mut TeredoTunnel, n: usize) {
        for _ in 0..n {
            let Some(port) = self.last.checked_add(1) else {
                return;
            };
            self.last = port;
            self.live.insert(port);
            tunnel.add_side_port(port);
        }
    }

    /// The driver closes what the tunnel gives back: only ports it was
    /// given, each once.
    fn collect(&mut self, tunnel: &mut TeredoTunnel) {
        for port in tunnel.take_released_side_ports() {
            assert!(
                self.live.remove(&port),
                "side port {port} given back twice or never given"
            );
        }
    }
}

fn check(out: &mut Outputs, ports: &SidePorts) {
    // The outputs tile the arena in order, each range naming its own bytes.
    let mut next = 0;
    for o in out.iter() {
        assert_eq!(o.range.start, next, "outputs out of order in the arena");
        assert_eq!(&out.arena()[o.range.clone()], o.bytes);
        next = o.range.end;
        match o.action {
            Action::Transmit(_) => {
                assert!(TeredoPacket::parse(o.bytes).is_ok(), "bad datagram out");
            }
            Action::TransmitVia(port, _) => {
                assert!(TeredoPacket::parse(o.bytes).is_ok(), "bad datagram out");
                assert!(
                    ports.live.contains(&port),
                    "sent from side port {port}, not given or already given back"
                );
            }
            Action::ToTun | Action::Icmpv6Error(_) => {
                assert!(Ipv6Header::parse(o.bytes).is_ok(), "bad IPv6 packet out");
            }
        }
    }
    assert_eq!(next, out.arena().len());
    out.clear();
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut out = Outputs::new();
    let setup = data.first().copied().unwrap_or(0);
    let allocation = if setup & 0x10 != 0 {
        PortAllocation::Sequential {
            step: u16::from(setup >> 5) + 1,
        }
    } else {
        PortAllocation::Preserving
    };
    for mut tunnel in tunnels(t0) {
        let mut ports = SidePorts {
            last: 50000,
            live: BTreeSet::new(),
        };
        tunnel.set_prediction((setup & 1 == 1).then_some(allocation));
        ports.give(&mut tunnel, usize::from(setup >> 1 & 3));
        // Each record: 1 byte kind/len selector, 6 bytes source, then a chunk.
        let mut rest = data;
        let mut t = t0;
        while rest.len() >= 8 {
            let kind = rest[0];
            let from = SocketAddrV4::new(
                Ipv4Addr::new(rest[1], rest[2], rest[3], rest[4]),
                u16::from_be_bytes([rest[5], rest[6]]),
            );
            let len = (usize::from(rest[7]) * 8).min(rest.len() - 8);
            let chunk = &rest[8..8 + len];
            rest = &rest[8 + len..];
            // Kinds below 32 keep the clock still: bursts at one instant.
            t += Duration::from_millis(u64::from(kind.saturating_sub(31)) * 37);
            if setup & 8 != 0 {
                let wanted = tunnel.side_ports_wanted();
                ports.give(&mut tunnel, wanted);
            }
            // On the Teredo socket or on a side socket the driver still
            // has open.
            let via = match usize::from(kind / 5) % (ports.live.len() + 1) {
                0 => None,
                i => ports.live.iter().nth(i - 1).copied(),
            };
            match kind % 5 {
                0 => tunnel.handle_udp_packet_via(t, 1_700_000_000, from, via, chunk, &mut out),
                1 => tunnel.handle_tun_packet(t, 1_700_000_000, chunk, &mut out),
                2 => tunnel.handle_timeout(t),
                // Local discovery (RFC 4380 §5.2.8): the group's datagrams
                // and the periodic bubble.
                3 => tunnel.handle_discovery_datagram(t, from, chunk, &mut out),
                // Now and then prediction stops or starts again.
                _ if kind >= 0xf0 => {
                    let on = !tunnel.port_prediction();
                    tunnel.set_prediction(on.then_some(allocation));
                }
                _ => tunnel.send_discovery(t, &mut out),
            }
            check(&mut out, &ports);
            ports.collect(&mut tunnel);
            assert!(tunnel.peers().queued_bytes() <= tunnel.peers().queue_budget());
        }
    }
});
