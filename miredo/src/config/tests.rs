//! Unit tests of the typed extraction (both syntaxes).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::*;

static LIT: LiteralResolver = LiteralResolver;

fn daemon() -> Options<'static> {
    Options::daemon().with_resolver(&LIT)
}

fn check() -> Options<'static> {
    Options::checkconf().with_resolver(&LIT)
}

fn msgs(r: &Report) -> Vec<String> {
    r.diagnostics.iter().map(|d| d.message.clone()).collect()
}

fn ok(text: &str, file: &str, o: &Options<'_>) -> Loaded<MiredoConfig> {
    match parse_miredo(text.as_bytes(), file, o) {
        Ok(l) => l,
        Err(r) => panic!("unexpected errors: {:?}", r.rendered()),
    }
}

fn err(text: &str, o: &Options<'_>) -> Report {
    match parse_miredo(text.as_bytes(), "t.conf", o) {
        Ok(l) => panic!("unexpected success: {:?}", l.config),
        Err(r) => r,
    }
}

#[test]
fn full_client() {
    let l = ok(
        "relaytype autoclient\nServerAddress teredo.example\nServerAddress2 192.0.2.2\n\
         InterfaceName teredo\nBindAddress 192.0.2.9\nBindPort 0x0dd9\nSyslogFacility LOCAL3\n\
         ClientHook /usr/local/hook\n",
        "t.conf",
        &daemon(),
    );
    assert!(l.report.is_clean(), "{:?}", l.report);
    assert_eq!(
        l.config,
        MiredoConfig {
            relay_type: RelayType::Client,
            server_address: Some("teredo.example".into()),
            server_address2: Some("192.0.2.2".into()),
            interface_name: Some("teredo".into()),
            bind_address: Some(Ipv4Addr::new(192, 0, 2, 9)),
            bind_port: 3545,
            syslog_facility: Facility::Local3,
            client_hook: Some(PathBuf::from("/usr/local/hook")),
            ..MiredoConfig::default()
        }
    );
}

#[test]
fn relay_modes() {
    let l = ok(
        "RelayType relay\nPrefix 3ffe:831f::\nInterfaceMTU 010000\n",
        "t.conf",
        &daemon(),
    );
    assert_eq!(l.config.relay_type, RelayType::Cone);
    assert_eq!(l.config.prefix, 0x3ffe_831f);
    assert_eq!(l.config.interface_mtu, 4096);
    assert!(l.report.is_clean());

    let l = ok("RelayType RESTRICTED\n", "t.conf", &daemon());
    assert_eq!(l.config.relay_type, RelayType::Restricted);
    assert_eq!(
        msgs(&l.report),
        vec![
            "Using deprecated \"restricted\" relay type which is STRONGLY DISCOURAGED (at line 1)."
        ]
    );
    // checkconf does not warn about it.
    assert!(ok("RelayType restricted\n", "t.conf", &check())
        .report
        .is_clean());
}

#[test]
fn defaults_and_missing_server() {
    let r = err("", &daemon());
    assert_eq!(msgs(&r), vec!["Server address not specified"]);
    assert_eq!(r.rendered(), vec!["t.conf: Server address not specified"]);
    let o = daemon().with_server_name(Some("192.0.2.1"));
    let l = ok("ServerAddress 192.0.2.5\n", "t.conf", &o);
    assert_eq!(l.config.server_address.as_deref(), Some("192.0.2.1"));
    assert_eq!(
        msgs(&l.report),
        vec!["Superfluous directive ServerAddress at line 1"]
    );
    // The server name is ignored in relay mode.
    let l = ok("RelayType cone\n", "t.conf", &o);
    assert_eq!(l.config.server_address, None);
    assert_eq!(l.config.interface_mtu, DEFAULT_MTU);
    assert_eq!(l.config.prefix, DEFAULT_PREFIX);
}

#[test]
fn value_errors() {
    let r = err("RelayType server\nFoo bar\n", &daemon());
    assert_eq!(msgs(&r), vec!["Invalid relay type \"server\" at line 1"]);
    assert_eq!(
        r.rendered(),
        vec!["t.conf:1: Invalid relay type \"server\" at line 1"]
    );

    let r = err("ServerAddress x\nBindPort 65536\n", &daemon());
    assert_eq!(
        msgs(&r),
        vec!["Invalid integer value \"65536\" for BindPort: Numerical result out of range"]
    );
    assert_eq!(r.diagnostics[0].line, Some(2));

    let r = err(
        "RelayType cone\nPrefix ff02::\nInterfaceMTU 12z\n",
        &daemon(),
    );
    assert_eq!(
        msgs(&r),
        vec![
            "Invalid Teredo IPv6 prefix: ff020000::/32",
            "Invalid integer value \"12z\" for InterfaceMTU: Invalid argument"
        ]
    );

    let r = err("ServerAddress x\nBindAddress host.invalid\n", &daemon());
    assert_eq!(
        msgs(&r),
        vec!["Invalid hostname \"host.invalid\" at line 2: Name or service not known"]
    );
}

