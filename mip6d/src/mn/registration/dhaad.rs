//! Dynamic home agent address discovery on the mobile node (`HomeAgentAddress
//! ::`, the default; RFC 6275 §11.4.1): the registration's use of
//! [`mip6::haselect::HomeAgentSelection`], without I/O.
//!
//! Away without a home agent, the DHAAD request leaves from the primary CoA
//! to the home prefix's home-agents anycast address; the reply's first
//! candidate becomes the home agent: a fresh binding update list entry for it
//! (giving up after `MnMaxHaConsecutiveResends` resends without a BA) and the
//! kernel state of [`crate::mn::away::Away`] towards it. A refusal, silence or
//! no mobile router service moves to the next candidate, with the old
//! tunnel and XFRM state removed first; with none left, discovery starts
//! again later. `MnResetDhaadAtHome` forgets the home agent once the home
//! registration is deleted at home.

use std::net::Ipv6Addr;
use std::time::Instant;

use mip6::bul::BulEntry;
use mip6::haselect::{HomeAgentSelection, SelectionEvent};
use mip6::wire::ndisc::DhaadReply;
use tracing::{debug, error, info, warn};

use super::{bu_allowed, registration_config, signalling_ifindex, RegAction, Registration};
use crate::config::{Config, HomeLink};
use crate::mn::location::Location;
use crate::random::weak_u16;

/// The selection for `link` if its home agent is left to discovery.
pub(in crate::mn) fn selection_for(link: &HomeLink) -> Option<HomeAgentSelection> {
    if !link.home_agent_address.is_unspecified() {
        return None;
    }
    let prefix = link.effective_home_prefix();
    Some(HomeAgentSelection::new(
        weak_u16(),
        link.is_mob_rtr,
        prefix.addr,
        prefix.len,
    ))
}

/// `MnMaxHaConsecutiveResends` as the binding update list takes it (0: no limit).
fn resend_limit(config: &Config) -> Option<u32> {
    Some(config.mn_max_ha_consecutive_resends).filter(|n| *n > 0)
}

impl Registration {
    /// The primary CoA changed (`None`: at home) while the home agent is
    /// left to discovery: ask from the new address if none is known.
    pub(in crate::mn) fn care_of_address_changed(
        &mut self,
        now: Instant,
        coa: Option<Ipv6Addr>,
        at: Location,
        config: &Config,
    ) -> Vec<RegAction> {
        let Some(sel) = self.ha_selection.as_mut() else {
            return Vec::new();
        };
        let ev = sel.care_of_address_changed(now, coa);
        self.handle_selection_event(now, ev, at, config)
    }

    /// A DHAAD reply from `src`.
    pub(in crate::mn) fn handle_dhaad_reply(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        reply: &DhaadReply,
        at: Location,
        config: &Config,
    ) -> Vec<RegAction> {
        let Some(sel) = self.ha_selection.as_mut() else {
            return Vec::new();
        };
        info!(
            "DHAAD reply {} from {src}: home agents {:?}",
            reply.identifier, reply.home_agents
        );
        let ev = sel.handle_reply(now, reply);
        if ev.is_none() {
            debug!("DHAAD reply {} answers no request", reply.identifier);
        }
        self.handle_selection_event(now, ev, at, config)
    }

    /// Retransmissions and renewed discovery.
    pub(super) fn handle_dhaad_timeout(
        &mut self,
        now: Instant,
        at: Location,
        config: &Config,
    ) -> Vec<RegAction> {
        let Some(sel) = self.ha_selection.as_mut() else {
            return Vec::new();
        };
        if sel.poll_timeout().is_none_or(|t| t > now) {
            return Vec::new();
        }
        let ev = sel.handle_timeout(now);
        self.handle_selection_event(now, ev, at, config)
    }

