//! What the running kernel offers mip6d, found by trying it.
//!
//! Kernel configs are not reliably readable (`/proc/config.gz` is optional,
//! modules load on demand), so the probe performs each operation mip6d will
//! need once, in a throwaway network namespace on its own thread: nothing it
//! creates is visible to the caller's namespace, and everything vanishes
//! with the thread. Modules the kernel loads on demand (`xfrm_user`,
//! `ip6_tunnel`) get loaded, as they would by mip6d's first use.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::error::Error;
use crate::ip6tnl::Ip6TnlSpec;
use crate::netlink::{Netlink, RouteSpec, RuleSpec};
use crate::xfrm::{PolicyDir, PolicyType, Selector, Xfrm, XfrmPolicy, XfrmProto, XfrmState};

/// One kernel facility mip6d depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KernelFeature {
    /// The XFRM netlink interface.
    XfrmUser,
    /// Sub-type XFRM policies (looked up before IPsec's main ones).
    XfrmSubPolicy,
    /// Route-optimization XFRM states `proto route2` / `proto hao` (the Type
    /// 2 routing header and Home Address option) and Mobility Header checks.
    Mip6,
    /// ip6ip6 tunnels (`ip6tnl`).
    Ip6Tunnel,
    /// IPv6 policy routing (rules, table 252).
    Ipv6MultipleTables,
    /// Source-specific IPv6 routes.
    Ipv6Subtrees,
}

impl KernelFeature {
    pub const ALL: [KernelFeature; 6] = [
        KernelFeature::XfrmUser,
        KernelFeature::XfrmSubPolicy,
        KernelFeature::Mip6,
        KernelFeature::Ip6Tunnel,
        KernelFeature::Ipv6MultipleTables,
        KernelFeature::Ipv6Subtrees,
    ];

    /// The kernel option that provides it.
    pub fn config_option(self) -> &'static str {
        match self {
            KernelFeature::XfrmUser => "CONFIG_XFRM_USER",
            KernelFeature::XfrmSubPolicy => "CONFIG_XFRM_SUB_POLICY",
            KernelFeature::Mip6 => "CONFIG_IPV6_MIP6",
            KernelFeature::Ip6Tunnel => "CONFIG_IPV6_TUNNEL",
            KernelFeature::Ipv6MultipleTables => "CONFIG_IPV6_MULTIPLE_TABLES",
            KernelFeature::Ipv6Subtrees => "CONFIG_IPV6_SUBTREES",
        }
    }

    /// What it is, in a few words.
    pub fn description(self) -> &'static str {
        match self {
            KernelFeature::XfrmUser => "XFRM netlink interface",
            KernelFeature::XfrmSubPolicy => "XFRM sub-policies",
            KernelFeature::Mip6 => "Mobile IPv6 route-optimization states (route2, hao)",
            KernelFeature::Ip6Tunnel => "ip6ip6 tunnels",
            KernelFeature::Ipv6MultipleTables => "IPv6 policy routing",
            KernelFeature::Ipv6Subtrees => "IPv6 source routing",
        }
    }
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureStatus {
    Present,
    /// The kernel refused the operation; the text says how.
    Missing(String),
}

/// What [`probe_kernel`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelProbe {
    pub features: BTreeMap<KernelFeature, FeatureStatus>,
}

impl KernelProbe {
    pub fn has(&self, f: KernelFeature) -> bool {
        self.features.get(&f) == Some(&FeatureStatus::Present)
    }

    /// The features that are not there, in [`KernelFeature::ALL`] order.
    pub fn missing(&self) -> Vec<KernelFeature> {
        KernelFeature::ALL
            .into_iter()
            .filter(|f| !self.has(*f))
            .collect()
    }

    /// Of `needed`, those the kernel lacks.
    pub fn missing_of(&self, needed: &[KernelFeature]) -> Vec<KernelFeature> {
        needed.iter().copied().filter(|f| !self.has(*f)).collect()
    }

