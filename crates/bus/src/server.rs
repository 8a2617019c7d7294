//! The service side of `org.miredo_rs.Server1.Server`: miredo-server's settings and
//! counters.
//!
//! One object at [`SERVER_PATH`] on the well-known name [`SERVER_BUS_NAME`], with
//! properties `PrimaryAddress` s, `SecondaryAddress` s, `Prefix` s, `Mtu` u (all
//! change only on reload), `RsAnswered` t, `ForwardedTeredo` t, `ForwardedNative` t,
//! `SendErrors` t, `Dropped` t (all reasons) and `DroppedByReason` a{st}; the method
//! `Status() -> a{sv}` returns them all at once. Every property emits
//! `PropertiesChanged`; the daemon publishes at most once a second, so a busy server
//! costs the bus nothing per packet.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use zbus::fdo::{RequestNameFlags, RequestNameReply};
use zbus::object_server::InterfaceRef;
use zbus::zvariant::Value;
use zbus::{connection, interface, Connection};

use crate::tunnel::BusError;

/// miredo-server's well-known bus name.
pub const SERVER_BUS_NAME: &str = "org.miredo_rs.Server1";
/// The server object's path.
pub const SERVER_PATH: &str = "/org/miredo_rs/Server1";
/// The server interface.
pub const SERVER_INTERFACE: &str = "org.miredo_rs.Server1.Server";

/// Everything the server object publishes. Drop reasons are the Teredo core's
/// snake_case names, each with its count (zero counts included, so that the set of
/// keys is the set of reasons).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerState {
    /// `PrimaryAddress`: `ServerBindAddress`.
    pub primary: String,
    /// `SecondaryAddress`: `ServerBindAddress2`.
    pub secondary: String,
    /// `Prefix`: the Teredo prefix served, e.g. `2001::/32`.
    pub prefix: String,
    /// `Mtu`: the MTU advertised.
    pub mtu: u32,
    /// `RsAnswered`: router solicitations answered.
    pub rs_answered: u64,
    /// `ForwardedTeredo`: packets forwarded to Teredo clients over UDP.
    pub forwarded_teredo: u64,
    /// `ForwardedNative`: packets sent out natively (ping tests).
    pub forwarded_native: u64,
    /// `SendErrors`: accepted packets the kernel refused to send.
    pub send_errors: u64,
    /// `DroppedByReason`, in the core's order.
    pub dropped: Vec<(String, u64)>,
}

impl ServerState {
    fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }

    fn dropped_map(&self) -> HashMap<String, u64> {
        self.dropped.iter().cloned().collect()
    }

    fn properties(&self) -> Vec<(&'static str, Value<'static>)> {
        vec![
            ("PrimaryAddress", Value::from(self.primary.clone())),
            ("SecondaryAddress", Value::from(self.secondary.clone())),
            ("Prefix", Value::from(self.prefix.clone())),
            ("Mtu", Value::from(self.mtu)),
            ("RsAnswered", Value::from(self.rs_answered)),
            ("ForwardedTeredo", Value::from(self.forwarded_teredo)),
            ("ForwardedNative", Value::from(self.forwarded_native)),
            ("SendErrors", Value::from(self.send_errors)),
            ("Dropped", Value::from(self.dropped_total())),
            ("DroppedByReason", Value::from(self.dropped_map())),
        ]
    }
}

/// The exported object.
struct Server {
    state: ServerState,
}

#[interface(name = "org.miredo_rs.Server1.Server")]
impl Server {
    /// The primary server address.
    #[zbus(property)]
    fn primary_address(&self) -> String {
        self.state.primary.clone()
    }

    /// The secondary server address.
    #[zbus(property)]
    fn secondary_address(&self) -> String {
        self.state.secondary.clone()
    }

    /// The Teredo prefix served.
    #[zbus(property)]
    fn prefix(&self) -> String {
        self.state.prefix.clone()
    }

    /// The MTU advertised in router advertisements.
    #[zbus(property)]
    fn mtu(&self) -> u32 {
        self.state.mtu
    }

