//! Who is believed: `subscribe_address_changed` and `subscribe_tunnel_state` yield only
//! signals from the connection that owned `org.miredo_rs.Miredo1` when it sent them,
//! and the policy file keeps everyone but root and miredo from sending the tunnel
//! signals it can name. On a private system bus with the real policy files.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bus::{
    subscribe_address_changed, subscribe_tunnel_state, AddressChangedEvents, TunnelStateChanges,
    MIREDO_BUS_NAME, TUNNEL_INTERFACE,
};
use common::{is_root, stderr, PrivateBus};
use futures::StreamExt as _;
use tokio::time::timeout;
use zbus::fdo::{RequestNameFlags, RequestNameReply};
use zbus::message::Type as MessageType;
use zbus::zvariant::Value;
use zbus::{Connection, MatchRule, Message, MessageStream};

const PATH: &str = "/org/miredo_rs/Miredo1/teredo";
/// A tunnel path the policy cannot name (it has no path-prefix rule).
const OTHER_PATH: &str = "/org/miredo_rs/Miredo1/tun9";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
const WAIT: Duration = Duration::from_secs(10);

fn need_root() {
    assert!(
        is_root(),
        "this test needs root: only root may own {MIREDO_BUS_NAME} on the test bus, \
         and the forger runs as nobody"
    );
}

async fn connect(bus: &PrivateBus) -> Connection {
    zbus::connection::Builder::address(bus.address.as_str())
        .expect("address")
        .build()
        .await
        .expect("connection")
}

fn unique(conn: &Connection) -> String {
    conn.unique_name().expect("unique name").to_string()
}

/// A connection owning miredo's name, as miredo's is.
async fn owner(bus: &PrivateBus) -> Connection {
    let conn = connect(bus).await;
    let reply = conn
        .request_name_with_flags(MIREDO_BUS_NAME, RequestNameFlags::DoNotQueue.into())
        .await
        .expect("request name");
    assert_eq!(reply, RequestNameReply::PrimaryOwner);
    conn
}

async fn emit_address_changed(conn: &Connection, to: Option<&str>, state: &str, new: &str) {
    conn.emit_signal(
        to,
        PATH,
        TUNNEL_INTERFACE,
        "AddressChanged",
        &("teredo", state, "", new, 1280u32),
    )
    .await
    .expect("emit AddressChanged");
}

async fn emit_state(conn: &Connection, to: Option<&str>, path: &str, state: &str) {
    let changed: HashMap<&str, Value<'_>> = HashMap::from([("State", Value::from(state))]);
    conn.emit_signal(
        to,
        path,
        PROPERTIES,
        "PropertiesChanged",
        &(TUNNEL_INTERFACE, changed, Vec::<&str>::new()),
    )
    .await
    .expect("emit PropertiesChanged");
}

/// A subscriber to every signal under miredo's path prefix, from anyone: what the bus
/// lets through, before any check of ours.
async fn observer(bus: &PrivateBus) -> (Connection, MessageStream) {
    let conn = connect(bus).await;
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .path_namespace("/org/miredo_rs/Miredo1")
        .expect("path")
        .build();
    let stream = MessageStream::for_match_rule(rule, &conn, None)
        .await
        .expect("observer");
    (conn, stream)
}

/// The observer's signals up to and including the first that satisfies `last`.
async fn observe_until(
    stream: &mut MessageStream,
    last: impl Fn(&Message) -> bool,
) -> Vec<Message> {
    let mut seen = Vec::new();
    loop {
        let msg = timeout(WAIT, stream.next())
            .await
            .expect("the observer's marker in time")
            .expect("observer stream open")
            .expect("message");
        let done = last(&msg);
        seen.push(msg);
        if done {
            return seen;
        }
    }
}

fn member(msg: &Message) -> String {
    msg.header()
        .member()
        .map(|m| m.to_string())
        .unwrap_or_default()
}

