//! netcfg: the only code of miredo-rs that touches the kernel.
//!
//! - [`tun`]: a TUN interface carrying raw IPv6 packets, with
//!   [`tun_offload`] for its segmentation offloads;
//! - [`Netlink`]: typed rtnetlink operations (links, addresses, routes, rules);
//! - [`events`]: network-change notifications (IPv4 side for Teredo
//!   re-qualification, IPv6 addresses for mip6d);
//! - [`rt_tables`]: iproute2 routing-table names;
//! - [`sysctl`]: per-interface IPv6 sysctls, and [`sysctl::SysctlSaver`]
//!   to put changed ones back;
//! - [`netns`]: run code in a fresh network namespace (tests, lab).
//!
//! For mip6d (the kernel side of Mobile IPv6, RFC 6275 and `docs/compat.md`):
//!
//! - [`probe`]: which of MIP6, ip6_tunnel, XFRM sub-policies, policy
//!   routing... the running kernel has, with the `CONFIG_` names to ask for;
//! - [`xfrm`]: XFRM policies (main and sub type) and states (route2/hao
//!   route optimization with a care-of address), ACQUIRE/REPORT events;
//! - [`ip6tnl`]: the ip6ip6 MN–HA tunnel, changed in place at handover, or
//!   one external-mode device for all of a home agent's bindings, whose
//!   ingress [`tunnel_filter`] guards;
//! - [`neigh_proxy`] and [`neigh`]: proxy NDP entries, router NUD states;
//! - [`mh_socket`]: the Mobility Header socket (HAO/RH2 as ancillary data);
//! - [`icmp6_socket`]: ND/DHAAD/MPD sockets with type filters, and a
//!   header-included sender for solicitations from `::`;
//! - [`ledger`]: what a daemon installed (and the sysctls it changed),
//!   undone in reverse at shutdown;
//! - [`anycast`]: anycast addresses joined on a socket of their own;
//! - [`Netlink`] also has table-252 routes with source prefixes, blackhole
//!   rules and home addresses (`IFA_F_HOMEADDRESS`).
//!
//! Everything that opens a socket or a device does so in the network
//! namespace of the *calling thread*, which is what the tests rely on.

pub mod anycast;
pub mod error;
pub mod events;
pub mod icmp6_socket;
pub mod ip6tnl;
pub mod ledger;
pub mod mh_socket;
pub mod neigh;
pub mod neigh_proxy;
pub mod netlink;
pub mod netns;
pub mod probe;
mod raw6;
/// The control-message walk of the raw sockets, public for its fuzz target only.
#[doc(hidden)]
pub use raw6::decode_cmsgs;
pub mod rt_tables;
pub mod sysctl;
pub mod tun;
mod tun_gro;
pub mod tun_offload;
pub mod tunnel_filter;
pub mod xfrm;

pub use error::{strerror, Error, Result};
pub use events::{EventGroup, Events, NetEvent};
pub use ip6tnl::{Ip6TnlInfo, Ip6TnlSpec};
pub use ledger::{Item, Ledger};
pub use neigh::{NeighEntry, NudState};
pub use neigh_proxy::ProxyNeigh;
pub use netlink::{
    AddrInfo, Family, Ip6Encap, LinkInfo, Netlink, RouteInfo, RouteSpec, RuleInfo, RuleSpec,
    RTPROT_MIP, TABLE_LOCAL, TABLE_MAIN,
};
pub use rt_tables::{lookup_table, RtTables};
pub use tun::{Offloads, Tun, TunError};
pub use tun_gro::TunSendBatch;
pub use tun_offload::TunRecvBatch;
pub use tunnel_filter::TunnelSourceFilter;
