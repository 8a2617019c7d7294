//! The exported interfaces of mip6d's object.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Instant;

use zbus::interface;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::Value;

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

/// The mobile node's properties as (name, value), in introspection order.
fn mobile_node_properties(
    state: &MobileNodeState,
    now: Instant,
) -> Vec<(&'static str, Value<'static>)> {
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
        ("BindingUpdateList", Value::from(bul_records(state, now))),
    ]
}

/// What changed between `old` and `new`. Compared on the Rust state, not on the
/// published values: `remaining` differs between any two reads.
pub(super) fn mobile_node_changes(
    old: &MobileNodeState,
    new: &MobileNodeState,
    now: Instant,
) -> Vec<Change> {
    let same = [
        old.home_address == new.home_address,
        old.home_agent == new.home_agent,
        old.care_of_address == new.care_of_address,
        old.care_of_interface == new.care_of_interface,
        old.registration == new.registration,
        old.binding_update_list == new.binding_update_list,
    ];
    mobile_node_properties(new, now)
        .into_iter()
        .zip(same)
        .filter(|(_, same)| !same)
        .map(|((name, value), _)| Change::Value(name, value))
        .collect()
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
    /// state, last BA status or -1) per entry.
    #[zbus(property)]
    fn binding_update_list(&self) -> Vec<BulRecord> {
        bul_records(&self.state, Instant::now())
    }

    /// All properties at once.
    fn status(&self) -> HashMap<String, Value<'static>> {
        mobile_node_properties(&self.state, Instant::now())
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
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

fn home_agent_properties(
    state: &HomeAgentState,
    now: Instant,
) -> Vec<(&'static str, Value<'static>)> {
    let c = &state.counters;
    vec![
        (
            "BindingCache",
            Value::from(binding_records(&state.binding_cache, now)),
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
    /// sequence, flags, state) per home registration. Changes are signalled as
    /// invalidations: re-read it.
    #[zbus(property(emits_changed_signal = "invalidates"))]
    fn binding_cache(&self) -> Vec<BindingRecord> {
        binding_records(&self.state.binding_cache, Instant::now())
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

    /// All properties at once.
    fn status(&self) -> HashMap<String, Value<'static>> {
        home_agent_properties(&self.state, Instant::now())
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }
}

/// `org.umip_rs.Mip6d1.Correspondent`.
#[derive(Default)]
pub(super) struct Correspondent {
    pub(super) binding_cache: Vec<BindingInfo>,
}

#[interface(name = "org.umip_rs.Mip6d1.Correspondent")]
impl Correspondent {
    /// Route-optimization bindings, as the home agent's `BindingCache`. Changes are
    /// signalled as invalidations.
    #[zbus(property(emits_changed_signal = "invalidates"))]
    fn binding_cache(&self) -> Vec<BindingRecord> {
        binding_records(&self.binding_cache, Instant::now())
    }

    /// All properties at once.
    fn status(&self) -> HashMap<String, Value<'static>> {
        HashMap::from([(
            "BindingCache".to_owned(),
            Value::from(binding_records(&self.binding_cache, Instant::now())),
        )])
    }
}
