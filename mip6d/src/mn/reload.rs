//! The mobile node after SIGHUP: an `IPsecPolicySet` change applied at once
//! (`crate::ipsec::reload`), for each home address: the transport-mode
//! policies of the home address, its tunnel-mode policies (moved to the
//! care-of address again if away), and whether a BU may leave at all (UMIP:
//! with `UseMnHaIPsec` on, none without a policy covering it).

use tracing::{error, info};

use super::location::Location;
use super::registration::bu_allowed;
use super::MobileNode;
use crate::config::Config;
use crate::ipsec::reload::reload_transport;
use crate::ipsec::{Endpoint, TunnelIpsec};

impl MobileNode {
    /// The configuration was re-read; `old` is the one it replaced.
    pub(super) async fn config_reloaded(&mut self, old: &Config) {
        for k in 0..self.homes.len() {
            self.home_config_reloaded(k, old).await;
        }
    }

    /// The same for home link `k`.
    async fn home_config_reloaded(&mut self, k: usize, old: &Config) {
        let h = &mut self.homes[k];
        let (hoa, ha) = (h.reg.hoa, h.reg.ha);
        let kernel = &mut self.io.kernel;
        let role = Endpoint::MobileNode;
        if !reload_transport(old, &self.config, role, Some(hoa), kernel).await {
            return;
        }
        let coa = h.reg.ipsec.endpoint();
        h.reg.ipsec.release(kernel).await;
        h.reg.ipsec = TunnelIpsec::new(&self.config, role, ha, hoa);
        if let Some(coa) = coa {
            h.reg.ipsec.follow(kernel, coa).await;
        }
        let allowed = bu_allowed(&self.config, ha, hoa);
        if allowed == h.reg.may_send_bu {
            return;
        }
        h.reg.may_send_bu = allowed;
        if !allowed {
            error!(
                "MN lacks the necessary IPsec policies for protecting the home registration \
                 to HA {ha} (UseMnHaIPsec is enabled): no Binding Update will be sent"
            );
            return;
        }
        info!("IPsec: the home registration with {ha} is protected now: BUs may leave");
        // The BUs held back so far backed off; start over at once.
        if let (Location::Away(p), None) = (h.location, h.reg.bul.binding()) {
            h.reg.bul.abandon();
            let now = std::time::Instant::now();
            let actions = h.reg.register(now, p.address, h.location, &self.config);
            self.carry_out(k, actions).await;
        }
    }
}
