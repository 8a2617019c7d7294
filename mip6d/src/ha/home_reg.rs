//! Home registration (RFC 6275 §10.3): a Binding Update is
//! checked by [`mip6::bcache::check_home_bu`] in UMIP's order, applied to the
//! binding cache, and answered with a Binding Acknowledgement through a Type 2
//! routing header; a new binding first waits for DAD ([`super::dad`]).
//!
//! What a remote host can make it do is bounded (`docs/compat.md`, "Home
//! agent admission"): with `UseMnHaIPsec`, only pairs an IPsec policy
//! protects register; at most `HaMaxBindings` bindings; at most
//! [`super::admission::NEW_BINDINGS_PER_SOURCE`] new ones per source per
//! minute; one log line per source and outcome per minute.

use std::net::Ipv6Addr;
use std::time::Duration;

use mip6::bcache::{
    care_of_address, check_home_bu, AclDecision, BcChange, HomeBuContext, HomeBuVerdict,
};
use mip6::consts::BaStatus;
use mip6::wire::mh::{MhMessage, MhRepr};
use tracing::{debug, error, info, warn};

use super::admission::LogKind;
use super::binding::BindingState;
use super::HomeAgent;

impl HomeAgent {
    pub(super) async fn on_mh(&mut self, msg: crate::kernel::raw::Received) {
        let repr = match MhRepr::parse(&msg.payload) {
            Ok(r) => r,
            Err(e) => {
                debug!("malformed MH from {}: {e}", msg.src);
                return;
            }
        };
        let MhMessage::BindingUpdate(bu) = repr.message else {
            debug!(
                "MH type {} from {} ignored",
                repr.message.mh_type(),
                msg.src
            );
            return;
        };
        // After the kernel's swap, the source is the home address and the
        // HAO holds the address the packet came from.
        let home_address = msg.src;
        self.finish_removal(&home_address).await;
        let packet_source = msg.hao.unwrap_or(msg.src);
        let coa = care_of_address(packet_source, &repr.options);
        let home_ifindex = self.ha_iface_of(msg.dst).await;
        let acl_entry = self
            .config
            .binding_acl_policy
            .iter()
            .find(|e| e.home_address == home_address);
        let acl_prefixes: Option<Vec<(Ipv6Addr, u8)>> = acl_entry.map(|e| {
            e.mobile_network_prefixes
                .iter()
                .map(|p| (p.addr, p.len))
                .collect()
        });
        let acl = AclDecision {
            status: BaStatus(
                acl_entry.map_or(self.config.default_binding_acl_policy, |e| e.status),
            ),
            prefixes: acl_prefixes.as_deref(),
        };
        self.cache
            .set_max_bindings(usize::try_from(self.config.ha_max_bindings).unwrap_or(usize::MAX));
        let ctx = HomeBuContext {
            packet_source,
            home_address,
            bu,
            options: &repr.options,
            existing: self.cache.existing(&home_address),
            coa_has_binding: self.cache.has_binding(&coa),
            dst_is_ha_address: home_ifindex.is_some(),
            home_prefix: home_ifindex.and_then(|i| self.home_prefix(i, home_address)),
            served_prefix_covers_hoa: self
                .config
                .ha_served_prefix
                .iter()
                .any(|p| p.contains(home_address)),
            accept_mobile_router: self.config.ha_accept_mob_rtr,
            acl,
            max_binding_life: Duration::from_secs(u64::from(self.config.ha_max_binding_life)),
            key_mgmt_capable: self.config.key_mng_mob_capability,
            ipsec_required: self.config.use_mn_ha_ipsec,
            ipsec_protected: crate::ipsec::protects_home_registration(
                &self.config,
                msg.dst,
                home_address,
            ),
            cache_full: self.cache.is_full(),
        };
        let now = std::time::Instant::now();
        let verdict = self
            .admission
            .new_bindings
            .admit(now, packet_source, check_home_bu(&ctx));
        self.counters.received += 1;
        self.view.changed();
        match &verdict {
            HomeBuVerdict::Reject { status, .. } => {
                *self.counters.rejected.entry(status.0).or_default() += 1;
            }
            HomeBuVerdict::Accept(_) => self.counters.accepted += 1,
            _ => self.counters.dropped += 1,
        }
        let via = (packet_source != home_address).then_some(packet_source);
        match verdict {
            HomeBuVerdict::NotHomeRegistration => {
                debug!("BU without H from {home_address}: correspondent bindings not supported");
            }
            HomeBuVerdict::Drop(reason) => {
                let kind = LogKind::Dropped(reason);
                if let Some(more) = self.admission.log_limit.admit(now, packet_source, kind) {
                    info!("BU from {home_address} (CoA {coa}) dropped: {reason:?}{more}");
                }
            }
            HomeBuVerdict::Ignore => debug!("BU from {home_address} ignored: DAD running"),
            HomeBuVerdict::Reject { status, .. } => {
                let kind = LogKind::Refused(status.0);
                if let Some(more) = self.admission.log_limit.admit(now, packet_source, kind) {
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
                if let Some(ba) = verdict.binding_ack() {
                    self.send_ba(home_address, via, Some(msg.dst), &ba).await;
                }
            }
            HomeBuVerdict::Accept(accepted) => {
                let change = self.cache.apply(now, home_address, msg.dst, &bu, &accepted);
                match change {
                    BcChange::DadStarted => {
                        let home = home_ifindex.unwrap_or(0);
                        info!(
                            "BU from {home_address} (CoA {coa}, seq {}, lifetime {} s): DAD started",
                            bu.sequence,
                            accepted.lifetime().as_secs()
                        );
                        self.start_dad(home_address, home, msg.dst).await;
                        self.bindings.insert(
                            home_address,
                            BindingState::pending(
                                home_address,
                                coa,
                                msg.dst,
                                accepted.mobile_network_prefixes.clone(),
                            )
                            .with_ipsec(&self.config),
                        );
                    }
                    BcChange::Updated {
                        previous_care_of_address,
                    } => {
                        if let Some(old) = previous_care_of_address {
                            info!("binding {home_address} moves from {old} to {coa}");
                            if let Some(b) = self.bindings.get_mut(&home_address) {
                                if let Err(e) = b.move_to(&mut self.io.kernel, coa).await {
                                    error!("cannot re-point the tunnel of {home_address}: {e}");
                                }
                            }
                        } else {
                            debug!("binding {home_address} refreshed (seq {})", bu.sequence);
                        }
                        info!(
                            "BA to {home_address} via {coa}: status {} seq {} lifetime {} s",
                            accepted.status.0,
                            bu.sequence,
                            accepted.lifetime().as_secs()
                        );
                        self.send_ba(home_address, via, Some(msg.dst), &accepted.binding_ack())
                            .await;
                    }
                    BcChange::Removed(entry) => {
                        self.dad.cancel(&home_address);
                        if let Some(mut b) = self.bindings.remove(&home_address) {
                            b.remove(&mut self.io.kernel).await;
                        }
                        info!(
                            "binding {home_address} (CoA {}) deregistered",
                            entry.care_of_address
                        );
                        self.send_ba(home_address, via, Some(msg.dst), &accepted.binding_ack())
                            .await;
                    }
                }
            }
        }
    }

    /// Sends a BA to `hoa`, through a Type 2 routing header to `coa` when
    /// the mobile node is away.
    pub(super) async fn send_ba(
        &self,
        hoa: Ipv6Addr,
        coa: Option<Ipv6Addr>,
        src: Option<Ipv6Addr>,
        ba: &MhRepr,
    ) {
        let bytes = match ba.emit_without_checksum() {
            Ok(b) => b,
            Err(e) => {
                error!("BA to {hoa}: {e}");
                return;
            }
        };
        let src = src.unwrap_or(Ipv6Addr::UNSPECIFIED);
        if let Err(e) = self.io.mh.send_message(src, hoa, 0, coa, &bytes).await {
            warn!("BA to {hoa} via {coa:?}: {e}");
        }
    }
}
