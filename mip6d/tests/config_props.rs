//! Property tests: the parsers never panic, and whatever the legacy parser
//! accepts reads back unchanged from its TOML and mip6d.conf renderings.

use mip6d::config::{parse, show_umip, to_legacy, to_toml, Offline};
use proptest::prelude::*;

fn host() -> Offline {
    Offline {
        interfaces: vec!["eth0".to_owned(), "lo".to_owned()],
    }
}

/// Tokens that make up real statements, so that random sequences often parse.
const TOKENS: &[&str] = &[
    "NodeConfig",
    "CN",
    "MN",
    "HA",
    "DebugLevel",
    "DebugLogFile",
    "Interface",
    "IfType",
    "MnIfPreference",
    "Tunnel",
    "MnHomeLink",
    "HomeAgentAddress",
    "HomeAddress",
    "HomePrefix",
    "IsMobRtr",
    "UseAltCoa",
    "MnRoPolicy",
    "IPsecPolicySet",
    "IPsecPolicy",
    "Mh",
    "HomeRegBinding",
    "TunnelPayload",
    "ICMP",
    "any",
    "UseESP",
    "UseAH",
    "CnBindingPolicySet",
    "BindingAclPolicy",
    "DefaultBindingAclPolicy",
    "HaServedPrefix",
    "UseMovementModule",
    "internal",
    "HaMaxBindingLife",
    "HaMaxBindings",
    "MnMaxCnBindingLife",
    "MnRouterProbeTimeout",
    "InitialSolicitTimer",
    "UseCnBuAck",
    "MnUseAllInterfaces",
    "enabled",
    "deny",
    "block",
    "0",
    "1",
    "10",
    "64",
    "129",
    "420",
    "0.0",
    "2.5",
    "2001:db8::1",
    "2001:db8::",
    "::",
    "0:0:0:0:0:ffff:c000:201",
    "fe80::1",
    "\"eth0\"",
    "\"lo\"",
    "\"x\"",
    "{",
    "}",
    ";",
    "/",
    "(",
    ")",
    ",",
    "#c\n",
    "\n",
];

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = parse(&bytes, "f.conf", &host());
        let _ = parse(&bytes, "f.toml", &host());
    }

    #[test]
    fn accepted_token_sequences_round_trip(
        picks in proptest::collection::vec(0..TOKENS.len(), 0..60)
    ) {
        let text: Vec<&str> = picks.iter().map(|&i| TOKENS[i]).collect();
        let text = text.join(" ");
        if let Ok(loaded) = parse(text.as_bytes(), "f.conf", &host()) {
            let _ = show_umip(&loaded.config, "f.conf");
            let toml = to_toml(&loaded.config);
            let again = parse(toml.as_bytes(), "g.toml", &host()).map(|l| l.config);
            prop_assert_eq!(again.as_ref().ok(), Some(&loaded.config), "{}\n{}", text, toml);
            let conf = to_legacy(&loaded.config);
            let again = parse(conf.as_bytes(), "g.conf", &host()).map(|l| l.config);
            prop_assert_eq!(again.as_ref().ok(), Some(&loaded.config), "{}\n{}", text, conf);
        }
    }
}

const ADDRS: &[&str] = &[
    "2001:db8::1",
    "2001:db8::",
    "::",
    "0:0:0:0:0:ffff:c000:201",
    "0:0:0:0:0:0:0:1",
    "1:0:0:0:0:0:0:0",
    "FE80:0:0:0:0:0:0:AB",
];
const TYPES: &[&str] = &[
    "HomeRegBinding",
    "Mh",
    "MobPfxDisc",
    "ICMP",
    "any",
    "TunnelHomeTesting",
    "TunnelMh",
    "TunnelPayload",
];
const BOOLS: &[&str] = &[
    "enabled", "disabled", "allow", "deny", "true", "false", "block",
];

fn statement() -> impl Strategy<Value = String> {
    let a = || proptest::sample::select(ADDRS);
    let b = || proptest::sample::select(BOOLS);
    let role = || proptest::sample::select(&["CN", "MN", "HA"][..]);
    prop_oneof![
        role().prop_map(|r| format!("NodeConfig {r};")),
        (
            proptest::sample::select(&["eth0", "lo", "teredo"][..]),
            0u32..12,
            b(),
            role()
        )
            .prop_map(|(i, n, t, r)| format!(
                "Interface \"{i}\" {{ IfType {r}; MnIfPreference {n}; Tunnel {t}; }}"
            )),
        (a(), a(), 0u32..130, a(), b(), b()).prop_map(|(ha, hoa, l, cn, ro, mr)| format!(
            "MnHomeLink \"eth0\" {{ HomeAgentAddress {ha}; HomeAddress {hoa}/{l} ({cn}/48); \
             HomePrefix {hoa}/{l}; MnRoPolicy {cn} {ro}; IsMobRtr {mr}; }}"
        )),
        (a(), 0u32..130).prop_map(|(p, l)| format!("HaServedPrefix {p}/{l};")),
        (a(), 0u32..300).prop_map(|(p, n)| format!("BindingAclPolicy {p} ({p}/64) {n};")),
        (a(), a(), proptest::sample::select(TYPES), 0u32..4, b()).prop_map(
            |(ha, hoa, t, r, act)| format!(
                "IPsecPolicySet {{ HomeAgentAddress {ha}; HomeAddress {hoa}/64; \
                 IPsecPolicy {t} UseESP {r} {act}; }}"
            )
        ),
        (a(), a(), b()).prop_map(|(p, l, v)| format!("CnBindingPolicySet {{ {p} {l} {v}; }}")),
        (0u32..1000, 0u32..1000).prop_map(|(i, f)| format!("MnRouterProbeTimeout {i}.{f};")),
        (0u32..500_000).prop_map(|n| format!("MnMaxHaBindingLife {n};")),
        b().prop_map(|v| format!("MnUseAllInterfaces {v};")),
    ]
}

proptest! {
    #[test]
    fn generated_files_round_trip(stmts in proptest::collection::vec(statement(), 0..12)) {
        let text = stmts.join("\n");
        if let Ok(loaded) = parse(text.as_bytes(), "f.conf", &host()) {
            let toml = to_toml(&loaded.config);
            let again = parse(toml.as_bytes(), "g.toml", &host()).map(|l| l.config);
            prop_assert_eq!(again.as_ref().ok(), Some(&loaded.config), "{}\n{}", text, toml);
            let conf = to_legacy(&loaded.config);
            let again = parse(conf.as_bytes(), "g.conf", &host()).map(|l| l.config);
            prop_assert_eq!(again.as_ref().ok(), Some(&loaded.config), "{}\n{}", text, conf);
        }
    }
}
