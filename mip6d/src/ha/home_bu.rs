//! The home agent's decision on a home Binding Update (RFC 6275 §10.3.1,
//! §10.3.2), without I/O: [`mip6::bcache::check_home_bu`] in UMIP's order,
//! the admission limits (`docs/compat.md`, "Home agent admission"), the
//! binding cache, the counters `org.umip_rs.Mip6d1.HomeAgent` shows; what the
//! home agent must do about it comes back as [`BuAction`]s, which
//! `super::home_reg` carries out.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use mip6::bcache::{
    link_local_of, AclDecision, BcChange, BindingCache, HomeBuContext, HomeBuVerdict,
    HomePrefixLifetimes,
};
use mip6::consts::BaStatus;
use mip6::wire::mh::{BindingUpdate, BuFlags, MhRepr};
use mip6::wire::options::MobilityOption;
use tracing::{debug, info};

use super::admission::{LogKind, LogLimit, NewBindingLimit};
use crate::config::Config;

/// A home BU as the loop received it, with what the kernel said about it.
#[derive(Debug, Clone)]
pub(super) struct BuInput<'a> {
    /// The home address (the source after the kernel's HAO swap).
    pub(super) home_address: Ipv6Addr,
    /// The address the packet came from (the HAO's, when it had one).
    pub(super) packet_source: Ipv6Addr,
    /// The destination: one of the home agent's addresses, or not.
    pub(super) dst: Ipv6Addr,
    /// The care-of address (RFC 6275 §9.5.1: the Alternate CoA option's,
    /// else the packet's source).
    pub(super) coa: Ipv6Addr,
    pub(super) bu: BindingUpdate,
    pub(super) options: &'a [MobilityOption],
    /// The HA interface holding `dst`, if it is one of its addresses.
    pub(super) home_ifindex: Option<u32>,
    /// The home prefix of that interface covering the home address.
    pub(super) home_prefix: Option<HomePrefixLifetimes>,
}

/// What a BU made the home agent decide; the loop carries it out.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum BuAction {
    /// Send this BA from `src` to the home address, through a Type 2
    /// routing header to `via` when the mobile node is away.
    SendBa {
        hoa: Ipv6Addr,
        via: Option<Ipv6Addr>,
        src: Ipv6Addr,
        ba: MhRepr,
    },
    /// A new binding: DAD for the home address on the home link (RFC 6275
    /// §10.3.1), the binding pending until it ends.
    StartDad {
        hoa: Ipv6Addr,
        coa: Ipv6Addr,
        ifindex: u32,
        ha_address: Ipv6Addr,
        mobile_network_prefixes: Vec<(Ipv6Addr, u8)>,
        /// With the L flag, the link-local address that goes with the
        /// home address: DAD and proxy for it too (RFC 6275 §10.4.1).
        link_local: Option<Ipv6Addr>,
    },
    /// The binding's tunnel follows its new care-of address.
    MoveBinding { hoa: Ipv6Addr, coa: Ipv6Addr },
    /// The binding is deleted: its kernel state goes.
    RemoveBinding { hoa: Ipv6Addr },
}

/// The binding ACL's answer for `home_address`: its `BindingAclPolicy`
/// entry's status and mobile network prefixes, else
/// `DefaultBindingAclPolicy` and no prefixes.
pub(super) fn acl_of(
    config: &Config,
    home_address: Ipv6Addr,
) -> (BaStatus, Option<Vec<(Ipv6Addr, u8)>>) {
    let entry = config
        .binding_acl_policy
        .iter()
        .find(|e| e.home_address == home_address);
    let prefixes = entry.map(|e| {
        e.mobile_network_prefixes
            .iter()
            .map(|p| (p.addr, p.len))
            .collect()
    });
    let status = BaStatus(entry.map_or(config.default_binding_acl_policy, |e| e.status));
    (status, prefixes)
}

/// The home agent's protocol state a BU reads and changes.
pub(super) struct HomeRegistrar<'a> {
    pub(super) config: &'a Config,
    pub(super) cache: &'a mut BindingCache,
    pub(super) new_bindings: &'a mut NewBindingLimit,
    pub(super) log_limit: &'a mut LogLimit,
    pub(super) counters: &'a mut bus::BuCounters,
}

