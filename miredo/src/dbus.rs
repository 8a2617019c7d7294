//! miredo's D-Bus publication (`org.miredo_rs.Miredo1`), over `crates/bus`.

use tokio::sync::mpsc;

use crate::client::Control;
use crate::status::TunnelStatus;

/// Publishes one tunnel's state; a no-op when the bus is unreachable.
pub struct Publisher {
    _control: Option<mpsc::Sender<Control>>,
}

impl Publisher {
    /// Connects to the system bus and exports the tunnel object.
    pub async fn connect(
        _iface: &str,
        control: mpsc::Sender<Control>,
        bus_warned: &mut bool,
    ) -> Publisher {
        if !*bus_warned {
            *bus_warned = true;
            tracing::info!("D-Bus: not available in this build");
        }
        Publisher {
            _control: Some(control),
        }
    }

    /// Property update.
    pub async fn update(&self, _status: &TunnelStatus) {}

    /// The `AddressChanged` signal.
    pub async fn address_changed(
        &self,
        _iface: &str,
        _state: &str,
        _old: &str,
        _new: &str,
        _mtu: u32,
    ) {
    }

    /// Releases the name and object.
    pub async fn close(&self) {}
}
