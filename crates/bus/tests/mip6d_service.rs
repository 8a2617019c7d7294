//! mip6d's service on a private system bus with the real policy files.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bus::mip6d::{
    mip6d_interfaces, mip6d_role, HomeAgentStatus, MobileNodeProxy, MobileNodeStatus,
    CORRESPONDENT_INTERFACE, HOME_AGENT_INTERFACE, MOBILE_NODE_INTERFACE,
};
use bus::{BindingState, BuCounters, RegistrationState, Role, MIP6D_BUS_NAME, MIP6D_PATH};
use common::mip6d::{client, get, ha_state, ip, next_keys, registered_mn, service, WAIT};
use common::{is_root, stderr, stdout, PrivateBus};
use futures::StreamExt as _;
use tokio::time::timeout;
use zbus::fdo::PropertiesProxy;
use zbus::message::Type as MessageType;
use zbus::{MatchRule, MessageStream};

#[tokio::test]
async fn mobile_node_properties_and_introspection_via_busctl() {
    assert!(
        is_root(),
        "this test needs root (policy lets only root own the name): run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let svc = service(&bus, Role::MobileNode).await;
    assert_eq!(svc.role(), Some(Role::MobileNode));
    svc.update_mobile_node(registered_mn(Instant::now()))
        .await
        .expect("update");

    let mn = MOBILE_NODE_INTERFACE;
    assert_eq!(
        get(&bus, false, mn, "HomeAddress").await,
        "s \"2001:db8:1::100\""
    );
    assert_eq!(
        get(&bus, false, mn, "HomeAgent").await,
        "s \"2001:db8:1::1\""
    );
    assert_eq!(
        get(&bus, false, mn, "CareOfAddress").await,
        "s \"2001:db8:a::100\""
    );
    assert_eq!(get(&bus, false, mn, "CareOfInterface").await, "s \"eth1\"");
    assert_eq!(
        get(&bus, false, mn, "RegistrationState").await,
        "s \"registered\""
    );
    let bul = get(&bus, false, mn, "BindingUpdateList").await;
    // remaining counts down from 400 s as the value is read.
    assert!(
        bul.starts_with(
            "a(sssuuqssn) 1 \"2001:db8:1::1\" \"2001:db8:1::100\" \"2001:db8:a::100\" 420 "
        ),
        "{bul}"
    );
    assert!(bul.ends_with(" 4711 \"AH\" \"registered\" 0"), "{bul}");
    let remaining: u32 = bul
        .split(' ')
        .nth(6)
        .and_then(|r| r.parse().ok())
        .expect("remaining");
    assert!((398..=400).contains(&remaining), "{bul}");

    let out = bus
        .busctl(false, &["introspect", MIP6D_BUS_NAME, MIP6D_PATH])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        MOBILE_NODE_INTERFACE,
        CORRESPONDENT_INTERFACE,
        ".HandoverCompleted",
        "ssst",
        ".BindingUpdateList",
        "a(sssuuqssn)",
        ".RegistrationState",
        "emits-change",
        ".Status",
        "a{sv}",
        ".BindingCache",
        "a(sssuuqss)",
        "emits-invalidation",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    assert!(
        !text.contains(HOME_AGENT_INTERFACE),
        "a mobile node is no home agent"
    );

    let out = bus
        .busctl(false, &["call", MIP6D_BUS_NAME, MIP6D_PATH, mn, "Status"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    // Five public properties, the list's size and, for root, the list.
    assert!(stdout(&out).starts_with("a{sv} 7 "), "{}", stdout(&out));
}

#[tokio::test]
async fn mobile_node_properties_changed_carries_only_what_changed() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let svc = service(&bus, Role::MobileNode).await;
    let conn = client(&bus).await;
    let props = PropertiesProxy::builder(&conn)
        .destination(MIP6D_BUS_NAME)
        .expect("dest")
        .path(MIP6D_PATH)
        .expect("path")
        .build()
        .await
        .expect("proxy");
    let mut changes = props.receive_properties_changed().await.expect("subscribe");
    let now = Instant::now();
    let mut state = registered_mn(now);
    svc.update_mobile_node(state.clone()).await.expect("update");
    assert_eq!(
        next_keys(&mut changes).await,
        [
            "BindingUpdateListEntries",
            "CareOfAddress",
            "CareOfInterface",
            "HomeAddress",
            "HomeAgent",
            "RegistrationState",
            // Root only: never sent to every listener with its value.
            "BindingUpdateList (invalidated)",
        ]
    );

    // The same state again sends nothing; a handover in progress sends only the
    // care-of address, its interface and the registration state.
    svc.update_mobile_node(state.clone()).await.expect("update");
    state.care_of_address = Some(ip("2001:db8:b::100"));
    state.care_of_interface = "wlan0".into();
    state.registration = RegistrationState::Registering;
    svc.update_mobile_node(state.clone()).await.expect("update");
    assert_eq!(
        next_keys(&mut changes).await,
        ["CareOfAddress", "CareOfInterface", "RegistrationState"]
    );

    // A refreshed binding changes the list only.
    state.binding_update_list[0].sequence += 1;
    state.binding_update_list[0].expires = Some(now + Duration::from_secs(420));
    svc.update_mobile_node(state.clone()).await.expect("update");
    assert_eq!(
        next_keys(&mut changes).await,
        ["BindingUpdateList (invalidated)"]
    );

    // A cached typed proxy follows the signals.
    let proxy = MobileNodeProxy::new(&conn).await.expect("proxy");
    let mut reg = proxy.receive_registration_state_changed().await;
    assert_eq!(
        proxy.registration_state().await.expect("state"),
        "registering"
    );
    reg.next().await; // the initial value
    state.registration = RegistrationState::Registered;
    svc.update_mobile_node(state).await.expect("update");
    let changed = timeout(WAIT, reg.next())
        .await
        .expect("in time")
        .expect("change");
    assert_eq!(changed.get().await.expect("value"), "registered");
    let status = MobileNodeStatus::fetch(&conn).await.expect("fetch");
    assert_eq!(status.care_of_interface, "wlan0");
    let bul = status.binding_update_list.expect("root reads the list");
    assert_eq!(bul[0].sequence, 4712);
    assert_eq!(status.binding_update_list_entries, 1);
}

#[tokio::test]
async fn handover_completed_reaches_subscribers() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let svc = service(&bus, Role::MobileNode).await;
    let conn = client(&bus).await;
    let proxy = MobileNodeProxy::new(&conn).await.expect("proxy");
    let mut typed = proxy.receive_handover_completed().await.expect("subscribe");
    // What an independent listener does: a match on interface and member, any sender.
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .interface(MOBILE_NODE_INTERFACE)
        .expect("interface")
        .member("HandoverCompleted")
        .expect("member")
        .build();
    let mut raw = MessageStream::for_match_rule(rule, &conn, None)
        .await
        .expect("match");

    svc.handover_completed(
        "wlan0",
        Some(ip("2001:db8:a::100")),
        ip("2001:db8:b::100"),
        Duration::from_micros(123_456),
    )
    .await
    .expect("emit");
    let signal = timeout(WAIT, typed.next())
        .await
        .expect("in time")
        .expect("signal");
    let ev = bus::mip6d::HandoverCompletedEvent::try_from(&signal).expect("decode");
    assert_eq!(ev.interface, "wlan0");
    assert_eq!(ev.old_coa, "2001:db8:a::100");
    assert_eq!(ev.new_coa, "2001:db8:b::100");
    assert_eq!(ev.micros, 123_456);
    let msg = timeout(WAIT, raw.next())
        .await
        .expect("in time")
        .expect("msg")
        .expect("ok");
    assert_eq!(msg.header().path().map(|p| p.as_str()), Some(MIP6D_PATH));
    let args: (String, String, String, u64) = msg.body().deserialize().expect("ssst");
    assert_eq!(args.3, 123_456);

    // First registration away from home: no old care-of address.
    svc.handover_completed(
        "eth1",
        None,
        ip("2001:db8:a::100"),
        Duration::from_millis(80),
    )
    .await
    .expect("emit");
    let signal = timeout(WAIT, typed.next())
        .await
        .expect("in time")
        .expect("signal");
    let ev = bus::mip6d::HandoverCompletedEvent::try_from(&signal).expect("decode");
    assert_eq!((ev.old_coa.as_str(), ev.micros), ("", 80_000));
}

#[tokio::test]
async fn home_agent_binding_cache_is_invalidated_and_counters_are_silent() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let svc = service(&bus, Role::HomeAgent).await;
    let conn = client(&bus).await;
    let props = PropertiesProxy::builder(&conn)
        .destination(MIP6D_BUS_NAME)
        .expect("dest")
        .path(MIP6D_PATH)
        .expect("path")
        .build()
        .await
        .expect("proxy");
    let mut changes = props.receive_properties_changed().await.expect("subscribe");

    let now = Instant::now();
    let mut state = ha_state(now);
    svc.update_home_agent(state.clone()).await.expect("update");
    let signal = timeout(WAIT, changes.next())
        .await
        .expect("in time")
        .expect("signal");
    let args = signal.args().expect("args");
    assert_eq!(args.interface_name().as_str(), HOME_AGENT_INTERFACE);
    let changed: Vec<String> = args
        .changed_properties()
        .keys()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(
        changed,
        ["BindingCacheEntries"],
        "the cache is only invalidated"
    );
    let invalidated: Vec<String> = args
        .invalidated_properties()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(invalidated, ["BindingCache"]);

    // Counters alone: no signal. Then a cache change signals again.
    state.counters.received += 1;
    state.counters.accepted += 1;
    svc.update_home_agent(state.clone()).await.expect("update");
    svc.update_ha_counters(BuCounters {
        received: 14,
        ..state.counters.clone()
    })
    .await
    .expect("update");
    state.counters.received = 14;
    state.binding_cache[0].sequence = 10;
    svc.update_home_agent(state.clone()).await.expect("update");
    let signal = timeout(WAIT, changes.next())
        .await
        .expect("in time")
        .expect("signal");
    let args = signal.args().expect("args");
    let invalidated: Vec<String> = args
        .invalidated_properties()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        invalidated,
        ["BindingCache"],
        "the counters-only updates sent nothing"
    );
    assert!(
        args.changed_properties().is_empty(),
        "same number of bindings"
    );

    let status = HomeAgentStatus::fetch(&conn).await.expect("fetch");
    assert_eq!(status.binding_updates_received, 14);
    assert_eq!(status.binding_updates_accepted, 10);
    assert_eq!(status.binding_updates_rejected, 3);
    assert_eq!(
        status.rejected_by_status,
        BTreeMap::from([(129, 1), (135, 2)])
    );
    assert_eq!(status.binding_cache_entries, 1);
    let cache = status.binding_cache.expect("root reads the cache");
    let entry = &cache[0];
    assert_eq!(entry.home_address, "2001:db8:1::100");
    assert_eq!(entry.local_address, "2001:db8:1::1");
    assert_eq!((entry.sequence, entry.flags.as_str()), (10, "AHLK"));
    assert!((298..=300).contains(&entry.remaining), "{entry:?}");

    let ha = HOME_AGENT_INTERFACE;
    assert_eq!(get(&bus, true, ha, "BindingUpdatesRejected").await, "t 3");
    let by_status = get(&bus, true, ha, "RejectedByStatus").await;
    assert!(by_status.starts_with("a{yt} 2 "), "{by_status}");
    let out = bus
        .busctl(false, &["introspect", MIP6D_BUS_NAME, MIP6D_PATH])
        .await;
    let text = stdout(&out);
    assert!(
        text.contains(ha) && !text.contains(MOBILE_NODE_INTERFACE),
        "{text}"
    );

    // Updates for another role's interface are ignored.
    svc.update_mobile_node(registered_mn(now))
        .await
        .expect("ignored");
    svc.handover_completed("x", None, ip("2001:db8::1"), Duration::ZERO)
        .await
        .expect("ignored");
}

