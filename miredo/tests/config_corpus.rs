//! Library-level checks over the corpus in tests/data/conf/ and random input.

use std::path::{Path, PathBuf};

use miredo::config::{
    miredo_to_toml, parse_miredo, parse_serverd, LiteralResolver, Options, RelayType,
};
use proptest::prelude::*;

static LIT: LiteralResolver = LiteralResolver;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conf")
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(data_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            std::fs::read(e.path()).ok().map(|t| (name, t))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn corpus_verdicts_and_toml_round_trip() {
    let opts = Options::checkconf().with_resolver(&LIT);
    let files = corpus();
    assert!(files.len() >= 30);
    for (name, text) in files {
        let parsed = parse_miredo(&text, &name, &opts);
        if !name.starts_with("ok_") {
            let clean = matches!(&parsed, Ok(l) if l.report.is_clean());
            assert!(!clean, "{name} should not be clean");
            continue;
        }
        let loaded = match parsed {
            Ok(l) if l.report.is_clean() => l,
            other => panic!("{name}: {other:?}"),
        };
        let toml = miredo_to_toml(&loaded.config);
        let again = parse_miredo(toml.as_bytes(), "x.toml", &opts);
        match again {
            Ok(a) => {
                assert!(a.report.is_clean(), "{name}: {:?}", a.report);
                assert_eq!(a.config, loaded.config, "{name}\n{toml}");
            }
            Err(r) => panic!("{name}: {:?}\n{toml}", r.rendered()),
        }
    }
}

#[test]
fn no_trailing_newline_is_parsed() {
    let opts = Options::daemon().with_resolver(&LIT);
    let l = parse_miredo(b"ServerAddress 192.0.2.1", "f", &opts);
    assert_eq!(
        l.map(|l| l.config.server_address),
        Ok(Some("192.0.2.1".to_owned()))
    );
}

#[test]
fn relay_type_variants() {
    let opts = Options::daemon().with_resolver(&LIT);
    for (kw, want) in [
        ("client", RelayType::Client),
        ("autoclient", RelayType::Client),
        ("relay", RelayType::Cone),
        ("Cone", RelayType::Cone),
        ("restricted", RelayType::Restricted),
    ] {
        let text = format!("RelayType {kw}\nServerAddress 192.0.2.1\n");
        let t = parse_miredo(text.as_bytes(), "f", &opts).map(|l| l.config.relay_type);
        assert_eq!(t.ok(), Some(want), "{kw}");
    }
}

proptest! {
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let opts = Options::checkconf().with_resolver(&LIT);
        let _ = parse_miredo(&bytes, "f.conf", &opts);
        let _ = parse_miredo(&bytes, "f.toml", &opts);
        let _ = parse_serverd(&bytes, "f.conf", &opts);
        let _ = parse_serverd(&bytes, "f.toml", &opts);
    }

    #[test]
    fn directive_lines_never_panic(
        lines in proptest::collection::vec(
            ("(?i)(relaytype|serveraddress2?|prefix|interfacemtu|interfacename|bindaddress|bindport|syslogfacility|clienthook|serverbindaddress2?|#x|x)",
             "[ \t]{0,2}",
             "([-+0-9a-fA-FxX:.]{0,12}|[^ \t\n\r\x0b\x0c]{0,6})"),
            0..12)
    ) {
        let text: String = lines.iter().map(|(n, s, v)| format!("{n} {s}{v}\n")).collect();
        let opts = Options::daemon().with_resolver(&LIT);
        let _ = parse_serverd(text.as_bytes(), "f.conf", &opts);
        if let Ok(l) = parse_miredo(text.as_bytes(), "f.conf", &opts) {
            // Whatever legacy accepts renders to TOML that means the same.
            let toml = miredo_to_toml(&l.config);
            let again = parse_miredo(toml.as_bytes(), "f.toml", &opts);
            prop_assert_eq!(again.map(|a| a.config).ok(), Some(l.config), "{}", toml);
        }
    }
}
