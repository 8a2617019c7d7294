//! mip6d on the bus: the well-known name [`MIP6D_BUS_NAME`](crate::MIP6D_BUS_NAME), one
//! object at [`MIP6D_PATH`](crate::MIP6D_PATH) implementing, by role:
//!
//! - `org.umip_rs.Mip6d1.Correspondent` (every role): `BindingCache a(sssuuqss)` — the
//!   route-optimization bindings —, `BindingCacheEntries` u and `Status() -> a{sv}`;
//! - `org.umip_rs.Mip6d1.MobileNode` (mobile node): `HomeAddress` s, `HomeAgent` s,
//!   `CareOfAddress` s, `CareOfInterface` s, `RegistrationState` s, `BindingUpdateList
//!   a(sssuuqssn)`, `BindingUpdateListEntries` u, `Status() -> a{sv}` and the signal
//!   `HandoverCompleted(s interface, s old_coa, s new_coa, t micros)`;
//! - `org.umip_rs.Mip6d1.HomeAgent` (home agent): `BindingCache a(sssuuqss)`,
//!   `BindingCacheEntries` u, `BindingUpdatesReceived` t, `BindingUpdatesAccepted` t,
//!   `BindingUpdatesRejected` t, `BindingUpdatesDropped` t, `RejectedByStatus a{yt}` and
//!   `Status() -> a{sv}`.
//!
//! The per-binding lists (`BindingCache`, `BindingUpdateList`) are root only (checked
//! with the caller's uid, see `objects`); everything else is public. Small properties
//! send their new values in `PropertiesChanged`; the lists are only invalidated
//! (clients re-read them); the counters change with every Binding Update and send
//! nothing (read them when needed). `remaining` fields are computed whenever a value is
//! read, so they count down without any signal.

mod client;
mod objects;
mod state;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use zbus::fdo::{self, RequestNameFlags, RequestNameReply};
use zbus::names::InterfaceName;
use zbus::object_server::{Interface, InterfaceRef};
use zbus::zvariant::Value;
use zbus::{connection, Connection};

pub use client::{
    correspondent_binding_cache, is_access_denied, mip6d_interfaces, mip6d_role,
    CorrespondentProxy, HandoverCompletedEvent, HomeAgentProxy, HomeAgentStatus, MobileNodeProxy,
    MobileNodeStatus,
};
pub use state::{
    bu_flag_letters, BindingInfo, BindingRecord, BindingState, BuCounters, BulEntryInfo, BulRecord,
    HomeAgentState, MobileNodeState, RegistrationState, Role,
};

use crate::tunnel::BusError;
use crate::{MIP6D_BUS_NAME, MIP6D_PATH};
use objects::{Correspondent, HomeAgent, MobileNode};

/// The mobile node interface.
pub const MOBILE_NODE_INTERFACE: &str = "org.umip_rs.Mip6d1.MobileNode";
/// The home agent interface.
pub const HOME_AGENT_INTERFACE: &str = "org.umip_rs.Mip6d1.HomeAgent";
/// The correspondent node interface.
pub const CORRESPONDENT_INTERFACE: &str = "org.umip_rs.Mip6d1.Correspondent";
/// The `HandoverCompleted` signal's member name.
pub const HANDOVER_COMPLETED: &str = "HandoverCompleted";

struct Inner {
    conn: Connection,
    role: Role,
}

/// mip6d's object on the bus, or a disabled stand-in. Cheap to clone.
///
/// Every `update_*` method replaces what the matching interface publishes and emits one
/// `PropertiesChanged` for what changed (nothing if nothing did). Updates for an
/// interface the role does not export are ignored, as is everything when disabled.
#[derive(Clone)]
pub struct Mip6dService {
    inner: Option<Arc<Inner>>,
}

impl fmt::Debug for Mip6dService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Some(inner) => f
                .debug_struct("Mip6dService")
                .field("role", &inner.role)
                .finish(),
            None => f.write_str("Mip6dService(disabled)"),
        }
    }
}