#[tokio::test]
async fn correspondent_cache_and_role_discovery() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let conn = client(&bus).await;
    assert_eq!(
        mip6d_role(&conn).await.expect("role"),
        None,
        "nobody owns the name yet"
    );

    let svc = service(&bus, Role::CorrespondentNode).await;
    assert_eq!(
        mip6d_role(&conn).await.expect("role"),
        Some(Role::CorrespondentNode)
    );
    assert_eq!(
        mip6d_interfaces(&conn).await.expect("interfaces"),
        [CORRESPONDENT_INTERFACE]
    );
    let mut cached = ha_state(Instant::now()).binding_cache;
    cached[0].state = BindingState::Cached;
    cached[0].flags = 0x8000;
    svc.update_correspondent(cached).await.expect("update");
    let (entries, bc) = bus::mip6d::correspondent_binding_cache(&conn)
        .await
        .expect("bc");
    let bc = bc.expect("root reads the cache");
    assert_eq!(entries, 1);
    assert_eq!(
        (bc[0].state.as_str(), bc[0].flags.as_str()),
        ("cached", "A")
    );
    svc.stop().await.expect("stop");
    assert_eq!(
        mip6d_role(&conn).await.expect("role"),
        None,
        "stop gives up the name"
    );

    let svc = service(&bus, Role::HomeAgent).await;
    assert_eq!(
        mip6d_role(&conn).await.expect("role"),
        Some(Role::HomeAgent)
    );
    svc.stop().await.expect("stop");
    let _svc = service(&bus, Role::MobileNode).await;
    assert_eq!(
        mip6d_role(&conn).await.expect("role"),
        Some(Role::MobileNode)
    );
}
