//! mip6d's per-binding lists (home address → care-of address, and whom a node talks
//! to) are given to root only, by the service itself: the policy lets anyone `Get`,
//! `GetAll` and call `Status()`. `nobody` is refused the lists, by name, and finds
//! them left out of `GetAll` and `Status()`, while the counts stay public. On a
//! private system bus with the real policy files.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use bus::mip6d::{CORRESPONDENT_INTERFACE, HOME_AGENT_INTERFACE, MOBILE_NODE_INTERFACE};
use bus::{
    BindingInfo, BindingState, BuCounters, BulEntryInfo, HomeAgentState, Mip6dService,
    MobileNodeState, RegistrationState, Role, MIP6D_BUS_NAME, MIP6D_PATH,
};
use common::{is_root, stderr, stdout, PrivateBus};

fn ip(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

fn need_root() {
    assert!(
        is_root(),
        "this test needs root: only root may own {MIP6D_BUS_NAME}, and it runs busctl as nobody"
    );
}

/// A binding to a correspondent at 2001:db8:c::1 (nowhere else in the public
/// properties) from the care-of address 2001:db8:a::100.
fn binding(now: Instant, state: BindingState) -> BindingInfo {
    BindingInfo {
        home_address: ip("2001:db8:1::100"),
        care_of_address: ip("2001:db8:a::100"),
        local_address: Some(ip("2001:db8:c::1")),
        lifetime: Duration::from_secs(420),
        expires: now + Duration::from_secs(300),
        sequence: 9,
        flags: 0xf000,
        state,
    }
}

fn mobile_node(now: Instant) -> MobileNodeState {
    MobileNodeState {
        home_address: Some(ip("2001:db8:1::100")),
        home_agent: Some(ip("2001:db8:1::1")),
        care_of_address: Some(ip("2001:db8:a::100")),
        care_of_interface: "eth1".into(),
        registration: RegistrationState::Registered,
        binding_update_list: vec![BulEntryInfo {
            // A correspondent the node talks to: in the list only.
            peer: ip("2001:db8:c::1"),
            home_address: ip("2001:db8:1::100"),
            care_of_address: Some(ip("2001:db8:a::100")),
            lifetime: Duration::from_secs(420),
            expires: Some(now + Duration::from_secs(400)),
            sequence: 4711,
            flags: 0x8000,
            state: RegistrationState::Registered,
            last_status: Some(0),
        }],
    }
}

/// `busctl` as root or nobody; its output, or its error text.
async fn busctl(bus: &PrivateBus, as_nobody: bool, args: &[&str]) -> Result<String, String> {
    let out = bus.busctl(as_nobody, args).await;
    if out.status.success() {
        Ok(stdout(&out))
    } else {
        Err(stderr(&out))
    }
}

async fn get(bus: &PrivateBus, as_nobody: bool, iface: &str, prop: &str) -> Result<String, String> {
    busctl(
        bus,
        as_nobody,
        &["get-property", MIP6D_BUS_NAME, MIP6D_PATH, iface, prop],
    )
    .await
}

async fn get_all(bus: &PrivateBus, as_nobody: bool, iface: &str) -> String {
    busctl(
        bus,
        as_nobody,
        &[
            "call",
            MIP6D_BUS_NAME,
            MIP6D_PATH,
            "org.freedesktop.DBus.Properties",
            "GetAll",
            "s",
            iface,
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("GetAll {iface} (nobody: {as_nobody}): {e}"))
}

async fn status(bus: &PrivateBus, as_nobody: bool, iface: &str) -> String {
    busctl(
        bus,
        as_nobody,
        &["call", MIP6D_BUS_NAME, MIP6D_PATH, iface, "Status"],
    )
    .await
    .unwrap_or_else(|e| panic!("{iface}.Status (nobody: {as_nobody}): {e}"))
}

/// nobody's `Get` of `prop` is refused by mip6d, with its reason.
async fn refused_to_nobody(bus: &PrivateBus, iface: &str, prop: &str) {
    let out = bus
        .dbus_send_as_nobody(&[
            &format!("--dest={MIP6D_BUS_NAME}"),
            MIP6D_PATH,
            "org.freedesktop.DBus.Properties.Get",
            &format!("string:{iface}"),
            &format!("string:{prop}"),
        ])
        .await;
    assert!(
        !out.status.success(),
        "nobody read {iface}.{prop}: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains(&format!(
            "AccessDenied: {prop} is restricted to root (caller uid 65534)"
        )),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("2001:db8:c::1"), "{}", stdout(&out));
}

