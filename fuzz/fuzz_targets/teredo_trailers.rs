//! Fuzz the RFC 6081 trailer parser, alone and behind an IPv6 packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teredo::wire::trailers::{packet_trailers, split_trailers, Trailers};
use teredo::wire::{Ipv6Header, TeredoPacket};

/// A list that parsed must survive its own encoding unchanged, or a relay
/// that re-emits what it received would say something else than its peer.
fn assert_stable(t: &Trailers) {
    let bytes = t.to_vec();
    assert_eq!(bytes.len(), t.buffer_len());
    assert_eq!(Trailers::parse(&bytes).as_ref(), Ok(t));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = Trailers::parse(data) {
        assert_stable(&t);
    }
    if let Ok((ipv6, t)) = split_trailers(data) {
        let header = Ipv6Header::parse(ipv6).expect("split yields a valid IPv6 packet");
        assert_eq!(header.packet_len(), ipv6.len());
        assert_eq!(Trailers::parse(&data[ipv6.len()..]).as_ref(), Ok(&t));
        assert_stable(&t);
    }
    // Through the RFC 4380 parser, as the daemon sees datagrams: the
    // trailers are whatever follows its trimmed IPv6 packet.
    if let Ok(packet) = TeredoPacket::parse(data) {
        if let Ok(t) = packet_trailers(data, &packet) {
            assert_stable(&t);
        }
    }
});
