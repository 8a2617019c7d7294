//! Fuzz the packet path of a client and of a relay (the receive checks of
//! RFC 4380 §5.2.3 and the relay's of §5.4): arbitrary datagrams and tunnel
//! packets, from arbitrary sources, must never panic, and every output must
//! be a well-formed IPv6 packet or a Teredo datagram.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
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

fn check(out: &mut Outputs) {
    // The outputs tile the arena in order, each range naming its own bytes.
    let mut next = 0;
    for o in out.iter() {
        assert_eq!(o.range.start, next, "outputs out of order in the arena");
        assert_eq!(&out.arena()[o.range.clone()], o.bytes);
        next = o.range.end;
        match o.action {
            Action::Transmit(_) | Action::TransmitVia(..) => {
                assert!(TeredoPacket::parse(o.bytes).is_ok(), "bad datagram out");
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
    for mut tunnel in tunnels(t0) {
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
            match kind % 5 {
                0 => tunnel.handle_udp_packet(t, 1_700_000_000, from, chunk, &mut out),
                1 => tunnel.handle_tun_packet(t, 1_700_000_000, chunk, &mut out),
                2 => tunnel.handle_timeout(t),
                // Local discovery (RFC 4380 §5.2.8): the group's datagrams
                // and the periodic bubble.
                3 => tunnel.handle_discovery_datagram(t, from, chunk, &mut out),
                _ => tunnel.send_discovery(t, &mut out),
            }
            check(&mut out);
            assert!(tunnel.peers().queued_bytes() <= tunnel.peers().queue_budget());
        }
    }
});
