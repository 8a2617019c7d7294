//! The exported interfaces of mip6d's object.
//!
//! The per-binding lists (`BindingUpdateList`, both `BindingCache`s) say where each
//! mobile node is (home address → care-of address) and whom a node talks to: they are
//! given to root callers only, checked here with the caller's uid from the bus (the
//! policy file does not restrict them: it cannot tell one property from another). Their
//! sizes (`…Entries`) are public. A change of a list is only signalled as an
//! invalidation, never with its value. `Properties.GetAll` and `Status()` leave the
//! lists out for other callers.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Instant;

use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::Value;
use zbus::{fdo, interface, Connection};

use super::state::{BindingInfo, BindingRecord, BulRecord, HomeAgentState, MobileNodeState};
use super::Change;

fn addr(a: Option<Ipv6Addr>) -> String {
    a.map(|a| a.to_string()).unwrap_or_default()
}

fn bul_records(state: &MobileNodeState, now: Instant) -> Vec<BulRecord> {
    state
        .binding_update_list
        .iter()
        .map(|e| e.record(now))
        .collect()
}

fn binding_records(cache: &[BindingInfo], now: Instant) -> Vec<BindingRecord> {
    cache.iter().map(|b| b.record(now)).collect()
}

/// A list's size as a `u` property.
fn entries<T>(list: &[T]) -> u32 {
    u32::try_from(list.len()).unwrap_or(u32::MAX)
}

/// Whether the caller of a method may see the per-binding lists (root only). Any
/// failure to tell counts as no.
async fn sees_bindings(conn: &Connection, header: &Header<'_>) -> bool {
    matches!(crate::caller::caller_uid(conn, Some(header)).await, Ok(0))
}

/// The mobile node's public properties as (name, value), in introspection order.
fn mobile_node_properties(state: &MobileNodeState) -> Vec<(&'static str, Value<'static>)> {
    vec![
        ("HomeAddress", Value::from(addr(state.home_address))),
        ("HomeAgent", Value::from(addr(state.home_agent))),
        ("CareOfAddress", Value::from(addr(state.care_of_address))),
        (
            "CareOfInterface",
            Value::from(state.care_of_interface.clone()),
        ),
        (
            "RegistrationState",
            Value::from(state.registration.as_str()),
        ),
        (
            "BindingUpdateListEntries",
            Value::from(entries(&state.binding_update_list)),
        ),
    ]
}

/// What changed between `old` and `new`: the public properties with their values, the
/// binding update list as an invalidation. Compared on the Rust state, not on the
/// published values: `remaining` differs between any two reads.
pub(super) fn mobile_node_changes(old: &MobileNodeState, new: &MobileNodeState) -> Vec<Change> {
    let same = [
        old.home_address == new.home_address,
        old.home_agent == new.home_agent,
        old.care_of_address == new.care_of_address,
        old.care_of_interface == new.care_of_interface,
        old.registration == new.registration,
        old.binding_update_list.len() == new.binding_update_list.len(),
    ];
    let mut changes: Vec<Change> = mobile_node_properties(new)
        .into_iter()
        .zip(same)
        .filter(|(_, same)| !same)
        .map(|((name, value), _)| Change::Value(name, value))
        .collect();
    if old.binding_update_list != new.binding_update_list {
        changes.push(Change::Invalidated("BindingUpdateList"));
    }
    changes
}

/// `org.umip_rs.Mip6d1.MobileNode`.
#[derive(Default)]
pub(super) struct MobileNode {
    pub(super) state: MobileNodeState,
}

#[interface(name = "org.umip_rs.Mip6d1.MobileNode")]
impl MobileNode {
    /// The home address, or "".
    #[zbus(property)]
    fn home_address(&self) -> String {
        addr(self.state.home_address)
    }

    /// The home agent's address, or "".
    #[zbus(property)]
    fn home_agent(&self) -> String {
        addr(self.state.home_agent)
    }

    /// The care-of address in use, or "" (at home, or no usable address).
    #[zbus(property)]
    fn care_of_address(&self) -> String {
        addr(self.state.care_of_address)
    }

    /// The interface of the care-of address, or "".
    #[zbus(property)]
    fn care_of_interface(&self) -> String {
        self.state.care_of_interface.clone()
    }

    /// idle, home, registering, registered, deregistering or failed.
    #[zbus(property)]
    fn registration_state(&self) -> String {
        self.state.registration.as_str().to_owned()
    }

    /// (peer, home address, care-of address, lifetime s, remaining s, sequence, flags,
    /// state, last BA status or -1) per entry. Root only; changes are signalled as
    /// invalidations.
    #[zbus(property(emits_changed_signal = "invalidates"))]
    async fn binding_update_list(
        &self,
        #[zbus(header)] header: Option<Header<'_>>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<Vec<BulRecord>> {
        crate::caller::require_root(conn, header.as_ref(), "BindingUpdateList").await?;
        Ok(bul_records(&self.state, Instant::now()))
    }

    /// Entries in the binding update list (public).
    #[zbus(property)]
    fn binding_update_list_entries(&self) -> u32 {
        entries(&self.state.binding_update_list)
    }

