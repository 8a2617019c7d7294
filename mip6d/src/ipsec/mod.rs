//! IPsec protection of mobile node ↔ home agent traffic, as UMIP 1.0 does it
//! with `UseMnHaIPsec` (RFC 3776, RFC 4877; `docs/mip6d-ipsec.md`).
//!
//! mip6d installs only security *policies* (main type, next to the Mobile
//! IPv6 sub-policies); the security associations are the administrator's
//! (`ip xfrm state add … proto esp … reqid N mode transport|tunnel`, setkey,
//! or an IKE daemon), matched through the reqids of `IPsecPolicy`. The
//! kernel then applies ESP, and drops (or asks a key manager for SAs) what
//! a policy requires but no SA covers.
//!
//! - Transport-mode types (`HomeRegBinding`, `Mh`, `MobPfxDisc`, `ICMP`,
//!   `any`) are installed at start for every pair of the configuration (the
//!   mobile node: those of its home address) and stay until exit, or until
//!   a reload drops their set ([`reload`]).
//! - Tunnel-mode types (`TunnelHomeTesting`, `TunnelMh`, `TunnelPayload`)
//!   exist while the mobile node is away ([`TunnelIpsec`]): installed with
//!   the home address as the tunnel's mobile end, where static SAs are keyed,
//!   then moved to the care-of address with `XFRM_MSG_MIGRATE`, which moves
//!   the SAs with them; every handover migrates again; going home (mobile
//!   node), deregistration (home agent) and exit migrate back to the home
//!   address and delete the policies, so the SAs are where they were found.
//!   Without `CONFIG_XFRM_MIGRATE` the policies are replaced instead
//!   (the SAs then stay on the old addresses).
//!
//! With `UseMnHaIPsec` off nothing is installed.

pub mod policies;
pub mod reload;

use std::net::Ipv6Addr;

use netcfg::xfrm::{PolicyType, XfrmPolicy};
use tracing::{debug, info, warn};

use crate::config::{Config, IpsecPolicy, IpsecPolicyType};
use crate::kernel::{Item, Kernel};

pub use policies::Endpoint;

type Res<T> = Result<T, netcfg::Error>;

/// The transport-mode policies for `role`: every pair of the configuration,
/// or on a mobile node those of `hoa` only.
pub fn transport_set(config: &Config, role: Endpoint, hoa: Option<Ipv6Addr>) -> Vec<XfrmPolicy> {
    if !config.use_mn_ha_ipsec {
        return Vec::new();
    }
    config
        .ipsec_policies()
        .filter(|(_, h, _)| hoa.is_none_or(|mine| mine == *h))
        .flat_map(|(ha, h, p)| policies::transport_policies(role, ha, h, p))
        .collect()
}

/// Whether an `IPsecPolicySet` entry makes the kernel take home
/// registrations from `hoa` to `ha` only through IPsec: a policy that allows
/// (with ESP or AH) a type covering the BU in transport mode. Without one,
/// a BU for that pair arrives in clear and proves nothing about its sender,
/// so the home agent refuses it while `UseMnHaIPsec` is on (129,
/// `mip6::bcache::check_home_bu`).
pub fn protects_home_registration(config: &Config, ha: Ipv6Addr, hoa: Ipv6Addr) -> bool {
    config.use_mn_ha_ipsec
        && config.ipsec_policies().any(|(pha, phoa, p)| {
            pha == ha
                && phoa == hoa
                && p.allow
                && matches!(
                    p.kind,
                    IpsecPolicyType::HomeRegBinding | IpsecPolicyType::Mh | IpsecPolicyType::Any
                )
        })
}

/// Installs the transport-mode policies (through the ledger, so exit
/// removes them). Called once at start.
pub async fn install_transport(
    config: &Config,
    role: Endpoint,
    hoa: Option<Ipv6Addr>,
    kernel: &mut Kernel,
) -> Res<()> {
    let set = transport_set(config, role, hoa);
    for p in &set {
        kernel.add_policy(p).await?;
    }
    if !set.is_empty() {
        info!("IPsec: {} transport-mode policies installed", set.len());
    }
    Ok(())
}

/// The tunnel-mode policies of one home address, following its care-of
/// address: the mobile node's while away, the home agent's per binding.
#[derive(Debug, Clone)]
pub struct TunnelIpsec {
    role: Option<Endpoint>,
    hoa: Ipv6Addr,
    /// `(home agent, policy)` of the tunnel-mode types.
    entries: Vec<(Ipv6Addr, IpsecPolicy)>,
    /// The tunnel's mobile end now; `None` while nothing is installed.
    endpoint: Option<Ipv6Addr>,
}

