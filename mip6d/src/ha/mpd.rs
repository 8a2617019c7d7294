//! Mobile prefix discovery on the home agent (RFC 6275 §10.6.2, §11.4.3):
//! a Mobile Prefix Solicitation from a home address with a binding is
//! answered with the prefixes of that binding's home link
//! ([`mip6::mpd::solicited_advert`]) and their remaining lifetimes.
//!
//! The solicitation comes from the care-of address with a Home Address
//! option (an inbound sub-policy with an optional HAO template lets it past
//! the kernel's checks, as for BUs) or through the binding's tunnel: either
//! way the kernel hands it over with the home address as source. The
//! advertisement goes to the home address, which the binding's route sends
//! through the tunnel (not with a Type 2 routing header: RFC 6275 §6.8 asks
//! for one; a mobile node takes both).
//! `SendMobPfxAdvs disabled` leaves solicitations unanswered; unlike UMIP,
//! `SendUnsolMobPfxAdvs disabled` does not (umip.md §4.2 quirk, fixed).

use mip6::mpd::{solicited_advert, AdvertisedPrefix};
use mip6::wire::ndisc::NdRepr;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::HomeAgent;
use crate::kernel::raw::Received;

impl HomeAgent {
    /// A Mobile Prefix Solicitation (from any interface: tunnels included).
    pub(super) async fn on_mobile_prefix_solicit(&mut self, msg: &Received) {
        let Ok(NdRepr::MobilePrefixSolicit(mps)) = NdRepr::parse(&msg.payload) else {
            debug!("malformed MPS from {}", msg.src);
            return;
        };
        let hoa = msg.src;
        let Some(binding) = self.cache.get(&hoa) else {
            debug!("MPS {} from {hoa}: no binding", mps.identifier);
            return;
        };
        if binding.home_agent != msg.dst {
            debug!(
                "MPS {} from {hoa} to {}: not its home agent",
                mps.identifier, msg.dst
            );
            return;
        }
        if !self.config.send_mob_pfx_advs {
            debug!(
                "MPS {} from {hoa}: SendMobPfxAdvs is disabled",
                mps.identifier
            );
            return;
        }
        let now = Instant::now();
        let home_link = self
            .prefixes
            .iter()
            .find(|p| p.prefix.contains(hoa) && p.valid_until > now)
            .map(|p| p.ifindex);
        let prefixes: Vec<AdvertisedPrefix> = self
            .prefixes
            .iter()
            .filter(|p| Some(p.ifindex) == home_link && p.valid_until > now)
            .map(|p| AdvertisedPrefix {
                prefix: p.prefix.addr,
                prefix_len: p.prefix.len,
                valid: p.valid_until - now,
                preferred: p.preferred_until.saturating_duration_since(now),
            })
            .collect();
        let mpa = solicited_advert(&mps, &prefixes);
        let listed: Vec<String> = prefixes
            .iter()
            .map(|p| format!("{}/{}", p.prefix, p.prefix_len))
            .collect();
        info!(
            "MPS {} from {hoa}: MPA with {}",
            mps.identifier,
            if listed.is_empty() {
                "no prefix".to_owned()
            } else {
                listed.join(", ")
            }
        );
        let bytes = match NdRepr::MobilePrefixAdvert(mpa).emit_without_checksum() {
            Ok(b) => b,
            Err(e) => {
                warn!("MPA: {e}");
                return;
            }
        };
        if let Err(e) = self.icmp.send_nd(Some(msg.dst), hoa, 0, &bytes).await {
            warn!("MPA to {hoa}: {e}");
        }
    }
}
