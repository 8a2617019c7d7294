#![no_main]
//! mip6d.conf and its TOML form from arbitrary bytes: no panic, and whatever
//! parses survives model → TOML → model (and, from the legacy syntax,
//! model → mip6d.conf → model) unchanged.
use libfuzzer_sys::fuzz_target;
use mip6d::config::{parse, show_umip, to_legacy, to_toml, Offline};

fuzz_target!(|data: &[u8]| {
    let host = Offline {
        interfaces: vec!["eth0".to_owned(), "lo".to_owned()],
    };
    for name in ["fuzz.conf", "fuzz.toml"] {
        let Ok(loaded) = parse(data, name, &host) else {
            continue;
        };
        let _ = show_umip(&loaded.config, name);
        let toml = to_toml(&loaded.config);
        match parse(toml.as_bytes(), "again.toml", &host) {
            Ok(again) => assert_eq!(again.config, loaded.config, "{toml}"),
            Err(e) => panic!("TOML form does not parse: {e}\n{toml}"),
        }
        if name.ends_with(".conf") {
            let conf = to_legacy(&loaded.config);
            match parse(conf.as_bytes(), "again.conf", &host) {
                Ok(again) => assert_eq!(again.config, loaded.config, "{conf}"),
                Err(e) => panic!("mip6d.conf form does not parse: {e}\n{conf}"),
            }
        }
    }
});
