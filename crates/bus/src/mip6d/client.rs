//! The client side of mip6d's object: typed proxies, snapshots and the interfaces a
//! running daemon exports.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use zbus::fdo::IntrospectableProxy;
use zbus::proxy::CacheProperties;
use zbus::zvariant::OwnedValue;
use zbus::{proxy, Connection};

use super::state::{BindingRecord, BulRecord, Role};
use super::{CORRESPONDENT_INTERFACE, HOME_AGENT_INTERFACE, MOBILE_NODE_INTERFACE};
use crate::{MIP6D_BUS_NAME, MIP6D_PATH};

/// `org.umip_rs.Mip6d1.MobileNode`, client side.
#[proxy(
    interface = "org.umip_rs.Mip6d1.MobileNode",
    default_service = "org.umip_rs.Mip6d1",
    default_path = "/org/umip_rs/Mip6d1",
    gen_blocking = false
)]
pub trait MobileNode {
    /// All properties in one dictionary.
    fn status(&self) -> zbus::Result<HashMap<String, OwnedValue>>;

    /// The BA for a new care-of address arrived.
    #[zbus(signal)]
    fn handover_completed(
        &self,
        interface: &str,
        old_coa: &str,
        new_coa: &str,
        micros: u64,
    ) -> zbus::Result<()>;

    /// The home address or "".
    #[zbus(property)]
    fn home_address(&self) -> zbus::Result<String>;

    /// The home agent's address or "".
    #[zbus(property)]
    fn home_agent(&self) -> zbus::Result<String>;

    /// The care-of address or "".
    #[zbus(property)]
    fn care_of_address(&self) -> zbus::Result<String>;

    /// The care-of address's interface or "".
    #[zbus(property)]
    fn care_of_interface(&self) -> zbus::Result<String>;

    /// A [`RegistrationState`](super::RegistrationState) name.
    #[zbus(property)]
    fn registration_state(&self) -> zbus::Result<String>;

    /// The binding update list (root only).
    #[zbus(property)]
    fn binding_update_list(&self) -> zbus::Result<Vec<BulRecord>>;

    /// Entries in the binding update list.
    #[zbus(property)]
    fn binding_update_list_entries(&self) -> zbus::Result<u32>;
}

/// `org.umip_rs.Mip6d1.HomeAgent`, client side.
#[proxy(
    interface = "org.umip_rs.Mip6d1.HomeAgent",
    default_service = "org.umip_rs.Mip6d1",
    default_path = "/org/umip_rs/Mip6d1",
    gen_blocking = false
)]
pub trait HomeAgent {
    /// All properties in one dictionary.
    fn status(&self) -> zbus::Result<HashMap<String, OwnedValue>>;

    /// The home registrations (root only).
    #[zbus(property)]
    fn binding_cache(&self) -> zbus::Result<Vec<BindingRecord>>;

    /// Home registrations in the binding cache.
    #[zbus(property)]
    fn binding_cache_entries(&self) -> zbus::Result<u32>;

    /// Binding Updates received.
    #[zbus(property)]
    fn binding_updates_received(&self) -> zbus::Result<u64>;

    /// Binding Updates accepted.
    #[zbus(property)]
    fn binding_updates_accepted(&self) -> zbus::Result<u64>;

    /// Binding Updates rejected.
    #[zbus(property)]
    fn binding_updates_rejected(&self) -> zbus::Result<u64>;

    /// Binding Updates dropped.
    #[zbus(property)]
    fn binding_updates_dropped(&self) -> zbus::Result<u64>;

    /// Rejections by status.
    #[zbus(property)]
    fn rejected_by_status(&self) -> zbus::Result<HashMap<u8, u64>>;
}

/// `org.umip_rs.Mip6d1.Correspondent`, client side.
#[proxy(
    interface = "org.umip_rs.Mip6d1.Correspondent",
    default_service = "org.umip_rs.Mip6d1",
    default_path = "/org/umip_rs/Mip6d1",
    gen_blocking = false
)]
pub trait Correspondent {
    /// All properties in one dictionary.
    fn status(&self) -> zbus::Result<HashMap<String, OwnedValue>>;

    /// Route-optimization bindings (root only).
    #[zbus(property)]
    fn binding_cache(&self) -> zbus::Result<Vec<BindingRecord>>;

    /// Route-optimization bindings in the cache.
    #[zbus(property)]
    fn binding_cache_entries(&self) -> zbus::Result<u32>;
}

/// One `HandoverCompleted` signal, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HandoverCompletedEvent {
    /// The interface of the new care-of address.
    pub interface: String,
    /// The previous care-of address, "" for the first registration away from home.
    pub old_coa: String,
    /// The new care-of address.
    pub new_coa: String,
    /// Movement noticed → Binding Acknowledgement, microseconds.
    pub micros: u64,
}

impl TryFrom<&HandoverCompleted> for HandoverCompletedEvent {
    type Error = zbus::Error;

    fn try_from(signal: &HandoverCompleted) -> zbus::Result<Self> {
        let args = signal.args()?;
        Ok(HandoverCompletedEvent {
            interface: args.interface.to_owned(),
            old_coa: args.old_coa.to_owned(),
            new_coa: args.new_coa.to_owned(),
            micros: args.micros,
        })
    }
}

/// The mobile node's properties, read in one go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MobileNodeStatus {
    /// `HomeAddress`.
    pub home_address: String,
    /// `HomeAgent`.
    pub home_agent: String,
    /// `CareOfAddress`.
    pub care_of_address: String,
    /// `CareOfInterface`.
    pub care_of_interface: String,
    /// `RegistrationState`.
    pub registration_state: String,
    /// `BindingUpdateListEntries`.
    pub binding_update_list_entries: u32,
    /// `BindingUpdateList`; `None` when refused (it is root only).
    pub binding_update_list: Option<Vec<BulRecord>>,
}

