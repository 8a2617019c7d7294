//! The mobile node's home registration as a state machine without I/O
//! (RFC 6275 §11.7.1, §11.7.3): Binding Acknowledgements, the binding
//! update list's timers, home agent discovery ([`dhaad`]) and mobile prefix
//! discovery ([`mpd`]) go in through `handle_*` with `now`; what the node
//! must do about them comes back as [`RegAction`]s, which the node's loop
//! carries out (`super::registration_io`).

mod dhaad;
mod home_return;
mod mpd;
#[cfg(test)]
mod tests;

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use daemon::ratelimit::{Admit, RateLimit};
use mip6::bul::{BulEntry, BulEvent, HomeRegistrationConfig};
use mip6::coa::PrimaryCoa;
use mip6::haselect::HomeAgentSelection;
use mip6::wire::mh::{BuFlags, MhMessage, MhRepr};
use mip6::wire::ndisc::{DhaadRequest, MobilePrefixSolicit};
use mip6::wire::param_problem::{Culprit, ParamProblem};
use tracing::{debug, error, info, warn};

use super::location::Location;
use crate::config::{self, Config, HomeLink, IpsecPolicyType, Prefix};
use crate::random::weak_u16;

use dhaad::selection_for;
use home_return::HomeProbe;
pub(super) use home_return::HomeStep;
pub(super) use mpd::policies as prefix_policies;
use mpd::PrefixDiscovery;

/// What the home registration decided; the node's loop carries it out.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RegAction {
    /// Send this BU from the home address (away, XFRM moves it into an HAO
    /// and makes the CoA the source) over `ifindex` (0: any).
    SendBu {
        hoa: Ipv6Addr,
        ha: Ipv6Addr,
        coa: Ipv6Addr,
        ifindex: u32,
        message: MhRepr,
    },
    /// The home agent accepted the binding: traffic from the home address
    /// goes through the tunnel, and a pending handover is complete.
    Registered {
        care_of_address: Ipv6Addr,
        previous_care_of_address: Option<Ipv6Addr>,
    },
    /// Send this DHAAD request (RFC 6275 §11.4.1) over `ifindex` (0: any).
    SendDhaadRequest {
        source: Ipv6Addr,
        destination: Ipv6Addr,
        ifindex: u32,
        request: DhaadRequest,
    },
    /// Send this Mobile Prefix Solicitation (RFC 6275 §11.4.2), if away.
    SendPrefixSolicitation(MobilePrefixSolicit),
    /// Remove the prefix discovery XFRM policies towards this home agent.
    RemovePrefixPolicies { ha: Ipv6Addr },
    /// Remove the away state (tunnel, rules, XFRM) of the old home agent.
    LeaveAway,
    /// Probe the home link `ifindex` again for the addresses the home agent
    /// defends (Neighbor Solicitations from `::`, `home_return.rs`).
    ProbeHome {
        ifindex: u32,
        targets: Vec<Ipv6Addr>,
    },
    /// Build the away state towards the home agent just chosen from `coa`;
    /// once built, the loop calls [`Registration::register`].
    EnterAway { ha: Ipv6Addr, coa: PrimaryCoa },
}

/// The home registration: the home address, the home agent (configured or
/// discovered), the home link and prefix, and the binding with the agent.
pub(super) struct Registration {
    pub(super) hoa: Ipv6Addr,
    /// `::` while DHAAD has not found one.
    pub(super) ha: Ipv6Addr,
    /// Set when the home agent is left to DHAAD (`HomeAgentAddress ::`).
    pub(super) ha_selection: Option<HomeAgentSelection>,
    pub(super) mpd: PrefixDiscovery,
    pub(super) home: Prefix,
    pub(super) home_plen: u8,
    pub(super) home_iface: String,
    pub(super) bul: BulEntry,
    pub(super) may_send_bu: bool,
    /// A mobile router's prefixes (`IsMobRtr` with MNPs), routed through the
    /// tunnel while away.
    pub(super) mobile_network_prefixes: Vec<(Ipv6Addr, u8)>,
    /// Tunnel-mode IPsec policies, following the CoA while away.
    pub(super) ipsec: crate::ipsec::TunnelIpsec,
    /// The link-local address of the L flag (RFC 6275 §11.7.1), when the
    /// home link holds it.
    pub(super) link_local: Option<Ipv6Addr>,
    /// The probe on the home link before deregistering there.
    home_probe: Option<HomeProbe>,
    /// Lines about discarded Parameter Problems: anyone can send them with
    /// the home agent's address, so at most one a minute.
    pub(super) param_problem_log: RateLimit<()>,
}

