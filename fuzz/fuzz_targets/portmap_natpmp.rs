//! Fuzz the NAT-PMP codec (RFC 6886 §3.2, §3.3, §3.5) and the port mapper
//! after it fell back to NAT-PMP: parsing never panics, what parses
//! re-emits to the same value, and the mapper keeps its promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portmap::natpmp;

#[path = "portmap_driver.rs"]
mod driver;
#[path = "common/input.rs"]
mod input;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = natpmp::Response::parse(data) {
        // Trailing octets are dropped, the rest must survive.
        assert_eq!(natpmp::Response::parse(&r.emit()), Ok(r));
    }
    if let Ok(r) = natpmp::MappingRequest::parse(data) {
        assert_eq!(natpmp::MappingRequest::parse(&r.emit()), Ok(r));
    }
    driver::drive(data, driver::Flavor::NatPmp);
});
