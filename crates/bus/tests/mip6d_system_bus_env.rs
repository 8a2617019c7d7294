//! `Mip6dService::start` follows DBUS_SYSTEM_BUS_ADDRESS (its own test binary: it sets a
//! process-wide variable).

mod common;

use bus::mip6d::{mip6d_role, MobileNodeStatus};
use bus::{Mip6dService, MobileNodeState, RegistrationState, Role};
use common::{is_root, PrivateBus};

#[tokio::test]
async fn start_uses_dbus_system_bus_address() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    let svc = Mip6dService::start(Role::MobileNode).await.expect("start");
    svc.update_mobile_node(MobileNodeState {
        registration: RegistrationState::Home,
        ..MobileNodeState::default()
    })
    .await
    .expect("update");
    let conn = zbus::Connection::system().await.expect("system bus");
    assert_eq!(
        mip6d_role(&conn).await.expect("role"),
        Some(Role::MobileNode)
    );
    let status = MobileNodeStatus::fetch(&conn).await.expect("fetch");
    assert_eq!(status.registration_state, "home");
    assert_eq!(status.care_of_address, "");
    svc.stop().await.expect("stop");
    std::env::remove_var("DBUS_SYSTEM_BUS_ADDRESS");
}
