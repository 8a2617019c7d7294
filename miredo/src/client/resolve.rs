//! Server name resolution off the event loop (getaddrinfo may block on DNS).

use std::net::{IpAddr, Ipv4Addr};

use tokio::sync::mpsc;

/// Resolves every name in `names` and sends all their IPv4 addresses on `tx`,
/// in the order of the names (a name with several A records gives them all,
/// as fail-over servers); the list is empty when none resolved. Literal
/// addresses answer at once.
pub fn spawn(names: Vec<String>, tx: mpsc::Sender<Vec<Ipv4Addr>>) {
    let literal: Option<Vec<Ipv4Addr>> = names.iter().map(|n| n.parse().ok()).collect();
    if let Some(addrs) = literal {
        // Common case (the seed uses a literal): no task, no delay.
        let _ = tx.try_send(addrs);
        return;
    }
    tokio::spawn(async move {
        let mut all = Vec::new();
        for name in &names {
            if let Ok(ip) = name.parse::<Ipv4Addr>() {
                all.push(ip);
                continue;
            }
            match tokio::net::lookup_host((name.as_str(), 0)).await {
                Ok(addrs) => all.extend(addrs.filter_map(|a| match a.ip() {
                    IpAddr::V4(v4) => Some(v4),
                    IpAddr::V6(_) => None,
                })),
                Err(e) => tracing::debug!("resolving {name}: {e}"),
            }
        }
        let _ = tx.send(all).await;
    });
}
