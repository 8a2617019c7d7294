//! Who may read and own mip6d's service on a private system bus with the real
//! policy files, and how the daemon runs on without a bus.

mod common;

use std::time::{Duration, Instant};

use bus::mip6d::{CORRESPONDENT_INTERFACE, MOBILE_NODE_INTERFACE};
use bus::{BuCounters, Mip6dService, Role, MIP6D_BUS_NAME, MIP6D_PATH};
use common::mip6d::{get, ha_state, ip, registered_mn, service};
use common::{is_root, stderr, PrivateBus};

#[tokio::test]
async fn policy_lets_anyone_read_but_only_root_own() {
    assert!(
        is_root(),
        "this test needs root to become nobody: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let svc = service(&bus, Role::MobileNode).await;
    svc.update_mobile_node(registered_mn(Instant::now()))
        .await
        .expect("update");

    let mn = MOBILE_NODE_INTERFACE;
    assert_eq!(
        get(&bus, true, mn, "RegistrationState").await,
        "s \"registered\""
    );
    let out = bus
        .busctl(true, &["introspect", MIP6D_BUS_NAME, MIP6D_PATH])
        .await;
    assert!(out.status.success(), "nobody introspects: {}", stderr(&out));
    for iface in [mn, CORRESPONDENT_INTERFACE] {
        let out = bus
            .busctl(true, &["call", MIP6D_BUS_NAME, MIP6D_PATH, iface, "Status"])
            .await;
        assert!(
            out.status.success(),
            "nobody calls {iface}.Status: {}",
            stderr(&out)
        );
    }
    // Writing is not among what the policy lets everyone do.
    let out = bus
        .dbus_send_as_nobody(&[
            &format!("--dest={MIP6D_BUS_NAME}"),
            MIP6D_PATH,
            "org.freedesktop.DBus.Properties.Set",
            &format!("string:{mn}"),
            "string:CareOfInterface",
            "variant:string:evil0",
        ])
        .await;
    assert!(
        stderr(&out).contains("AccessDenied: Rejected send message"),
        "{}",
        stderr(&out)
    );

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
                MIP6D_BUS_NAME,
                "4",
            ],
        )
        .await;
    assert!(
        !out.status.success(),
        "nobody must not own {MIP6D_BUS_NAME}"
    );

    let err = Mip6dService::start_at(&bus.address, Role::HomeAgent)
        .await
        .expect_err("name taken");
    assert!(matches!(err, bus::BusError::NameTaken(_)), "{err}");
}

#[tokio::test]
async fn unreachable_bus_and_disabled_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("unix:path={}", dir.path().join("none").display());
    let err = Mip6dService::start_at(&address, Role::MobileNode)
        .await
        .expect_err("no bus there");
    assert!(err.to_string().starts_with("D-Bus"), "{err}");

    let svc = Mip6dService::disabled();
    assert!(!svc.is_enabled());
    assert_eq!(svc.role(), None);
    let now = Instant::now();
    svc.update_mobile_node(registered_mn(now))
        .await
        .expect("no-op");
    svc.update_home_agent(ha_state(now)).await.expect("no-op");
    svc.update_ha_counters(BuCounters::default())
        .await
        .expect("no-op");
    svc.update_correspondent(Vec::new()).await.expect("no-op");
    svc.handover_completed("eth0", None, ip("2001:db8::1"), Duration::ZERO)
        .await
        .expect("no-op");
    svc.stop().await.expect("no-op");
}
