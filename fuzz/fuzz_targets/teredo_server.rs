#![no_main]
// Placeholder: the owning module fills this target in.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
