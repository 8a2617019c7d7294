//! Mobile prefix discovery on the home agent (RFC 6275 §10.6.2–§10.6.3,
//! §11.4.3): a Mobile Prefix Solicitation from a home address with a binding
//! is answered with the prefixes of that binding's home link
//! ([`mip6::mpd::solicited_advert`]) and their remaining lifetimes; when a
//! home link's prefixes change, every mobile node registered on it gets an
//! unsolicited advertisement, spread over `MinMobPfxAdvInterval` ..
//! `MaxMobPfxAdvInterval` and retransmitted until it solicits
//! ([`mip6::mpa_schedule`]).
//!
//! The solicitation comes from the care-of address with a Home Address
//! option (an inbound sub-policy with an optional HAO template lets it past
//! the kernel's checks, as for BUs) or through the binding's tunnel: either
//! way the kernel hands it over with the home address as source. The
//! advertisement goes to the home address, which the binding's route sends
//! through the tunnel (not with a Type 2 routing header: RFC 6275 §6.8 asks
//! for one; a mobile node takes both).
//! `SendMobPfxAdvs disabled` leaves solicitations unanswered; unlike UMIP,
//! `SendUnsolMobPfxAdvs disabled` does not (a UMIP quirk, fixed; `docs/protocol-notes.md`): it
//! only stops the unsolicited advertisements.

use std::net::Ipv6Addr;
use std::time::Duration;

use mip6::bcache::BcState;
use mip6::mpa_schedule::MpaIntervals;
use mip6::mpd::{advert, solicited_advert, AdvertisedPrefix};
use mip6::wire::ndisc::{MobilePrefixSolicit, NdRepr};
use tokio::time::Instant;
use tracing::{debug, info};

use super::discovery::{Discovery, NdAction};
use super::HomeAgent;
use crate::kernel::raw::Received;

impl HomeAgent {
    /// A Mobile Prefix Solicitation (from any interface: tunnels included).
    pub(super) async fn on_mobile_prefix_solicit(&mut self, msg: &Received) {
        let Ok(NdRepr::MobilePrefixSolicit(mps)) = NdRepr::parse(&msg.payload) else {
            debug!("malformed MPS from {}", msg.src);
            return;
        };
        let actions = self
            .discovery()
            .mobile_prefix_solicit(Instant::now(), msg.src, msg.dst, mps);
        self.carry_out_nd(actions).await;
    }

    /// Sends the unsolicited advertisements that are due.
    pub(super) async fn send_unsolicited_mpas(&mut self, now: Instant) {
        let actions = self.discovery().unsolicited_due(now);
        self.carry_out_nd(actions).await;
    }
}

