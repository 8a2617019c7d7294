//! The service side of `org.miredo_rs.Miredo1.Tunnel`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc;
use zbus::fdo::{self, RequestNameFlags, RequestNameReply};
use zbus::message::Header;
use zbus::object_server::{InterfaceRef, SignalEmitter};
use zbus::zvariant::{OwnedObjectPath, Value};
use zbus::{connection, interface, Connection};

use crate::path::tunnel_object_path;
use crate::{MIREDO_BUS_NAME, TUNNEL_INTERFACE};

/// The tunnel's qualification state, as the `State` property spells it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum State {
    /// No Teredo address (not qualified, or connectivity lost).
    #[default]
    Down,
    /// Qualification with the server is in progress.
    Qualifying,
    /// Qualified: the Teredo address is configured.
    Up,
}

impl State {
    /// `"down"`, `"qualifying"` or `"up"`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Down => "down",
            State::Qualifying => "qualifying",
            State::Up => "up",
        }
    }

    /// Parses the property value.
    pub fn parse(s: &str) -> Option<State> {
        match s {
            "down" => Some(State::Down),
            "qualifying" => Some(State::Qualifying),
            "up" => Some(State::Up),
            _ => None,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the tunnel object publishes besides its name. Unknown values are `""`
/// (addresses) or 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelState {
    /// `State`.
    pub state: State,
    /// `Address`: the Teredo IPv6 address.
    pub address: String,
    /// `LinkLocalAddress`.
    pub lladdress: String,
    /// `Mtu`.
    pub mtu: u32,
    /// `ServerAddress`: the Teredo server's IPv4 address.
    pub server: String,
    /// `MappedAddress`: the public IPv4:port the server sees.
    pub mapped: String,
    /// `Peers`: entries in the peer list.
    pub peers: u32,
    /// `Mode`: `client`, `cone` (RelayType relay or cone) or `restricted`.
    pub mode: String,
    /// `NatType`: what qualification and the NAT tests found out about the
    /// NAT: `unknown`, `none`, `cone`, `restricted`, `symmetric` or
    /// `behind-nat` (docs/dbus.md).
    pub nat_type: String,
    /// `PortPreserved`: the NAT kept the port the client sends from.
    pub port_preserved: bool,
    /// `PortMapping`: the mapping asked of the NAT: `off`, `none`, `pcp`,
    /// `nat-pmp` or `upnp` (docs/dbus.md).
    pub port_mapping: String,
    /// `PortPrediction`: how the client predicts the ports of a symmetric
    /// NAT: `off`, `preserving` or `sequential` (docs/dbus.md).
    pub port_prediction: String,
    /// `Counters`: packet counters by name (the packet path's statistics).
    /// Not signalled: they change with every packet; read them when needed.
    pub counters: HashMap<String, u64>,
}

impl TunnelState {
    /// The properties as (name, value) pairs, in introspection order.
    fn properties(&self) -> [(&'static str, Value<'static>); 12] {
        [
            ("State", Value::from(self.state.as_str())),
            ("Address", Value::from(self.address.clone())),
            ("LinkLocalAddress", Value::from(self.lladdress.clone())),
            ("Mtu", Value::from(self.mtu)),
            ("ServerAddress", Value::from(self.server.clone())),
            ("MappedAddress", Value::from(self.mapped.clone())),
            ("Peers", Value::from(self.peers)),
            ("Mode", Value::from(self.mode.clone())),
            ("NatType", Value::from(self.nat_type.clone())),
            ("PortPreserved", Value::from(self.port_preserved)),
            ("PortMapping", Value::from(self.port_mapping.clone())),
            ("PortPrediction", Value::from(self.port_prediction.clone())),
        ]
    }
}

/// A D-Bus operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// Connecting, exporting or signalling failed.
    #[error("D-Bus: {0}")]
    Zbus(#[from] zbus::Error),
    /// Another connection owns the well-known name.
    #[error("D-Bus name {0} is already owned by another process")]
    NameTaken(&'static str),
}

/// The exported object.
struct Tunnel {
    interface_name: String,
    state: TunnelState,
    requalify_tx: mpsc::Sender<()>,
}

#[interface(name = "org.miredo_rs.Miredo1.Tunnel")]
impl Tunnel {
    /// The tunnel's network interface name.
    #[zbus(property(emits_changed_signal = "const"))]
    fn interface_name(&self) -> String {
        self.interface_name.clone()
    }

    /// "down", "qualifying" or "up".
    #[zbus(property)]
    fn state(&self) -> String {
        self.state.state.as_str().to_owned()
    }

    /// The Teredo IPv6 address, or "".
    #[zbus(property)]
    fn address(&self) -> String {
        self.state.address.clone()
    }

    /// The link-local address, or "".
    #[zbus(property)]
    fn link_local_address(&self) -> String {
        self.state.lladdress.clone()
    }

    /// The tunnel MTU.
    #[zbus(property)]
    fn mtu(&self) -> u32 {
        self.state.mtu
    }

    /// The Teredo server's IPv4 address, or "".
    #[zbus(property)]
    fn server_address(&self) -> String {
        self.state.server.clone()
    }

    /// The public IPv4:port seen by the server, or "".
    #[zbus(property)]
    fn mapped_address(&self) -> String {
        self.state.mapped.clone()
    }

    /// Number of entries in the peer list.
    #[zbus(property)]
    fn peers(&self) -> u32 {
        self.state.peers
    }

    /// `client`, `cone` (a relay with the cone flag) or `restricted`.
    #[zbus(property)]
    fn mode(&self) -> String {
        self.state.mode.clone()
    }

    /// What qualification and the NAT tests found out about the NAT:
    /// `unknown`, `none`, `cone`, `restricted`, `symmetric` or `behind-nat`.
    #[zbus(property)]
    fn nat_type(&self) -> String {
        self.state.nat_type.clone()
    }

    /// Whether the NAT kept the port the client sends from (false while
    /// `NatType` is `unknown`).
    #[zbus(property)]
    fn port_preserved(&self) -> bool {
        self.state.port_preserved
    }

    /// The port mapping asked of the NAT: `off`, `none` (no mapping service
    /// answered, or not needed), `pcp`, `nat-pmp` or `upnp`.
    #[zbus(property)]
    fn port_mapping(&self) -> String {
        self.state.port_mapping.clone()
    }

    /// How the client predicts the ports its symmetric NAT allocates: `off`
    /// (not a symmetric NAT whose ports can be foreseen, or not tested yet),
    /// `preserving` or `sequential`.
    #[zbus(property)]
    fn port_prediction(&self) -> String {
        self.state.port_prediction.clone()
    }

    /// Packet counters of the packet path, by name (received, sent, and
    /// every drop reason). Read on demand; no change signal.
    #[zbus(property(emits_changed_signal = "false"))]
    fn counters(&self) -> HashMap<String, u64> {
        self.state.counters.clone()
    }

    /// Restarts qualification with the server now. Root only.
    async fn requalify(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        crate::caller::require_root(conn, Some(&header), "Requalify").await?;
        match self.requalify_tx.try_send(()) {
            // A request already pending covers this one.
            Ok(()) | Err(mpsc::error::TrySendError::Full(())) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(())) => {
                Err(fdo::Error::Failed("the tunnel is shutting down".into()))
            }
        }
    }

    /// All properties at once, including `InterfaceName`.
    fn status(&self) -> HashMap<String, Value<'static>> {
        let mut map: HashMap<String, Value<'static>> = self
            .state
            .properties()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        map.insert(
            "InterfaceName".to_owned(),
            Value::from(self.interface_name.clone()),
        );
        map.insert(
            "Counters".to_owned(),
            Value::from(self.state.counters.clone()),
        );
        map
    }

    /// Sent after the interface is configured, exactly when the client hook runs.
    // Not `address_changed`: the macro generates that name for the `Address` property.
    #[zbus(signal, name = "AddressChanged")]
    async fn emit_address_changed(
        emitter: &SignalEmitter<'_>,
        interface: &str,
        state: &str,
        old_address: &str,
        new_address: &str,
        mtu: u32,
    ) -> zbus::Result<()>;
}

