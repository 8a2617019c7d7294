//! miredo's D-Bus publication (`org.miredo_rs.Miredo1`, see DESIGN.md), over
//! `crates/bus`. Without a reachable bus the daemon runs on and says so once.

use tokio::sync::mpsc;

use crate::client::Control;
use crate::status::TunnelStatus;

/// Publishes one tunnel's state; a no-op when the bus is unreachable.
pub struct Publisher {
    service: bus::TunnelService,
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
        let (tx, mut rx) = mpsc::channel::<()>(4);
        let service = match bus::TunnelService::start(iface, tx).await {
            Ok(s) => {
                tokio::spawn(async move {
                    while rx.recv().await.is_some() {
                        if control.send(Control::Requalify).await.is_err() {
                            break;
                        }
                    }
                });
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
        Publisher { service }
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
        if let Err(e) = self.service.update(state).await {
            tracing::debug!("D-Bus update: {e}");
        }
    }

    /// The `AddressChanged` signal, sent right after the hook ran.
    pub async fn address_changed(&self, _iface: &str, state: &str, old: &str, new: &str, mtu: u32) {
        let state = bus::State::parse(state).unwrap_or(bus::State::Down);
        if let Err(e) = self.service.address_changed(state, old, new, mtu).await {
            tracing::debug!("D-Bus signal: {e}");
        }
    }

    /// Releases the name and object.
    pub async fn close(&self) {
        if let Err(e) = self.service.clone().stop().await {
            tracing::debug!("D-Bus stop: {e}");
        }
    }
}
