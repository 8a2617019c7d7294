//! What the parsed model means: defaults, role order, last-value-wins and
//! the other quirks of UMIP's grammar (`docs/compat.md`), the TOML form's own
//! rules, and SIGHUP reload.

use std::io::Write as _;
use std::net::Ipv6Addr;

use mip6d::config::{
    merge, parse, reload, to_toml, ChangeEffect, Config, FixedInterfaces, IpsecProtocol, Offline,
    Overrides, Prefix, ReloadError, Role, MAX_BINDING_LIFETIME,
};

fn host() -> Offline {
    Offline {
        interfaces: ["lo", "eth0", "eth1", "teredo"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    }
}

fn conf(text: &str) -> Config {
    match parse(text.as_bytes(), "test.conf", &host()) {
        Ok(l) => l.config,
        Err(e) => panic!("{e}\n{text}"),
    }
}

fn error(text: &str, file: &str) -> String {
    match parse(text.as_bytes(), file, &host()) {
        Ok(l) => panic!("parsed: {:?}", l.config),
        Err(e) => e.error.to_string(),
    }
}

fn addr(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

#[test]
fn defaults_are_umips() {
    let c = conf("");
    assert_eq!(c.node_config, Role::CorrespondentNode);
    assert!(c.use_mn_ha_ipsec && c.do_route_optimization_cn && c.do_route_optimization_mn);
    assert!(c.send_mob_pfx_advs && c.send_unsol_mob_pfx_advs && c.send_mob_pfx_sols);
    assert!(c.mob_rtr_use_explicit_mode && !c.key_mng_mob_capability);
    assert_eq!(c.ha_max_binding_life, MAX_BINDING_LIFETIME);
    assert_eq!(c.mn_max_cn_binding_life, 420);
    assert_eq!(c.mn_max_ha_consecutive_resends, 5);
    assert_eq!(c.mn_max_cn_consecutive_resends, 0);
    assert_eq!(
        (c.min_mob_pfx_adv_interval, c.max_mob_pfx_adv_interval),
        (600, 86400)
    );
    assert_eq!(c.initial_bindack_timeout_first_reg, 1.5);
    assert_eq!(c.initial_bindack_timeout_re_reg, 1.0);
    assert_eq!(c.initial_solicit_timer, 3.0);
    assert_eq!(c.interface_initial_init_delay, 2.0);
    assert_eq!(c.default_binding_acl_policy, 0);
    assert_eq!(c, Config::default());
}

#[test]
fn role_checks_use_the_role_seen_so_far() {
    let c =
        conf("Interface \"nosuch0\" { Tunnel enabled; }\nNodeConfig HA;\nInterface \"eth0\";\n");
    assert_eq!(c.interface[0].ha_interface, Some(false));
    assert_eq!(c.interface[1].ha_interface, Some(true));
    let names: Vec<&str> = c.ha_interfaces().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["eth0"]);
    // The same interface after NodeConfig HA is refused.
    assert_eq!(
        error("NodeConfig HA;\nInterface \"nosuch0\";\n", "f"),
        "Error in configuration file f at line 2: HA interface nosuch0 unavailable"
    );
    // IfType MN keeps an interface out of the HA's checks and service.
    let c = conf("NodeConfig HA;\nInterface \"nosuch0\" { IfType MN; Tunnel enabled; }\n");
    assert_eq!(c.ha_interfaces().count(), 0);
}

#[test]
fn repeated_settings_and_block_quirks() {
    let c = conf(
        "DebugLevel 1; DebugLevel 2;\n\
         MnRouterProbeTimeout 1.5; MnRouterProbeTimeout 0.0;\n\
         MnHomeLink \"eth0\" {\n\
           HomeAddress 2001:db8::1/64 (2001:db8:1::/48);\n\
           HomeAddress 2001:db8::2/64 (2001:db8:2::/48);\n\
           IsMobRtr enabled; IsMobRtr disabled;\n\
           HomePrefix 2001:db8:0:0:ffff::/64;\n\
         }\n\
         Interface \"a-very-long-interface-name\";\n\
         Interface \"eth0\" { MnIfPreference 3; MnIfPreference 4; }\n",
    );
    assert_eq!(c.debug_level, 2);
    // Only values > 0 are taken.
    assert_eq!(c.mn_router_probe_timeout, 1.5);
    let link = &c.mn_home_link[0];
    assert_eq!(
        link.home_address,
        Prefix {
            addr: addr("2001:db8::2"),
            len: 64
        }
    );
    assert_eq!(link.mobile_network_prefixes.len(), 2);
    assert!(link.is_mob_rtr);
    assert_eq!(
        link.home_prefix,
        Some(Prefix {
            addr: addr("2001:db8::"),
            len: 64
        })
    );
    assert_eq!(link.home_agent_address, Ipv6Addr::UNSPECIFIED);
    assert_eq!(c.interface[0].name, "a-very-long-int");
    assert_eq!(c.mn_if_preference("eth0"), 4);
    assert_eq!(c.mn_if_preference("eth1"), 0);
    let all = conf("MnUseAllInterfaces enabled;\nInterface \"eth0\" { IfType HA; }\n");
    assert_eq!(all.mn_if_preference("eth1"), 10);
    assert_eq!(all.mn_if_preference("eth0"), 0);
}

#[test]
fn home_prefix_defaults_to_the_home_address_prefix() {
    let c = conf("MnHomeLink \"eth0\" { HomeAddress 2001:db8:0:1::1000/64; }\n");
    assert_eq!(
        c.mn_home_link[0].effective_home_prefix(),
        Prefix {
            addr: addr("2001:db8:0:1::"),
            len: 64
        }
    );
}

#[test]
fn ipsec_sets_expand_per_home_address() {
    let c = conf(
        "IPsecPolicySet { HomeAgentAddress 2001:db8::1;\n\
           HomeAddress 2001:db8::10/64; HomeAddress 2001:db8::20/64;\n\
           IPsecPolicy Mh UseESP UseAH 7;\n\
           IPsecPolicy TunnelPayload UseESP 8 9 block; }\n",
    );
    let expanded: Vec<_> = c.ipsec_policies().collect();
    assert_eq!(expanded.len(), 4);
    let mh = expanded[0].2;
    assert_eq!(mh.protocols, [IpsecProtocol::Esp, IpsecProtocol::Ah]);
    assert_eq!((mh.reqid_to_ha, mh.reqid_to_mn, mh.allow), (7, 7, true));
    let tp = expanded[3].2;
    assert_eq!((tp.reqid_to_ha, tp.reqid_to_mn, tp.allow), (8, 9, false));
    // An MN refuses to start with route optimisation and TunnelPayload.
    let mut mn = c.clone();
    mn.node_config = Role::MobileNode;
    assert!(mn.startup_error().is_some());
    mn.do_route_optimization_mn = false;
    assert!(mn.startup_error().is_none());
}

#[test]
fn includes_splice_tokens_in_glob_order() {
    let host = FixedInterfaces::new(&["eth0"]);
    let l = mip6d::config::load(std::path::Path::new("tests/data/ok_include.conf"), &host)
        .expect("ok_include.conf parses");
    assert_eq!(l.config.debug_level, 2);
    assert_eq!(l.config.mn_max_cn_consecutive_resends, 9);
    assert_eq!(l.config.mn_if_preference("eth0"), 5);
    // An include in the middle of a statement is spliced there.
    let dir = std::env::temp_dir().join(format!("mip6d-inc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let part = dir.join("role.conf");
    std::fs::File::create(&part)
        .and_then(|mut f| f.write_all(b"HA"))
        .expect("write part");
    let text = format!("NodeConfig include \"{}\"\n;\n", part.display());
    let c = parse(text.as_bytes(), "main.conf", &host).map(|l| l.config.node_config);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(c, Ok(Role::HomeAgent));
}

#[test]
fn toml_form_rules() {
    // Without ha_interface, the file's node_config decides, whatever the order.
    let t = "[[interface]]\nname = \"eth0\"\n\n[[interface]]\nname = \"eth1\"\nif_type = \"MN\"\n";
    let text = format!("node_config = \"HA\"\n{t}");
    let c = parse(text.as_bytes(), "x.toml", &host())
        .expect("parses")
        .config;
    assert_eq!(c.interface[0].ha_interface, Some(true));
    assert_eq!(c.interface[1].ha_interface, Some(false));
    // Booleans are accepted as ACL values, as in the legacy syntax.
    let c = parse(b"default_binding_acl_policy = false\n", "x.toml", &host())
        .expect("parses")
        .config;
    assert_eq!(c.default_binding_acl_policy, 129);
    // The legacy TOML output of a legacy file reads back the same.
    let legacy = conf("NodeConfig MN;\nInterface \"teredo\" { Tunnel enabled; }\n");
    let back = parse(to_toml(&legacy).as_bytes(), "y.toml", &host()).expect("parses");
    assert_eq!(back.config, legacy);
    // A missing home address names the table's key.
    let e = error(
        "node_config = \"MN\"\n\n[[mn_home_link]]\ninterface = \"eth0\"\nhome_address = \"::/64\"\n",
        "z.toml",
    );
    assert_eq!(
        e,
        "Error in configuration file z.toml at line 5: No home addresses definedfor homelink 0"
    );
}

fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("mip6d-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("write temp config");
    path
}

#[test]
fn reload_applies_what_can_change() {
    let running = conf(
        "NodeConfig MN;\nUseMnHaIPsec enabled;\nMnRouterProbes 1;\nInitialSolicitTimer 3.0;\n\
         DoRouteOptimizationMN enabled;\nHaMaxBindingLife 100;\n",
    );
    let path = write_temp(
        "reload.conf",
        "NodeConfig MN;\nUseMnHaIPsec disabled;\nMnRouterProbes 4;\nInitialSolicitTimer 5.0;\n\
         DoRouteOptimizationMN disabled;\nHaMaxBindingLife 200;\n",
    );
    let r = reload(&running, &path, &Overrides::default(), &host());
    std::fs::remove_file(&path).ok();
    let r = r.expect("reload succeeds");
    let effect = |kw: &str| r.changes.iter().find(|c| c.keyword == kw).map(|c| c.effect);
    assert_eq!(effect("UseMnHaIPsec"), Some(ChangeEffect::NotChangeable));
    assert_eq!(effect("MnRouterProbes"), Some(ChangeEffect::Applied));
    assert_eq!(
        effect("InitialSolicitTimer"),
        Some(ChangeEffect::NotChangeable)
    );
    assert_eq!(
        effect("DoRouteOptimizationMN"),
        Some(ChangeEffect::NotChangeable)
    );
    assert_eq!(effect("HaMaxBindingLife"), Some(ChangeEffect::NewBindings));
    assert_eq!(effect("NodeConfig"), None);
    assert_eq!(r.changes.len(), 5);
    assert!(r.config.use_mn_ha_ipsec);
    assert_eq!(r.config.mn_router_probes, 4);
    assert_eq!(r.config.initial_solicit_timer, 3.0);
    assert!(r.config.do_route_optimization_mn);
    assert_eq!(r.config.ha_max_binding_life, 200);
}

#[test]
fn reload_refuses_a_role_change_and_a_broken_file() {
    let running = conf("NodeConfig MN;\n");
    let path = write_temp("role.conf", "NodeConfig HA;\n");
    let r = reload(&running, &path, &Overrides::default(), &host());
    assert_eq!(r, Err(ReloadError::RoleChange));
    assert_eq!(
        ReloadError::RoleChange.to_string(),
        "Cannot change the role on-the-fly"
    );
    // The command-line role is applied to the new file again (a fix).
    let path2 = write_temp("norole.conf", "DebugLevel 3;\n");
    let mn = Overrides {
        node_config: Some(Role::MobileNode),
        ..Overrides::default()
    };
    let ok = reload(&running, &path2, &mn, &host()).expect("reload with -M");
    assert_eq!(ok.config.debug_level, 3);
    let broken = write_temp("broken.conf", "NodeConfig MN\n");
    let e = reload(&running, &broken, &mn, &host());
    for p in [&path, &path2, &broken] {
        std::fs::remove_file(p).ok();
    }
    let text = e.expect_err("broken file").to_string();
    assert!(
        text.ends_with("\nError in the new configuration file, changes not applied"),
        "{text}"
    );
    assert!(
        text.contains("at line 2: syntax error at end of file"),
        "{text}"
    );
}

#[test]
fn merge_reports_nothing_for_an_identical_file() {
    let c = conf("NodeConfig HA;\nInterface \"eth0\";\n");
    let (merged, changes) = merge(&c, &c).expect("same role");
    assert!(changes.is_empty());
    assert_eq!(merged, c);
}

/// UMIP applied added and removed `IPsecPolicySet`s at once; so do we
/// (`mip6d::ipsec::reload`).
#[test]
fn reload_applies_a_changed_ipsec_policy_set() {
    let running = conf("NodeConfig HA;\nUseMnHaIPsec enabled;\n");
    let path = write_temp(
        "reload-ipsec.conf",
        "NodeConfig HA;\nUseMnHaIPsec enabled;\n\
         IPsecPolicySet { HomeAgentAddress 2001:db8::1;\n\
           HomeAddress 2001:db8::10/64; IPsecPolicy HomeRegBinding UseESP 11 12; }\n",
    );
    let r = reload(&running, &path, &Overrides::default(), &host());
    std::fs::remove_file(&path).ok();
    let r = r.expect("reload succeeds");
    let change = r.changes.iter().find(|c| c.keyword == "IPsecPolicySet");
    assert_eq!(change.map(|c| c.effect), Some(ChangeEffect::Applied));
    assert_eq!(r.config.ipsec_policies().count(), 1);
}