/// What nobody gets from `GetAll` and `Status()`: everything but the list `prop`.
async fn left_out_for_nobody(bus: &PrivateBus, iface: &str, prop: &str, public: usize) {
    let quoted = format!("\"{prop}\"");
    for (what, text) in [
        ("GetAll", get_all(bus, true, iface).await),
        ("Status", status(bus, true, iface).await),
    ] {
        assert!(
            text.starts_with(&format!("a{{sv}} {public} ")),
            "nobody's {iface} {what}: {text}"
        );
        assert!(
            !text.contains(&quoted) && !text.contains("2001:db8:c::1"),
            "nobody's {iface} {what} has the list: {text}"
        );
        let root = if what == "GetAll" {
            get_all(bus, false, iface).await
        } else {
            status(bus, false, iface).await
        };
        assert!(
            root.starts_with(&format!("a{{sv}} {} ", public + 1)) && root.contains(&quoted),
            "root's {iface} {what}: {root}"
        );
    }
}

#[tokio::test]
async fn the_mobile_nodes_binding_update_list_is_root_only() {
    need_root();
    let bus = PrivateBus::start();
    let svc = Mip6dService::start_at(&bus.address, Role::MobileNode)
        .await
        .expect("service");
    let now = Instant::now();
    svc.update_mobile_node(mobile_node(now))
        .await
        .expect("update");
    svc.update_correspondent(vec![binding(now, BindingState::Cached)])
        .await
        .expect("update");

    let mn = MOBILE_NODE_INTERFACE;
    refused_to_nobody(&bus, mn, "BindingUpdateList").await;
    assert_eq!(
        get(&bus, true, mn, "BindingUpdateListEntries").await,
        Ok("u 1\n".into())
    );
    assert_eq!(
        get(&bus, true, mn, "RegistrationState").await,
        Ok("s \"registered\"\n".into())
    );
    let root = get(&bus, false, mn, "BindingUpdateList")
        .await
        .expect("root reads");
    assert!(root.contains("\"2001:db8:c::1\""), "{root}");
    left_out_for_nobody(&bus, mn, "BindingUpdateList", 6).await;

    let cn = CORRESPONDENT_INTERFACE;
    refused_to_nobody(&bus, cn, "BindingCache").await;
    assert_eq!(
        get(&bus, true, cn, "BindingCacheEntries").await,
        Ok("u 1\n".into())
    );
    left_out_for_nobody(&bus, cn, "BindingCache", 1).await;
}

#[tokio::test]
async fn the_home_agents_binding_cache_is_root_only() {
    need_root();
    let bus = PrivateBus::start();
    let svc = Mip6dService::start_at(&bus.address, Role::HomeAgent)
        .await
        .expect("service");
    let now = Instant::now();
    svc.update_home_agent(HomeAgentState {
        binding_cache: vec![binding(now, BindingState::Registered)],
        counters: BuCounters {
            received: 3,
            accepted: 2,
            rejected: BTreeMap::from([(129, 1)]),
            dropped: 0,
        },
    })
    .await
    .expect("update");

    let ha = HOME_AGENT_INTERFACE;
    refused_to_nobody(&bus, ha, "BindingCache").await;
    assert_eq!(
        get(&bus, true, ha, "BindingCacheEntries").await,
        Ok("u 1\n".into())
    );
    assert_eq!(
        get(&bus, true, ha, "BindingUpdatesReceived").await,
        Ok("t 3\n".into())
    );
    let root = get(&bus, false, ha, "BindingCache")
        .await
        .expect("root reads");
    assert!(root.contains("\"2001:db8:a::100\""), "{root}");
    // BindingCacheEntries and the five counters.
    left_out_for_nobody(&bus, ha, "BindingCache", 6).await;
}
