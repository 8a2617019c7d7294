//! Mobile prefix discovery on the mobile node (RFC 6275 §11.4.2–§11.4.3):
//! the registration's use of [`mip6::mpd::MpsClient`], without I/O.
//!
//! After each accepted home registration the first Mobile Prefix
//! Solicitation is due at 90 % of min(home prefix valid lifetime, binding
//! lifetime), at once after a BA with status 1 (RFC 6275 §11.4.2). As RFC 6275
//! §6.7 wants, it leaves from the care-of address with a Home Address option:
//! an XFRM out sub-policy (ICMPv6 type 146, home address → home agent) with
//! the HAO template that the HAO state of `mn::away` fills. The
//! advertisement comes back through the tunnel (our home agent) or with a
//! Type 2 routing header (RFC 6275 §6.8, UMIP's home agent), which the RH2
//! state of `mn::away` processes and an in sub-policy (ICMPv6, home
//! agent → home address, optional RH2 template) lets through. Both policies
//! are installed with the first solicitation and removed with the binding.
//! An accepted advertisement's home prefix gives the home prefix's valid
//! lifetime, which bounds when the next solicitation goes out.
//! `SendMobPfxSols disabled` sends none.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use mip6::consts::BaStatus;
use mip6::mpd::{MpaOutcome, MpsClient};
use mip6::wire::ndisc::{MobilePrefixAdvert, TYPE_MOBILE_PREFIX_SOLICIT};
use netcfg::xfrm::{PolicyDir, PolicyType, Selector, Template, XfrmPolicy, XfrmProto};
use tracing::{debug, info, warn};

use super::{RegAction, Registration};
use crate::config::{self, Config};
use crate::kernel::XFRM_PRIO_HOME_SIG;
use crate::net::mask;
use crate::random::weak_u16;

/// The mobile node's prefix discovery state.
#[derive(Debug)]
pub(in crate::mn) struct PrefixDiscovery {
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
pub(in crate::mn) fn policies(hoa: Ipv6Addr, ha: Ipv6Addr) -> [XfrmPolicy; 2] {
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
    pub(in crate::mn) fn new(config: &Config) -> Self {
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

impl PrefixDiscovery {
    /// When a solicitation is due.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }

    /// A home registration was accepted for `lifetime` with `status`.
    pub(super) fn schedule(&mut self, now: Instant, lifetime: Duration, status: BaStatus) {
        if !self.enabled {
            return;
        }
        let home_valid = self
            .home_valid_until
            .map_or(Duration::MAX, |t| t.saturating_duration_since(now));
        self.client.schedule(now, home_valid, lifetime, status);
        if status == BaStatus::PREFIX_DISCOVERY_NECESSARY {
            info!("home agent asks for prefix discovery: Mobile Prefix Solicitation now");
        }
    }

    /// No solicitation any more; the home agent whose policies are to go.
    pub(super) fn stop(&mut self) -> Option<Ipv6Addr> {
        self.client.cancel();
        self.policy_to.take()
    }

    /// The solicitation, if one is due.
    pub(super) fn handle_timeout(&mut self, now: Instant) -> Option<RegAction> {
        if self.client.poll_timeout().is_none_or(|t| t > now) {
            return None;
        }
        self.client
            .handle_timeout(now)
            .map(RegAction::SendPrefixSolicitation)
    }
}

impl Registration {
    /// A solicitation goes to the home agent: `Some((old, new))` when the
    /// policies it needs are those towards `new` and no longer `old`'s.
    pub(in crate::mn) fn retarget_prefix_policies(
        &mut self,
    ) -> Option<(Option<Ipv6Addr>, Ipv6Addr)> {
        if self.mpd.policy_to == Some(self.ha) {
            return None;
        }
        Some((self.mpd.policy_to.replace(self.ha), self.ha))
    }

    /// A Mobile Prefix Advertisement from `src` to `dst`.
    pub(in crate::mn) fn handle_mobile_prefix_advert(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        mpa: &MobilePrefixAdvert,
    ) -> Vec<RegAction> {
        if src != self.ha || dst != self.hoa {
            debug!("MPA from {src} to {dst} ignored");
            return Vec::new();
        }
        match self.mpd.client.handle_advert(now, mpa) {
            MpaOutcome::Resolicit(mps) => {
                // Unsolicited (the home agent's prefixes changed) or stale:
                // not trusted as is (RFC 6275 §11.4.3), the answer to our own
                // solicitation is.
                if !self.mpd.enabled {
                    self.mpd.client.cancel();
                    info!(
                        "MPA {} was not solicited: ignored (SendMobPfxSols disabled)",
                        mpa.identifier
                    );
                    return Vec::new();
                }
                info!("MPA {} was not solicited: soliciting", mpa.identifier);
                vec![RegAction::SendPrefixSolicitation(mps)]
            }
            MpaOutcome::Accepted(prefixes) => {
                let home = self.home;
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
                        self.mpd.home_valid_until =
                            Some(now + Duration::from_secs(u64::from(p.valid_lifetime)));
                    }
                    None => warn!(
                        "MPA {} from {src} does not list the home prefix {}/{}",
                        mpa.identifier, home.addr, home.len
                    ),
                }
                Vec::new()
            }
        }
    }
}