#[test]
fn prefix_fix_accepts_what_miredo_rejected() {
    let l = ok("RelayType cone\nPrefix 2001:ff::\n", "t.conf", &daemon());
    assert_eq!(l.config.prefix, 0x2001_00ff);
}

#[test]
fn checkconf_resolves_server_addresses() {
    let text = "ServerAddress srv.invalid\nServerAddress2 192.0.2.2\n";
    assert!(parse_miredo(text.as_bytes(), "t.conf", &daemon()).is_ok());
    let r = err(text, &check());
    assert_eq!(
        msgs(&r),
        vec!["Invalid hostname \"srv.invalid\" at line 1: Name or service not known"]
    );
}

#[test]
fn warnings_are_not_fatal_for_daemon() {
    let l = ok(
        "ServerAddress a\nSyslogFacility bogus\nPrefix 2001::\nBindPort 1\nbindport 2\nX\n",
        "t.conf",
        &daemon(),
    );
    assert_eq!(l.config.syslog_facility, Facility::Daemon);
    assert_eq!(
        msgs(&l.report),
        vec![
            "Ignoring line 6: X",
            "Unknown syslog facility \"bogus\" at line 2",
            "Superfluous directive Prefix at line 3",
            "Superfluous directive bindport at line 5",
        ]
    );
    assert!(!l.report.has_errors());
}

#[test]
fn interface_name_length() {
    let r = err(
        "ServerAddress a\nInterfaceName abcdefghijklmnop\n",
        &daemon(),
    );
    assert_eq!(r.diagnostics[0].line, Some(2));
    assert!(ok(
        "ServerAddress a\nInterfaceName abcdefghijklmno\n",
        "t",
        &daemon()
    )
    .report
    .is_clean());
}

#[test]
fn serverd() {
    let text = "ServerBindAddress 192.0.2.221\nPrefix 2001::\nInterfaceMTU 1400\n\
                SyslogFacility user\nBindPort 1\n";
    let l = match parse_serverd(text.as_bytes(), "s.conf", &daemon()) {
        Ok(l) => l,
        Err(r) => panic!("{:?}", r),
    };
    assert_eq!(
        l.config,
        ServerdConfig {
            server_bind_address: Ipv4Addr::new(192, 0, 2, 221),
            server_bind_address2: None,
            prefix: DEFAULT_PREFIX,
            interface_mtu: 1400,
            syslog_facility: Facility::User,
            server_workers: 0,
        }
    );
    assert_eq!(l.config.secondary_address(), Ipv4Addr::new(192, 0, 2, 222));
    assert_eq!(
        msgs(&l.report),
        vec!["Superfluous directive BindPort at line 5"]
    );

    let r = parse_serverd(b"Prefix 2001::\n", "s.conf", &daemon()).err();
    assert_eq!(
        r.map(|r| msgs(&r)),
        Some(vec!["Server address not specified".to_owned()])
    );

    let o = daemon().with_server_name(Some("bad.invalid"));
    let r = parse_serverd(b"", "s.conf", &o).err();
    assert_eq!(
        r.map(|r| msgs(&r)),
        Some(vec![
            "Invalid server hostname \"bad.invalid\": Name or service not known".to_owned()
        ])
    );
    let o = daemon().with_server_name(Some("192.0.2.1"));
    let l = parse_serverd(b"ServerBindAddress2 192.0.2.7\n", "s.conf", &o);
    let l = l.map_err(|r| r.rendered());
    assert_eq!(
        l.as_ref().map(|l| msgs(&l.report)),
        Ok(vec![
            "Superfluous directive ServerBindAddress2 at line 1".to_owned()
        ])
    );
}

#[test]
fn toml_form_matches_legacy() {
    let legacy = ok(
        "RelayType cone\nPrefix 3ffe::\nInterfaceMTU 1400\nInterfaceName t0\nBindPort 3545\n",
        "t.conf",
        &daemon(),
    );
    let toml = miredo_to_toml(&legacy.config);
    let again = ok(&toml, "t.toml", &daemon());
    assert!(again.report.is_clean(), "{:?}", again.report);
    assert_eq!(again.config, legacy.config);
}

