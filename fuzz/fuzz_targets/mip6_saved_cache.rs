#![no_main]
//! The home agent's saved binding cache (`NonVolatileBindingCache`) from
//! arbitrary bytes: no panic; whatever decodes re-encodes to the same
//! bytes and decodes to the same bindings; the restore checks never panic on
//! a decoded entry, and never restore an expired one.
use std::net::Ipv6Addr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mip6::bcache::saved::{check_restore, decode, encode, RestoreContext};
use mip6::bcache::AclDecision;
use mip6::consts::BaStatus;

const HOME: &[(Ipv6Addr, u8)] = &[(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0), 64)];

fuzz_target!(|data: &[u8]| {
    let Ok(bindings) = decode(data) else {
        return;
    };
    let text = encode(&bindings);
    assert_eq!(text.as_bytes(), data, "a decoded file re-encodes to itself");
    assert_eq!(decode(text.as_bytes()).as_ref(), Ok(&bindings));
    let allowed = [(Ipv6Addr::new(0x2001, 0xdb8, 0x50, 0, 0, 0, 0, 0), 64)];
    for b in &bindings {
        let ctx = RestoreContext {
            now_unix: 1_800_000_000,
            interface_served: b.interface == "eth0",
            home_prefixes: HOME,
            home_agent_present: true,
            served_prefix_covers_hoa: false,
            accept_mobile_router: true,
            acl: AclDecision {
                status: BaStatus::ACCEPTED,
                prefixes: Some(&allowed),
            },
            ipsec_required: false,
            ipsec_protected: false,
            max_binding_life: Duration::from_secs(262_140),
            cache_full: false,
            conflicts: false,
        };
        if let Ok(remaining) = check_restore(b, &ctx) {
            assert!(b.expires_unix > ctx.now_unix && remaining <= ctx.max_binding_life);
        }
    }
});
