//! miredo's D-Bus publication (`org.miredo_rs.Miredo1`, see DESIGN.md), over
//! `crates/bus`. Without a reachable bus the daemon runs on and says so once.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Mutex};

use crate::client::Control;
use crate::status::TunnelStatus;

/// How often a lost or absent bus is tried again (at the next update).
const RETRY_EVERY: Duration = Duration::from_secs(5);

/// Publishes one tunnel's state; a no-op while the bus is unreachable. A bus
/// that goes away (dbus-daemon restarted) or was not there at start is tried
/// again at the next update, at most every [`RETRY_EVERY`], and then gets the
/// whole state. (The policy lets the `miredo` user own the name, so this works
/// after privileges are dropped.)
pub struct Publisher {
    iface: String,
    control: mpsc::Sender<Control>,
    inner: Mutex<Inner>,
}

struct Inner {
    service: bus::TunnelService,
    retry_at: Option<Instant>,
    last: Option<bus::TunnelState>,
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
        let (service, retry_at) = match start_service(iface, &control).await {
            Ok(s) => {
                *bus_warned = false;
                (s, None)
            }
            Err(e) => {
                if !*bus_warned {
                    *bus_warned = true;
                    tracing::warn!("D-Bus system bus unavailable, state not published: {e}");
                }
                (
                    bus::TunnelService::disabled(),
                    Some(Instant::now() + RETRY_EVERY),
                )
            }
        };
        Publisher {
            iface: iface.to_owned(),
            control,
            inner: Mutex::new(Inner {
                service,
                retry_at,
                last: None,
            }),
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
            counters: st
                .stats
                .named()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        };
        let mut inner = self.inner.lock().await;
        inner.last = Some(state.clone());
        let result = inner.service.update(state).await;
        self.after(&mut inner, result).await;
    }

    /// The `AddressChanged` signal, sent right after the hook ran.
    pub async fn address_changed(&self, _iface: &str, state: &str, old: &str, new: &str, mtu: u32) {
        let state = bus::State::parse(state).unwrap_or(bus::State::Down);
        let mut inner = self.inner.lock().await;
        let result = inner.service.address_changed(state, old, new, mtu).await;
        let failed = result.is_err();
        self.after(&mut inner, result).await;
        if failed && inner.service.is_enabled() {
            // Reconnected: the listeners on the new bus need this one.
            if let Err(e) = inner.service.address_changed(state, old, new, mtu).await {
                tracing::debug!("D-Bus signal after reconnection: {e}");
            }
        }
    }

    /// After a bus operation: a failure means the bus went away; a missing
    /// service is started again when due, with the last state.
    async fn after(&self, inner: &mut Inner, result: Result<(), bus::BusError>) {
        if let Err(e) = result {
            tracing::info!("D-Bus: publication failed ({e}); reconnecting");
            inner.service = bus::TunnelService::disabled();
            inner.retry_at = Some(Instant::now());
        }
        if inner.service.is_enabled() || inner.retry_at.is_some_and(|t| t > Instant::now()) {
            return;
        }
        match start_service(&self.iface, &self.control).await {
            Ok(service) => {
                tracing::info!("D-Bus: {} published again", bus::MIREDO_BUS_NAME);
                inner.service = service;
                inner.retry_at = None;
                if let Some(state) = inner.last.clone() {
                    if let Err(e) = inner.service.update(state).await {
                        tracing::debug!("D-Bus update after reconnection: {e}");
                    }
                }
            }
            Err(e) => {
                tracing::debug!("D-Bus: still not published ({e})");
                inner.retry_at = Some(Instant::now() + RETRY_EVERY);
            }
        }
    }

    /// Releases the name and object.
    pub async fn close(&self) {
        let service = self.inner.lock().await.service.clone();
        if let Err(e) = service.stop().await {
            tracing::debug!("D-Bus stop: {e}");
        }
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
