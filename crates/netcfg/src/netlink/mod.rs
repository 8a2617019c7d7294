//! Typed rtnetlink operations: links, addresses, routes, rules.
//!
//! [`Netlink`] wraps an `rtnetlink::Handle` and the task driving its socket.
//! The socket belongs to the network namespace of the thread that called
//! [`Netlink::new`].

mod addr;
pub mod batch;
mod link;
mod route;
mod rule;

use std::sync::Arc;

use futures::TryStreamExt;
use tokio::task::JoinHandle;

pub use addr::AddrInfo;
pub use link::LinkInfo;
pub use route::{Ip6Encap, RouteInfo, RouteSpec, RTPROT_MIP};
pub use rule::{RuleInfo, RuleSpec};

use crate::error::{Error, Result};

/// IP family selector for dumps and flushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn ip_version(self) -> rtnetlink::IpVersion {
        match self {
            Family::V4 => rtnetlink::IpVersion::V4,
            Family::V6 => rtnetlink::IpVersion::V6,
        }
    }

    fn af(self) -> netlink_packet_route::AddressFamily {
        match self {
            Family::V4 => netlink_packet_route::AddressFamily::Inet,
            Family::V6 => netlink_packet_route::AddressFamily::Inet6,
        }
    }
}

/// The main routing table (`RT_TABLE_MAIN`).
pub const TABLE_MAIN: u32 = 254;
/// The local routing table (`RT_TABLE_LOCAL`).
pub const TABLE_LOCAL: u32 = 255;

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A route-netlink connection. Cheap to clone; the socket closes when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
    _conn: Arc<AbortOnDrop>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Netlink")
    }
}

impl Netlink {
    /// Open a route-netlink socket. Must be called inside a tokio runtime.
    pub fn new() -> Result<Netlink> {
        let (conn, handle, _unsolicited) =
            rtnetlink::new_connection().map_err(|e| Error::io("netlink socket", e))?;
        let task = tokio::spawn(conn);
        Ok(Netlink {
            handle,
            _conn: Arc::new(AbortOnDrop(task)),
        })
    }

    /// The underlying rtnetlink handle, for operations netcfg does not wrap yet.
    pub fn raw(&self) -> &rtnetlink::Handle {
        &self.handle
    }
}

/// Collect a dump stream, mapping errors.
async fn collect<T, S>(op: &'static str, stream: S) -> Result<Vec<T>>
where
    S: futures::Stream<Item = std::result::Result<T, rtnetlink::Error>>,
{
    stream
        .map_err(|e| Error::from_rtnl(op, e))
        .try_collect()
        .await
}