    /// Router solicitations answered.
    #[zbus(property)]
    fn rs_answered(&self) -> u64 {
        self.state.rs_answered
    }

    /// Packets forwarded to Teredo clients.
    #[zbus(property)]
    fn forwarded_teredo(&self) -> u64 {
        self.state.forwarded_teredo
    }

    /// Packets sent out natively.
    #[zbus(property)]
    fn forwarded_native(&self) -> u64 {
        self.state.forwarded_native
    }

    /// Accepted packets the kernel refused to send.
    #[zbus(property)]
    fn send_errors(&self) -> u64 {
        self.state.send_errors
    }

    /// Datagrams dropped, all reasons.
    #[zbus(property)]
    fn dropped(&self) -> u64 {
        self.state.dropped_total()
    }

    /// Datagrams dropped, per reason.
    #[zbus(property)]
    fn dropped_by_reason(&self) -> HashMap<String, u64> {
        self.state.dropped_map()
    }

    /// All properties at once.
    fn status(&self) -> HashMap<String, Value<'static>> {
        self.state
            .properties()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }
}

/// miredo-server's object on the bus, or a disabled stand-in. Cheap to clone.
#[derive(Clone)]
pub struct ServerService {
    conn: Option<Arc<Connection>>,
}

impl fmt::Debug for ServerService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.conn {
            Some(_) => f.write_str("ServerService(enabled)"),
            None => f.write_str("ServerService(disabled)"),
        }
    }
}

impl ServerService {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` if set), exports the object
    /// and takes [`SERVER_BUS_NAME`]. Connect while still root (see the policy file).
    pub async fn start() -> Result<ServerService, BusError> {
        Self::start_with(connection::Builder::system()?).await
    }

    /// Like [`ServerService::start`] on the bus at `address`.
    pub async fn start_at(address: &str) -> Result<ServerService, BusError> {
        Self::start_with(connection::Builder::address(address)?).await
    }

    async fn start_with(builder: connection::Builder<'static>) -> Result<ServerService, BusError> {
        let object = Server {
            state: ServerState::default(),
        };
        let conn = builder.serve_at(SERVER_PATH, object)?.build().await?;
        let reply = conn
            .request_name_with_flags(SERVER_BUS_NAME, RequestNameFlags::DoNotQueue.into())
            .await
            .map_err(|e| match e {
                zbus::Error::NameTaken => BusError::NameTaken(SERVER_BUS_NAME),
                e => BusError::Zbus(e),
            })?;
        if !matches!(
            reply,
            RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner
        ) {
            return Err(BusError::NameTaken(SERVER_BUS_NAME));
        }
        Ok(ServerService {
            conn: Some(Arc::new(conn)),
        })
    }

    /// A service that publishes nothing.
    pub fn disabled() -> ServerService {
        ServerService { conn: None }
    }

    /// Whether this service is connected to a bus.
    pub fn is_enabled(&self) -> bool {
        self.conn.is_some()
    }

    async fn object(conn: &Connection) -> Result<InterfaceRef<Server>, BusError> {
        Ok(conn
            .object_server()
            .interface::<_, Server>(SERVER_PATH)
            .await?)
    }

    /// Publishes `new`, emitting one `PropertiesChanged` with what changed.
    pub async fn update(&self, new: ServerState) -> Result<(), BusError> {
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        let object = Self::object(conn).await?;
        let changed = {
            let mut guard = object.get_mut().await;
            let changed = crate::changed::diff(guard.state.properties(), new.properties());
            guard.state = new;
            changed
        };
        crate::changed::emit(object.signal_emitter(), SERVER_INTERFACE, changed).await?;
        Ok(())
    }

    /// Removes the object and gives up the name.
    pub async fn stop(self) -> Result<(), BusError> {
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        conn.object_server()
            .remove::<Server, _>(SERVER_PATH)
            .await?;
        conn.release_name(SERVER_BUS_NAME).await?;
        Ok(())
    }
}