impl TunnelIpsec {
    /// No tunnel-mode policies (`UseMnHaIPsec` off, or none configured).
    pub fn none() -> TunnelIpsec {
        TunnelIpsec {
            role: None,
            hoa: Ipv6Addr::UNSPECIFIED,
            entries: Vec::new(),
            endpoint: None,
        }
    }

    /// The tunnel-mode policies `config` has for `hoa` with home agent `ha`
    /// (`::`: any home agent, a mobile node using DHAAD).
    pub fn new(config: &Config, role: Endpoint, ha: Ipv6Addr, hoa: Ipv6Addr) -> TunnelIpsec {
        let entries = if config.use_mn_ha_ipsec {
            config
                .ipsec_policies()
                .filter(|(pha, phoa, p)| {
                    *phoa == hoa && (ha.is_unspecified() || *pha == ha) && p.kind.is_tunnel()
                })
                .map(|(pha, _, p)| (pha, p.clone()))
                .collect()
        } else {
            Vec::new()
        };
        TunnelIpsec {
            role: Some(role),
            hoa,
            entries,
            endpoint: None,
        }
    }

    /// True if `other` names the same policies: a reload that leaves a
    /// home address's tunnel-mode policies as they were need not touch them.
    pub fn same_policies(&self, other: &TunnelIpsec) -> bool {
        self.role == other.role && self.hoa == other.hoa && self.entries == other.entries
    }

    fn all(&self, endpoint: Ipv6Addr) -> Vec<XfrmPolicy> {
        let Some(role) = self.role else {
            return Vec::new();
        };
        self.entries
            .iter()
            .flat_map(|(ha, p)| policies::tunnel_policies(role, *ha, self.hoa, p, endpoint))
            .collect()
    }

    /// Where the tunnel's mobile end is, while the policies are installed.
    pub fn endpoint(&self) -> Option<Ipv6Addr> {
        self.endpoint
    }

    /// The mobile end is now `coa`: installs the policies at the home
    /// address first if there are none, then migrates them (and the SAs).
    pub async fn follow(&mut self, kernel: &mut Kernel, coa: Ipv6Addr) {
        let Some(role) = self.role.filter(|_| !self.entries.is_empty()) else {
            return;
        };
        let old = match self.endpoint {
            Some(old) if old == coa => return,
            Some(old) => old,
            None => {
                for p in self.all(self.hoa) {
                    if let Err(e) = kernel.add_policy(&p).await {
                        warn!("IPsec tunnel policy {}: {e}", p.describe());
                    }
                }
                self.hoa
            }
        };
        self.endpoint = Some(coa);
        if old == coa {
            return;
        }
        for (ha, p) in &self.entries {
            for (policy, m, km) in policies::tunnel_migrations(role, *ha, self.hoa, p, old, coa) {
                let r = kernel
                    .xfrm
                    .migrate_policy(&policy.sel, policy.dir, PolicyType::Main, &[m], Some(km))
                    .await;
                match r {
                    Ok(()) => debug!("IPsec: migrated {} to {coa}", policy.describe()),
                    Err(e) => {
                        // No CONFIG_XFRM_MIGRATE, or the policy went away:
                        // the policy at least names the new endpoint.
                        warn!(
                            "IPsec: cannot migrate {} from {old} to {coa} ({e}); replacing the policy",
                            policy.describe()
                        );
                        if let Err(e) = kernel.add_policy(&policy).await {
                            warn!("IPsec tunnel policy {}: {e}", policy.describe());
                        }
                    }
                }
            }
        }
        info!("IPsec: tunnel-mode policies of {} follow {coa}", self.hoa);
    }

    /// Back home, deregistered or exiting: the SAs go back to the home
    /// address and the policies are deleted.
    pub async fn release(&mut self, kernel: &mut Kernel) {
        let Some(endpoint) = self.endpoint else {
            return;
        };
        let hoa = self.hoa;
        self.follow(kernel, hoa).await;
        for p in self.all(hoa) {
            if let Err(e) = kernel.remove(Item::Policy(p.sel, p.dir, p.ptype)).await {
                warn!("cannot remove IPsec tunnel policy {}: {e}", p.describe());
            }
        }
        self.endpoint = None;
        debug!("IPsec: tunnel-mode policies of {hoa} (last at {endpoint}) removed");
    }
}

#[cfg(test)]
mod tests;
