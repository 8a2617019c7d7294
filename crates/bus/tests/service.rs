//! The tunnel service on a private system bus with the real policy files.

mod common;

use std::time::Duration;

use bus::{
    subscribe_address_changed, tunnel_proxy, State, TunnelService, TunnelState, MIREDO_BUS_NAME,
};
use common::{is_root, stderr, stdout, PrivateBus};
use futures::StreamExt as _;
use tokio::sync::mpsc;
use tokio::time::timeout;
use zbus::fdo::PropertiesProxy;
use zbus::names::InterfaceName;

const PATH: &str = "/org/miredo_rs/Miredo1/teredo";
const IFACE: &str = "org.miredo_rs.Miredo1.Tunnel";
const WAIT: Duration = Duration::from_secs(5);

fn up_state() -> TunnelState {
    TunnelState {
        state: State::Up,
        address: "2001:0:c000:201:0:f227:3cff:ffef".into(),
        lladdress: "fe80::ffff:ffff:ffff".into(),
        mtu: 1280,
        server: "192.0.2.1".into(),
        mapped: "195.0.0.16:1234".into(),
        peers: 3,
        mode: "client".into(),
        nat_type: "symmetric".into(),
        port_preserved: true,
        port_mapping: "pcp".into(),
        port_prediction: "sequential".into(),
        counters: [("rx".to_owned(), 7u64)].into_iter().collect(),
    }
}

async fn client(bus: &PrivateBus) -> zbus::Connection {
    zbus::connection::Builder::address(bus.address.as_str())
        .expect("address")
        .build()
        .await
        .expect("client connection")
}

async fn service(bus: &PrivateBus) -> (TunnelService, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel(1);
    let svc = TunnelService::start_at(&bus.address, "teredo", tx)
        .await
        .expect("service starts");
    (svc, rx)
}

#[tokio::test]
async fn properties_and_introspection_via_busctl() {
    assert!(
        is_root(),
        "this test needs root (policy lets only root own the name): run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let (svc, _rx) = service(&bus).await;
    assert_eq!(svc.object_path(), Some(PATH));
    svc.update(up_state()).await.expect("update");

    let get = |prop: &'static str| {
        let bus = &bus;
        async move {
            let out = bus
                .busctl(false, &["get-property", MIREDO_BUS_NAME, PATH, IFACE, prop])
                .await;
            assert!(out.status.success(), "{}", stderr(&out));
            stdout(&out).trim().to_owned()
        }
    };
    assert_eq!(get("InterfaceName").await, "s \"teredo\"");
    assert_eq!(get("State").await, "s \"up\"");
    assert_eq!(
        get("Address").await,
        "s \"2001:0:c000:201:0:f227:3cff:ffef\""
    );
    assert_eq!(get("LinkLocalAddress").await, "s \"fe80::ffff:ffff:ffff\"");
    assert_eq!(get("Mtu").await, "u 1280");
    assert_eq!(get("ServerAddress").await, "s \"192.0.2.1\"");
    assert_eq!(get("MappedAddress").await, "s \"195.0.0.16:1234\"");
    assert_eq!(get("Peers").await, "u 3");
    assert_eq!(get("NatType").await, "s \"symmetric\"");
    assert_eq!(get("PortPreserved").await, "b true");
    assert_eq!(get("PortMapping").await, "s \"pcp\"");
    assert_eq!(get("PortPrediction").await, "s \"sequential\"");

    let out = bus
        .busctl(false, &["introspect", MIREDO_BUS_NAME, PATH])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        IFACE,
        ".AddressChanged",
        "ssssu",
        ".Requalify",
        ".Status",
        "a{sv}",
        ".InterfaceName",
        "const",
        ".State",
        "emits-change",
        ".Peers",
        ".PortPrediction",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    // The tree lists the object.
    let out = bus.busctl(false, &["tree", MIREDO_BUS_NAME]).await;
    assert!(stdout(&out).contains("/org/miredo_rs/Miredo1/teredo"));
}

