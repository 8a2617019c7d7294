//! The mobile node's D-Bus watcher (`mn::tunnel_bus::watch`) believes miredo's
//! signals only from the connection owning `org.miredo_rs.Miredo1`: a forged
//! `State: down` or `AddressChanged` from another connection makes no notice (so
//! the Teredo care-of address stays and nothing is re-read), the real miredo's
//! do, also after miredo restarts on a new connection. On a private system bus
//! with the project's policy files; the bus crate's tests cover the same at the
//! subscription level, unicast forgeries included.

#[path = "../../crates/bus/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Duration;

use bus::zbus::message::Type as MessageType;
use bus::zbus::zvariant::Value;
use bus::zbus::{self, Connection, MatchRule, MessageStream};
use bus::{State, TunnelService, TunnelState, MIREDO_BUS_NAME, TUNNEL_INTERFACE};
use common::{is_root, stderr, PrivateBus};
use futures::StreamExt as _;
use mip6d::mn::tunnel_bus::{watch, TunnelNotice, TunnelState as Seen};
use tokio::sync::mpsc;
use tokio::time::timeout;

const PATH: &str = "/org/miredo_rs/Miredo1/teredo";
const WAIT: Duration = Duration::from_secs(10);

fn up(address: &str) -> TunnelState {
    TunnelState {
        state: State::Up,
        address: address.into(),
        mtu: 1280,
        ..TunnelState::default()
    }
}

/// A stand-in miredo (the service miredo runs) and its `Requalify()` receiver.
async fn miredo(bus: &PrivateBus) -> (TunnelService, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel(1);
    let svc = TunnelService::start_at(&bus.address, "teredo", tx)
        .await
        .expect("the stand-in miredo takes the name");
    (svc, rx)
}

async fn next_notice(rx: &mut mpsc::Receiver<TunnelNotice>, what: &str) -> TunnelNotice {
    timeout(WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no notice ({what}) within {WAIT:?}"))
        .expect("the watcher runs")
}

#[tokio::test]
async fn the_watcher_ignores_signals_not_from_miredos_connection() {
    assert!(
        is_root(),
        "this test needs root: only root may own {MIREDO_BUS_NAME} on the test bus, and \
         one forger runs as nobody"
    );
    let bus = PrivateBus::start();
    // The only test of this binary: the watcher reads the variable, as mip6d does.
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    let real: Ipv6Addr = "2001:db8::1".parse().expect("address");
    let (svc, _requalify) = miredo(&bus).await;
    svc.update(up("2001:db8::1")).await.expect("publish");

    let mut rx = watch(vec!["teredo".into()]);
    // Read at connection, after the watcher subscribed.
    let first = next_notice(&mut rx, "the properties at connection").await;
    assert_eq!((first.state, first.signal), (Seen::Up(real), false));

    // A root connection without the name (the policy lets root send anything).
    let forger = zbus::connection::Builder::address(bus.address.as_str())
        .expect("address")
        .build()
        .await
        .expect("forger");
    let observer = zbus::connection::Builder::address(bus.address.as_str())
        .expect("address")
        .build()
        .await
        .expect("observer");
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .path(PATH)
        .expect("path")
        .build();
    let mut observed = MessageStream::for_match_rule(rule, &observer, None)
        .await
        .expect("observer");
    let down: HashMap<&str, Value<'_>> = HashMap::from([("State", Value::from("down"))]);
    forge(
        &forger,
        "org.freedesktop.DBus.Properties",
        "PropertiesChanged",
        &(TUNNEL_INTERFACE, down, Vec::<&str>::new()),
    )
    .await;
    forge(
        &forger,
        TUNNEL_INTERFACE,
        "AddressChanged",
        &("teredo", "up", "", "2001:db8::bad", 1280u32),
    )
    .await;
    forge(
        &forger,
        TUNNEL_INTERFACE,
        "AddressChanged",
        &("teredo", "down", "2001:db8::1", "", 1280u32),
    )
    .await;
    forge(&forger, "org.miredo_rs.Test", "Marker", &()).await;
    // nobody's forgery is refused by the policy before it reaches anyone.
    let out = bus
        .busctl(
            true,
            &[
                "emit",
                PATH,
                TUNNEL_INTERFACE,
                "AddressChanged",
                "ssssu",
                "teredo",
                "down",
                "2001:db8::1",
                "",
                "1280",
            ],
        )
        .await;
    assert!(
        out.status.success(),
        "busctl emit as nobody: {}",
        stderr(&out)
    );
    // One connection's messages are routed in order: once the observer has the
    // marker, the watcher's connection had the forgeries offered to it.
    let mut forged = 0;
    loop {
        let msg = timeout(WAIT, observed.next())
            .await
            .expect("the marker in time")
            .expect("observer open")
            .expect("message");
        if msg.header().member().map(|m| m.as_str()) == Some("Marker") {
            break;
        }
        forged += 1;
    }
    assert_eq!(forged, 3, "the bus passed the root forger's signals on");

    // The next notice is miredo's own, not a forged one.
    svc.update(TunnelState {
        state: State::Qualifying,
        ..TunnelState::default()
    })
    .await
    .expect("publish");
    let next = next_notice(&mut rx, "miredo's qualifying").await;
    assert_eq!(
        (next.state, next.signal),
        (Seen::Qualifying, true),
        "{next:?}"
    );

    // miredo restarts: a new connection owns the name; its signals count.
    svc.stop().await.expect("stop");
    let (svc, _requalify2) = miredo(&bus).await;
    let again: Ipv6Addr = "2001:db8::2".parse().expect("address");
    svc.update(up("2001:db8::2")).await.expect("publish");
    svc.address_changed(State::Up, "", "2001:db8::2", 1280)
        .await
        .expect("emit");
    let n = next_notice(&mut rx, "the restarted miredo's up").await;
    assert_eq!(
        (n.state, n.signal, n.mtu),
        (Seen::Up(again), true, 1280),
        "{n:?}"
    );
    assert!(
        timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "nothing else: the forgeries made no notice"
    );
}

/// Broadcasts a signal from miredo's tunnel path.
async fn forge<B>(conn: &Connection, interface: &str, member: &str, body: &B)
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    conn.emit_signal(None::<&str>, PATH, interface, member, body)
        .await
        .expect("emit");
}
