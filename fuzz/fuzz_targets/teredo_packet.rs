//! Fuzz the Teredo UDP payload parser and the parsers of the inner packet.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use teredo::wire::{
    icmpv6::ErrorRepr, icmpv6_error, is_bubble, EchoRepr, Ipv6Header, RouterAdvertisement,
    RouterSolicitation, TeredoPacket,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = TeredoPacket::parse(data) {
        // A successful parse always yields a valid IPv6 packet that re-encodes
        // to something that parses the same.
        let header = Ipv6Header::parse(packet.ipv6).expect("validated IPv6 packet");
        assert_eq!(header.packet_len(), packet.ipv6.len());
        assert_eq!(TeredoPacket::parse(&packet.to_vec()), Ok(packet));

        let _ = RouterAdvertisement::parse(packet.ipv6);
        let _ = RouterSolicitation::parse(packet.ipv6);
        let _ = EchoRepr::parse_ipv6(packet.ipv6);
        let _ = EchoRepr::parse(header.payload);
        let _ = ErrorRepr::parse(header.payload);
        let _ = is_bubble(packet.ipv6);
        if let Some(err) = icmpv6_error(1, 3, 0, Ipv6Addr::LOCALHOST, packet.ipv6) {
            assert!(err.len() <= 1280);
            assert!(Ipv6Header::parse(&err).is_ok());
        }
    }
    // The inner parsers must also survive arbitrary bytes on their own.
    let _ = RouterAdvertisement::parse(data);
    let _ = EchoRepr::parse(data);
});
