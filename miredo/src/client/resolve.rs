//! Server name resolution off the event loop (getaddrinfo may block on DNS).

use std::net::{IpAddr, Ipv4Addr};

use tokio::sync::mpsc;

/// Resolves `name` to its first IPv4 address and sends the answer (None on
/// failure) on `tx`. A literal address answers at once.
pub fn spawn(name: String, tx: mpsc::Sender<Option<Ipv4Addr>>) {
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        // Common case (the seed uses a literal): no task, no delay.
        let _ = tx.try_send(Some(ip));
        return;
    }
    tokio::spawn(async move {
        let answer = match tokio::net::lookup_host((name.as_str(), 0)).await {
            Ok(addrs) => addrs.map(|a| a.ip()).find_map(|ip| match ip {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            }),
            Err(e) => {
                tracing::debug!("resolving {name}: {e}");
                None
            }
        };
        let _ = tx.send(answer).await;
    });
}
