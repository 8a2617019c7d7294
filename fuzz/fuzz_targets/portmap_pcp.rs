//! Fuzz the PCP codec (RFC 6887 §7, §11) and the port mapper fed PCP
//! answers: parsing arbitrary bytes never panics, what parses re-emits to
//! the same value, and the mapper keeps its promises whatever the gateway
//! (or a spoofer on the link) sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portmap::pcp;

#[path = "portmap_driver.rs"]
mod driver;
#[path = "common/input.rs"]
mod input;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = pcp::Response::parse(data) {
        // Options are skipped, so the re-emitted form has none.
        assert_eq!(pcp::Response::parse(&r.emit()), Ok(r));
        assert!(r.map.is_some() == (r.opcode == pcp::OP_MAP));
    }
    if let Ok(r) = pcp::MapRequest::parse(data) {
        assert_eq!(pcp::MapRequest::parse(&r.emit()), Ok(r));
    }
    driver::drive(data, driver::Flavor::Pcp);
});
