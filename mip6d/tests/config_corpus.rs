//! The corpus in tests/data/: every `ok_*` file parses (with the warnings
//! its `# warning:` lines list) and survives legacy → model → TOML → model and
//! model → mip6d.conf → model; every `bad_*` file fails with exactly the
//! messages its `# warning:` / `# expect:` lines give (`{self}` is its path).
//!
//! Paths are relative to the crate directory, where cargo runs the tests, so
//! include patterns in the corpus are too.

use std::path::{Path, PathBuf};

use mip6d::config::lexer::{keywords, RESERVED};
use mip6d::config::{load, parse, to_legacy, to_toml, FixedInterfaces, Loaded};

/// The interfaces the corpus may rely on.
fn host() -> FixedInterfaces {
    FixedInterfaces::new(&["lo", "eth0", "eth1", "wlan0", "teredo", "usb0"])
}

fn corpus(prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("tests/data")
        .expect("tests/data is readable")
        .flatten()
        .map(|e| Path::new("tests/data").join(e.file_name()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    v.sort();
    v
}

struct Expectations {
    warnings: Vec<String>,
    error: Option<String>,
    error_prefix: Option<String>,
}

fn expectations(path: &Path) -> Expectations {
    let text = std::fs::read_to_string(path).expect("corpus files are UTF-8");
    let me = path.display().to_string();
    let mut e = Expectations {
        warnings: Vec::new(),
        error: None,
        error_prefix: None,
    };
    for line in text.lines() {
        if let Some(w) = line.strip_prefix("# warning: ") {
            e.warnings.push(w.to_owned());
        } else if let Some(x) = line.strip_prefix("# expect: ") {
            e.error = Some(x.replace("{self}", &me));
        } else if let Some(x) = line.strip_prefix("# expect-prefix: ") {
            e.error_prefix = Some(x.replace("{self}", &me));
        }
    }
    e
}

fn round_trips(name: &str, loaded: &Loaded) {
    let toml = to_toml(&loaded.config);
    let again = parse(toml.as_bytes(), "round-trip.toml", &host())
        .unwrap_or_else(|e| panic!("{name}: TOML form does not parse: {e}\n{toml}"));
    assert_eq!(
        again.config, loaded.config,
        "{name}: TOML round trip\n{toml}"
    );
    let conf = to_legacy(&loaded.config);
    let again = parse(conf.as_bytes(), "round-trip.conf", &host())
        .unwrap_or_else(|e| panic!("{name}: mip6d.conf form does not parse: {e}\n{conf}"));
    assert_eq!(
        again.config, loaded.config,
        "{name}: conf round trip\n{conf}"
    );
}

#[test]
fn valid_files_parse_and_round_trip() {
    let files = corpus("ok_");
    assert!(files.len() >= 10, "corpus too small: {files:?}");
    for path in files {
        let name = path.display().to_string();
        let want = expectations(&path);
        let loaded = load(&path, &host()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.warnings, want.warnings, "{name}");
        round_trips(&name, &loaded);
    }
}

#[test]
fn invalid_files_fail_with_exact_messages() {
    let files = corpus("bad_");
    assert!(files.len() >= 45, "corpus too small: {}", files.len());
    for path in files {
        let name = path.display().to_string();
        let want = expectations(&path);
        let err = match load(&path, &host()) {
            Ok(l) => panic!("{name} parsed: {:?}", l.config),
            Err(e) => e,
        };
        assert_eq!(err.warnings, want.warnings, "{name}");
        let got = err.error.to_string();
        match (&want.error, &want.error_prefix) {
            (Some(exact), _) => assert_eq!(&got, exact, "{name}"),
            (None, Some(prefix)) => assert!(got.starts_with(prefix), "{name}: {got}"),
            (None, None) => panic!("{name} has no '# expect:' line"),
        }
    }
}

#[test]
fn valid_corpus_uses_every_keyword() {
    let text: String = corpus("ok_")
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    // Words, and hyphenated words for the values that have a hyphen.
    let words: std::collections::HashSet<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .chain(text.split(|c: char| !c.is_ascii_alphanumeric() && c != '-'))
        .collect();
    // UsePolicyModule is always refused (bad_policy_module.conf).
    let refused = ["UsePolicyModule"];
    for kw in keywords().filter(|k| !RESERVED.contains(k) && !refused.contains(k)) {
        assert!(words.contains(kw), "no valid corpus file uses {kw}");
    }
    for b in [
        "enabled", "disabled", "allow", "deny", "true", "false", "block",
    ] {
        assert!(words.contains(b), "no valid corpus file uses {b}");
    }
}