impl MobileNodeStatus {
    /// Reads every property now (uncached).
    pub async fn fetch(conn: &Connection) -> zbus::Result<MobileNodeStatus> {
        let p = MobileNodeProxy::builder(conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        Ok(MobileNodeStatus {
            home_address: p.home_address().await?,
            home_agent: p.home_agent().await?,
            care_of_address: p.care_of_address().await?,
            care_of_interface: p.care_of_interface().await?,
            registration_state: p.registration_state().await?,
            binding_update_list_entries: p.binding_update_list_entries().await?,
            binding_update_list: root_only(p.binding_update_list().await)?,
        })
    }
}

/// The home agent's properties, read in one go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HomeAgentStatus {
    /// `BindingCacheEntries`.
    pub binding_cache_entries: u32,
    /// `BindingCache`; `None` when refused (it is root only).
    pub binding_cache: Option<Vec<BindingRecord>>,
    /// `BindingUpdatesReceived`.
    pub binding_updates_received: u64,
    /// `BindingUpdatesAccepted`.
    pub binding_updates_accepted: u64,
    /// `BindingUpdatesRejected`.
    pub binding_updates_rejected: u64,
    /// `BindingUpdatesDropped`.
    pub binding_updates_dropped: u64,
    /// `RejectedByStatus`, ordered by status.
    pub rejected_by_status: BTreeMap<u8, u64>,
}

impl HomeAgentStatus {
    /// Reads every property now (uncached).
    pub async fn fetch(conn: &Connection) -> zbus::Result<HomeAgentStatus> {
        let p = HomeAgentProxy::builder(conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        Ok(HomeAgentStatus {
            binding_cache_entries: p.binding_cache_entries().await?,
            binding_cache: root_only(p.binding_cache().await)?,
            binding_updates_received: p.binding_updates_received().await?,
            binding_updates_accepted: p.binding_updates_accepted().await?,
            binding_updates_rejected: p.binding_updates_rejected().await?,
            binding_updates_dropped: p.binding_updates_dropped().await?,
            rejected_by_status: p.rejected_by_status().await?.into_iter().collect(),
        })
    }
}

/// Reads the correspondent node's binding cache now (uncached): its size, and its
/// entries unless refused (they are root only).
pub async fn correspondent_binding_cache(
    conn: &Connection,
) -> zbus::Result<(u32, Option<Vec<BindingRecord>>)> {
    let p = CorrespondentProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    let entries = p.binding_cache_entries().await?;
    Ok((entries, root_only(p.binding_cache().await)?))
}

/// Whether `e` is the bus's or the service's `AccessDenied`.
pub fn is_access_denied(e: &zbus::Error) -> bool {
    match e {
        zbus::Error::FDO(e) => matches!(**e, zbus::fdo::Error::AccessDenied(_)),
        zbus::Error::MethodError(name, _, _) => {
            name.as_str() == "org.freedesktop.DBus.Error.AccessDenied"
        }
        _ => false,
    }
}

/// A root-only value: `None` when the caller was refused it.
fn root_only<T>(read: zbus::Result<T>) -> zbus::Result<Option<T>> {
    match read {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_access_denied(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The role of the mip6d owning the name, from the interfaces its object exports;
/// `Ok(None)` when no one owns the name.
pub async fn mip6d_role(conn: &Connection) -> zbus::Result<Option<Role>> {
    let owned = zbus::fdo::DBusProxy::new(conn)
        .await?
        .name_has_owner(zbus::names::BusName::try_from(MIP6D_BUS_NAME)?)
        .await?;
    if !owned {
        return Ok(None);
    }
    let interfaces = mip6d_interfaces(conn).await?;
    let has = |name: &str| interfaces.iter().any(|i| i == name);
    Ok(if has(MOBILE_NODE_INTERFACE) {
        Some(Role::MobileNode)
    } else if has(HOME_AGENT_INTERFACE) {
        Some(Role::HomeAgent)
    } else if has(CORRESPONDENT_INTERFACE) {
        Some(Role::CorrespondentNode)
    } else {
        None
    })
}

/// The `org.umip_rs.Mip6d1.*` interfaces mip6d's object exports, from its introspection
/// data.
pub async fn mip6d_interfaces(conn: &Connection) -> zbus::Result<Vec<String>> {
    let xml = IntrospectableProxy::builder(conn)
        .destination(MIP6D_BUS_NAME)?
        .path(MIP6D_PATH)?
        .build()
        .await?
        .introspect()
        .await?;
    Ok(interface_names(&xml)
        .filter(|name| name.starts_with("org.umip_rs.Mip6d1."))
        .map(str::to_owned)
        .collect())
}

/// The `name` of every `<interface name="…">` element (zbus writes the attribute first
/// and double-quoted, and interface names never contain quotes).
fn interface_names(xml: &str) -> impl Iterator<Item = &str> {
    xml.split("<interface name=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
}

#[cfg(test)]
mod tests {
    use super::interface_names;

    #[test]
    fn interface_names_from_xml() {
        let xml = r#"<node><interface name="org.freedesktop.DBus.Peer"></interface>
<interface name="org.umip_rs.Mip6d1.MobileNode"><property name="HomeAgent" type="s"/></interface></node>"#;
        let names: Vec<&str> = interface_names(xml).collect();
        assert_eq!(
            names,
            ["org.freedesktop.DBus.Peer", "org.umip_rs.Mip6d1.MobileNode"]
        );
    }
}
