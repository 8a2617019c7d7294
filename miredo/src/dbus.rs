//! miredo's D-Bus publication (`org.miredo_rs.Miredo1`, docs/dbus.md), over
//! `crates/bus`. Without a reachable bus the daemon runs on and says so once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Mutex};

use crate::client::Control;
use crate::status::TunnelStatus;

/// How often a lost or absent bus is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Publishes one tunnel's state; a no-op while the bus is unreachable. A task
/// watches the connection: when the bus goes away (dbus-daemon restarted), or if
/// it was not there at start, it connects again every [`RETRY_EVERY`] and
/// publishes the last state. (The policy lets the `miredo` user own the name, so
/// this works after privileges are dropped.)
pub struct Publisher {
    inner: Arc<Mutex<Inner>>,
    keeper: tokio::task::AbortHandle,
}

struct Inner {
    service: bus::TunnelService,
    last: Option<bus::TunnelState>,
    iface: String,
    control: mpsc::Sender<Control>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        // The next round's publisher takes over the name.
        self.keeper.abort();
    }
}

impl Publisher {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured) and
    /// exports the tunnel object; `Requalify()` calls become
    /// [`Control::Requalify`] on `control`.
    pub async fn connect(
        iface: &str,
        control: mpsc::Sender<Control>,
        bus_warned: &mut bool,
    ) -> Publisher {
        let service = match start_service(iface, &control).await {
            Ok(s) => {
                *bus_warned = false;
                s
            }
            Err(e) => {
                if !*bus_warned {
                    *bus_warned = true;
                    tracing::warn!("D-Bus system bus unavailable, state not published: {e}");
                }
                bus::TunnelService::disabled()
            }
        };
        let inner = Arc::new(Mutex::new(Inner {
            service,
            last: None,
            iface: iface.to_owned(),
            control,
        }));
        let keeper = tokio::spawn(bus::keep_published(inner.clone(), RETRY_EVERY));
        Publisher {
            inner,
            keeper: keeper.abort_handle(),
        }
    }

    /// Property update (PropertiesChanged for what changed).
    pub async fn update(&self, st: &TunnelStatus) {
        let state = bus::TunnelState {
            state: bus::State::parse(st.state_name()).unwrap_or(bus::State::Down),
            address: st.address.map(|a| a.to_string()).unwrap_or_default(),
            lladdress: st.lladdress().map(|a| a.to_string()).unwrap_or_default(),
            mtu: u32::from(st.mtu),
            server: st.server.clone(),
            mapped: st.mapped.map(|m| m.to_string()).unwrap_or_default(),
            peers: st.peers,
            mode: st.mode.to_owned(),
            nat_type: st.nat.as_str().to_owned(),
            port_preserved: st.port_preserved,
            port_mapping: st.port_mapping.to_owned(),
            port_prediction: st.port_prediction.to_owned(),
            counters: st
                .stats
                .named()
                .into_iter()
                .chain(st.path.named())
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        };
        let mut inner = self.inner.lock().await;
        inner.last = Some(state.clone());
        if let Err(e) = inner.service.update(state).await {
            tracing::debug!("D-Bus update: {e}");
        }
    }

    /// The `AddressChanged` signal, sent right after the hook ran.
    pub async fn address_changed(&self, _iface: &str, state: &str, old: &str, new: &str, mtu: u32) {
        let state = bus::State::parse(state).unwrap_or(bus::State::Down);
        let inner = self.inner.lock().await;
        if let Err(e) = inner.service.address_changed(state, old, new, mtu).await {
            tracing::debug!("D-Bus signal: {e}");
        }
    }

    /// Releases the name and object.
    pub async fn close(&self) {
        self.keeper.abort();
        let service = self.inner.lock().await.service.clone();
        if let Err(e) = service.stop().await {
            tracing::debug!("D-Bus stop: {e}");
        }
    }
}

impl bus::Republish for Inner {
    fn connection(&self) -> Option<bus::zbus::Connection> {
        self.service.connection().cloned()
    }

    fn disconnect(&mut self) {
        self.service = bus::TunnelService::disabled();
    }

    async fn reconnect(&mut self) -> bool {
        let Ok(service) = start_service(&self.iface, &self.control).await else {
            return false;
        };
        self.service = service;
        if let Some(state) = self.last.clone() {
            if let Err(e) = self.service.update(state).await {
                tracing::debug!("D-Bus update after reconnection: {e}");
            }
        }
        true
    }
}

/// Exports the tunnel object and forwards `Requalify()` calls to `control`.
async fn start_service(
    iface: &str,
    control: &mpsc::Sender<Control>,
) -> Result<bus::TunnelService, bus::BusError> {
    let (tx, mut rx) = mpsc::channel::<()>(4);
    let service = bus::TunnelService::start(iface, tx).await?;
    let control = control.clone();
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            if control.send(Control::Requalify).await.is_err() {
                break;
            }
        }
    });
    Ok(service)
}
