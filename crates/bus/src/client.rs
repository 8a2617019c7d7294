//! The client side: a proxy for the tunnel object and subscriptions to miredo's signals,
//! believed only from the connection that owns `org.miredo_rs.Miredo1` ([`OwnerSignals`]).

use std::collections::HashMap;

use futures::StreamExt as _;
use zbus::message::Type as MessageType;
use zbus::zvariant::OwnedValue;
use zbus::{proxy, Connection, MatchRule, MessageStream};

use crate::owner::OwnerSignals;
use crate::path::{tunnel_object_path, unescape_path_element};
use crate::{ADDRESS_CHANGED, MIREDO_BUS_NAME, MIREDO_PATH_PREFIX, TUNNEL_INTERFACE};

/// `org.miredo_rs.Miredo1.Tunnel`, client side. Build with [`tunnel_proxy`] (the object
/// path depends on the interface name).
#[proxy(
    interface = "org.miredo_rs.Miredo1.Tunnel",
    default_service = "org.miredo_rs.Miredo1",
    gen_blocking = false
)]
pub trait Tunnel {
    /// Restarts qualification (root only).
    fn requalify(&self) -> zbus::Result<()>;

    /// All properties in one dictionary.
    fn status(&self) -> zbus::Result<HashMap<String, OwnedValue>>;

    /// The hook-equivalent event.
    #[zbus(signal)]
    fn address_changed(
        &self,
        interface: &str,
        state: &str,
        old_address: &str,
        new_address: &str,
        mtu: u32,
    ) -> zbus::Result<()>;

    /// The network interface name.
    #[zbus(property)]
    fn interface_name(&self) -> zbus::Result<String>;

    /// `down`, `qualifying` or `up`.
    #[zbus(property)]
    fn state(&self) -> zbus::Result<String>;

    /// The `Address` property: the Teredo address or "". (Named so that its
    /// `receive_*_changed` stream does not clash with the `AddressChanged` signal's.)
    #[zbus(property, name = "Address")]
    fn teredo_address(&self) -> zbus::Result<String>;

    /// The link-local address or "".
    #[zbus(property)]
    fn link_local_address(&self) -> zbus::Result<String>;

    /// The MTU.
    #[zbus(property)]
    fn mtu(&self) -> zbus::Result<u32>;

    /// The server's IPv4 address or "".
    #[zbus(property)]
    fn server_address(&self) -> zbus::Result<String>;

    /// The public IPv4:port seen by the server or "".
    #[zbus(property)]
    fn mapped_address(&self) -> zbus::Result<String>;

    /// Peer list size.
    #[zbus(property)]
    fn peers(&self) -> zbus::Result<u32>;

    /// `client`, `cone` or `restricted`.
    #[zbus(property)]
    fn mode(&self) -> zbus::Result<String>;

    /// `unknown`, `none`, `cone`, `restricted`, `symmetric` or `behind-nat`.
    #[zbus(property)]
    fn nat_type(&self) -> zbus::Result<String>;

    /// `PortPreserved`.
    #[zbus(property)]
    fn port_preserved(&self) -> zbus::Result<bool>;

    /// `PortMapping`.
    #[zbus(property)]
    fn port_mapping(&self) -> zbus::Result<String>;

    /// `PortPrediction`.
    #[zbus(property)]
    fn port_prediction(&self) -> zbus::Result<String>;

    /// Packet counters by name.
    #[zbus(property)]
    fn counters(&self) -> zbus::Result<std::collections::HashMap<String, u64>>;
}

/// A proxy for the tunnel object of `interface_name` on miredo's well-known name.
pub async fn tunnel_proxy(
    conn: &Connection,
    interface_name: &str,
) -> zbus::Result<TunnelProxy<'static>> {
    TunnelProxy::builder(conn)
        .path(tunnel_object_path(interface_name))?
        .build()
        .await
}

/// One `AddressChanged` signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressChangedEvent {
    /// The unique name of the sender: the owner of `org.miredo_rs.Miredo1` when it sent.
    pub sender: Option<String>,
    /// The object path it came from.
    pub path: Option<String>,
    /// The tunnel interface name.
    pub interface: String,
    /// The new state (`down`, `qualifying`, `up`).
    pub state: String,
    /// The previous address or "".
    pub old_address: String,
    /// The new address or "".
    pub new_address: String,
    /// The MTU.
    pub mtu: u32,
}

/// `AddressChanged` signals matching a subscription, from the owner of miredo's name.
pub struct AddressChangedEvents {
    inner: OwnerSignals,
}

impl std::fmt::Debug for AddressChangedEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressChangedEvents")
    }
}