struct Inner {
    conn: Connection,
    path: OwnedObjectPath,
    interface_name: String,
}

/// miredo's tunnel object on the bus, or a disabled stand-in.
///
/// Cheap to clone. Connect while still root: the bus policy lets only root own the name,
/// and a connection keeps the identity it authenticated with after a later `setuid`.
#[derive(Clone)]
pub struct TunnelService {
    inner: Option<Arc<Inner>>,
}

impl fmt::Debug for TunnelService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Some(inner) => f
                .debug_struct("TunnelService")
                .field("path", &inner.path.as_str())
                .finish(),
            None => f.write_str("TunnelService(disabled)"),
        }
    }
}

impl TunnelService {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` if set, else
    /// `/run/dbus/system_bus_socket`), exports the tunnel object for `interface_name` and
    /// takes the well-known name. Each accepted `Requalify()` sends `()` on
    /// `requalify_tx` (a full channel means one is already pending).
    ///
    /// On error the daemon should log once and carry on with [`TunnelService::disabled`].
    pub async fn start(
        interface_name: &str,
        requalify_tx: mpsc::Sender<()>,
    ) -> Result<TunnelService, BusError> {
        Self::start_with(connection::Builder::system()?, interface_name, requalify_tx).await
    }

    /// Like [`TunnelService::start`] on the bus at `address` (a D-Bus address such as
    /// `unix:path=/tmp/x/sock`).
    pub async fn start_at(
        address: &str,
        interface_name: &str,
        requalify_tx: mpsc::Sender<()>,
    ) -> Result<TunnelService, BusError> {
        Self::start_with(
            connection::Builder::address(address)?,
            interface_name,
            requalify_tx,
        )
        .await
    }

    async fn start_with(
        builder: connection::Builder<'static>,
        interface_name: &str,
        requalify_tx: mpsc::Sender<()>,
    ) -> Result<TunnelService, BusError> {
        let path = tunnel_object_path(interface_name);
        let object = Tunnel {
            interface_name: interface_name.to_owned(),
            state: TunnelState::default(),
            requalify_tx,
        };
        let conn = builder.serve_at(path.clone(), object)?.build().await?;
        // Not the builder's `name()`: it queues behind an existing owner and succeeds.
        let reply = conn
            .request_name_with_flags(MIREDO_BUS_NAME, RequestNameFlags::DoNotQueue.into())
            .await
            .map_err(|e| match e {
                zbus::Error::NameTaken => BusError::NameTaken(MIREDO_BUS_NAME),
                e => BusError::Zbus(e),
            })?;
        if !matches!(
            reply,
            RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner
        ) {
            return Err(BusError::NameTaken(MIREDO_BUS_NAME));
        }
        Ok(TunnelService {
            inner: Some(Arc::new(Inner {
                conn,
                path,
                interface_name: interface_name.to_owned(),
            })),
        })
    }

    /// A service that publishes nothing: every method succeeds and does nothing.
    pub fn disabled() -> TunnelService {
        TunnelService { inner: None }
    }

    /// Whether this service is connected to a bus.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The object path, when enabled.
    pub fn object_path(&self) -> Option<&str> {
        self.inner.as_ref().map(|i| i.path.as_str())
    }

    /// The bus connection, when enabled.
    pub fn connection(&self) -> Option<&Connection> {
        self.inner.as_ref().map(|i| &i.conn)
    }

    async fn object(&self, inner: &Inner) -> Result<InterfaceRef<Tunnel>, BusError> {
        Ok(inner
            .conn
            .object_server()
            .interface::<_, Tunnel>(inner.path.as_ref())
            .await?)
    }

    /// Publishes `new`, emitting one `PropertiesChanged` with the properties that changed
    /// (none if nothing did).
    pub async fn update(&self, new: TunnelState) -> Result<(), BusError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let object = self.object(inner).await?;
        let changed = {
            let mut guard = object.get_mut().await;
            let changed = crate::changed::diff(guard.state.properties(), new.properties());
            guard.state = new;
            changed
        };
        crate::changed::emit(object.signal_emitter(), TUNNEL_INTERFACE, changed).await?;
        Ok(())
    }

    /// Emits `AddressChanged(interface, state, old, new, mtu)`.
    pub async fn address_changed(
        &self,
        state: State,
        old_address: &str,
        new_address: &str,
        mtu: u32,
    ) -> Result<(), BusError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let object = self.object(inner).await?;
        Tunnel::emit_address_changed(
            object.signal_emitter(),
            &inner.interface_name,
            state.as_str(),
            old_address,
            new_address,
            mtu,
        )
        .await?;
        Ok(())
    }

    /// Removes the object and gives up the name (also happens when the last clone is
    /// dropped and the connection closes).
    pub async fn stop(self) -> Result<(), BusError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        inner
            .conn
            .object_server()
            .remove::<Tunnel, _>(inner.path.as_ref())
            .await?;
        inner.conn.release_name(MIREDO_BUS_NAME).await?;
        Ok(())
    }
}