    /// `None` when everything in `needed` is present; otherwise one line
    /// for the user naming each missing facility and its kernel option.
    pub fn missing_message(&self, needed: &[KernelFeature]) -> Option<String> {
        let missing = self.missing_of(needed);
        if missing.is_empty() {
            return None;
        }
        let parts: Vec<String> = missing
            .iter()
            .map(|f| format!("{} ({})", f.config_option(), f.description()))
            .collect();
        Some(format!(
            "the running kernel lacks {}; use a kernel built with {}",
            parts.join(", "),
            missing
                .iter()
                .map(|f| format!("{}=y", f.config_option()))
                .collect::<Vec<_>>()
                .join(" ")
        ))
    }
}

impl fmt::Display for KernelProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (feat, status) in &self.features {
            match status {
                FeatureStatus::Present => writeln!(f, "{}: present", feat.config_option())?,
                FeatureStatus::Missing(why) => {
                    writeln!(f, "{}: missing ({why})", feat.config_option())?
                }
            }
        }
        Ok(())
    }
}

/// Probe the kernel. Runs in a throwaway network namespace when it can
/// (`CAP_SYS_ADMIN`), otherwise in the caller's, removing what it created
/// there. Needs `CAP_NET_ADMIN`; blocks the calling thread for a few
/// milliseconds (call it before starting the runtime, or from
/// `spawn_blocking`).
pub fn probe_kernel() -> std::io::Result<KernelProbe> {
    match crate::netns::block_on_in_new_netns(probe_here) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => probe_current_netns(),
        other => other,
    }
}

/// The probe in the calling thread's namespace (on a thread of its own,
/// which shares it), undoing each step it made.
pub fn probe_current_netns() -> std::io::Result<KernelProbe> {
    let thread = std::thread::Builder::new()
        .name("kernel-probe".into())
        .spawn(|| -> std::io::Result<KernelProbe> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(rt.block_on(probe_here()))
        })?;
    match thread.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn status(r: &Result<(), Error>) -> FeatureStatus {
    match r {
        // Already there (the caller's own configuration): supported.
        Ok(()) => FeatureStatus::Present,
        Err(e) if e.is_exists() => FeatureStatus::Present,
        Err(e) => FeatureStatus::Missing(e.to_string()),
    }
}

const HOA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
const HA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const COA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 0x100);
const CN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
const PROBE_RULE_PRIORITY: u32 = 1001;
const PROBE_TABLE: u32 = 252;

/// The probes themselves, in the current namespace. Each object it
/// creates is deleted again (best effort; in a throwaway namespace it
/// would vanish anyway).
async fn probe_here() -> KernelProbe {
    let mut features = BTreeMap::new();
    let untested = |why: &str| {
        FeatureStatus::Missing(format!(
            "not testable without the XFRM netlink interface: {why}"
        ))
    };
    match Xfrm::new() {
        Err(e) => {
            let why = e.to_string();
            features.insert(KernelFeature::XfrmUser, FeatureStatus::Missing(why.clone()));
            features.insert(KernelFeature::XfrmSubPolicy, untested(&why));
            features.insert(KernelFeature::Mip6, untested(&why));
        }
        Ok(x) => {
            // A socket opens even when the family is unregistered on some
            // kernels; the first request tells for sure.
            let dump = x.states().await.map(|_| ());
            features.insert(KernelFeature::XfrmUser, status(&dump));
            if let Err(e) = dump {
                features.insert(KernelFeature::XfrmSubPolicy, untested(&e.to_string()));
                features.insert(KernelFeature::Mip6, untested(&e.to_string()));
            } else {
                probe_xfrm(&x, &mut features).await;
            }
        }
    }
    match Netlink::new() {
        Err(e) => {
            for f in [
                KernelFeature::Ip6Tunnel,
                KernelFeature::Ipv6MultipleTables,
                KernelFeature::Ipv6Subtrees,
            ] {
                features.insert(f, FeatureStatus::Missing(e.to_string()));
            }
        }
        Ok(nl) => probe_rtnl(&nl, &mut features).await,
    }
    KernelProbe { features }
}