/// One property's new value, or only its invalidation.
enum Change {
    Value(&'static str, Value<'static>),
    Invalidated(&'static str),
}

/// A binding cache's change: its new size (public) and an invalidation of the list
/// (root only: its value is never signalled).
fn binding_cache_changes(old: &[BindingInfo], new: &[BindingInfo]) -> Vec<Change> {
    let mut changes = Vec::new();
    if old.len() != new.len() {
        let n = u32::try_from(new.len()).unwrap_or(u32::MAX);
        changes.push(Change::Value("BindingCacheEntries", Value::from(n)));
    }
    if old != new {
        changes.push(Change::Invalidated("BindingCache"));
    }
    changes
}

impl Mip6dService {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` if set, else
    /// `/run/dbus/system_bus_socket`), exports the interfaces of `role` and takes
    /// `org.umip_rs.Mip6d1` (only root may, by the policy file).
    ///
    /// On error the daemon should log once and carry on with [`Mip6dService::disabled`].
    pub async fn start(role: Role) -> Result<Mip6dService, BusError> {
        Self::start_with(connection::Builder::system()?, role).await
    }

    /// Like [`Mip6dService::start`] on the bus at `address` (e.g. `unix:path=/tmp/x`).
    pub async fn start_at(address: &str, role: Role) -> Result<Mip6dService, BusError> {
        Self::start_with(connection::Builder::address(address)?, role).await
    }

    async fn start_with(
        builder: connection::Builder<'static>,
        role: Role,
    ) -> Result<Mip6dService, BusError> {
        let builder = builder.serve_at(MIP6D_PATH, Correspondent::default())?;
        let builder = match role {
            Role::CorrespondentNode => builder,
            Role::MobileNode => builder.serve_at(MIP6D_PATH, MobileNode::default())?,
            Role::HomeAgent => builder.serve_at(MIP6D_PATH, HomeAgent::default())?,
        };
        let conn = builder.build().await?;
        // Not the builder's `name()`: it queues behind an existing owner and succeeds.
        let reply = conn
            .request_name_with_flags(MIP6D_BUS_NAME, RequestNameFlags::DoNotQueue.into())
            .await
            .map_err(|e| match e {
                zbus::Error::NameTaken => BusError::NameTaken(MIP6D_BUS_NAME),
                e => BusError::Zbus(e),
            })?;
        if !matches!(
            reply,
            RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner
        ) {
            return Err(BusError::NameTaken(MIP6D_BUS_NAME));
        }
        Ok(Mip6dService {
            inner: Some(Arc::new(Inner { conn, role })),
        })
    }

    /// A service that publishes nothing: every method succeeds and does nothing.
    pub fn disabled() -> Mip6dService {
        Mip6dService { inner: None }
    }

    /// Whether this service is connected to a bus.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The role it was started with, when enabled.
    pub fn role(&self) -> Option<Role> {
        self.inner.as_ref().map(|i| i.role)
    }

    /// The bus connection, when enabled.
    pub fn connection(&self) -> Option<&Connection> {
        self.inner.as_ref().map(|i| &i.conn)
    }

    /// The exported object for interface `I`, if enabled and the role exports it.
    async fn object<I: Interface>(&self, wanted: Role) -> Option<InterfaceRef<I>> {
        let inner = self.inner.as_ref()?;
        if wanted != Role::CorrespondentNode && inner.role != wanted {
            tracing::debug!(
                "ignoring a {} update: mip6d runs as {}",
                I::name(),
                inner.role
            );
            return None;
        }
        // Exported at start and removed only by `stop`, which consumes the service.
        inner
            .conn
            .object_server()
            .interface::<_, I>(MIP6D_PATH)
            .await
            .ok()
    }

    async fn emit(
        object: &InterfaceRef<impl Interface>,
        interface: &'static str,
        changes: Vec<Change>,
    ) -> Result<(), BusError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut changed: HashMap<&str, Value<'_>> = HashMap::new();
        let mut invalidated: Vec<&str> = Vec::new();
        for change in changes {
            match change {
                Change::Value(name, value) => {
                    changed.insert(name, value);
                }
                Change::Invalidated(name) => invalidated.push(name),
            }
        }
        fdo::Properties::properties_changed(
            object.signal_emitter(),
            InterfaceName::from_static_str_unchecked(interface),
            changed,
            Cow::Owned(invalidated),
        )
        .await?;
        Ok(())
    }

    /// Publishes the mobile node's state (mobile node role only).
    pub async fn update_mobile_node(&self, new: MobileNodeState) -> Result<(), BusError> {
        let Some(object) = self.object::<MobileNode>(Role::MobileNode).await else {
            return Ok(());
        };
        let changes = {
            let mut guard = object.get_mut().await;
            let changes = objects::mobile_node_changes(&guard.state, &new);
            guard.state = new;
            changes
        };
        Self::emit(&object, MOBILE_NODE_INTERFACE, changes).await
    }

    /// Publishes the home agent's binding cache and counters (home agent role only).
    pub async fn update_home_agent(&self, new: HomeAgentState) -> Result<(), BusError> {
        let Some(object) = self.object::<HomeAgent>(Role::HomeAgent).await else {
            return Ok(());
        };
        let changes = {
            let mut guard = object.get_mut().await;
            let changes = binding_cache_changes(&guard.state.binding_cache, &new.binding_cache);
            guard.state = new;
            changes
        };
        Self::emit(&object, HOME_AGENT_INTERFACE, changes).await
    }

    /// Publishes only the home agent's counters: cheap enough to call for every Binding
    /// Update (no signal is sent).
    pub async fn update_ha_counters(&self, counters: BuCounters) -> Result<(), BusError> {
        if let Some(object) = self.object::<HomeAgent>(Role::HomeAgent).await {
            object.get_mut().await.state.counters = counters;
        }
        Ok(())
    }

    /// Publishes the correspondent node's (route-optimization) binding cache.
    pub async fn update_correspondent(
        &self,
        binding_cache: Vec<BindingInfo>,
    ) -> Result<(), BusError> {
        let Some(object) = self.object::<Correspondent>(Role::CorrespondentNode).await else {
            return Ok(());
        };
        let changes = {
            let mut guard = object.get_mut().await;
            let changes = binding_cache_changes(&guard.binding_cache, &binding_cache);
            guard.binding_cache = binding_cache;
            changes
        };
        Self::emit(&object, CORRESPONDENT_INTERFACE, changes).await
    }

    /// Emits `HandoverCompleted(interface, old_coa, new_coa, micros)` (mobile node role
    /// only): call it when the Binding Acknowledgement for a new care-of address arrives.
    /// `old_coa` is `None` for the first registration away from home; `took` is the time
    /// from noticing the movement (link or address event) to that acknowledgement.
    pub async fn handover_completed(
        &self,
        interface: &str,
        old_coa: Option<Ipv6Addr>,
        new_coa: Ipv6Addr,
        took: Duration,
    ) -> Result<(), BusError> {
        let Some(object) = self.object::<MobileNode>(Role::MobileNode).await else {
            return Ok(());
        };
        let old = old_coa.map(|a| a.to_string()).unwrap_or_default();
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        MobileNode::emit_handover_completed(
            object.signal_emitter(),
            interface,
            &old,
            &new_coa.to_string(),
            micros,
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
        let server = inner.conn.object_server();
        match inner.role {
            Role::CorrespondentNode => {}
            Role::MobileNode => {
                server.remove::<MobileNode, _>(MIP6D_PATH).await?;
            }
            Role::HomeAgent => {
                server.remove::<HomeAgent, _>(MIP6D_PATH).await?;
            }
        }
        server.remove::<Correspondent, _>(MIP6D_PATH).await?;
        inner.conn.release_name(MIP6D_BUS_NAME).await?;
        Ok(())
    }
}