/// Polls `next` until `refused` reaches `n`, failing if anything is yielded meanwhile.
macro_rules! wait_refused {
    ($sub:expr, $n:expr, $what:expr) => {{
        let deadline = Instant::now() + WAIT;
        while $sub.refused() < $n {
            assert!(
                Instant::now() < deadline,
                "{}: {} of {} forged signals refused in {WAIT:?}",
                $what,
                $sub.refused(),
                $n
            );
            if let Ok(item) = timeout(Duration::from_millis(50), $sub.next()).await {
                panic!("{}: a forged signal was believed: {item:?}", $what);
            }
        }
    }};
}

async fn next_address(sub: &mut AddressChangedEvents) -> bus::AddressChangedEvent {
    timeout(WAIT, sub.next())
        .await
        .expect("AddressChanged in time")
        .expect("subscription open")
}

async fn next_state(sub: &mut TunnelStateChanges) -> bus::TunnelStateChange {
    timeout(WAIT, sub.next())
        .await
        .expect("State change in time")
        .expect("subscription open")
}

/// A root connection that does not own the name (the bus policy lets root send
/// anything, so only the subscriber's own check stands in its way) forges miredo's
/// signals, broadcast and sent straight to the subscriber: none is yielded, and the
/// owner's next signals are.
#[tokio::test]
async fn signals_from_a_connection_not_owning_the_name_are_ignored() {
    need_root();
    let bus = PrivateBus::start();
    let miredo = owner(&bus).await;
    let sub_conn = connect(&bus).await;
    let mut addresses = subscribe_address_changed(&sub_conn, None)
        .await
        .expect("subscribe");
    let mut states = subscribe_tunnel_state(&sub_conn).await.expect("subscribe");
    let (_obs_conn, mut observed) = observer(&bus).await;

    let forger = connect(&bus).await;
    let target = unique(&sub_conn);
    for to in [None, Some(target.as_str())] {
        emit_address_changed(&forger, to, "up", "2001:db8::bad").await;
        emit_state(&forger, to, PATH, "down").await;
    }
    // The bus routes one connection's messages in order: once the observer has the
    // marker, the forged signals have been delivered wherever they were going.
    forger
        .emit_signal(None::<&str>, PATH, "org.miredo_rs.Test", "Marker", &())
        .await
        .expect("marker");
    let seen = observe_until(&mut observed, |m| member(m) == "Marker").await;
    assert_eq!(
        seen.len(),
        3,
        "the broadcast forgeries and the marker reach the bus"
    );
    // The unicast ones reach the subscriber's connection and are refused there (the
    // broadcast ones are not even delivered: the match rule names the owner).
    wait_refused!(addresses, 1, "AddressChanged");
    wait_refused!(states, 1, "State");

    emit_address_changed(&miredo, None, "up", "2001:db8::1").await;
    emit_state(&miredo, None, PATH, "qualifying").await;
    let ev = next_address(&mut addresses).await;
    assert_eq!(
        (ev.new_address.as_str(), ev.sender),
        ("2001:db8::1", Some(unique(&miredo))),
        "the owner's signal, not a forged one"
    );
    let st = next_state(&mut states).await;
    assert_eq!(
        (st.interface.as_str(), st.state.as_str()),
        ("teredo", "qualifying")
    );
    assert_eq!((addresses.refused(), states.refused()), (1, 1));
}

