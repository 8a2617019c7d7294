//! The directive table: every declared directive parses from its example,
//! shows, renders back to `mip6d.conf` and TOML, and reloads as declared.

use std::collections::HashSet;

use mip6d::config::directives::{Kind, Reload, LEAVES, SETTINGS};
use mip6d::config::{
    merge, parse, show_umip, to_legacy, to_toml, Config, Loaded, Offline, ReloadError,
};

fn host() -> Offline {
    Offline {
        interfaces: vec!["eth0".to_owned(), "lo".to_owned()],
    }
}

fn load(text: &str, file: &str) -> Loaded {
    parse(text.as_bytes(), file, &host()).unwrap_or_else(|e| panic!("{text}\n{e}"))
}

/// The parsed configuration comes back unchanged from both renderings.
fn round_trips(c: &Config, what: &str) {
    let conf = to_legacy(c);
    assert_eq!(&load(&conf, "again.conf").config, c, "{what}: {conf}");
    let toml = to_toml(c);
    assert_eq!(&load(&toml, "again.toml").config, c, "{what}: {toml}");
}

#[test]
fn every_setting_round_trips() {
    let default = Config::default();
    let shown_default = show_umip(&default, "f.conf");
    for s in SETTINGS {
        let c = load(s.example, "example.conf").config;
        assert!(
            (s.differs)(&c, &default),
            "{}: example sets the default",
            s.keyword
        );
        for other in SETTINGS.iter().filter(|o| o.keyword != s.keyword) {
            assert!(
                !(other.differs)(&c, &default),
                "{}: example also sets {}",
                s.keyword,
                other.keyword
            );
        }
        round_trips(&c, s.keyword);
        let toml = to_toml(&c);
        assert!(
            toml.contains(s.key),
            "{}: no key {} in {toml}",
            s.keyword,
            s.key
        );
        let shown = show_umip(&c, "f.conf");
        match s.show {
            Some(show) => {
                let label = format!("{} = ", show.label.unwrap_or(s.keyword));
                let line = |v: &[String]| v.iter().find(|l| l.starts_with(&label)).cloned();
                assert!(line(&shown).is_some(), "{}: not shown", s.keyword);
                assert_ne!(line(&shown), line(&shown_default), "{}", s.keyword);
                assert_eq!(
                    shown[usize::from(show.rank) + 1],
                    line(&shown).unwrap_or_default()
                );
            }
            None => {
                assert!(s.kind.is_block(), "{}: a scalar must be shown", s.keyword);
                let statement = format!("{} ", s.keyword);
                assert!(
                    shown.iter().any(|l| l.starts_with(&statement)),
                    "{}: not shown",
                    s.keyword
                );
            }
        }
        match merge(&default, &c) {
            Ok((merged, changes)) => {
                assert_eq!(changes.len(), 1, "{}: {changes:?}", s.keyword);
                assert_eq!(changes[0].keyword, s.keyword);
                let kept = merged == default;
                assert_eq!(kept, !(s.differs)(&merged, &default), "{}", s.keyword);
            }
            Err(e) => {
                assert_eq!(s.reload, Reload::Refuse, "{}: {e}", s.keyword);
                assert_eq!(e, ReloadError::RoleChange);
            }
        }
    }
}

#[test]
fn every_leaf_round_trips() {
    for l in LEAVES.iter().filter(|l| !l.example.is_empty()) {
        let c = load(l.example, "example.conf").config;
        round_trips(&c, l.keyword);
        assert!(
            to_toml(&c).contains(l.key),
            "{}: no key {}",
            l.keyword,
            l.key
        );
        assert!(to_legacy(&c).contains(l.keyword), "{}", l.keyword);
    }
}

#[test]
fn table_is_consistent() {
    let keys: HashSet<&str> = SETTINGS.iter().map(|s| s.key).collect();
    assert_eq!(keys.len(), SETTINGS.len(), "duplicate TOML key");
    let keywords: HashSet<&str> = SETTINGS.iter().map(|s| s.keyword).collect();
    assert_eq!(keywords.len(), SETTINGS.len(), "duplicate keyword");
    for (what, mut ranks) in [
        (
            "show",
            SETTINGS
                .iter()
                .filter_map(|s| Some(s.show?.rank))
                .collect::<Vec<_>>(),
        ),
        (
            "reload",
            SETTINGS.iter().filter_map(|s| s.reload.rank()).collect(),
        ),
    ] {
        ranks.sort_unstable();
        let dense: Vec<u8> = (0..).take(ranks.len()).collect();
        assert_eq!(ranks, dense, "{what} ranks");
    }
    // Every field of the TOML form is a declared setting.
    let c = Config {
        debug_log_file: Some("f".to_owned()),
        ..Config::default()
    };
    let table: toml::Table = toml::from_str(&to_toml(&c)).unwrap_or_default();
    let written: HashSet<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(written, keys);
    for s in SETTINGS {
        if let Kind::Decimal { get, .. } = s.kind {
            assert!(get(&Config::default()) >= 0.0, "{}", s.keyword);
        }
    }
}

#[test]
fn leaves_only_inside_their_block() {
    use mip6d::config::directives::{leaf, Scope};
    for l in LEAVES {
        let mut wrong = vec![format!("{} x;\n", l.keyword)];
        if leaf(Scope::Interface, l.keyword).is_none() {
            wrong.push(format!("Interface \"eth0\" {{ {} x; }}\n", l.keyword));
        }
        if leaf(Scope::HomeLink, l.keyword).is_none() {
            wrong.push(format!("MnHomeLink \"eth0\" {{ {} x; }}\n", l.keyword));
        }
        for text in wrong {
            let e = parse(text.as_bytes(), "f.conf", &host());
            let message = e.err().map(|e| e.error.message).unwrap_or_default();
            let at_keyword = format!("syntax error at '{}'", l.keyword);
            // Where it is allowed, the error (if any) is about what follows it.
            if l.scope == Scope::Global && text.starts_with(l.keyword) {
                assert_ne!(message, at_keyword, "{text}");
            } else {
                assert_eq!(message, at_keyword, "{text}");
            }
        }
    }
}