impl AddressChangedEvents {
    /// The next signal; `None` when the connection is closed. Malformed signals (wrong
    /// argument types) and signals from any connection but the name's owner are skipped.
    pub async fn next(&mut self) -> Option<AddressChangedEvent> {
        while let Some(msg) = self.inner.next().await {
            let header = msg.header();
            let body = msg.body();
            let Ok((interface, state, old_address, new_address, mtu)) =
                body.deserialize::<(String, String, String, String, u32)>()
            else {
                tracing::debug!("ignoring a malformed AddressChanged signal");
                continue;
            };
            return Some(AddressChangedEvent {
                sender: header.sender().map(|s| s.to_string()),
                path: header.path().map(|p| p.to_string()),
                interface,
                state,
                old_address,
                new_address,
                mtu,
            });
        }
        None
    }
}

impl AddressChangedEvents {
    /// Signals refused so far because their sender did not own `org.miredo_rs.Miredo1`.
    pub fn refused(&self) -> u64 {
        self.inner.refused()
    }
}

/// Subscribes to `AddressChanged` (`arg0` = `interface_name` when given) from the
/// connection that owns `org.miredo_rs.Miredo1` at the time it sends, following the
/// name to a restarted daemon's new connection. Any other sender is ignored.
pub async fn subscribe_address_changed(
    conn: &Connection,
    interface_name: Option<&str>,
) -> zbus::Result<AddressChangedEvents> {
    let mut rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .interface(TUNNEL_INTERFACE)?
        .member(ADDRESS_CHANGED)?;
    if let Some(name) = interface_name {
        rule = rule.arg(0, name)?;
    }
    let inner = OwnerSignals::subscribe(conn, MIREDO_BUS_NAME, rule).await?;
    Ok(AddressChangedEvents { inner })
}

/// A tunnel's `State` as announced in a `PropertiesChanged` of its object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelStateChange {
    /// The tunnel interface name (from the object path).
    pub interface: String,
    /// The new `State` (`down`, `qualifying`, `up`).
    pub state: String,
}

/// `State` changes of miredo's tunnel objects, from the owner of miredo's name.
pub struct TunnelStateChanges {
    inner: OwnerSignals,
}

impl std::fmt::Debug for TunnelStateChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunnelStateChanges")
    }
}

impl TunnelStateChanges {
    /// The next `State` change; `None` when the connection is closed. Changes of
    /// other properties, other objects' signals, malformed ones and signals from any
    /// connection but the name's owner are skipped.
    pub async fn next(&mut self) -> Option<TunnelStateChange> {
        while let Some(msg) = self.inner.next().await {
            let header = msg.header();
            let Some(interface) = header
                .path()
                .and_then(|p| p.as_str().strip_prefix(MIREDO_PATH_PREFIX))
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(unescape_path_element)
            else {
                continue;
            };
            let body = msg.body();
            let Ok((_, changed, _)) =
                body.deserialize::<(String, HashMap<String, OwnedValue>, Vec<String>)>()
            else {
                continue;
            };
            let Some(state) = changed
                .get("State")
                .and_then(|v| String::try_from(v.clone()).ok())
            else {
                continue;
            };
            return Some(TunnelStateChange { interface, state });
        }
        None
    }
}

impl TunnelStateChanges {
    /// Signals refused so far because their sender did not own `org.miredo_rs.Miredo1`.
    pub fn refused(&self) -> u64 {
        self.inner.refused()
    }
}

/// Subscribes to `PropertiesChanged` of `org.miredo_rs.Miredo1.Tunnel` objects from
/// the connection that owns `org.miredo_rs.Miredo1` at the time it sends (as
/// [`subscribe_address_changed`]). miredo publishes `State` `down` before its hook
/// removes the address, so this is the earliest notice of a lost tunnel.
pub async fn subscribe_tunnel_state(conn: &Connection) -> zbus::Result<TunnelStateChanges> {
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .interface("org.freedesktop.DBus.Properties")?
        .member("PropertiesChanged")?
        .path_namespace(MIREDO_PATH_PREFIX)?
        .arg(0, TUNNEL_INTERFACE)?;
    let inner = OwnerSignals::subscribe(conn, MIREDO_BUS_NAME, rule).await?;
    Ok(TunnelStateChanges { inner })
}

/// Resolves when `conn` closes (the bus went away, e.g. dbus-daemon restarted): its
/// stream of incoming messages ends. Publishers wait on this to reconnect at once
/// rather than at their next failed update.
pub async fn connection_closed(conn: &Connection) {
    let mut stream = MessageStream::from(conn);
    while stream.next().await.is_some() {}
}

/// True when `e` says the daemon a call was addressed to is not on the bus
/// (no owner of its name, or it went away between two calls): status tools
/// report "not running" for it rather than a bus error.
pub fn daemon_absent(e: &zbus::Error) -> bool {
    matches!(
        e,
        zbus::Error::FDO(fdo) if matches!(
            **fdo,
            zbus::fdo::Error::ServiceUnknown(_) | zbus::fdo::Error::NameHasNoOwner(_)
        )
    )
}
