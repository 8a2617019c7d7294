//! miredo-server's object on a private system bus with its real policy file.

mod common;

use std::time::Duration;

use bus::{BusError, ServerService, ServerState, SERVER_BUS_NAME, SERVER_INTERFACE, SERVER_PATH};
use common::{conf_dir, is_root, stderr, stdout, PrivateBus};
use futures::StreamExt as _;
use tokio::time::timeout;
use zbus::fdo::PropertiesProxy;
use zbus::names::InterfaceName;

/// The bus, with `conf/org.miredo_rs.Server1.conf`'s policies added.
fn bus() -> PrivateBus {
    let text = std::fs::read_to_string(conf_dir().join("org.miredo_rs.Server1.conf"))
        .expect("policy file");
    let start = text.find("<busconfig>").expect("<busconfig>") + "<busconfig>".len();
    let end = text.rfind("</busconfig>").expect("</busconfig>");
    PrivateBus::start_with_extra(&text[start..end])
}

fn state(rs: u64, too_long: u64) -> ServerState {
    ServerState {
        primary: "192.0.2.1".into(),
        secondary: "192.0.2.2".into(),
        prefix: "2001::/32".into(),
        mtu: 1280,
        rs_answered: rs,
        forwarded_teredo: 2,
        forwarded_native: 1,
        send_errors: 0,
        dropped: vec![("malformed".into(), 1), ("too_long".into(), too_long)],
    }
}

#[tokio::test]
async fn counters_readable_by_anyone() {
    assert!(
        is_root(),
        "this test needs root (the policy lets only root and miredo own the name): run it as root, as the README's test command does"
    );
    let bus = bus();
    let svc = ServerService::start_at(&bus.address)
        .await
        .expect("service");
    assert!(svc.is_enabled());
    svc.update(state(3, 4)).await.expect("update");
    let get = |prop: &'static str| {
        let bus = &bus;
        async move {
            let out = bus
                .busctl(
                    true,
                    &[
                        "get-property",
                        SERVER_BUS_NAME,
                        SERVER_PATH,
                        SERVER_INTERFACE,
                        prop,
                    ],
                )
                .await;
            assert!(out.status.success(), "{prop}: {}", stderr(&out));
            stdout(&out).trim().to_owned()
        }
    };
    assert_eq!(get("RsAnswered").await, "t 3");
    assert_eq!(get("ForwardedTeredo").await, "t 2");
    assert_eq!(get("ForwardedNative").await, "t 1");
    assert_eq!(get("Dropped").await, "t 5");
    assert_eq!(get("Mtu").await, "u 1280");
    assert_eq!(get("Prefix").await, "s \"2001::/32\"");
    let by_reason = get("DroppedByReason").await;
    assert!(by_reason.starts_with("a{st} 2 "), "{by_reason}");
    assert!(by_reason.contains("\"too_long\" 4"), "{by_reason}");
    let status = bus
        .busctl(
            true,
            &[
                "call",
                SERVER_BUS_NAME,
                SERVER_PATH,
                SERVER_INTERFACE,
                "Status",
            ],
        )
        .await;
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(
        stdout(&status).contains("\"RsAnswered\" t 3"),
        "{}",
        stdout(&status)
    );
    svc.stop().await.expect("stop");
}

#[tokio::test]
async fn only_changed_counters_are_signalled() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = bus();
    let svc = ServerService::start_at(&bus.address)
        .await
        .expect("service");
    svc.update(state(1, 0)).await.expect("update");
    let conn = zbus::connection::Builder::address(bus.address.as_str())
        .expect("address")
        .build()
        .await
        .expect("client");
    let props = PropertiesProxy::builder(&conn)
        .destination(SERVER_BUS_NAME)
        .expect("destination")
        .path(SERVER_PATH)
        .expect("path")
        .build()
        .await
        .expect("proxy");
    let mut changes = props.receive_properties_changed().await.expect("subscribe");
    // Nothing changed: no signal. Then one counter and the total change.
    svc.update(state(1, 0)).await.expect("update");
    svc.update(state(2, 0)).await.expect("update");
    let signal = timeout(Duration::from_secs(5), changes.next())
        .await
        .expect("a PropertiesChanged in time")
        .expect("stream open");
    let args = signal.args().expect("args");
    assert_eq!(
        args.interface_name,
        InterfaceName::from_static_str_unchecked(SERVER_INTERFACE)
    );
    let mut names: Vec<&str> = args.changed_properties.keys().copied().collect();
    names.sort_unstable();
    assert_eq!(names, ["RsAnswered"]);
}

#[tokio::test]
async fn a_second_instance_is_refused() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = bus();
    let _first = ServerService::start_at(&bus.address).await.expect("first");
    let err = ServerService::start_at(&bus.address)
        .await
        .expect_err("second must fail");
    assert!(matches!(err, BusError::NameTaken(SERVER_BUS_NAME)), "{err}");
}

#[tokio::test]
async fn nobody_may_not_own_the_name() {
    assert!(
        is_root(),
        "this test needs root (setpriv): run it as root, as the README's test command does"
    );
    let bus = bus();
    let out = tokio::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "busctl"])
        .arg(format!("--address={}", bus.address))
        .args(["call", "org.freedesktop.DBus", "/org/freedesktop/DBus"])
        .args([
            "org.freedesktop.DBus",
            "RequestName",
            "su",
            SERVER_BUS_NAME,
            "4",
        ])
        .output()
        .await
        .expect("busctl");
    assert!(
        !out.status.success(),
        "nobody took the name: {}",
        stdout(&out)
    );
}
