//! The daemon's state on D-Bus (`org.umip_rs.Mip6d1`, crates/bus), best
//! effort: without a system bus (or with the name taken) mip6d runs as
//! UMIP does, and says so once.

use std::net::Ipv6Addr;
use std::time::Duration;

use bus::{HomeAgentState, Mip6dService, MobileNodeState, Role};
use tracing::{debug, info};

use crate::config;

/// Publishes state changes; a no-op when the service could not start.
#[derive(Debug, Clone)]
pub struct Publisher {
    service: Mip6dService,
}

impl Publisher {
    /// Starts the service on the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured).
    pub async fn start(role: config::Role) -> Publisher {
        let role = match role {
            config::Role::Cn => Role::CorrespondentNode,
            config::Role::Mn => Role::MobileNode,
            config::Role::Ha => Role::HomeAgent,
        };
        let service = match Mip6dService::start(role).await {
            Ok(s) => {
                info!("D-Bus: org.umip_rs.Mip6d1 published on the system bus");
                s
            }
            Err(e) => {
                info!("D-Bus: not published ({e})");
                Mip6dService::disabled()
            }
        };
        Publisher { service }
    }

    /// A publisher that publishes nothing.
    pub fn disabled() -> Publisher {
        Publisher {
            service: Mip6dService::disabled(),
        }
    }

    /// The mobile node's state.
    pub async fn mobile_node(&self, state: MobileNodeState) {
        if let Err(e) = self.service.update_mobile_node(state).await {
            debug!("D-Bus update: {e}");
        }
    }

    /// The home agent's binding cache and counters.
    pub async fn home_agent(&self, state: HomeAgentState) {
        if let Err(e) = self.service.update_home_agent(state).await {
            debug!("D-Bus update: {e}");
        }
    }

    /// `HandoverCompleted`.
    pub async fn handover_completed(
        &self,
        interface: &str,
        old: Option<Ipv6Addr>,
        new: Ipv6Addr,
        took: Duration,
    ) {
        if let Err(e) = self
            .service
            .handover_completed(interface, old, new, took)
            .await
        {
            debug!("D-Bus signal: {e}");
        }
    }
}
