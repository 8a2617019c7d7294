//! miredo's notices on D-Bus for `Tunnel enabled` interfaces (docs/dbus.md,
//! docs/mobile-ipv6-over-teredo.md): the `AddressChanged` signal of `org.miredo_rs.Miredo1.Tunnel`
//! and the `State` property's changes (miredo publishes `down` before its hook
//! removes the address), and the tunnel object's properties when (re)connecting.
//!
//! Any local user may emit any signal on the system bus, so a signal counts only
//! if it comes from the connection that owned `org.miredo_rs.Miredo1` when it was
//! sent (`bus::subscribe_*` check that, following the name across miredo
//! restarts; docs/dbus.md): a forged `down` would otherwise take the Teredo
//! care-of address away, and a forged `up` cost a netlink dump.
//!
//! Netlink stays the source of truth for addresses: a notice only makes the
//! mobile node look again at once (`up`) or stop using an interface before the
//! kernel says so (`down`). Without a bus, or beside Debian's miredo (which
//! publishes nothing), nothing arrives here and netlink alone drives movement.
//! The watcher outlives the bus: when the connection drops (dbus-daemon
//! restarted) it reconnects, and on every connection it asks each tunnel
//! object for its current state, so a signal lost while disconnected is made up
//! for.

use std::net::Ipv6Addr;
use std::time::Duration;

use bus::zbus::Connection;
use tokio::sync::mpsc;
use tracing::{debug, info};

/// Delay before reconnecting to the system bus.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// miredo's view of one of its tunnel interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelState {
    /// Not qualified (server lost, no IPv4, stopped).
    Down,
    /// Qualification in progress: no usable address.
    Qualifying,
    /// Qualified, with this address configured on the interface.
    Up(Ipv6Addr),
}

/// One notice for a `Tunnel enabled` interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelNotice {
    /// The tunnel interface's name.
    pub interface: String,
    /// Its state.
    pub state: TunnelState,
    /// Its MTU, as miredo set it.
    pub mtu: u32,
    /// From a signal (`true`) or a property read at (re)connection.
    pub signal: bool,
}

impl TunnelNotice {
    /// Interprets miredo's state string and address; `None` for a state this
    /// contract does not define, or `up` without a valid address.
    fn new(interface: String, state: &str, address: &str, mtu: u32, signal: bool) -> Option<Self> {
        let state = match state {
            "down" | "destroy" => TunnelState::Down,
            "qualifying" => TunnelState::Qualifying,
            "up" => TunnelState::Up(address.parse().ok()?),
            _ => return None,
        };
        Some(TunnelNotice {
            interface,
            state,
            mtu,
            signal,
        })
    }
}

/// Starts watching the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured) for
/// notices about `interfaces`; with no interface, nothing is watched and the
/// receiver never yields.
pub fn watch(interfaces: Vec<String>) -> mpsc::Receiver<TunnelNotice> {
    let (tx, rx) = mpsc::channel(32);
    if !interfaces.is_empty() {
        tokio::spawn(run(interfaces, tx));
    }
    rx
}

async fn run(interfaces: Vec<String>, tx: mpsc::Sender<TunnelNotice>) {
    let mut connected_once = false;
    loop {
        match Connection::system().await {
            Ok(conn) => {
                info!(
                    "D-Bus: watching miredo's AddressChanged for {}",
                    interfaces.join(", ")
                );
                connected_once = true;
                if watch_connection(&conn, &interfaces, &tx).await.is_err() {
                    return; // the mobile node is gone
                }
                info!("D-Bus: connection to the system bus lost; reconnecting");
            }
            Err(e) if !connected_once => {
                // Said once at debug level: most hosts without our miredo
                // still have a bus, and a missing bus is not an error.
                debug!("D-Bus: no system bus yet ({e}); retrying");
                connected_once = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Forwards the notices of one connection until it closes. `Err` when the
/// receiving side has gone.
async fn watch_connection(
    conn: &Connection,
    interfaces: &[String],
    tx: &mpsc::Sender<TunnelNotice>,
) -> Result<(), ()> {
    // Subscribe before reading the properties: a change in between is then
    // seen twice rather than never.
    let subscriptions = tokio::try_join!(
        bus::subscribe_address_changed(conn, None),
        bus::subscribe_tunnel_state(conn)
    );
    let (mut addresses, mut states) = match subscriptions {
        Ok(s) => s,
        Err(e) => {
            debug!("D-Bus: subscription: {e}");
            return Ok(());
        }
    };
    for name in interfaces {
        if let Some(notice) = current_state(conn, name).await {
            tx.send(notice).await.map_err(|_| ())?;
        }
    }
    loop {
        // Biased, states first: both streams are fed in wire order, and a
        // `down` State precedes the AddressChanged that follows the hook.
        let notice = tokio::select! {
            biased;
            change = states.next() => {
                let Some(change) = change else { return Ok(()) };
                // Only the losses: miredo says `down` here before its hook
                // removes the address; an `up` comes with its address in
                // AddressChanged.
                if !interfaces.contains(&change.interface) || change.state == "up" {
                    continue;
                }
                TunnelNotice::new(change.interface, &change.state, "", 0, true)
            }
            ev = addresses.next() => {
                let Some(ev) = ev else { return Ok(()) };
                if !interfaces.contains(&ev.interface) {
                    continue;
                }
                let notice = TunnelNotice::new(ev.interface, &ev.state, &ev.new_address, ev.mtu, true);
                if notice.is_none() {
                    debug!(
                        "D-Bus: AddressChanged with state {:?} address {:?} ignored",
                        ev.state, ev.new_address
                    );
                }
                notice
            }
        };
        if let Some(notice) = notice {
            tx.send(notice).await.map_err(|_| ())?;
        }
    }
}

/// The tunnel object's state, if a miredo-rs instance serves it.
async fn current_state(conn: &Connection, name: &str) -> Option<TunnelNotice> {
    let proxy = bus::tunnel_proxy(conn, name).await.ok()?;
    let state = proxy.state().await.ok()?;
    let address = proxy.teredo_address().await.unwrap_or_default();
    let mtu = proxy.mtu().await.unwrap_or(0);
    TunnelNotice::new(name.to_owned(), &state, &address, mtu, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_of_the_contract_are_understood() {
        let up = TunnelNotice::new("teredo".into(), "up", "2001:0:c000:201::1", 1280, true);
        assert_eq!(
            up.map(|n| n.state),
            Some(TunnelState::Up(Ipv6Addr::new(
                0x2001, 0, 0xc000, 0x201, 0, 0, 0, 1
            )))
        );
        for s in ["down", "destroy"] {
            let n = TunnelNotice::new("teredo".into(), s, "", 1280, true);
            assert_eq!(n.map(|n| n.state), Some(TunnelState::Down));
        }
        let q = TunnelNotice::new("teredo".into(), "qualifying", "", 0, false);
        assert_eq!(q.map(|n| n.state), Some(TunnelState::Qualifying));
    }

    #[test]
    fn unknown_states_and_bad_addresses_are_ignored() {
        assert_eq!(TunnelNotice::new("t".into(), "up", "", 1280, true), None);
        assert_eq!(
            TunnelNotice::new("t".into(), "up", "x::y", 1280, true),
            None
        );
        assert_eq!(
            TunnelNotice::new("t".into(), "sideways", "", 1280, true),
            None
        );
    }
}
