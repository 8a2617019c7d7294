//! Fuzz the stateless test responder (`teredo::mire`): the first byte chooses
//! the socket and whether the sender's IPv4 is global, the rest is the
//! datagram. The responder must not panic, must give the same answer twice
//! (it keeps no state), and may only answer with what its rules allow: a
//! bare bubble on port 3544 to a global sender; on port 3545 an echo reply no
//! longer than the request or a Parameter Problem within 1280 octets, each
//! with a valid checksum, never from a multicast address nor to a multicast
//! or unspecified one.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};

use libfuzzer_sys::fuzz_target;
use teredo::addr::is_global_unicast_v4;
use teredo::mire::{handle_datagram, MireCounters, MireSocket, Verdict, REPLY_HOP_LIMIT};
use teredo::wire::icmpv6::{verify_icmpv6_checksum, TYPE_ECHO_REPLY, TYPE_PARAM_PROBLEM};
use teredo::wire::{Ipv6Header, TeredoPacket};

fuzz_target!(|data: &[u8]| {
    let Some((&head, datagram)) = data.split_first() else {
        return;
    };
    let socket = if head & 1 == 0 {
        MireSocket::Server
    } else {
        MireSocket::Peer
    };
    let ip = if head & 2 == 0 {
        Ipv4Addr::new(203, 0, 113, head >> 2)
    } else {
        Ipv4Addr::new(127, 0, 0, head >> 2)
    };
    let sender = SocketAddrV4::new(ip, 49152);
    let mut out = Vec::new();
    let verdict = handle_datagram(socket, sender, datagram, &mut out);
    let mut again = vec![0xaa; 5];
    assert_eq!(
        handle_datagram(socket, sender, datagram, &mut again),
        verdict
    );
    assert_eq!(again, out, "stateless: the same answer twice");
    let mut counters = MireCounters::default();
    counters.count(&verdict);
    assert_eq!(counters.total(), 1);
    if verdict != Verdict::Reply {
        assert!(out.is_empty());
        return;
    }
    let request = TeredoPacket::parse(datagram).expect("answered datagram parses");
    let req = request.ipv6_header().expect("answered packet is IPv6");
    let h = Ipv6Header::parse(&out).expect("reply is IPv6");
    assert_eq!(h.packet_len(), out.len());
    assert_eq!((h.src, h.dst), (req.dst, req.src), "addresses swapped");
    match socket {
        MireSocket::Server => {
            assert!(is_global_unicast_v4(ip));
            assert!(req.is_bubble() && h.is_bubble() && out.len() == 40);
        }
        MireSocket::Peer => {
            assert!(!h.src.is_multicast() && !h.dst.is_multicast() && !h.dst.is_unspecified());
            assert_eq!(h.next_header, 58);
            assert_eq!(h.hop_limit, REPLY_HOP_LIMIT);
            assert!(verify_icmpv6_checksum(&h.src, &h.dst, h.payload));
            match h.payload[0] {
                TYPE_ECHO_REPLY => assert_eq!(out.len(), request.ipv6.len()),
                TYPE_PARAM_PROBLEM => assert!(out.len() <= 1280 && req.next_header != 58),
                t => panic!("reply of type {t}"),
            }
        }
    }
});