impl Discovery<'_> {
    /// A Mobile Prefix Solicitation from `hoa` to `dst`: answered from `dst`
    /// when `hoa` has a binding with that home agent (RFC 6275 §10.6.3),
    /// `SendMobPfxAdvs` is on and the home address is within its limit; it
    /// stops the unsolicited advertisements to `hoa` (§11.4.3).
    pub(super) fn mobile_prefix_solicit(
        &mut self,
        now: Instant,
        hoa: Ipv6Addr,
        dst: Ipv6Addr,
        mps: MobilePrefixSolicit,
    ) -> Vec<NdAction> {
        let Some(binding) = self.cache.get(&hoa) else {
            debug!("MPS {} from {hoa}: no binding", mps.identifier);
            return Vec::new();
        };
        if binding.home_agent != dst {
            debug!(
                "MPS {} from {hoa} to {dst}: not its home agent",
                mps.identifier
            );
            return Vec::new();
        }
        if self.unsolicited.stop(&hoa) {
            debug!(
                "MPS {} from {hoa}: unsolicited MPAs stopped",
                mps.identifier
            );
        }
        if !self.config.send_mob_pfx_advs {
            debug!(
                "MPS {} from {hoa}: SendMobPfxAdvs is disabled",
                mps.identifier
            );
            return Vec::new();
        }
        if !self.mpa_limit.admit(now.into_std(), hoa) {
            debug!(
                "MPS {} from {hoa}: over its limit, not answered",
                mps.identifier
            );
            return Vec::new();
        }
        // The limit above bounds this line too: one per advertisement sent,
        // at most a few per registered home address per minute.
        let prefixes = self.home_link_prefixes(now, hoa);
        info!(
            "MPS {} from {hoa}: MPA with {}",
            mps.identifier,
            listed(&prefixes)
        );
        vec![NdAction::SendMpa {
            src: dst,
            hoa,
            mpa: solicited_advert(&mps, &prefixes),
        }]
    }

    /// The prefixes of `hoa`'s home link (the link of the home prefix that
    /// holds it) with their remaining lifetimes at `now`.
    pub(super) fn home_link_prefixes(&self, now: Instant, hoa: Ipv6Addr) -> Vec<AdvertisedPrefix> {
        let home_link = self
            .prefixes
            .iter()
            .find(|p| p.prefix.contains(hoa) && p.valid_until > now)
            .map(|p| p.ifindex);
        self.prefixes
            .iter()
            .filter(|p| Some(p.ifindex) == home_link && p.valid_until > now)
            .map(|p| AdvertisedPrefix {
                prefix: p.prefix.addr,
                prefix_len: p.prefix.len,
                valid: p.valid_until - now,
                preferred: p.preferred_until.saturating_duration_since(now),
            })
            .collect()
    }

    /// The home prefixes advertised on HA interface `ifindex` changed (one
    /// appeared, or its advertised lifetimes are new): every mobile node
    /// registered through an address of that interface gets an unsolicited
    /// advertisement (RFC 6275 §10.6.2), unless `SendUnsolMobPfxAdvs` is off.
    pub(super) fn home_prefixes_changed(&mut self, now: Instant, ifindex: u32) {
        if !self.config.send_unsol_mob_pfx_advs {
            return;
        }
        let preferred = self
            .prefixes
            .iter()
            .filter(|p| p.ifindex == ifindex && p.valid_until > now)
            .map(|p| p.preferred_until.saturating_duration_since(now))
            .min()
            .unwrap_or_default();
        let intervals = MpaIntervals {
            min: Duration::from_secs(u64::from(self.config.min_mob_pfx_adv_interval)),
            max: Duration::from_secs(u64::from(self.config.max_mob_pfx_adv_interval)),
        };
        let on_link: Vec<Ipv6Addr> = self
            .cache
            .iter()
            .filter(|b| {
                b.state == BcState::Active
                    && self.own_addresses.get(&b.home_agent) == Some(&ifindex)
            })
            .map(|b| b.home_address)
            .collect();
        if on_link.is_empty() {
            return;
        }
        for hoa in &on_link {
            self.unsolicited.prefixes_changed(
                now.into_std(),
                *hoa,
                intervals,
                preferred,
                crate::random::weak_u64(),
            );
        }
        info!(
            "home prefixes on {} changed: unsolicited MPAs to {} mobile nodes within {}..{} s",
            self.iface_name(ifindex),
            on_link.len(),
            intervals.min.as_secs(),
            intervals.max_schedule_delay(preferred).as_secs()
        );
    }

    /// The unsolicited advertisements due at `now`, to bindings that are
    /// still there (the others' schedules stop).
    pub(super) fn unsolicited_due(&mut self, now: Instant) -> Vec<NdAction> {
        let mut actions = Vec::new();
        for due in self.unsolicited.handle_timeout(now.into_std()) {
            let hoa = due.home_address;
            let Some(src) = self.cache.get(&hoa).map(|b| b.home_agent) else {
                self.unsolicited.stop(&hoa);
                continue;
            };
            let prefixes = self.home_link_prefixes(now, hoa);
            info!(
                "unsolicited MPA {} to {hoa}{}: {}",
                due.identifier,
                match due.retransmission {
                    0 => String::new(),
                    n => format!(" (retransmission {n})"),
                },
                listed(&prefixes)
            );
            actions.push(NdAction::SendMpa {
                src,
                hoa,
                mpa: advert(due.identifier, &prefixes),
            });
        }
        actions
    }
}

/// "P/L, P/L" or "no prefix", for the log.
fn listed(prefixes: &[AdvertisedPrefix]) -> String {
    if prefixes.is_empty() {
        return "no prefix".to_owned();
    }
    prefixes
        .iter()
        .map(|p| format!("{}/{}", p.prefix, p.prefix_len))
        .collect::<Vec<_>>()
        .join(", ")
}
