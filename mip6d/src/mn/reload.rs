//! The mobile node after SIGHUP: an `IPsecPolicySet` change applied at once
//! (`crate::ipsec::reload`): the transport-mode policies of its home
//! address, its tunnel-mode policies (moved to the care-of address again
//! if away), and whether a BU may leave at all (UMIP: with `UseMnHaIPsec` on,
//! none without a policy covering it).

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
        let (hoa, ha) = (self.reg.hoa, self.reg.ha);
        let kernel = &mut self.io.kernel;
        let role = Endpoint::MobileNode;
        if !reload_transport(old, &self.config, role, Some(hoa), kernel).await {
            return;
        }
        let coa = self.reg.ipsec.endpoint();
        self.reg.ipsec.release(kernel).await;
        self.reg.ipsec = TunnelIpsec::new(&self.config, role, ha, hoa);
        if let Some(coa) = coa {
            self.reg.ipsec.follow(kernel, coa).await;
        }
        let allowed = bu_allowed(&self.config, ha, hoa);
        if allowed != self.reg.may_send_bu {
            self.reg.may_send_bu = allowed;
            if allowed {
                info!("IPsec: the home registration with {ha} is protected now: BUs may leave");
                // The BUs held back so far backed off; start over at once.
                if let (Location::Away(p), None) = (self.movement.location, self.reg.bul.binding())
                {
                    self.reg.bul.abandon();
                    let now = std::time::Instant::now();
                    let at = self.movement.location;
                    let actions = self.reg.register(now, p.address, at, &self.config);
                    self.carry_out(actions).await;
                }
            } else {
                error!(
                    "MN lacks the necessary IPsec policies for protecting the home registration \
                     to HA {ha} (UseMnHaIPsec is enabled): no Binding Update will be sent"
                );
            }
        }
    }
}
