//! `TunnelService::start` follows DBUS_SYSTEM_BUS_ADDRESS (its own test binary: it sets
//! a process-wide variable).

mod common;

use bus::{tunnel_proxy, State, TunnelService, TunnelState};
use common::{is_root, PrivateBus};
use tokio::sync::mpsc;

#[tokio::test]
async fn start_uses_dbus_system_bus_address() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    let (tx, _rx) = mpsc::channel(1);
    let svc = TunnelService::start("teredo", tx).await.expect("start");
    svc.update(TunnelState {
        state: State::Qualifying,
        ..TunnelState::default()
    })
    .await
    .expect("update");
    let conn = zbus::Connection::system().await.expect("system bus");
    let proxy = tunnel_proxy(&conn, "teredo").await.expect("proxy");
    assert_eq!(proxy.state().await.expect("State"), "qualifying");
    svc.stop().await.expect("stop");
    std::env::remove_var("DBUS_SYSTEM_BUS_ADDRESS");
}
