//! Many requests on one socket at once. Deleting ten thousand routes one
//! request and one acknowledgement at a time costs ten thousand round trips
//! through the kernel and the runtime; netlink answers carry the request's
//! sequence number, so up to [`IN_FLIGHT`] requests are sent before the first
//! answer is awaited.

use std::future::Future;

use futures::StreamExt as _;

use super::{Netlink, RouteInfo};
use crate::error::{Error, Result};

/// How many requests wait for their answers at once: enough to keep the
/// kernel busy, few enough that the acknowledgements (some 40 bytes each)
/// never fill the socket's receive buffer.
pub const IN_FLIGHT: usize = 128;

/// Runs `op` on every item, up to [`IN_FLIGHT`] at once, and returns the
/// items it failed for (in no particular order).
pub async fn pipelined<T, F, Fut>(items: Vec<T>, op: F) -> Vec<(T, Error)>
where
    T: Clone,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    futures::stream::iter(items)
        .map(|item| {
            let request = op(item.clone());
            async move { request.await.err().map(|e| (item, e)) }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter_map(|failed| async move { failed })
        .collect()
        .await
}

impl Netlink {
    /// Deletes routes obtained from [`Netlink::routes`], pipelined; a route
    /// already gone is not a failure.
    pub async fn del_route_infos(&self, routes: Vec<RouteInfo>) -> Vec<(RouteInfo, Error)> {
        pipelined(routes, |r| async move { self.del_route_info(&r).await })
            .await
            .into_iter()
            .filter(|(_, e)| !e.is_not_found())
            .collect()
    }
}
