//! The directive table: every declared directive, in every file and mode
//! that reads it, parses from its example (in any case), renders to TOML and
//! comes back unchanged; the TOML form takes exactly the declared keys.

use miredo::config::directives::{Scope, ALL};
use miredo::config::{
    miredo_to_toml, parse_miredo, parse_serverd, serverd_to_toml, LiteralResolver, Options,
};

static LIT: LiteralResolver = LiteralResolver;

fn opts() -> Options<'static> {
    Options::daemon().with_resolver(&LIT)
}

/// The lines a file of `scope` needs besides the directive under test.
fn context(scope: Scope) -> &'static [(&'static str, &'static str)] {
    match scope {
        Scope::MiredoClient => &[("ServerAddress", "192.0.2.1")],
        Scope::Miredo | Scope::MiredoRelay => &[("RelayType", "cone")],
        Scope::Serverd => &[("ServerBindAddress", "192.0.2.10")],
    }
}

fn file(scope: Scope, name: &str, value: &str) -> String {
    let mut text: String = context(scope)
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        .map(|(n, v)| format!("{n} {v}\n"))
        .collect();
    text.push_str(&format!("{name} {value}\n"));
    text
}

/// Parses `text` as `file` and renders the result as TOML.
fn parse_and_render(scope: Scope, text: &str, file: &str) -> (String, String) {
    let o = opts();
    let (debug, toml, clean) = if scope.is_serverd() {
        match parse_serverd(text.as_bytes(), file, &o) {
            Ok(l) => (
                format!("{:?}", l.config),
                serverd_to_toml(&l.config),
                l.report.is_clean(),
            ),
            Err(r) => panic!("{text}: {:?}", r.rendered()),
        }
    } else {
        match parse_miredo(text.as_bytes(), file, &o) {
            Ok(l) => (
                format!("{:?}", l.config),
                miredo_to_toml(&l.config),
                l.report.is_clean(),
            ),
            Err(r) => panic!("{text}: {:?}", r.rendered()),
        }
    };
    assert!(clean, "{file}: {text}");
    (debug, toml)
}

#[test]
fn every_directive_round_trips() {
    for d in ALL {
        for &(scope, _) in d.scopes {
            let text = file(scope, d.name, d.example);
            let (config, toml) = parse_and_render(scope, &text, "f.conf");
            let (upper, _) = parse_and_render(
                scope,
                &file(scope, &d.name.to_uppercase(), d.example),
                "f.conf",
            );
            assert_eq!(upper, config, "{}: names are case-insensitive", d.name);
            assert!(
                toml.lines()
                    .any(|l| l.starts_with(&format!("{} = ", d.key))),
                "{}: no {} in {toml}",
                d.name,
                d.key
            );
            let (again, toml_again) = parse_and_render(scope, &toml, "f.toml");
            assert_eq!(again, config, "{}: {toml}", d.name);
            assert_eq!(toml_again, toml);
            let base = context(scope).iter().all(|(n, _)| *n != d.name);
            if base {
                let without = file(scope, "#", "");
                let (plain, _) = parse_and_render(scope, &without, "f.conf");
                assert_ne!(plain, config, "{}: the example is the default", d.name);
            }
        }
    }
}

#[test]
fn toml_takes_the_declared_keys_and_types() {
    for serverd in [false, true] {
        let o = opts();
        let parse = |text: &str| {
            if serverd {
                parse_serverd(text.as_bytes(), "f.toml", &o).map(|_| ())
            } else {
                parse_miredo(text.as_bytes(), "f.toml", &o).map(|_| ())
            }
        };
        let keys: Vec<&str> = ALL
            .iter()
            .filter(|d| d.in_file(serverd))
            .map(|d| d.key)
            .collect();
        let e = parse("bogus = 1\n").err().unwrap_or_default();
        let listed: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
        assert_eq!(
            e.diagnostics[0].message,
            format!(
                "unknown field `bogus`, expected one of {}",
                listed.join(", ")
            )
        );
        for d in ALL.iter().filter(|d| d.in_file(serverd)) {
            let wrong = if d.value.is_integer() {
                format!("{} = \"1\"\n", d.key)
            } else {
                format!("{} = 1\n", d.key)
            };
            let e = parse(&wrong).err().unwrap_or_default();
            assert!(
                e.diagnostics[0].message.starts_with("invalid type: "),
                "{}: {:?}",
                d.key,
                e.diagnostics
            );
        }
        for d in ALL.iter().filter(|d| !d.in_file(serverd)) {
            assert!(parse(&format!("{} = \"x\"\n", d.key)).is_err(), "{}", d.key);
        }
    }
}