#[tokio::test]
async fn properties_changed_carries_only_what_changed() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let (svc, _rx) = service(&bus).await;
    let conn = client(&bus).await;
    let props = PropertiesProxy::builder(&conn)
        .destination(MIREDO_BUS_NAME)
        .expect("dest")
        .path(PATH)
        .expect("path")
        .build()
        .await
        .expect("proxy");
    let mut changes = props.receive_properties_changed().await.expect("subscribe");

    let mut state = up_state();
    svc.update(state.clone()).await.expect("update");
    let signal = timeout(WAIT, changes.next())
        .await
        .expect("in time")
        .expect("signal");
    let args = signal.args().expect("args");
    assert_eq!(
        args.interface_name(),
        &InterfaceName::from_static_str_unchecked(IFACE)
    );
    let mut keys: Vec<&str> = args.changed_properties().keys().copied().collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "Address",
            "LinkLocalAddress",
            "MappedAddress",
            "Mode",
            "Mtu",
            "NatType",
            "Peers",
            "PortMapping",
            "PortPrediction",
            "PortPreserved",
            "ServerAddress",
            "State"
        ]
    );

    // Same state again: no signal. Then only the peer count.
    svc.update(state.clone()).await.expect("update");
    state.peers = 4;
    svc.update(state.clone()).await.expect("update");
    let signal = timeout(WAIT, changes.next())
        .await
        .expect("in time")
        .expect("signal");
    let args = signal.args().expect("args");
    let keys: Vec<&str> = args.changed_properties().keys().copied().collect();
    assert_eq!(keys, ["Peers"]);
    let peers: u32 = args.changed_properties()["Peers"]
        .downcast_ref()
        .expect("u32");
    assert_eq!(peers, 4);

    // The typed proxy sees the new values through its cache.
    let proxy = tunnel_proxy(&conn, "teredo").await.expect("tunnel proxy");
    let mut state_changes = proxy.receive_state_changed().await;
    assert_eq!(proxy.state().await.expect("State"), "up");
    state_changes.next().await; // the initial value
    state.state = State::Down;
    state.address.clear();
    svc.update(state).await.expect("update");
    let changed = timeout(WAIT, state_changes.next())
        .await
        .expect("in time")
        .expect("change");
    assert_eq!(changed.get().await.expect("value"), "down");
    assert_eq!(proxy.teredo_address().await.expect("Address"), "");
}

#[tokio::test]
async fn address_changed_reaches_subscribers() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let (svc, _rx) = service(&bus).await;
    let conn = client(&bus).await;
    let mut ours = subscribe_address_changed(&conn, Some("teredo"))
        .await
        .expect("subscribe");
    let mut other = subscribe_address_changed(&conn, Some("tun9"))
        .await
        .expect("subscribe");
    let mut any = subscribe_address_changed(&conn, None)
        .await
        .expect("subscribe");

    svc.address_changed(State::Up, "", "2001:0:c000:201::1", 1280)
        .await
        .expect("emit");
    for stream in [&mut ours, &mut any] {
        let ev = timeout(WAIT, stream.next())
            .await
            .expect("in time")
            .expect("event");
        assert_eq!(ev.interface, "teredo");
        assert_eq!(ev.state, "up");
        assert_eq!(ev.old_address, "");
        assert_eq!(ev.new_address, "2001:0:c000:201::1");
        assert_eq!(ev.mtu, 1280);
        assert_eq!(ev.path.as_deref(), Some(PATH));
        assert_eq!(
            ev.sender.as_deref(),
            svc.connection()
                .and_then(|c| c.unique_name())
                .map(|n| n.as_str())
        );
    }
    assert!(
        timeout(Duration::from_millis(300), other.next())
            .await
            .is_err(),
        "arg0 filter must keep other interfaces' signals out"
    );
}

#[tokio::test]
async fn requalify_and_status_from_root() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let (svc, mut rx) = service(&bus).await;
    svc.update(up_state()).await.expect("update");
    let conn = client(&bus).await;
    let proxy = tunnel_proxy(&conn, "teredo").await.expect("proxy");

    proxy.requalify().await.expect("requalify");
    timeout(WAIT, rx.recv())
        .await
        .expect("in time")
        .expect("request");
    // Two in a row while one is pending: both accepted, one request queued.
    proxy.requalify().await.expect("requalify");
    proxy.requalify().await.expect("requalify");
    timeout(WAIT, rx.recv())
        .await
        .expect("in time")
        .expect("request");

    let status = proxy.status().await.expect("status");
    let s = |k: &str| String::try_from(status[k].try_clone().expect("clone")).expect("string");
    let u = |k: &str| u32::try_from(&status[k]).expect("u32");
    assert_eq!(s("InterfaceName"), "teredo");
    assert_eq!(s("State"), "up");
    assert_eq!(s("Address"), "2001:0:c000:201:0:f227:3cff:ffef");
    assert_eq!(u("Mtu"), 1280);
    assert_eq!(u("Peers"), 3);
    assert_eq!(s("Mode"), "client");
    assert_eq!(s("NatType"), "symmetric");
    assert_eq!(s("PortMapping"), "pcp");
    assert_eq!(s("PortPrediction"), "sequential");
    assert!(bool::try_from(&status["PortPreserved"]).expect("bool"));
    assert_eq!(status.len(), 14);
    assert!(proxy.port_preserved().await.expect("PortPreserved"));
    assert_eq!(proxy.port_mapping().await.expect("PortMapping"), "pcp");
    assert_eq!(
        proxy.port_prediction().await.expect("PortPrediction"),
        "sequential"
    );
    assert_eq!(proxy.mode().await.expect("Mode"), "client");
    let counters = proxy.counters().await.expect("Counters");
    assert_eq!(counters.get("rx"), Some(&7));

    // Receiver gone: Requalify reports failure instead of pretending.
    drop(rx);
    assert!(proxy.requalify().await.is_err());
}