    /// All properties at once; `BindingUpdateList` for root callers only.
    async fn status(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> HashMap<String, Value<'static>> {
        let mut all: HashMap<String, Value<'static>> = mobile_node_properties(&self.state)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        if sees_bindings(conn, &header).await {
            all.insert(
                "BindingUpdateList".to_owned(),
                Value::from(bul_records(&self.state, Instant::now())),
            );
        }
        all
    }

    /// Sent when the Binding Acknowledgement for a new care-of address arrives; `micros`
    /// is the time from noticing the movement to that acknowledgement.
    #[zbus(signal, name = "HandoverCompleted")]
    pub(super) async fn emit_handover_completed(
        emitter: &SignalEmitter<'_>,
        interface: &str,
        old_coa: &str,
        new_coa: &str,
        micros: u64,
    ) -> zbus::Result<()>;
}

/// The home agent's public properties.
fn home_agent_properties(state: &HomeAgentState) -> Vec<(&'static str, Value<'static>)> {
    let c = &state.counters;
    vec![
        (
            "BindingCacheEntries",
            Value::from(entries(&state.binding_cache)),
        ),
        ("BindingUpdatesReceived", Value::from(c.received)),
        ("BindingUpdatesAccepted", Value::from(c.accepted)),
        ("BindingUpdatesRejected", Value::from(c.rejected_total())),
        ("BindingUpdatesDropped", Value::from(c.dropped)),
        ("RejectedByStatus", Value::from(rejected_map(state))),
    ]
}

fn rejected_map(state: &HomeAgentState) -> HashMap<u8, u64> {
    state
        .counters
        .rejected
        .iter()
        .map(|(&k, &v)| (k, v))
        .collect()
}

/// `org.umip_rs.Mip6d1.HomeAgent`.
#[derive(Default)]
pub(super) struct HomeAgent {
    pub(super) state: HomeAgentState,
}

#[interface(name = "org.umip_rs.Mip6d1.HomeAgent")]
impl HomeAgent {
    /// (home address, care-of address, local address, lifetime s, remaining s,
    /// sequence, flags, state) per home registration. Root only; changes are signalled
    /// as invalidations: re-read it.
    #[zbus(property(emits_changed_signal = "invalidates"))]
    async fn binding_cache(
        &self,
        #[zbus(header)] header: Option<Header<'_>>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<Vec<BindingRecord>> {
        crate::caller::require_root(conn, header.as_ref(), "BindingCache").await?;
        Ok(binding_records(&self.state.binding_cache, Instant::now()))
    }

    /// Home registrations in the binding cache (public).
    #[zbus(property)]
    fn binding_cache_entries(&self) -> u32 {
        entries(&self.state.binding_cache)
    }

    /// Binding Updates received. Read on demand; no change signal.
    #[zbus(property(emits_changed_signal = "false"))]
    fn binding_updates_received(&self) -> u64 {
        self.state.counters.received
    }

    /// Binding Updates accepted (BA status < 128).
    #[zbus(property(emits_changed_signal = "false"))]
    fn binding_updates_accepted(&self) -> u64 {
        self.state.counters.accepted
    }

    /// Binding Updates rejected (BA status ≥ 128), all statuses.
    #[zbus(property(emits_changed_signal = "false"))]
    fn binding_updates_rejected(&self) -> u64 {
        self.state.counters.rejected_total()
    }

    /// Binding Updates dropped without an acknowledgement.
    #[zbus(property(emits_changed_signal = "false"))]
    fn binding_updates_dropped(&self) -> u64 {
        self.state.counters.dropped
    }

    /// Rejections by Binding Acknowledgement status.
    #[zbus(property(emits_changed_signal = "false"))]
    fn rejected_by_status(&self) -> HashMap<u8, u64> {
        rejected_map(&self.state)
    }

    /// All properties at once; `BindingCache` for root callers only.
    async fn status(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> HashMap<String, Value<'static>> {
        let mut all: HashMap<String, Value<'static>> = home_agent_properties(&self.state)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        if sees_bindings(conn, &header).await {
            all.insert(
                "BindingCache".to_owned(),
                Value::from(binding_records(&self.state.binding_cache, Instant::now())),
            );
        }
        all
    }
}

/// `org.umip_rs.Mip6d1.Correspondent`.
#[derive(Default)]
pub(super) struct Correspondent {
    pub(super) binding_cache: Vec<BindingInfo>,
}

#[interface(name = "org.umip_rs.Mip6d1.Correspondent")]
impl Correspondent {
    /// Route-optimization bindings, as the home agent's `BindingCache`. Root only;
    /// changes are signalled as invalidations.
    #[zbus(property(emits_changed_signal = "invalidates"))]
    async fn binding_cache(
        &self,
        #[zbus(header)] header: Option<Header<'_>>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<Vec<BindingRecord>> {
        crate::caller::require_root(conn, header.as_ref(), "BindingCache").await?;
        Ok(binding_records(&self.binding_cache, Instant::now()))
    }

    /// Route-optimization bindings in the cache (public).
    #[zbus(property)]
    fn binding_cache_entries(&self) -> u32 {
        entries(&self.binding_cache)
    }

    /// All properties at once; `BindingCache` for root callers only.
    async fn status(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> HashMap<String, Value<'static>> {
        let mut all = HashMap::from([(
            "BindingCacheEntries".to_owned(),
            Value::from(entries(&self.binding_cache)),
        )]);
        if sees_bindings(conn, &header).await {
            all.insert(
                "BindingCache".to_owned(),
                Value::from(binding_records(&self.binding_cache, Instant::now())),
            );
        }
        all
    }
}
