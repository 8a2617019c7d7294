//! The daemon's state on D-Bus (`org.umip_rs.Mip6d1`, crates/bus), best
//! effort: without a system bus (or with the name taken) mip6d runs as
//! UMIP does, and says so once.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::{HomeAgentState, Mip6dService, MobileNodeState, Role};
use tokio::sync::Mutex;
use tracing::{debug, info};

use crate::config;

/// How often a lost or absent bus is tried again (at the next update).
const RETRY_EVERY: Duration = Duration::from_secs(5);

/// Publishes state changes; a no-op while no bus is reachable. A bus that goes
/// away (dbus-daemon restarted) or was not there at start is tried again at
/// the next update, at most every [`RETRY_EVERY`], and gets the last state.
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    service: Mip6dService,
    /// `None` for a publisher that never publishes.
    role: Option<Role>,
    retry_at: Option<Instant>,
    last_mn: Option<MobileNodeState>,
    last_ha: Option<HomeAgentState>,
}

impl Publisher {
    /// Starts the service on the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured).
    pub async fn start(role: config::Role) -> Publisher {
        let role = match role {
            config::Role::Cn => Role::CorrespondentNode,
            config::Role::Mn => Role::MobileNode,
            config::Role::Ha => Role::HomeAgent,
        };
        let (service, retry_at) = match Mip6dService::start(role).await {
            Ok(s) => {
                info!("D-Bus: org.umip_rs.Mip6d1 published on the system bus");
                (s, None)
            }
            Err(e) => {
                info!("D-Bus: not published ({e}); retrying at state changes");
                (Mip6dService::disabled(), Some(Instant::now() + RETRY_EVERY))
            }
        };
        Publisher::new(service, Some(role), retry_at)
    }

    /// A publisher that publishes nothing.
    pub fn disabled() -> Publisher {
        Publisher::new(Mip6dService::disabled(), None, None)
    }

    fn new(service: Mip6dService, role: Option<Role>, retry_at: Option<Instant>) -> Publisher {
        Publisher {
            inner: Arc::new(Mutex::new(Inner {
                service,
                role,
                retry_at,
                last_mn: None,
                last_ha: None,
            })),
        }
    }

    /// The mobile node's state.
    pub async fn mobile_node(&self, state: MobileNodeState) {
        let mut inner = self.inner.lock().await;
        inner.last_mn = Some(state.clone());
        let result = inner.service.update_mobile_node(state).await;
        inner.after(result).await;
    }

    /// The home agent's binding cache and counters.
    pub async fn home_agent(&self, state: HomeAgentState) {
        let mut inner = self.inner.lock().await;
        inner.last_ha = Some(state.clone());
        let result = inner.service.update_home_agent(state).await;
        inner.after(result).await;
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
    /// After an update: a failed one means the bus went away; a disabled
    /// service is retried when due.
    async fn after(&mut self, result: Result<(), bus::BusError>) {
        let Some(role) = self.role else { return };
        if let Err(e) = result {
            info!("D-Bus: update failed ({e}); reconnecting");
            self.service = Mip6dService::disabled();
            self.retry_at = Some(Instant::now());
        }
        if self.service.is_enabled() || self.retry_at.is_some_and(|t| t > Instant::now()) {
            return;
        }
        match Mip6dService::start(role).await {
            Ok(service) => {
                info!("D-Bus: org.umip_rs.Mip6d1 published again");
                self.service = service;
                self.retry_at = None;
                let (mn, ha) = (self.last_mn.clone(), self.last_ha.clone());
                let mut result = Ok(());
                if let Some(state) = mn {
                    result = self.service.update_mobile_node(state).await;
                }
                if let Some(state) = ha {
                    result = result.and(self.service.update_home_agent(state).await);
                }
                if let Err(e) = result {
                    debug!("D-Bus update after reconnection: {e}");
                }
            }
            Err(e) => {
                debug!("D-Bus: still not published ({e})");
                self.retry_at = Some(Instant::now() + RETRY_EVERY);
            }
        }
    }
}
