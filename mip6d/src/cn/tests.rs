//! The correspondent driver's pure parts: binding policy, the cache limit
//! from the configuration, the log limit.

use super::*;
use crate::config::model::CnBindingPolicy;

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

#[test]
fn policy_set_overrides_the_default_per_peer_and_local_address() {
    let mut c = Config::default();
    let (mn, us, other) = (a("2001:db8:1::100"), a("2001:db8:3::1"), a("2001:db8:3::2"));
    assert!(c.do_route_optimization_cn, "UMIP's default");
    assert!(binding_allowed(&c, mn, us));
    c.cn_binding_policy = vec![
        CnBindingPolicy {
            peer: mn,
            local: us,
            allow: false,
        },
        CnBindingPolicy {
            peer: mn,
            local: Ipv6Addr::UNSPECIFIED,
            allow: true,
        },
    ];
    assert!(!binding_allowed(&c, mn, us));
    assert!(binding_allowed(&c, mn, other));
    c.do_route_optimization_cn = false;
    assert!(!binding_allowed(&c, a("2001:db8:1::200"), us));
    assert!(binding_allowed(&c, mn, other));
}

#[test]
fn cn_max_bindings_sets_the_cache_limit_and_reloads_for_new_bindings() {
    use crate::config::reload::{merge, ChangeEffect};
    use crate::config::{parse, FixedInterfaces};
    assert_eq!(max_bindings(&Config::default()), 1024);
    let host = FixedInterfaces::new(&["eth0"]);
    let text = b"NodeConfig CN;\nCnMaxBindings 5;\n";
    let c = match parse(text, "t.conf", &host) {
        Ok(l) => l.config,
        Err(e) => panic!("{}", e.error),
    };
    assert_eq!(max_bindings(&c), 5);
    let (merged, changes) = match merge(&Config::default(), &c) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(merged.cn_max_bindings, 5);
    assert!(changes
        .iter()
        .any(|ch| ch.keyword == "CnMaxBindings" && ch.effect == ChangeEffect::NewBindings));
}

#[test]
fn log_lines_a_source_causes_are_limited_and_counted() {
    let t0 = std::time::Instant::now();
    let mut rl = RateLimit::new(LOG_INTERVAL, LOG_BURST, LOG_SOURCES);
    let src = a("2001:db8:a::5");
    let key = (src, LogKind::TestInit);
    let lines = (0..1000).filter(|_| rl.check(t0, &key).is_yes()).count();
    assert_eq!(lines, LOG_BURST as usize);
    // A flood of test inits does not hide this source's refused BU.
    assert!(rl.check(t0, &(src, LogKind::BuRefused)).is_yes());
    match rl.check(t0 + LOG_INTERVAL, &key) {
        Admit::Yes { suppressed } => {
            assert_eq!(
                suppressed_note(suppressed),
                " (990 more from this source suppressed)"
            );
        }
        Admit::No => panic!("a new interval admits again"),
    }
    assert_eq!(suppressed_note(0), "");
}
