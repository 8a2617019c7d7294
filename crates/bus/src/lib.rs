//! The D-Bus contract of miredo-rs (and, later, umip-rs), in one place.
//!
//! miredo's client publishes `org.miredo_rs.Miredo1` on the system bus, with one object
//! per tunnel at `/org/miredo_rs/Miredo1/<InterfaceName>` (the name escaped with
//! [`escape_path_element`]) implementing `org.miredo_rs.Miredo1.Tunnel`:
//!
//! - properties, all emitting `PropertiesChanged` (except the constant `InterfaceName`):
//!   `InterfaceName` s, `State` s (`down`, `qualifying`, `up`), `Address` s,
//!   `LinkLocalAddress` s, `Mtu` u, `ServerAddress` s, `MappedAddress` s, `Peers` u,
//!   `Mode` s, `NatType` s (and `Counters` a{st}, read on demand);
//! - signal `AddressChanged(s interface, s state, s old_address, s new_address, u mtu)`;
//! - methods `Requalify()` (root only) and `Status() -> a{sv}`.
//!
//! The service side is [`TunnelService`]; clients use [`TunnelProxy`],
//! [`subscribe_address_changed`] and [`subscribe_tunnel_state`], which believe a signal
//! only from the connection owning `org.miredo_rs.Miredo1` when it was sent (any local
//! user may emit signals with any path and interface).
//!
//! miredo-server publishes `org.miredo_rs.Server1` with one object, see [`ServerService`].
//!
//! mip6d publishes `org.umip_rs.Mip6d1` with one object at `/org/umip_rs/Mip6d1`
//! implementing `.MobileNode`, `.HomeAgent` and `.Correspondent` as its role needs: see
//! [`Mip6dService`] and the [`mip6d`] module.

#![forbid(unsafe_code)]

mod caller;
mod changed;
mod client;
pub mod mip6d;
mod owner;
mod path;
mod republish;
mod server;
mod tunnel;
mod tunnel_status;

pub use client::{
    connection_closed, daemon_absent, subscribe_address_changed, subscribe_tunnel_state,
    tunnel_proxy, AddressChangedEvent, AddressChangedEvents, TunnelProxy, TunnelStateChange,
    TunnelStateChanges,
};
pub use path::{escape_path_element, tunnel_object_path, unescape_path_element};
pub use republish::{keep_published, Republish};
pub use server::{ServerService, ServerState, SERVER_BUS_NAME, SERVER_INTERFACE, SERVER_PATH};
pub use tunnel::{BusError, State, TunnelService, TunnelState};
pub use tunnel_status::{miredo_tunnels, TunnelSnapshot};

pub use mip6d::{
    is_access_denied, BindingInfo, BindingState, BuCounters, BulEntryInfo, HomeAgentState,
    Mip6dService, MobileNodeState, RegistrationState, Role,
};

/// Re-exported so users need not depend on zbus directly for the basics.
pub use zbus;

/// miredo's well-known bus name.
pub const MIREDO_BUS_NAME: &str = "org.miredo_rs.Miredo1";
/// The prefix of miredo's tunnel object paths.
pub const MIREDO_PATH_PREFIX: &str = "/org/miredo_rs/Miredo1";
/// The tunnel interface.
pub const TUNNEL_INTERFACE: &str = "org.miredo_rs.Miredo1.Tunnel";
/// The `AddressChanged` signal's member name.
pub const ADDRESS_CHANGED: &str = "AddressChanged";

/// mip6d's well-known bus name.
pub const MIP6D_BUS_NAME: &str = "org.umip_rs.Mip6d1";
/// mip6d's object path.
pub const MIP6D_PATH: &str = "/org/umip_rs/Mip6d1";