#[test]
fn toml_messages_use_keys() {
    let r = match parse_miredo(
        b"server_address = \"a\"\nbind_port = 70000\nprefix = \"2001::\"\n",
        "t.toml",
        &daemon(),
    ) {
        Ok(_) => panic!("accepted"),
        Err(r) => r,
    };
    assert_eq!(
        r.rendered(),
        vec![
            "t.toml:2: Invalid integer value \"70000\" for bind_port: Numerical result out of range",
            "t.toml:3: Superfluous directive prefix at line 3",
        ]
    );
}

#[test]
fn serverd_toml_roundtrip() {
    let l = parse_serverd(
        b"ServerBindAddress 192.0.2.1\nServerBindAddress2 192.0.2.3\n",
        "s.conf",
        &daemon(),
    );
    let Ok(l) = l else { panic!("rejected") };
    let t = serverd_to_toml(&l.config);
    let again = parse_serverd(t.as_bytes(), "s.toml", &daemon());
    assert_eq!(again.map(|a| a.config), Ok(l.config));
}

#[test]
fn read_errors() {
    let r = load_miredo(std::path::Path::new("/nonexistent/miredo.conf"), &daemon());
    let r = r.err().unwrap_or_default();
    assert_eq!(
        r.rendered(),
        vec![
            "Error opening configuration file /nonexistent/miredo.conf: No such file or directory"
        ]
    );
    let r = load_miredo(std::path::Path::new("/"), &daemon());
    let r = r.err().unwrap_or_default();
    assert_eq!(
        r.rendered(),
        vec!["Error reading configuration file: Is a directory"]
    );
}

#[test]
fn peer_queue_budget() {
    // Our extension: client and relay, bytes, C integer syntax.
    let l = ok("ServerAddress x\n", "t.conf", &daemon());
    assert_eq!(l.config.peer_queue_budget, DEFAULT_PEER_QUEUE_BUDGET);
    assert_eq!(DEFAULT_PEER_QUEUE_BUDGET, 4 << 20);
    let l = ok(
        "ServerAddress x\nPeerQueueBudget 65536\n",
        "t.conf",
        &daemon(),
    );
    assert!(l.report.is_clean(), "{:?}", l.report);
    assert_eq!(l.config.peer_queue_budget, 65536);
    let l = ok(
        "RelayType cone\npeerqueuebudget 0x40000000\n",
        "t.conf",
        &daemon(),
    );
    assert_eq!(l.config.peer_queue_budget, 1 << 30);

    let r = err("ServerAddress x\n\nPeerQueueBudget 4MiB\n", &daemon());
    assert_eq!(
        msgs(&r),
        vec!["Invalid integer value \"4MiB\" for PeerQueueBudget: Invalid argument"]
    );
    assert_eq!(
        r.rendered()[0],
        "t.conf:3: Invalid integer value \"4MiB\" for PeerQueueBudget: Invalid argument"
    );
    let r = err("RelayType cone\nPeerQueueBudget 4294967296\n", &daemon());
    assert_eq!(
        msgs(&r),
        vec![
            "Invalid integer value \"4294967296\" for PeerQueueBudget: \
             Numerical result out of range"
        ]
    );
    assert_eq!(r.diagnostics[0].line, Some(2));

    // The TOML form, and back.
    let l = match parse_miredo(
        b"server_address = \"x\"\npeer_queue_budget = 123456\n",
        "t.toml",
        &daemon(),
    ) {
        Ok(l) => l,
        Err(r) => panic!("{:?}", r.rendered()),
    };
    assert_eq!(l.config.peer_queue_budget, 123_456);
    let again = miredo_to_toml(&l.config);
    assert!(again.contains("peer_queue_budget = 123456\n"), "{again}");
}

#[test]
fn server_workers() {
    // Our extension: miredo-server only, 0 (one per CPU) to 64.
    let serverd = |text: &str| parse_serverd(text.as_bytes(), "s.conf", &daemon());
    let Ok(l) = serverd("ServerBindAddress 192.0.2.1\n") else {
        panic!("default");
    };
    assert_eq!(l.config.server_workers, 0);
    let Ok(l) = serverd("ServerBindAddress 192.0.2.1\nServerWorkers 4\n") else {
        panic!("4");
    };
    assert!(l.report.is_clean(), "{:?}", l.report);
    assert_eq!(l.config.server_workers, 4);
    assert!(serverd_to_toml(&l.config).contains("server_workers = 4\n"));
    let r = match serverd("ServerBindAddress 192.0.2.1\nServerWorkers 65\n") {
        Ok(l) => l.report,
        Err(r) => r,
    };
    assert_eq!(
        r.rendered(),
        vec!["s.conf:2: Invalid integer value \"65\" for ServerWorkers: at most 64"]
    );
}