/// UMIP: with `UseMnHaIPsec` on and no policy covering BU/BA
/// (`HomeRegBinding`, `Mh` or `any`) for this home agent and home address,
/// no BU is ever sent.
pub(super) fn bu_allowed(config: &Config, ha: Ipv6Addr, hoa: Ipv6Addr) -> bool {
    let covers_bu_ba = IpsecPolicyType::HomeRegBinding.coverage();
    !config.use_mn_ha_ipsec
        || config
            .ipsec_policies()
            .any(|(pha, phoa, p)| pha == ha && phoa == hoa && p.kind.coverage() & covers_bu_ba != 0)
}

/// The home registration `link` asks for.
pub(super) fn registration_config(config: &Config, link: &HomeLink) -> HomeRegistrationConfig {
    let mut r = HomeRegistrationConfig::new(link.home_address.addr, link.home_agent_address);
    if link.is_mob_rtr {
        r.flags = BuFlags(r.flags.0 | BuFlags::MOBILE_ROUTER);
        if config.mob_rtr_use_explicit_mode {
            r.mobile_network_prefixes = link
                .mobile_network_prefixes
                .iter()
                .map(|p| (p.addr, p.len))
                .collect();
        }
    }
    if config.use_mn_ha_ipsec && config.key_mng_mob_capability {
        r.flags = BuFlags(r.flags.0 | BuFlags::KEY_MGMT);
    }
    r.max_lifetime = Duration::from_secs(u64::from(config.mn_max_ha_binding_life));
    if let Some(d) = config::seconds(config.initial_bindack_timeout_first_reg) {
        r.initial_timeout_first_reg = d;
    }
    if let Some(d) = config::seconds(config.initial_bindack_timeout_re_reg) {
        r.initial_timeout_rereg = d;
    }
    r
}

/// The lifetime asked for in home registrations (`MnMaxHaBindingLife`).
fn ha_lifetime(config: &Config) -> Duration {
    Duration::from_secs(u64::from(config.mn_max_ha_binding_life))
}

/// The interface signalling leaves from at `at` (0: the kernel chooses).
fn signalling_ifindex(at: Location) -> u32 {
    match at {
        Location::Away(p) => p.ifindex,
        Location::Home(i) => i,
        Location::Unknown | Location::Nowhere => 0,
    }
}

impl Registration {
    /// The home registration `link` asks for, nothing sent yet.
    pub(super) fn new(config: &Config, link: &HomeLink) -> Registration {
        let (hoa, ha) = (link.home_address.addr, link.home_agent_address);
        Registration {
            hoa,
            ha,
            ha_selection: selection_for(link),
            mpd: PrefixDiscovery::new(config),
            ipsec: crate::ipsec::TunnelIpsec::new(
                config,
                crate::ipsec::Endpoint::MobileNode,
                ha,
                hoa,
            ),
            home: link.effective_home_prefix(),
            home_plen: link.home_address.len,
            home_iface: link.interface.clone(),
            bul: BulEntry::new(registration_config(config, link), weak_u16()),
            may_send_bu: bu_allowed(config, ha, hoa),
            mobile_network_prefixes: if link.is_mob_rtr {
                link.mobile_network_prefixes
                    .iter()
                    .map(|p| (p.addr, p.len))
                    .collect()
            } else {
                Vec::new()
            },
            link_local: None,
            home_probe: None,
            param_problem_log: RateLimit::new(Duration::from_secs(60), 1, 1),
        }
    }