#[tokio::test]
async fn policy_lets_anyone_read_but_only_root_requalify_or_own() {
    assert!(
        is_root(),
        "this test needs root to become nobody: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let (svc, mut rx) = service(&bus).await;
    svc.update(up_state()).await.expect("update");

    let out = bus
        .busctl(
            true,
            &["get-property", MIREDO_BUS_NAME, PATH, IFACE, "State"],
        )
        .await;
    assert!(out.status.success(), "nobody reads: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "s \"up\"");
    let out = bus
        .busctl(true, &["introspect", MIREDO_BUS_NAME, PATH])
        .await;
    assert!(out.status.success(), "nobody introspects: {}", stderr(&out));
    let out = bus
        .busctl(true, &["call", MIREDO_BUS_NAME, PATH, IFACE, "Status"])
        .await;
    assert!(
        out.status.success(),
        "nobody calls Status: {}",
        stderr(&out)
    );
    assert!(stdout(&out).starts_with("a{sv} 14"), "{}", stdout(&out));

    let requalify = format!("{IFACE}.Requalify");
    let out = bus
        .dbus_send_as_nobody(&[&format!("--dest={MIREDO_BUS_NAME}"), PATH, &requalify])
        .await;
    assert!(!out.status.success());
    // Refused by the bus's policy, before it reaches the service.
    assert!(
        stderr(&out).contains("AccessDenied: Rejected send message"),
        "{}",
        stderr(&out)
    );
    assert!(timeout(Duration::from_millis(200), rx.recv())
        .await
        .is_err());

    let out = bus
        .busctl(
            true,
            &[
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "RequestName",
                "su",
                "org.miredo_rs.Miredo1",
                "4",
            ],
        )
        .await;
    assert!(!out.status.success(), "nobody must not own the name");
    let out = bus
        .busctl(
            true,
            &[
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "RequestName",
                "su",
                "org.umip_rs.Mip6d1",
                "4",
            ],
        )
        .await;
    assert!(!out.status.success(), "nobody must not own mip6d's name");
}

#[tokio::test]
async fn requalify_checks_uid_even_when_the_bus_lets_it_through() {
    assert!(
        is_root(),
        "this test needs root to become nobody: run it as root, as the README's test command does"
    );
    let open =
        r#"<policy context="mandatory"><allow send_destination="org.miredo_rs.Miredo1"/></policy>"#;
    let bus = PrivateBus::start_with_extra(open);
    let (_svc, mut rx) = service(&bus).await;
    let requalify = format!("{IFACE}.Requalify");
    let out = bus
        .dbus_send_as_nobody(&[&format!("--dest={MIREDO_BUS_NAME}"), PATH, &requalify])
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("AccessDenied: Requalify is restricted to root (caller uid 65534)"),
        "{}",
        stderr(&out)
    );
    assert!(timeout(Duration::from_millis(200), rx.recv())
        .await
        .is_err());
}

#[tokio::test]
async fn second_instance_cannot_take_the_name() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let (_svc, _rx) = service(&bus).await;
    let (tx, _rx2) = mpsc::channel(1);
    let err = TunnelService::start_at(&bus.address, "tun1", tx)
        .await
        .expect_err("name taken");
    assert!(matches!(err, bus::BusError::NameTaken(_)), "{err}");
}

#[tokio::test]
async fn unreachable_bus_and_disabled_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tx, _rx) = mpsc::channel(1);
    let address = format!("unix:path={}", dir.path().join("none").display());
    let err = TunnelService::start_at(&address, "teredo", tx)
        .await
        .expect_err("no bus there");
    assert!(err.to_string().starts_with("D-Bus"), "{err}");

    let svc = TunnelService::disabled();
    assert!(!svc.is_enabled());
    assert_eq!(svc.object_path(), None);
    svc.update(up_state()).await.expect("no-op");
    svc.address_changed(State::Down, "a", "", 1280)
        .await
        .expect("no-op");
    svc.stop().await.expect("no-op");
}