impl HomeRegistrar<'_> {
    /// A home BU: the verdict, counted, logged within the limits, applied
    /// to the binding cache, as actions.
    pub(super) fn handle_binding_update(&mut self, now: Instant, input: &BuInput) -> Vec<BuAction> {
        let config = self.config;
        let home_address = input.home_address;
        let (packet_source, coa, bu) = (input.packet_source, input.coa, input.bu);
        let (acl_status, acl_prefixes) = acl_of(config, home_address);
        let acl = AclDecision {
            status: acl_status,
            prefixes: acl_prefixes.as_deref(),
        };
        self.cache
            .set_max_bindings(usize::try_from(config.ha_max_bindings).unwrap_or(usize::MAX));
        let ctx = HomeBuContext {
            packet_source,
            home_address,
            bu,
            options: input.options,
            existing: self.cache.existing(&home_address),
            coa_has_binding: self.cache.has_binding(&coa),
            dst_is_ha_address: input.home_ifindex.is_some(),
            home_prefix: input.home_prefix,
            served_prefix_covers_hoa: config
                .ha_served_prefix
                .iter()
                .any(|p| p.contains(home_address)),
            accept_mobile_router: config.ha_accept_mob_rtr,
            acl,
            max_binding_life: Duration::from_secs(u64::from(config.ha_max_binding_life)),
            key_mgmt_capable: config.key_mng_mob_capability,
            ipsec_required: config.use_mn_ha_ipsec,
            ipsec_protected: crate::ipsec::protects_home_registration(
                config,
                input.dst,
                home_address,
            ),
            cache_full: self.cache.is_full(),
        };
        let verdict =
            self.new_bindings
                .admit(now, packet_source, mip6::bcache::check_home_bu(&ctx));
        self.counters.received += 1;
        match &verdict {
            HomeBuVerdict::Reject { status, .. } => {
                *self.counters.rejected.entry(status.0).or_default() += 1;
            }
            HomeBuVerdict::Accept(_) => self.counters.accepted += 1,
            _ => self.counters.dropped += 1,
        }
        let via = (packet_source != home_address).then_some(packet_source);
        let send_ba = |ba: MhRepr| BuAction::SendBa {
            hoa: home_address,
            via,
            src: input.dst,
            ba,
        };
        match verdict {
            HomeBuVerdict::NotHomeRegistration => {
                debug!("BU without H from {home_address}: correspondent bindings not supported");
                Vec::new()
            }
            HomeBuVerdict::Drop(reason) => {
                let kind = LogKind::Dropped(reason);
                if let Some(more) = self.log_limit.admit(now, packet_source, kind) {
                    info!("BU from {home_address} (CoA {coa}) dropped: {reason:?}{more}");
                }
                Vec::new()
            }
            HomeBuVerdict::Ignore => {
                debug!("BU from {home_address} ignored: DAD running");
                Vec::new()
            }
            HomeBuVerdict::Reject { status, .. } => {
                let kind = LogKind::Refused(status.0);
                if let Some(more) = self.log_limit.admit(now, packet_source, kind) {
                    let why = match status {
                        BaStatus::ADMIN_PROHIBITED
                            if ctx.ipsec_required && !ctx.ipsec_protected =>
                        {
                            ", no IPsec policy protects it"
                        }
                        BaStatus::INSUFFICIENT_RESOURCES if ctx.cache_full => {
                            ", HaMaxBindings reached"
                        }
                        BaStatus::INSUFFICIENT_RESOURCES => {
                            ", too many new bindings from its source"
                        }
                        _ => "",
                    };
                    info!(
                        "BU from {home_address} (CoA {coa}, seq {}) refused: status {} ({}){why}{more}",
                        bu.sequence,
                        status.0,
                        status.name()
                    );
                }
                verdict.binding_ack().map(send_ba).into_iter().collect()
            }
            HomeBuVerdict::Accept(accepted) => {
                match self
                    .cache
                    .apply(now, home_address, input.dst, &bu, &accepted)
                {
                    BcChange::DadStarted => {
                        let link_local = bu
                            .flags
                            .contains(BuFlags::LINK_LOCAL)
                            .then(|| link_local_of(home_address));
                        info!(
                            "BU from {home_address} (CoA {coa}, seq {}, lifetime {} s): DAD started{}",
                            bu.sequence,
                            accepted.lifetime().as_secs(),
                            link_local.map_or(String::new(), |ll| format!(" (L flag: and {ll})"))
                        );
                        vec![BuAction::StartDad {
                            hoa: home_address,
                            coa,
                            ifindex: input.home_ifindex.unwrap_or(0),
                            ha_address: input.dst,
                            mobile_network_prefixes: accepted.mobile_network_prefixes.clone(),
                            link_local,
                        }]
                    }
                    BcChange::Updated {
                        previous_care_of_address,
                    } => {
                        let mut actions = Vec::new();
                        if let Some(old) = previous_care_of_address {
                            info!("binding {home_address} moves from {old} to {coa}");
                            actions.push(BuAction::MoveBinding {
                                hoa: home_address,
                                coa,
                            });
                        } else {
                            debug!("binding {home_address} refreshed (seq {})", bu.sequence);
                        }
                        info!(
                            "BA to {home_address} via {coa}: status {} seq {} lifetime {} s",
                            accepted.status.0,
                            bu.sequence,
                            accepted.lifetime().as_secs()
                        );
                        actions.push(send_ba(accepted.binding_ack()));
                        actions
                    }
                    BcChange::Removed(entry) => {
                        info!(
                            "binding {home_address} (CoA {}) deregistered",
                            entry.care_of_address
                        );
                        vec![
                            BuAction::RemoveBinding { hoa: home_address },
                            send_ba(accepted.binding_ack()),
                        ]
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "home_bu_tests.rs"]
mod tests;
