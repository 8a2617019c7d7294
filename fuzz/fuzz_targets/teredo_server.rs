//! Fuzz the Teredo server's receive path: the first 7 bytes choose the
//! socket and the outer source, the rest is the datagram. The server must not
//! panic, must count every datagram once, and must never pass on anything
//! but a bubble or a small ICMPv6 packet.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};

use libfuzzer_sys::fuzz_target;
use teredo::server::{Action, Local, Server, ServerConfig, MAX_FORWARD_PAYLOAD};
use teredo::wire::{Ipv6Header, TeredoPacket};

fuzz_target!(|data: &[u8]| {
    let Some((head, datagram)) = data.split_first_chunk::<7>() else {
        return;
    };
    let local = if head[0] & 1 == 0 {
        Local::Primary
    } else {
        Local::Secondary
    };
    // Bias the source toward the server's own addresses and port.
    let ip = match head[0] >> 6 {
        0 => Ipv4Addr::new(192, 0, 2, head[1] & 3),
        _ => Ipv4Addr::new(head[1], head[2], head[3], head[4]),
    };
    let port = if head[0] & 2 == 0 {
        3544
    } else {
        u16::from_be_bytes([head[5], head[6]])
    };
    let mut server = Server::new(ServerConfig::new(Ipv4Addr::new(192, 0, 2, 1)));
    let outcome = server.handle_packet(local, SocketAddrV4::new(ip, port), datagram);
    assert_eq!(server.counters().total(), 1);
    let inner = match &outcome {
        Ok(Action::Advertise { payload, .. }) | Ok(Action::Forward { payload, .. }) => {
            TeredoPacket::parse(payload)
                .expect("emitted payload parses")
                .ipv6
        }
        Ok(Action::Native { packet, .. }) => packet.as_slice(),
        Err(_) => return,
    };
    let h = Ipv6Header::parse(inner).expect("emitted IPv6 parses");
    assert!(h.is_bubble() || (h.next_header == 58 && h.payload.len() <= MAX_FORWARD_PAYLOAD));
});
