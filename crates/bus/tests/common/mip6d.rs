//! What the mip6d service tests share: fixture states, a client connection, the
//! service on a private bus, and reading properties with `busctl`.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use bus::mip6d::MOBILE_NODE_INTERFACE;
use bus::zbus::{self, fdo::PropertiesChangedStream};
use bus::{
    BindingInfo, BindingState, BuCounters, BulEntryInfo, HomeAgentState, Mip6dService,
    MobileNodeState, RegistrationState, Role, MIP6D_BUS_NAME, MIP6D_PATH,
};
use futures::StreamExt as _;
use tokio::time::timeout;

use super::{stderr, stdout, PrivateBus};

pub const WAIT: Duration = Duration::from_secs(5);

pub fn ip(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

pub fn registered_mn(now: Instant) -> MobileNodeState {
    MobileNodeState {
        home_address: Some(ip("2001:db8:1::100")),
        home_agent: Some(ip("2001:db8:1::1")),
        care_of_address: Some(ip("2001:db8:a::100")),
        care_of_interface: "eth1".into(),
        registration: RegistrationState::Registered,
        binding_update_list: vec![BulEntryInfo {
            peer: ip("2001:db8:1::1"),
            home_address: ip("2001:db8:1::100"),
            care_of_address: Some(ip("2001:db8:a::100")),
            lifetime: Duration::from_secs(420),
            expires: Some(now + Duration::from_secs(400)),
            sequence: 4711,
            flags: 0xc000,
            state: RegistrationState::Registered,
            last_status: Some(0),
        }],
    }
}

pub fn ha_state(now: Instant) -> HomeAgentState {
    HomeAgentState {
        binding_cache: vec![BindingInfo {
            home_address: ip("2001:db8:1::100"),
            care_of_address: ip("2001:db8:a::100"),
            local_address: Some(ip("2001:db8:1::1")),
            lifetime: Duration::from_secs(420),
            expires: now + Duration::from_secs(300),
            sequence: 9,
            flags: 0xf000,
            state: BindingState::Registered,
        }],
        counters: BuCounters {
            received: 12,
            accepted: 9,
            rejected: BTreeMap::from([(129, 1), (135, 2)]),
            dropped: 0,
        },
    }
}

pub async fn client(bus: &PrivateBus) -> zbus::Connection {
    zbus::connection::Builder::address(bus.address.as_str())
        .expect("address")
        .build()
        .await
        .expect("client connection")
}

pub async fn service(bus: &PrivateBus, role: Role) -> Mip6dService {
    Mip6dService::start_at(&bus.address, role)
        .await
        .expect("service starts")
}

/// The names in the next `PropertiesChanged` of the mobile node interface, sorted: the
/// changed ones, then the invalidated ones marked `(invalidated)`.
pub async fn next_keys(changes: &mut PropertiesChangedStream) -> Vec<String> {
    let signal = timeout(WAIT, changes.next())
        .await
        .expect("PropertiesChanged in time")
        .expect("signal");
    let args = signal.args().expect("args");
    assert_eq!(args.interface_name().as_str(), MOBILE_NODE_INTERFACE);
    let mut keys: Vec<String> = args
        .changed_properties()
        .keys()
        .map(|k| k.to_string())
        .collect();
    keys.sort_unstable();
    keys.extend(
        args.invalidated_properties()
            .iter()
            .map(|k| format!("{k} (invalidated)")),
    );
    keys
}

pub async fn get(bus: &PrivateBus, as_nobody: bool, iface: &str, prop: &str) -> String {
    let out = bus
        .busctl(
            as_nobody,
            &["get-property", MIP6D_BUS_NAME, MIP6D_PATH, iface, prop],
        )
        .await;
    assert!(out.status.success(), "{prop}: {}", stderr(&out));
    stdout(&out).trim().to_owned()
}
