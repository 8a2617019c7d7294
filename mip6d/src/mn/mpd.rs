//! Mobile prefix discovery on the mobile node (RFC 6275 §11.4.2–§11.4.3):
//! the driver of [`mip6::mpd::MpsClient`].
//!
//! After each accepted home registration the first Mobile Prefix
//! Solicitation is due at 90 % of min(home prefix valid lifetime, binding
//! lifetime), at once after a BA with status 1 (RFC 6275 §11.4.2). As RFC 6275
//! §6.7 wants, it leaves from the care-of address with a Home Address option:
//! an XFRM out sub-policy (ICMPv6 type 146, home address → home agent) with
//! the HAO template that the HAO state of [`super::away`] fills. The
//! advertisement comes back through the tunnel (our home agent) or with a
//! Type 2 routing header (RFC 6275 §6.8, UMIP's home agent), which the RH2
//! state of [`super::away`] processes and an in sub-policy (ICMPv6, home
//! agent → home address, optional RH2 template) lets through. Both policies
//! are installed with the first solicitation and removed with the binding.
//! An accepted advertisement's home prefix gives the home prefix's valid
//! lifetime, which bounds when the next solicitation goes out.
//! `SendMobPfxSols disabled` sends none.

use std::time::Duration;

use std::net::Ipv6Addr;

use mip6::consts::BaStatus;
use mip6::mpd::{MpaOutcome, MpsClient};
use mip6::wire::ndisc::{MobilePrefixSolicit, NdRepr, TYPE_MOBILE_PREFIX_SOLICIT};
use netcfg::xfrm::{PolicyDir, PolicyType, Selector, Template, XfrmPolicy, XfrmProto};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::location::Location;
use super::MobileNode;
use crate::config::{self, Config};
use crate::kernel::raw::Received;
use crate::kernel::{Item, XFRM_PRIO_HOME_SIG};
use crate::net::mask;
use crate::random::weak_u16;

/// The mobile node's prefix discovery state.
#[derive(Debug)]
pub(super) struct PrefixDiscovery {
    client: MpsClient,
    enabled: bool,
    /// Valid lifetime end of the home prefix, as the last MPA told.
    home_valid_until: Option<std::time::Instant>,
    /// The home agent the XFRM policies are installed for.
    policy_to: Option<Ipv6Addr>,
}

/// Solicitations out with an HAO; advertisements in, with an RH2 or not.
/// (Inbound, the kernel reads the ICMPv6 type right after the IPv6 header,
/// i.e. from the routing header: the in-policy names no type.)
fn policies(hoa: Ipv6Addr, ha: Ipv6Addr) -> [XfrmPolicy; 2] {
    let any = Ipv6Addr::UNSPECIFIED;
    [
        XfrmPolicy::new(
            Selector::hosts(hoa, ha).icmp6_type(TYPE_MOBILE_PREFIX_SOLICIT),
            PolicyDir::Out,
            PolicyType::Sub,
            XFRM_PRIO_HOME_SIG,
        )
        .tmpl(Template::ro(XfrmProto::Hao, any, any)),
        XfrmPolicy::new(
            Selector::hosts(ha, hoa).proto(mip6::consts::IPPROTO_ICMPV6),
            PolicyDir::In,
            PolicyType::Sub,
            XFRM_PRIO_HOME_SIG,
        )
        .tmpl(Template::ro(XfrmProto::Route2, any, any).optional()),
    ]
}

impl PrefixDiscovery {
    pub(super) fn new(config: &Config) -> Self {
        let initial = config::seconds(config.initial_solicit_timer)
            .filter(|d| !d.is_zero())
            .unwrap_or(mip6::consts::INITIAL_SOLICIT_TIMER);
        PrefixDiscovery {
            client: MpsClient::with_initial_timeout(weak_u16(), initial),
            enabled: config.send_mob_pfx_sols,
            home_valid_until: None,
            policy_to: None,
        }
    }
}

impl MobileNode {
    /// A home registration was accepted for `lifetime` with `status`.
    pub(super) fn schedule_prefix_solicitation(&mut self, lifetime: Duration, status: BaStatus) {
        let mpd = &mut self.reg.mpd;
        if !mpd.enabled {
            return;
        }
        let now = std::time::Instant::now();
        let home_valid = mpd
            .home_valid_until
            .map_or(Duration::MAX, |t| t.saturating_duration_since(now));
        mpd.client.schedule(now, home_valid, lifetime, status);
        if status == BaStatus::PREFIX_DISCOVERY_NECESSARY {
            info!("home agent asks for prefix discovery: Mobile Prefix Solicitation now");
        }
    }