    /// The home link holds `link_local` (fe80::/64 with the home address's
    /// interface identifier): BUs carry the L flag (RFC 6275 §6.1.7,
    /// §11.7.1), and the home agent defends that address too.
    pub(super) fn use_link_local(
        &mut self,
        config: &Config,
        link: &HomeLink,
        link_local: Ipv6Addr,
    ) {
        let mut r = registration_config(config, link);
        r.flags = BuFlags(r.flags.0 | BuFlags::LINK_LOCAL);
        self.bul = BulEntry::new(r, weak_u16());
        self.link_local = Some(link_local);
    }

    /// When [`Registration::handle_timeout`] is due next.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.bul.poll_timeout(),
            self.ha_selection
                .as_ref()
                .and_then(HomeAgentSelection::poll_timeout),
            self.mpd.poll_timeout(),
            self.home_probe.as_ref().and_then(HomeProbe::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The binding update list's retransmissions and expiry, then DHAAD's
    /// and prefix discovery's timers.
    pub(super) fn handle_timeout(
        &mut self,
        now: Instant,
        at: Location,
        config: &Config,
    ) -> Vec<RegAction> {
        let mut actions = Vec::new();
        if let Some(HomeStep::Probe { ifindex, targets }) =
            self.handle_home_probe_timeout(now, config)
        {
            actions.push(RegAction::ProbeHome { ifindex, targets });
        }
        let events = self.bul.handle_timeout(now);
        actions.extend(self.handle_bul_events(now, events, at, config));
        actions.extend(self.handle_dhaad_timeout(now, at, config));
        actions.extend(self.mpd.handle_timeout(now));
        actions
    }

    /// Registers `coa` with the home agent (first registration or handover).
    pub(super) fn register(
        &mut self,
        now: Instant,
        coa: Ipv6Addr,
        at: Location,
        config: &Config,
    ) -> Vec<RegAction> {
        let events = self.bul.register(now, coa, ha_lifetime(config));
        self.handle_bul_events(now, events, at, config)
    }

    /// Deletes the home registration (RFC 6275 §11.5.4), the BU leaving
    /// from `coa` (the home address when at home).
    pub(super) fn deregister(
        &mut self,
        now: Instant,
        coa: Ipv6Addr,
        at: Location,
        config: &Config,
    ) -> Vec<RegAction> {
        let events = self.bul.deregister(now, coa);
        self.handle_bul_events(now, events, at, config)
    }

    /// A Mobility Header message from `src`: a BA from the home agent feeds
    /// the binding update list; anything else is not the registration's.
    pub(super) fn handle_mh(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        repr: &MhRepr,
        at: Location,
        config: &Config,
    ) -> Vec<RegAction> {
        match &repr.message {
            MhMessage::BindingAck(ba) if src == self.ha => {
                info!(
                    "BA from {src}: status {} ({}), seq {}, lifetime {} s",
                    ba.status.0,
                    ba.status.name(),
                    ba.sequence,
                    ba.lifetime_secs()
                );
                let events = self.bul.handle_binding_ack(now, ba, &repr.options);
                self.handle_bul_events(now, events, at, config)
            }
            other => {
                debug!("MH type {} from {src} ignored", other.mh_type());
                Vec::new()
            }
        }
    }

    /// An ICMPv6 Parameter Problem from the home agent about the Mobility
    /// Header or the Home Address option of a packet we sent it (RFC 6275
    /// §11.3.6). As UMIP: honoured only with `UseMnHaIPsec` and
    /// `MnDiscardHaParamProb` both off (with IPsec, a home agent that can
    /// decrypt the BU understands Mobile IPv6; anyone else's error is not
    /// to be trusted): the registration with it is abandoned and, with
    /// DHAAD, the next home agent tried. `None`: not about our home agent.
    pub(super) fn handle_param_problem(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        problem: &ParamProblem,
        at: Location,
        config: &Config,
    ) -> Option<Vec<RegAction>> {
        if self.ha.is_unspecified() || src != self.ha || !problem.involves(self.hoa, self.ha) {
            return None;
        }
        let what = match problem.culprit {
            Culprit::MobilityHeader => "Mobility Header",
            Culprit::HomeAddressOption => "Home Address option",
        };
        if config.use_mn_ha_ipsec || config.mn_discard_ha_param_prob {
            if let Admit::Yes { suppressed } = self.param_problem_log.check(now, &()) {
                let more = if suppressed > 0 {
                    format!(", {suppressed} more since the last line")
                } else {
                    String::new()
                };
                info!(
                    "ICMPv6 Parameter Problem from home agent {src} ({what}) discarded ({}){more}",
                    if config.use_mn_ha_ipsec {
                        "UseMnHaIPsec"
                    } else {
                        "MnDiscardHaParamProb"
                    }
                );
            }
            return Some(Vec::new());
        }
        error!(
            "home agent {src} does not support Mobile IPv6 (ICMPv6 Parameter Problem, {what}): \
             home registration abandoned"
        );
        let mut actions = Vec::new();
        if self.bul.abandon() {
            actions.extend(self.stop_prefix_solicitation());
        }
        actions.extend(self.home_agent_failed(now, at, config));
        Some(actions)
    }

    /// The binding update list's events as actions. A failed home agent
    /// found by DHAAD gives way to the next one.
    fn handle_bul_events(
        &mut self,
        now: Instant,
        events: Vec<BulEvent>,
        at: Location,
        config: &Config,
    ) -> Vec<RegAction> {
        let mut actions = Vec::new();
        for ev in events {
            match ev {
                BulEvent::SendBindingUpdate {
                    care_of_address,
                    home_address,
                    home_agent,
                    message,
                } => {
                    if self.may_send_bu {
                        actions.push(RegAction::SendBu {
                            hoa: home_address,
                            ha: home_agent,
                            coa: care_of_address,
                            ifindex: signalling_ifindex(at),
                            message,
                        });
                    }
                }
                BulEvent::Registered {
                    care_of_address,
                    previous_care_of_address,
                    lifetime,
                    status,
                } => {
                    match previous_care_of_address {
                        Some(old) => info!(
                            "handover completed: {old} -> {care_of_address}, lifetime {} s",
                            lifetime.as_secs()
                        ),
                        None => info!(
                            "registered: {} via {care_of_address} with {}, lifetime {} s",
                            self.hoa,
                            self.ha,
                            lifetime.as_secs()
                        ),
                    }
                    actions.push(RegAction::Registered {
                        care_of_address,
                        previous_care_of_address,
                    });
                    self.home_agent_accepted();
                    self.mpd.schedule(now, lifetime, status);
                }
                BulEvent::Deregistered => {
                    info!("deregistered from {}", self.ha);
                    actions.extend(self.stop_prefix_solicitation());
                    self.home_registration_deleted(now, at, config);
                }
                BulEvent::Rejected { status } => {
                    error!(
                        "home agent {} refused the binding: status {} ({})",
                        self.ha,
                        status.0,
                        status.name()
                    );
                    actions.extend(self.stop_prefix_solicitation());
                    actions.extend(self.home_agent_failed(now, at, config));
                }
                BulEvent::MobileRouterRefused => {
                    error!("home agent {} refuses mobile router service", self.ha);
                    actions.extend(self.stop_prefix_solicitation());
                    actions.extend(self.home_agent_failed(now, at, config));
                }
                BulEvent::KeyMgmtUnsupported => {
                    warn!("HA does not support IKE session surviving (K flag cleared)");
                }
                BulEvent::GaveUp => {
                    warn!("no BA from {}: giving up", self.ha);
                    actions.extend(self.stop_prefix_solicitation());
                    actions.extend(self.home_agent_failed(now, at, config));
                }
                BulEvent::Expired => {
                    warn!("binding with {} expired", self.ha);
                    actions.extend(self.stop_prefix_solicitation());
                }
            }
        }
        actions
    }

    /// No binding any more: no solicitation, and no HAO policy for it.
    fn stop_prefix_solicitation(&mut self) -> Option<RegAction> {
        self.mpd
            .stop()
            .map(|ha| RegAction::RemovePrefixPolicies { ha })
    }
}
