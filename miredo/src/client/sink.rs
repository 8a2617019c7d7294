//! Where the client's state goes: the hook (script through the root hook runner,
//! or the built-in netlink equivalent) and D-Bus.
//!
//! The hook runs for the transitions miredo runs it for (docs/compat.md, "Client hook"), in
//! order, and `AddressChanged` is emitted right after each hook call — when the
//! interface is configured, as the D-Bus contract says.

use std::net::Ipv6Addr;
use std::sync::Arc;

use teredo::maintain::State;
use tokio::sync::{mpsc, Mutex};

use crate::client::Control;
use crate::dbus::Publisher;
use crate::hook::{BuiltinHook, HookEvent, HookParams, HookState, HookTracker};
use crate::privproc::PrivProc;
use crate::status::{StatusSink, TunnelStatus};

/// The hook-visible part of the state: up with (address, MTU), or down.
type HookLevel = Option<(Ipv6Addr, u16)>;

struct Inner {
    tracker: Option<HookTracker>,
    level: HookLevel,
    last: Option<TunnelStatus>,
}

/// The [`StatusSink`] of the miredo client.
pub struct ClientSink {
    iface: String,
    builtin: BuiltinHook,
    privproc: Arc<PrivProc>,
    bus: Publisher,
    inner: Mutex<Inner>,
}

impl ClientSink {
    /// A sink for interface `iface`; connects to the system bus (logging once,
    /// via `bus_warned`, when it cannot).
    pub async fn new(
        iface: String,
        ifindex: u32,
        privproc: Arc<PrivProc>,
        control: mpsc::Sender<Control>,
        bus_warned: &mut bool,
    ) -> ClientSink {
        let bus = Publisher::connect(&iface, control, bus_warned).await;
        ClientSink {
            iface,
            builtin: BuiltinHook::default(),
            privproc,
            bus,
            inner: Mutex::new(Inner {
                tracker: Some(HookTracker::new(ifindex)),
                level: None,
                last: None,
            }),
        }
    }

    async fn run_hook(&self, ev: &HookEvent) {
        // The script, when it exists at the time of the call, runs as root in the
        // hook runner (which alone knows which script, and builds its environment
        // from the event); otherwise the built-in does the same with netlink here.
        if std::fs::symlink_metadata(self.privproc.hook_path()).is_ok() {
            match self.privproc.run(ev).await {
                Ok(status) => tracing::debug!("client hook exited with {status}"),
                Err(e) => tracing::error!("client hook runner: {e:#}"),
            }
        } else {
            let outcome = self.builtin.run(ev).await;
            tracing::debug!("built-in hook: {outcome:?}");
        }
        let (old, new, mtu) = (
            ev.old.map(|p| p.address.to_string()).unwrap_or_default(),
            ev.current
                .map(|p| p.address.to_string())
                .unwrap_or_default(),
            ev.current.or(ev.old).map_or(1280, |p| p.mtu),
        );
        self.bus
            .address_changed(&self.iface, ev.state.as_str(), &old, &new, mtu)
            .await;
    }

    /// Worker exit: `down` then `destroy` (docs/compat.md, "Client hook"), if the interface is
    /// still there.
    pub async fn shutdown(&self) {
        let tracker = self.inner.lock().await.tracker.take();
        if let Some(tracker) = tracker {
            for ev in tracker.shutdown(&self.iface) {
                self.run_hook(&ev).await;
            }
        }
        self.bus.close().await;
    }
}

#[async_trait::async_trait]
impl StatusSink for ClientSink {
    async fn update(&self, status: &TunnelStatus) {
        let mut inner = self.inner.lock().await;
        let level = match (status.state, status.address) {
            (State::Up, Some(a)) => Some((a, status.mtu)),
            _ => None,
        };
        if level != inner.level {
            inner.level = level;
            if level.is_none() && inner.last.as_ref() != Some(status) {
                // The bus hears of the loss before the hook removes the
                // address, so listeners (mip6d) can stop using it first.
                inner.last = Some(status.clone());
                self.bus.update(status).await;
            }
            let ev = inner.tracker.as_mut().and_then(|t| match level {
                Some((addr, mtu)) => t.up(&self.iface, HookParams::new(addr, u32::from(mtu))),
                None => t.down(&self.iface),
            });
            if let Some(ev) = ev {
                debug_assert!(matches!(ev.state, HookState::Up | HookState::Down));
                self.run_hook(&ev).await;
            }
        }
        if inner.last.as_ref() != Some(status) {
            inner.last = Some(status.clone());
            self.bus.update(status).await;
        }
    }
}
