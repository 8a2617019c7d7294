//! Keeping a daemon's service on the bus across bus restarts: a system bus that goes
//! away (dbus-daemon restarted) closes every connection, and the daemon must connect
//! again and publish its state anew, or `busctl` shows nothing until it restarts.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use zbus::Connection;

use crate::client::connection_closed;

/// A publisher's state that can be put on a new connection.
pub trait Republish: Send + 'static {
    /// The connection in use, if any.
    fn connection(&self) -> Option<Connection>;
    /// Forgets a connection that closed (publishing becomes a no-op).
    fn disconnect(&mut self);
    /// Connects again and publishes the last state; `false` if the bus is not back.
    fn reconnect(&mut self) -> impl Future<Output = bool> + Send;
}

/// Runs forever (spawn it, abort it to stop): waits for the connection to close,
/// then reconnects every `every` until that works.
pub async fn keep_published<T: Republish>(state: Arc<Mutex<T>>, every: Duration) {
    loop {
        let conn = state.lock().await.connection();
        if let Some(conn) = conn {
            connection_closed(&conn).await;
            let mut guard = state.lock().await;
            let same = guard
                .connection()
                .is_some_and(|c| c.unique_name() == conn.unique_name());
            if same {
                tracing::info!("D-Bus: connection to the system bus lost; reconnecting");
                guard.disconnect();
            }
            continue;
        }
        tokio::time::sleep(every).await;
        if state.lock().await.reconnect().await {
            tracing::info!("D-Bus: published again");
        }
    }
}
