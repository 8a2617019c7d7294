#![no_main]
//! What the raw ICMPv6 and Mobility Header sockets take apart on receive:
//! the control-message buffer of `recvmsg` (kernel-written, walked by hand)
//! and, inside it, the Destination Options header with the Home Address
//! option and the Type 2 Routing Header (network-controlled, RFC 6275
//! §6.3–§6.4). Checked: no panic, no slice outside the buffer, and the
//! headers the daemon builds parse back to their address.
use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use netcfg::decode_cmsgs;
use netcfg::mh_socket::{
    find_home_address_option, home_address_dstopts, parse_type2_routing_header,
    type2_routing_header,
};

fuzz_target!(|data: &[u8]| {
    let range = data.as_ptr_range();
    for (level, ty, body) in decode_cmsgs(data) {
        let r = body.as_ptr_range();
        assert!(range.start <= r.start && r.end <= range.end);
        if level == libc::IPPROTO_IPV6 && ty == libc::IPV6_RTHDR {
            let _ = parse_type2_routing_header(body);
        }
        if level == libc::IPPROTO_IPV6 && ty == libc::IPV6_DSTOPTS {
            let _ = find_home_address_option(body);
        }
    }
    let _ = parse_type2_routing_header(data);
    let _ = find_home_address_option(data);
    if let Some(a) = data.first_chunk::<16>().map(|a| Ipv6Addr::from(*a)) {
        assert_eq!(
            parse_type2_routing_header(&type2_routing_header(a)),
            Some(a)
        );
        assert_eq!(find_home_address_option(&home_address_dstopts(a)), Some(a));
    }
});