async fn probe_xfrm(x: &Xfrm, features: &mut BTreeMap<KernelFeature, FeatureStatus>) {
    let sub = XfrmPolicy::new(Selector::hosts(HOA, HA), PolicyDir::Out, PolicyType::Sub, 1);
    let added = x.add_policy(&sub).await;
    if added.is_ok() {
        let _ = x.del_policy(&sub.sel, sub.dir, sub.ptype).await;
    }
    features.insert(KernelFeature::XfrmSubPolicy, status(&added));
    let mut mip6 = Ok(());
    for st in [
        XfrmState::ro(XfrmProto::Route2, HOA, CN, COA),
        XfrmState::ro(XfrmProto::Hao, CN, HOA, COA),
    ] {
        let added = x.add_state(&st).await;
        if added.is_ok() {
            let _ = x.del_state(&st.id()).await;
        }
        if mip6.is_ok() {
            mip6 = added.or_else(|e| if e.is_exists() { Ok(()) } else { Err(e) });
        }
    }
    features.insert(KernelFeature::Mip6, status(&mip6));
}

async fn probe_rtnl(nl: &Netlink, features: &mut BTreeMap<KernelFeature, FeatureStatus>) {
    let tnl = match nl.add_ip6tnl(&Ip6TnlSpec::mip6(COA, HA, 0)).await {
        Ok(t) => {
            let _ = nl.del_ip6tnl(t.index).await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    features.insert(KernelFeature::Ip6Tunnel, status(&tnl));
    let rule = RuleSpec::from_addr(IpAddr::V6(HOA), PROBE_RULE_PRIORITY, PROBE_TABLE);
    let added = nl.add_rule(&rule).await;
    if added.is_ok() {
        let _ = nl.del_rule(&rule).await;
    }
    features.insert(KernelFeature::Ipv6MultipleTables, status(&added));
    features.insert(KernelFeature::Ipv6Subtrees, status(&source_route(nl).await));
}

/// `ip -6 route add 2001:db8:c::/64 from 2001:db8:1::/64 dev lo table
/// 252`, deleted again.
async fn source_route(nl: &Netlink) -> Result<(), Error> {
    if !nl.link(1).await?.up {
        nl.set_link_up(1).await?;
    }
    let route = RouteSpec::prefix(IpAddr::V6(CN), 64, 1)
        .from(IpAddr::V6(HOA), 64)
        .table(PROBE_TABLE);
    nl.add_route(&route).await?;
    let _ = nl.del_route(&route).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_missing_options() {
        let mut features = BTreeMap::new();
        for f in KernelFeature::ALL {
            features.insert(f, FeatureStatus::Present);
        }
        let mut probe = KernelProbe { features };
        assert_eq!(probe.missing_message(&KernelFeature::ALL), None);
        probe
            .features
            .insert(KernelFeature::Mip6, FeatureStatus::Missing("x".into()));
        probe
            .features
            .insert(KernelFeature::Ip6Tunnel, FeatureStatus::Missing("y".into()));
        assert_eq!(
            probe.missing(),
            vec![KernelFeature::Mip6, KernelFeature::Ip6Tunnel]
        );
        let msg = probe
            .missing_message(&KernelFeature::ALL)
            .unwrap_or_default();
        assert!(msg.contains("CONFIG_IPV6_MIP6 (Mobile IPv6"), "{msg}");
        assert!(msg.contains("CONFIG_IPV6_TUNNEL (ip6ip6 tunnels)"), "{msg}");
        assert!(
            msg.ends_with("CONFIG_IPV6_MIP6=y CONFIG_IPV6_TUNNEL=y"),
            "{msg}"
        );
        assert_eq!(probe.missing_message(&[KernelFeature::XfrmUser]), None);
    }
}
