//! The daemon's state on D-Bus (`org.umip_rs.Mip6d1`, crates/bus), best
//! effort: without a system bus (or with the name taken) mip6d runs as
//! UMIP does, and says so once.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use bus::{BindingInfo, HomeAgentState, Mip6dService, MobileNodeState, Role};
use tokio::sync::Mutex;
use tracing::{debug, info};

/// How often a lost or absent bus is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Publishes state changes; a no-op while no bus is reachable. A task watches
/// the connection: when the bus goes away (dbus-daemon restarted), or if it was
/// not there at start, it connects again every [`RETRY_EVERY`] and publishes
/// the last state.
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    service: Mip6dService,
    role: Role,
    last_mn: Option<MobileNodeState>,
    last_ha: Option<HomeAgentState>,
    last_cn: Option<Vec<BindingInfo>>,
}

impl Publisher {
    /// Starts the service on the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured).
    pub async fn start(role: Role) -> Publisher {
        let service = match Mip6dService::start(role).await {
            Ok(s) => {
                info!("D-Bus: org.umip_rs.Mip6d1 published on the system bus");
                s
            }
            Err(e) => {
                info!("D-Bus: not published ({e}); trying again every {RETRY_EVERY:?}");
                Mip6dService::disabled()
            }
        };
        let publisher = Publisher::new(service, role);
        tokio::spawn(bus::keep_published(publisher.inner.clone(), RETRY_EVERY));
        publisher
    }

    /// A publisher that publishes nothing.
    pub fn disabled() -> Publisher {
        Publisher::new(Mip6dService::disabled(), Role::CorrespondentNode)
    }

    fn new(service: Mip6dService, role: Role) -> Publisher {
        Publisher {
            inner: Arc::new(Mutex::new(Inner {
                service,
                role,
                last_mn: None,
                last_ha: None,
                last_cn: None,
            })),
        }
    }

    /// The mobile node's state.
    pub async fn mobile_node(&self, state: MobileNodeState) {
        let mut inner = self.inner.lock().await;
        inner.last_mn = Some(state.clone());
        let result = inner.service.update_mobile_node(state).await;
        inner.after(result);
    }

    /// The home agent's binding cache and counters.
    pub async fn home_agent(&self, state: HomeAgentState) {
        let mut inner = self.inner.lock().await;
        inner.last_ha = Some(state.clone());
        let result = inner.service.update_home_agent(state).await;
        inner.after(result);
    }

    /// The correspondent node's binding cache (callers rate-limit it).
    pub async fn correspondent(&self, cache: Vec<BindingInfo>) {
        let mut inner = self.inner.lock().await;
        inner.last_cn = Some(cache.clone());
        let result = inner.service.update_correspondent(cache).await;
        inner.after(result);
    }

    /// `HandoverCompleted`.
    pub async fn handover_completed(
        &self,
        interface: &str,
        old: Option<Ipv6Addr>,
        new: Ipv6Addr,
        took: Duration,
    ) {
        let inner = self.inner.lock().await;
        if let Err(e) = inner
            .service
            .handover_completed(interface, old, new, took)
            .await
        {
            debug!("D-Bus signal: {e}");
        }
    }
}

impl Inner {
    /// (A connection that died is replaced by [`bus::keep_published`], which
    /// sees it close.)
    fn after(&self, result: Result<(), bus::BusError>) {
        if let Err(e) = result {
            debug!("D-Bus update: {e}");
        }
    }
}

impl bus::Republish for Inner {
    fn connection(&self) -> Option<bus::zbus::Connection> {
        self.service.connection().cloned()
    }

    fn disconnect(&mut self) {
        self.service = Mip6dService::disabled();
    }

    async fn reconnect(&mut self) -> bool {
        let Ok(service) = Mip6dService::start(self.role).await else {
            return false;
        };
        self.service = service;
        let mut result = Ok(());
        if let Some(state) = self.last_mn.clone() {
            result = self.service.update_mobile_node(state).await;
        }
        if let Some(state) = self.last_ha.clone() {
            result = result.and(self.service.update_home_agent(state).await);
        }
        if let Some(cache) = self.last_cn.clone() {
            result = result.and(self.service.update_correspondent(cache).await);
        }
        if let Err(e) = result {
            debug!("D-Bus update after reconnection: {e}");
        }
        true
    }
}
