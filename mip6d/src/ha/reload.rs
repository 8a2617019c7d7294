//! The home agent after SIGHUP: an `IPsecPolicySet` change applied at once
//! (`crate::ipsec::reload`): the transport-mode policies of added and removed
//! pairs, and the tunnel-mode policies of the bindings whose policies the
//! change touched. Nothing else in the file names per-binding kernel state,
//! so a reload costs no kernel work per binding unless the tunnel-mode
//! policies of that binding's home address changed.

use tracing::info;

use super::HomeAgent;
use crate::config::Config;
use crate::ipsec::reload::reload_transport;
use crate::ipsec::{Endpoint, TunnelIpsec};

impl HomeAgent {
    /// The configuration was re-read; `old` is the one it replaced.
    pub(super) async fn config_reloaded(&mut self, old: &Config) {
        let kernel = &mut self.io.kernel;
        if !reload_transport(old, &self.config, Endpoint::HomeAgent, None, kernel).await {
            info!("reload applied: no binding's kernel state changed");
            return;
        }
        let mut rebuilt = 0usize;
        for b in self.bindings.values_mut() {
            if !tunnel_policies_changed(old, &self.config, b.ha_address, b.home_address) {
                continue;
            }
            b.reload_ipsec(&mut self.io.kernel, &self.config).await;
            rebuilt += 1;
        }
        info!(
            "reload applied: IPsec tunnel-mode policies of {rebuilt} of {} bindings rebuilt",
            self.bindings.len()
        );
    }
}

/// True if `old` and `new` give the pair (`ha`, `hoa`) different
/// tunnel-mode policies.
fn tunnel_policies_changed(
    old: &Config,
    new: &Config,
    ha: std::net::Ipv6Addr,
    hoa: std::net::Ipv6Addr,
) -> bool {
    let role = Endpoint::HomeAgent;
    !TunnelIpsec::new(old, role, ha, hoa).same_policies(&TunnelIpsec::new(new, role, ha, hoa))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::test_support::{addr, ha_config};

    const HA: &str = "2001:db8:1::2";

    fn sets(pairs: &[(&str, &str)]) -> String {
        pairs
            .iter()
            .map(|(hoa, kind)| {
                format!(
                    "IPsecPolicySet {{ HomeAgentAddress {HA}; HomeAddress {hoa}/64; \
                     IPsecPolicy {kind} UseESP 7; }}\n"
                )
            })
            .collect()
    }

    /// A set added for one home address touches that binding only; a
    /// transport-mode change touches none (its policies are not per binding).
    #[test]
    fn only_the_bindings_whose_tunnel_policies_changed_are_rebuilt() {
        let one = "2001:db8:1::100";
        let other = "2001:db8:1::200";
        let old = ha_config(&sets(&[(one, "TunnelMh")]));
        let added = ha_config(&sets(&[(one, "TunnelMh"), (other, "TunnelPayload")]));
        let (ha, one, other) = (addr(HA), addr(one), addr(other));
        assert!(!tunnel_policies_changed(&old, &added, ha, one));
        assert!(tunnel_policies_changed(&old, &added, ha, other));
        assert!(tunnel_policies_changed(&added, &old, ha, other));
        let transport = ha_config(&sets(&[
            ("2001:db8:1::100", "TunnelMh"),
            ("2001:db8:1::200", "HomeRegBinding"),
        ]));
        assert!(!tunnel_policies_changed(&old, &transport, ha, one));
        assert!(!tunnel_policies_changed(&old, &transport, ha, other));
    }
}