    /// The home agent in use failed: the next one, if discovery found more.
    pub(super) fn home_agent_failed(
        &mut self,
        now: Instant,
        at: Location,
        config: &Config,
    ) -> Vec<RegAction> {
        let Some(sel) = self.ha_selection.as_mut() else {
            return Vec::new();
        };
        if !matches!(at, Location::Away(_)) {
            return Vec::new();
        }
        let failed = self.ha;
        let ev = sel.home_agent_failed(now);
        if matches!(ev, SelectionEvent::UseHomeAgent(_)) {
            warn!("Home registration failed with HA {failed}, trying next one");
        }
        self.handle_selection_event(now, Some(ev), at, config)
    }

    /// A registration was accepted.
    pub(super) fn home_agent_accepted(&mut self) {
        if let Some(sel) = self.ha_selection.as_mut() {
            sel.registered();
        }
    }

    /// The home registration is gone; at home, discovery stops, and with
    /// `MnResetDhaadAtHome` the home agent is forgotten.
    pub(super) fn home_registration_deleted(
        &mut self,
        now: Instant,
        at: Location,
        config: &Config,
    ) {
        let Location::Home(_) = at else {
            return;
        };
        let Some(sel) = self.ha_selection.as_mut() else {
            return;
        };
        sel.care_of_address_changed(now, None);
        if config.mn_reset_dhaad_at_home && !self.ha.is_unspecified() {
            info!(
                "home agent {} forgotten (MnResetDhaadAtHome): DHAAD again when away",
                self.ha
            );
            sel.reset();
            self.ha = Ipv6Addr::UNSPECIFIED;
        }
    }

    fn handle_selection_event(
        &mut self,
        now: Instant,
        ev: Option<SelectionEvent>,
        at: Location,
        config: &Config,
    ) -> Vec<RegAction> {
        match ev {
            None => Vec::new(),
            Some(SelectionEvent::SendRequest {
                source,
                destination,
                request,
            }) => vec![RegAction::SendDhaadRequest {
                source,
                destination,
                ifindex: match at {
                    Location::Away(_) => signalling_ifindex(at),
                    _ => 0,
                },
                request,
            }],
            Some(SelectionEvent::UseHomeAgent(ha)) => self.use_home_agent(ha, at, config),
            Some(SelectionEvent::NoReply { retry_at }) => {
                warn!(
                    "no DHAAD reply for {}/{}: asking again in {} s",
                    self.home.addr,
                    self.home.len,
                    secs_until(now, retry_at)
                );
                Vec::new()
            }
            Some(SelectionEvent::Exhausted { retry_at }) => {
                warn!(
                    "no usable home agent left: DHAAD again in {} s",
                    secs_until(now, retry_at)
                );
                self.ha = Ipv6Addr::UNSPECIFIED;
                vec![RegAction::LeaveAway]
            }
        }
    }

    /// Registers with `ha` from the current CoA: a new binding update list
    /// entry, and the away state rebuilt towards it (by the loop, which
    /// then calls [`Registration::register`]).
    fn use_home_agent(&mut self, ha: Ipv6Addr, at: Location, config: &Config) -> Vec<RegAction> {
        let mut actions = vec![RegAction::LeaveAway];
        let Some(link) = config.mn_home_link.first() else {
            return actions;
        };
        let mut cfg = registration_config(config, link);
        cfg.home_agent = ha;
        cfg.max_resends = resend_limit(config);
        self.ha = ha;
        self.bul = BulEntry::new(cfg, weak_u16());
        self.may_send_bu = bu_allowed(config, ha, self.hoa);
        if !self.may_send_bu {
            error!(
                "MN lacks the necessary IPsec policies for protecting the home registration \
                 to HA {ha} (UseMnHaIPsec is enabled): no Binding Update will be sent"
            );
        }
        info!("home agent {ha} (found by DHAAD)");
        if let Location::Away(coa) = at {
            actions.push(RegAction::EnterAway { ha, coa });
        }
        actions
    }
}

fn secs_until(now: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(now).as_secs()
}
