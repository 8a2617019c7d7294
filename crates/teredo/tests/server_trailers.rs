//! Our server passes RFC 6081 trailers on with the bubbles it forwards, so
//! that two clients behind one NAT learn each other's endpoint on their link
//! (the hairpinning extension); what does not parse as trailers stays behind.

use std::net::{Ipv4Addr, SocketAddrV4};

use teredo::addr::{TeredoAddr, DEFAULT_PREFIX};
use teredo::server::{Action, Local, Server, ServerConfig};
use teredo::wire::trailers::{emit_bubble_with_trailers, Trailers};
use teredo::wire::{emit_bubble, emit_with_origin};

const PRIMARY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn teredo_of(mapping: SocketAddrV4) -> std::net::Ipv6Addr {
    TeredoAddr {
        prefix: DEFAULT_PREFIX,
        server: PRIMARY,
        flags: 0,
        mapped_port: mapping.port(),
        mapped_ip: *mapping.ip(),
    }
    .to_ipv6()
}

#[test]
fn trailers_ride_along_with_a_forwarded_bubble_and_garbage_does_not() {
    let mut s = Server::new(ServerConfig::new(PRIMARY));
    let a: SocketAddrV4 = "203.0.113.7:50000".parse().expect("a");
    let b: SocketAddrV4 = "203.0.113.7:50001".parse().expect("b");
    let trailers = Trailers {
        alternate: vec!["192.168.1.10:40000".parse().expect("alt")],
        ..Trailers::default()
    };
    let bubble = emit_bubble_with_trailers(teredo_of(a), teredo_of(b), &trailers);
    let plain = emit_bubble(teredo_of(a), teredo_of(b));
    let act = s
        .handle_packet(Local::Primary, a, &bubble)
        .expect("forwarded");
    let mut want = emit_with_origin(a, &plain);
    want.extend_from_slice(&trailers.to_vec());
    assert_eq!(
        act,
        Action::Forward {
            to: b,
            payload: want
        }
    );
    // Bytes after the bubble that are no trailer list: the bubble alone.
    let mut junk = plain.to_vec();
    junk.extend_from_slice(&[0x03, 0x63, 1, 2]);
    let act = s
        .handle_packet(Local::Primary, a, &junk)
        .expect("forwarded");
    assert_eq!(
        act,
        Action::Forward {
            to: b,
            payload: emit_with_origin(a, &plain)
        }
    );
}