/// The name moves to a new connection (miredo restarted) while the subscriber is not
/// reading: the old owner's last signal is believed (it owned the name when it sent
/// it), its signal after giving the name up is not, and the new owner's are.
#[tokio::test]
async fn the_owner_is_followed_across_a_restart() {
    need_root();
    let bus = PrivateBus::start();
    let sub_conn = connect(&bus).await;
    // Subscribed while no one owns the name, as mip6d at boot.
    let mut addresses = subscribe_address_changed(&sub_conn, Some("teredo"))
        .await
        .expect("subscribe");
    let mut states = subscribe_tunnel_state(&sub_conn).await.expect("subscribe");

    let old = owner(&bus).await;
    emit_address_changed(&old, None, "up", "2001:db8::1").await;
    emit_state(&old, None, PATH, "down").await;
    old.release_name(MIREDO_BUS_NAME).await.expect("release");
    // Too late: no longer the owner (sent straight to the subscriber, since the bus
    // no longer delivers its broadcasts there).
    let target = unique(&sub_conn);
    emit_address_changed(&old, Some(&target), "up", "2001:db8::bad").await;
    emit_state(&old, Some(&target), PATH, "up").await;
    let new = owner(&bus).await;
    emit_address_changed(&new, None, "up", "2001:db8::2").await;
    emit_state(&new, None, PATH, "qualifying").await;

    let first = next_address(&mut addresses).await;
    assert_eq!(
        (first.new_address.as_str(), first.sender),
        ("2001:db8::1", Some(unique(&old)))
    );
    let second = next_address(&mut addresses).await;
    assert_eq!(
        (second.new_address.as_str(), second.sender),
        ("2001:db8::2", Some(unique(&new)))
    );
    assert_eq!(addresses.refused(), 1, "the old owner's late signal");
    assert_eq!(next_state(&mut states).await.state, "down");
    assert_eq!(next_state(&mut states).await.state, "qualifying");
    assert_eq!(states.refused(), 1);
}

/// `nobody` emits miredo's signals with busctl: the policy refuses AddressChanged;
/// PropertiesChanged, which it cannot restrict to one service, passes the bus, and
/// the subscriber ignores it (its match rule keeps the broadcast away, and it
/// refuses what is sent to it directly).
#[tokio::test]
async fn nobody_cannot_forge_the_tunnel_signals() {
    need_root();
    let bus = PrivateBus::start();
    let sub_conn = connect(&bus).await;
    let _miredo = owner(&bus).await;
    let mut states = subscribe_tunnel_state(&sub_conn).await.expect("subscribe");
    let (_obs_conn, mut observed) = observer(&bus).await;
    let target = unique(&sub_conn);
    let state_down = [
        PROPERTIES,
        "PropertiesChanged",
        "sa{sv}as",
        TUNNEL_INTERFACE,
        "1",
        "State",
        "s",
        "down",
        "0",
    ];
    let address_changed = [
        TUNNEL_INTERFACE,
        "AddressChanged",
        "ssssu",
        "teredo",
        "up",
        "",
        "2001:db8::bad",
        "1280",
    ];
    let dest = format!("--destination={target}");
    let emits: Vec<Vec<&str>> = vec![
        // Denied by the policy.
        [&["emit", PATH][..], &address_changed].concat(),
        [&["emit", OTHER_PATH][..], &address_changed].concat(),
        // Allowed by the policy (it cannot name PropertiesChanged of one service
        // without being too broad): the subscriber's match rule keeps the
        // broadcast away, and it refuses what is sent to it directly.
        [&["emit", PATH][..], &state_down].concat(),
        [&["emit", dest.as_str(), PATH][..], &state_down].concat(),
        [&["emit", dest.as_str(), OTHER_PATH][..], &state_down].concat(),
        // Allowed, broadcast: the observer's marker.
        [&["emit", OTHER_PATH][..], &state_down].concat(),
    ];
    for args in &emits {
        let out = bus.busctl(true, args).await;
        assert!(out.status.success(), "busctl {args:?}: {}", stderr(&out));
    }
    let seen = observe_until(&mut observed, |m| {
        m.header().path().map(|p| p.as_str()) == Some(OTHER_PATH)
    })
    .await;
    for m in &seen {
        let h = m.header();
        assert!(
            h.interface().map(|i| i.as_str()) == Some(PROPERTIES),
            "the policy let nobody send {:?} {:?} {:?}",
            h.path(),
            h.interface(),
            h.member()
        );
    }
    assert_eq!(
        seen.len(),
        2,
        "only the broadcast PropertiesChanged pass the policy"
    );
    wait_refused!(states, 2, "nobody's PropertiesChanged sent to mip6d");
}
