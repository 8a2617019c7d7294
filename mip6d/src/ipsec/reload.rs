//! `IPsecPolicySet` on SIGHUP, as UMIP: the sets added and removed are
//! applied at once. The transport-mode policies that only the re-read file
//! has are installed, those that only the running configuration had are
//! removed, and those in both stay untouched (their SAs keep flowing). The
//! tunnel-mode policies of a home address in use are rebuilt by their
//! owners ([`super::TunnelIpsec`]: released with the old sets, followed
//! again with the new ones).
//!
//! What a binding that loses its protection becomes is the home agent's
//! ordinary rule with `UseMnHaIPsec` on: it stays until its lifetime ends,
//! and its next BU, now sent in clear, is refused with status 129
//! (`super::protects_home_registration`). A pair that gains policies has
//! its BUs go through ESP from the next one on (the SAs are the
//! administrator's, as at start).

use std::net::Ipv6Addr;

use netcfg::xfrm::XfrmPolicy;
use tracing::{info, warn};

use super::{transport_set, Endpoint};
use crate::config::Config;
use crate::kernel::{Item, Kernel};

/// The transport-mode policies to remove (only `old` has them) and to add
/// (only `new` has them), for `role` (and on a mobile node `hoa`).
pub fn transport_changes(
    old: &Config,
    new: &Config,
    role: Endpoint,
    hoa: Option<Ipv6Addr>,
) -> (Vec<XfrmPolicy>, Vec<XfrmPolicy>) {
    let before = transport_set(old, role, hoa);
    let after = transport_set(new, role, hoa);
    let removed = before
        .iter()
        .filter(|p| !after.contains(p))
        .cloned()
        .collect();
    let added = after
        .iter()
        .filter(|p| !before.contains(p))
        .cloned()
        .collect();
    (removed, added)
}

/// Applies a reload's change of the transport-mode policies to the kernel
/// (through the ledger, so exit removes what was added). True if the sets
/// changed.
pub async fn reload_transport(
    old: &Config,
    new: &Config,
    role: Endpoint,
    hoa: Option<Ipv6Addr>,
    kernel: &mut Kernel,
) -> bool {
    if old.ipsec_policy_set == new.ipsec_policy_set {
        return false;
    }
    let (removed, added) = transport_changes(old, new, role, hoa);
    for p in &removed {
        if let Err(e) = kernel.remove(Item::Policy(p.sel, p.dir, p.ptype)).await {
            warn!("IPsec: cannot remove {}: {e}", p.describe());
        }
    }
    for p in &added {
        if let Err(e) = kernel.add_policy(p).await {
            warn!("IPsec: cannot install {}: {e}", p.describe());
        }
    }
    info!(
        "IPsec: reload: {} transport-mode policies removed, {} installed",
        removed.len(),
        added.len()
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Offline};

    fn config(sets: &str) -> Config {
        let text = format!("NodeConfig HA;\nUseMnHaIPsec enabled;\n{sets}");
        let host = Offline {
            interfaces: vec!["eth0".to_owned()],
        };
        match parse(text.as_bytes(), "test.conf", &host) {
            Ok(l) => l.config,
            Err(e) => panic!("{e}"),
        }
    }

    const SET_10: &str = "IPsecPolicySet { HomeAgentAddress 2001:db8::1;\n\
        HomeAddress 2001:db8::10/64; IPsecPolicy HomeRegBinding UseESP 7; }\n";
    const SET_20: &str = "IPsecPolicySet { HomeAgentAddress 2001:db8::1;\n\
        HomeAddress 2001:db8::20/64; IPsecPolicy Mh UseESP 8; }\n";

    #[test]
    fn added_sets_are_installed_removed_ones_removed_kept_ones_untouched() {
        let (none, one, both) = (
            config(""),
            config(SET_10),
            config(&format!("{SET_10}{SET_20}")),
        );
        let all = |c: &Config| transport_set(c, Endpoint::HomeAgent, None);
        let (removed, added) = transport_changes(&none, &one, Endpoint::HomeAgent, None);
        assert!(removed.is_empty());
        assert_eq!(added, all(&one));
        assert!(!added.is_empty());
        let (removed, added) = transport_changes(&one, &both, Endpoint::HomeAgent, None);
        assert!(removed.is_empty(), "the set in both stays");
        assert_eq!(added.len(), all(&both).len() - all(&one).len());
        let (removed, added) = transport_changes(&both, &none, Endpoint::HomeAgent, None);
        assert_eq!(removed, all(&both));
        assert!(added.is_empty());
        // A mobile node sees only its home address's.
        let hoa: Ipv6Addr = "2001:db8::20".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        let (_, added) = transport_changes(&one, &both, Endpoint::MobileNode, Some(hoa));
        assert_eq!(added, transport_set(&both, Endpoint::MobileNode, Some(hoa)));
        let (_, added) = transport_changes(&none, &one, Endpoint::MobileNode, Some(hoa));
        assert!(added.is_empty());
    }
}
