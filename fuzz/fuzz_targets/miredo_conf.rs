//! Fuzzes the configuration parsers (legacy and TOML, both file kinds)
//! and the TOML rendering: none may panic, and rendering a parsed legacy
//! configuration as TOML must parse back to the same configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miredo::config::{
    miredo_to_toml, parse_directives, parse_miredo, parse_serverd, LiteralResolver, Options,
};

static LIT: LiteralResolver = LiteralResolver;

fuzz_target!(|data: &[u8]| {
    let _ = parse_directives(data);
    for checkconf in [false, true] {
        let base = if checkconf {
            Options::checkconf()
        } else {
            Options::daemon()
        };
        let opts = base.with_resolver(&LIT);
        let _ = parse_miredo(data, "fuzz.toml", &opts);
        let _ = parse_serverd(data, "fuzz.conf", &opts);
        let _ = parse_serverd(data, "fuzz.toml", &opts);
        if let Ok(loaded) = parse_miredo(data, "fuzz.conf", &opts) {
            let toml = miredo_to_toml(&loaded.config);
            match parse_miredo(toml.as_bytes(), "fuzz.toml", &opts) {
                Ok(again) => assert_eq!(again.config, loaded.config, "{toml}"),
                Err(r) => panic!("rendered TOML rejected: {:?}\n{toml}", r.rendered()),
            }
        }
    }
});