    /// No binding any more: no solicitation, and no HAO policy for it.
    pub(super) async fn stop_prefix_solicitation(&mut self) {
        self.reg.mpd.client.cancel();
        self.remove_solicitation_policy().await;
    }

    async fn remove_solicitation_policy(&mut self) {
        if let Some(ha) = self.reg.mpd.policy_to.take() {
            for p in policies(self.reg.hoa, ha) {
                if let Err(e) = self
                    .io
                    .kernel
                    .remove(Item::Policy(p.sel, p.dir, p.ptype))
                    .await
                {
                    warn!("cannot remove a prefix discovery policy: {e}");
                }
            }
        }
    }

    /// When a solicitation is due.
    pub(super) fn mpd_deadline(&self) -> Option<Instant> {
        self.reg.mpd.client.poll_timeout().map(Instant::from_std)
    }

    /// Sends the solicitation if one is due.
    pub(super) async fn on_mpd_timer(&mut self) {
        let now = std::time::Instant::now();
        if self.reg.mpd.client.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        if let Some(mps) = self.reg.mpd.client.handle_timeout(now) {
            self.send_prefix_solicitation(mps).await;
        }
    }

    async fn send_prefix_solicitation(&mut self, mps: MobilePrefixSolicit) {
        let (Some(_), Location::Away(p)) = (self.movement.away.as_ref(), self.movement.location)
        else {
            return;
        };
        if self.reg.mpd.policy_to != Some(self.reg.ha) {
            self.remove_solicitation_policy().await;
            self.reg.mpd.policy_to = Some(self.reg.ha);
            for p in policies(self.reg.hoa, self.reg.ha) {
                if let Err(e) = self.io.kernel.add_policy(&p).await {
                    warn!("prefix discovery policy: {e}");
                    return;
                }
            }
        }
        let bytes = match NdRepr::MobilePrefixSolicit(mps).emit_without_checksum() {
            Ok(b) => b,
            Err(e) => {
                warn!("MPS: {e}");
                return;
            }
        };
        info!(
            "MPS {} from {} to {}",
            mps.identifier, self.reg.hoa, self.reg.ha
        );
        if let Err(e) = self
            .io
            .icmp
            .send_nd(Some(self.reg.hoa), self.reg.ha, p.ifindex, &bytes)
            .await
        {
            warn!("MPS to {}: {e}", self.reg.ha);
        }
    }

    /// A Mobile Prefix Advertisement on the ICMPv6 socket.
    pub(super) async fn on_mobile_prefix_advert(&mut self, msg: Received) {
        if msg.src != self.reg.ha || msg.dst != self.reg.hoa {
            debug!("MPA from {} to {} ignored", msg.src, msg.dst);
            return;
        }
        let Ok(NdRepr::MobilePrefixAdvert(mpa)) = NdRepr::parse(&msg.payload) else {
            debug!("malformed MPA from {}", msg.src);
            return;
        };
        let now = std::time::Instant::now();
        match self.reg.mpd.client.handle_advert(now, &mpa) {
            MpaOutcome::Resolicit(mps) => {
                // Unsolicited (the home agent's prefixes changed) or stale:
                // not trusted as is (RFC 6275 §11.4.3), the answer to our own
                // solicitation is.
                if !self.reg.mpd.enabled {
                    self.reg.mpd.client.cancel();
                    info!(
                        "MPA {} was not solicited: ignored (SendMobPfxSols disabled)",
                        mpa.identifier
                    );
                    return;
                }
                info!("MPA {} was not solicited: soliciting", mpa.identifier);
                self.send_prefix_solicitation(mps).await;
            }
            MpaOutcome::Accepted(prefixes) => {
                let home = self.reg.home;
                for p in &prefixes {
                    info!(
                        "MPA {}: prefix {}/{} valid {} s preferred {} s",
                        mpa.identifier,
                        p.prefix,
                        p.prefix_len,
                        p.valid_lifetime,
                        p.preferred_lifetime
                    );
                }
                let home_prefix = prefixes.iter().find(|p| {
                    p.prefix_len == home.len && mask(p.prefix, p.prefix_len) == home.addr
                });
                match home_prefix {
                    Some(p) => {
                        self.reg.mpd.home_valid_until =
                            Some(now + Duration::from_secs(u64::from(p.valid_lifetime)));
                    }
                    None => warn!(
                        "MPA {} from {} does not list the home prefix {}/{}",
                        mpa.identifier, msg.src, home.addr, home.len
                    ),
                }
            }
        }
    }
}
