//! Shutdown with many bindings. The kernel walks the whole IPv6 routing
//! table for every device that goes down or away (to drop the routes
//! through it), so deleting N tunnel devices while their routes are still
//! in the table costs O(N²). Here the table is emptied first, with many
//! requests in flight (`netcfg::netlink::batch`): the bindings' routes and
//! proxy entries, then the routes the kernel itself gave each tunnel
//! (link-local prefix, local and multicast routes); the tunnels then go in
//! one group request, each walk finding a small table. On the shared-tunnel
//! datapath the one device goes first, with every binding's route and
//! filter. What is left (the home agent's own rule, states and policies)
//! goes in the ledger's teardown, newest first.

use std::collections::HashSet;

use netcfg::Family;
use tracing::{info, warn};

use super::binding::TUNNEL_GROUP;
use super::HomeAgent;
use crate::kernel::Item;

impl HomeAgent {
    /// Removes every binding's kernel state (installed, or queued for
    /// removal).
    pub(super) async fn remove_bindings(&mut self) {
        // Tunnel-mode SAs go back to the home address, where the admin
        // keyed them, before their tunnels go.
        for b in self
            .bindings
            .values_mut()
            .chain(self.backlog.removals_mut())
        {
            b.release_ipsec(&mut self.io.kernel).await;
        }
        let started = std::time::Instant::now();
        if let Some(shared) = self.tunnel_names.shared_device() {
            // The shared device takes every binding's route and filter with
            // it in one request; the proxy entries are left for below.
            let on_it: Vec<Item> = self
                .bindings
                .values()
                .chain(self.backlog.removals())
                .flat_map(|b| b.device_items())
                .filter(|i| !matches!(i, Item::Tunnel(_)))
                .cloned()
                .collect();
            info!(
                "removing the shared tunnel device with {} bindings' routes",
                self.bindings.len()
            );
            if let Err(e) = self.io.kernel.remove_device(shared, on_it.iter()).await {
                warn!("cannot remove the shared tunnel device: {e}");
            }
        }
        let tunnels: Vec<Item> = self
            .bindings
            .values()
            .chain(self.backlog.removals())
            .flat_map(|b| b.device_items())
            .filter(|i| matches!(i, Item::Tunnel(_)))
            .cloned()
            .collect();
        // Routes, proxy entries and rules depend on nothing the others
        // hold: they may go in any order.
        let independent: Vec<Item> = self
            .io
            .kernel
            .installed()
            .filter(|i| matches!(i, Item::Route(_) | Item::Proxy(_) | Item::Rule(_)))
            .cloned()
            .collect();
        if independent.is_empty() && tunnels.is_empty() {
            return;
        }
        info!(
            "removing {} binding tunnels, and first {} routes, proxy entries and rules",
            tunnels.len(),
            independent.len()
        );
        let shared_done = started.elapsed();
        for (item, e) in self.io.kernel.remove_many(independent).await {
            warn!("cannot remove {item:?}: {e}");
        }
        let routes_done = started.elapsed();
        if !tunnels.is_empty() {
            self.remove_device_routes(&tunnels).await;
        }
        let device_routes_done = started.elapsed();
        if !tunnels.is_empty() {
            if let Err(e) = self.io.kernel.remove_group(TUNNEL_GROUP, &tunnels).await {
                warn!("cannot remove the tunnel group {TUNNEL_GROUP} at once: {e}");
            }
        }
        // Where an exit's time goes, for whoever waits for it.
        info!(
            "binding state removed in {:.2} s (the shared tunnel device {:.2} s, \
             routes, proxy entries and rules {:.2} s, the tunnels' own routes {:.2} s, \
             the tunnels {:.2} s)",
            started.elapsed().as_secs_f64(),
            shared_done.as_secs_f64(),
            (routes_done - shared_done).as_secs_f64(),
            (device_routes_done - routes_done).as_secs_f64(),
            (started.elapsed() - device_routes_done).as_secs_f64(),
        );
    }

    /// Deletes the routes the kernel added for `tunnels` (they would
    /// otherwise be dropped one device at a time, each by a walk of the
    /// whole table).
    async fn remove_device_routes(&mut self, tunnels: &[Item]) {
        let indexes: HashSet<u32> = tunnels
            .iter()
            .filter_map(|i| match i {
                Item::Tunnel(index) => Some(*index),
                _ => None,
            })
            .collect();
        let nl = &self.io.kernel.nl;
        let routes = match nl.routes(Family::V6, None).await {
            Ok(r) => r,
            Err(e) => {
                warn!("cannot list the routes of the binding tunnels: {e}");
                return;
            }
        };
        let theirs: Vec<_> = routes
            .into_iter()
            .filter(|r| r.oif.is_some_and(|o| indexes.contains(&o)))
            .collect();
        for (route, e) in nl.del_route_infos(theirs).await {
            warn!("cannot remove {route:?}: {e}");
        }
    }
}