#[test]
fn server_address_repeated_lists_fail_over_servers_in_order() {
    let l = ok(
        "ServerAddress 192.0.2.1\nBindPort 3545\nserveraddress teredo.example\nServerAddress 198.51.100.7\n",
        "t.conf",
        &daemon(),
    );
    assert!(
        l.report.is_clean(),
        "no superfluous warning: {:?}",
        l.report
    );
    assert_eq!(l.config.server_address.as_deref(), Some("192.0.2.1"));
    assert_eq!(
        l.config.fallback_servers,
        vec!["teredo.example", "198.51.100.7"]
    );
    // Both syntaxes carry the list, in order.
    let toml = miredo_to_toml(&l.config);
    assert!(
        toml.contains("server_address = [\"192.0.2.1\", \"teredo.example\", \"198.51.100.7\"]"),
        "{toml}"
    );
    let again = ok(&toml, "t.toml", &daemon());
    assert!(again.report.is_clean(), "{:?}", again.report);
    assert_eq!(again.config, l.config);
    // checkconf resolves every one of them.
    let r = err(
        "ServerAddress 192.0.2.1\nServerAddress srv.invalid\n",
        &check(),
    );
    assert_eq!(msgs(&r).len(), 1, "{:?}", msgs(&r));
    assert!(msgs(&r)[0].contains("srv.invalid"), "{:?}", msgs(&r));
    // The SERVER_NAME argument replaces them all, as it replaces one.
    let o = daemon().with_server_name(Some("203.0.113.1"));
    let l = ok(
        "ServerAddress 192.0.2.1\nServerAddress 192.0.2.2\n",
        "t.conf",
        &o,
    );
    assert_eq!(l.config.server_address.as_deref(), Some("203.0.113.1"));
    assert!(l.config.fallback_servers.is_empty());
}

#[test]
fn toml_server_address_takes_a_string_or_a_non_empty_list_of_strings() {
    let toml_err = |text: &str| match parse_miredo(text.as_bytes(), "t.toml", &daemon()) {
        Ok(l) => panic!("accepted {text}: {:?}", l.config),
        Err(r) => r.rendered(),
    };
    for bad in ["server_address = []\n", "server_address = [\"a\", 5]\n"] {
        assert_eq!(
            toml_err(bad),
            vec!["t.toml:1: invalid type: sequence, expected a string or a non-empty array of strings"],
            "{bad}"
        );
    }
    assert_eq!(
        toml_err("server_address = \"a\"\nserver_address2 = [\"a\"]\n"),
        vec!["t.toml:2: invalid type: sequence, expected a string"]
    );
}

#[test]
fn local_discovery_is_on_unless_turned_off() {
    let l = ok("ServerAddress 192.0.2.1\n", "t.conf", &daemon());
    assert!(l.config.local_discovery);
    let l = ok(
        "ServerAddress 192.0.2.1\nLocalDiscovery Off\n",
        "t.conf",
        &daemon(),
    );
    assert!(l.report.is_clean(), "{:?}", l.report);
    assert!(!l.config.local_discovery);
    let again = ok(&miredo_to_toml(&l.config), "t.toml", &daemon());
    assert_eq!(again.config, l.config);
    let r = err("ServerAddress 192.0.2.1\nLocalDiscovery maybe\n", &daemon());
    assert_eq!(
        r.rendered(),
        vec!["t.conf:2: Invalid value \"maybe\" for LocalDiscovery at line 2: expected on or off"]
    );
    let l = ok("RelayType relay\nLocalDiscovery off\n", "t.conf", &daemon());
    assert_eq!(
        msgs(&l.report),
        vec!["Superfluous directive LocalDiscovery at line 2"]
    );
}

#[test]
fn port_mapping_takes_auto_always_or_off_in_client_mode() {
    let l = ok("ServerAddress 192.0.2.1\n", "t.conf", &daemon());
    assert_eq!(l.config.port_mapping, PortMapping::Auto, "default");
    let l = ok(
        "ServerAddress 192.0.2.1\nPortMapping OFF\n",
        "t.conf",
        &daemon(),
    );
    assert!(l.report.is_clean(), "{:?}", l.report);
    assert_eq!(l.config.port_mapping, PortMapping::Off);
    let again = ok(&miredo_to_toml(&l.config), "t.toml", &daemon());
    assert_eq!(again.config, l.config);
    let r = err("ServerAddress 192.0.2.1\nPortMapping upnp\n", &daemon());
    assert_eq!(
        r.rendered(),
        vec!["t.conf:2: Invalid value \"upnp\" for PortMapping at line 2: expected auto, always or off"]
    );
    // A relay has no NAT to ask.
    let l = ok("RelayType relay\nPortMapping always\n", "t.conf", &daemon());
    assert_eq!(
        msgs(&l.report),
        vec!["Superfluous directive PortMapping at line 2"]
    );
}
