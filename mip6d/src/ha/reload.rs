//! The home agent after SIGHUP: an `IPsecPolicySet` change applied at once
//! (`crate::ipsec::reload`): the transport-mode policies of added and removed
//! pairs, and the tunnel-mode policies of every binding rebuilt.

use tracing::info;

use super::HomeAgent;
use crate::config::Config;
use crate::ipsec::reload::reload_transport;
use crate::ipsec::Endpoint;

impl HomeAgent {
    /// The configuration was re-read; `old` is the one it replaced.
    pub(super) async fn config_reloaded(&mut self, old: &Config) {
        let kernel = &mut self.io.kernel;
        if !reload_transport(old, &self.config, Endpoint::HomeAgent, None, kernel).await {
            return;
        }
        for b in self.bindings.values_mut() {
            b.reload_ipsec(&mut self.io.kernel, &self.config).await;
        }
        if !self.bindings.is_empty() {
            info!(
                "IPsec: tunnel-mode policies of {} bindings rebuilt",
                self.bindings.len()
            );
        }
    }
}
