//! Dynamic home agent address discovery on the mobile node (`HomeAgentAddress
//! ::`, the default): the driver of [`mip6::haselect::HomeAgentSelection`].
//!
//! Away without a home agent, the DHAAD request leaves from the primary CoA
//! to the home prefix's home-agents anycast address; the reply's first
//! candidate becomes the home agent: a fresh binding update list entry for it
//! (giving up after `MnMaxHaConsecutiveResends` resends without a BA) and the
//! kernel state of [`super::away::Away`] towards it. A refusal, silence or
//! no mobile router service moves to the next candidate, with the old
//! tunnel and XFRM state removed first; with none left, discovery starts
//! again later. `MnResetDhaadAtHome` forgets the home agent once the home
//! registration is deleted at home.

use std::net::Ipv6Addr;
use std::time::Duration;

use mip6::bul::{BulEntry, BulEvent};
use mip6::haselect::{HomeAgentSelection, SelectionEvent};
use mip6::wire::ndisc::NdRepr;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::away::Away;
use super::location::Location;
use super::registration::registration_config;
use super::MobileNode;
use crate::config::{Config, HomeLink};
use crate::ipsec::{Endpoint, TunnelIpsec};
use crate::kernel::raw::Received;
use crate::random::weak_u16;

/// The selection for `link` if its home agent is left to discovery.
pub(super) fn selection_for(link: &HomeLink) -> Option<HomeAgentSelection> {
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

impl MobileNode {
    /// The primary CoA changed (`None`: at home) while the home agent is
    /// left to discovery: ask from the new address if none is known.
    pub(super) async fn discover_home_agent(&mut self, coa: Option<Ipv6Addr>) {
        let Some(sel) = self.reg.ha_selection.as_mut() else {
            return;
        };
        let ev = sel.care_of_address_changed(std::time::Instant::now(), coa);
        let events = self.on_selection_event(ev).await;
        self.handle_bul_events(events).await;
    }

    /// A DHAAD reply on the ICMPv6 socket.
    pub(super) async fn on_dhaad_reply(&mut self, msg: Received) {
        let Ok(NdRepr::DhaadReply(reply)) = NdRepr::parse(&msg.payload) else {
            debug!("malformed DHAAD reply from {}", msg.src);
            return;
        };
        let Some(sel) = self.reg.ha_selection.as_mut() else {
            return;
        };
        info!(
            "DHAAD reply {} from {}: home agents {:?}",
            reply.identifier, msg.src, reply.home_agents
        );
        let ev = sel.handle_reply(std::time::Instant::now(), &reply);
        if ev.is_none() {
            debug!("DHAAD reply {} answers no request", reply.identifier);
        }
        let events = self.on_selection_event(ev).await;
        self.handle_bul_events(events).await;
    }

    /// When discovery has work to do.
    pub(super) fn dhaad_deadline(&self) -> Option<Instant> {
        self.reg
            .ha_selection
            .as_ref()
            .and_then(HomeAgentSelection::poll_timeout)
            .map(Instant::from_std)
    }

    /// Retransmissions and renewed discovery.
    pub(super) async fn on_dhaad_timer(&mut self) {
        let Some(sel) = self.reg.ha_selection.as_mut() else {
            return;
        };
        let now = std::time::Instant::now();
        if sel.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        let ev = sel.handle_timeout(now);
        let events = self.on_selection_event(ev).await;
        self.handle_bul_events(events).await;
    }

    /// The home agent in use failed (called while handling the binding
    /// update list's events): the events of registering with the next one.
    pub(super) async fn home_agent_failed(&mut self) -> Vec<BulEvent> {
        let Some(sel) = self.reg.ha_selection.as_mut() else {
            return Vec::new();
        };
        if !matches!(self.movement.location, Location::Away(_)) {
            return Vec::new();
        }
        let failed = self.reg.ha;
        let ev = sel.home_agent_failed(std::time::Instant::now());
        if matches!(ev, SelectionEvent::UseHomeAgent(_)) {
            warn!("Home registration failed with HA {failed}, trying next one");
        }
        self.on_selection_event(Some(ev)).await
    }

    /// A registration was accepted.
    pub(super) fn home_agent_accepted(&mut self) {
        if let Some(sel) = self.reg.ha_selection.as_mut() {
            sel.registered();
        }
    }

    /// The home registration is gone and we are home: discovery stops, and
    /// with `MnResetDhaadAtHome` the home agent is forgotten.
    pub(super) fn home_registration_deleted(&mut self) {
        let Location::Home(_) = self.movement.location else {
            return;
        };
        let Some(sel) = self.reg.ha_selection.as_mut() else {
            return;
        };
        sel.care_of_address_changed(std::time::Instant::now(), None);
        if self.config.mn_reset_dhaad_at_home && !self.reg.ha.is_unspecified() {
            info!(
                "home agent {} forgotten (MnResetDhaadAtHome): DHAAD again when away",
                self.reg.ha
            );
            sel.reset();
            self.reg.ha = Ipv6Addr::UNSPECIFIED;
        }
    }

    async fn on_selection_event(&mut self, ev: Option<SelectionEvent>) -> Vec<BulEvent> {
        match ev {
            None => Vec::new(),
            Some(SelectionEvent::SendRequest {
                source,
                destination,
                request,
            }) => {
                self.send_dhaad_request(source, destination, NdRepr::DhaadRequest(request))
                    .await;
                Vec::new()
            }
            Some(SelectionEvent::UseHomeAgent(ha)) => self.use_home_agent(ha).await,
            Some(SelectionEvent::NoReply { retry_at }) => {
                warn!(
                    "no DHAAD reply for {}/{}: asking again in {} s",
                    self.reg.home.addr,
                    self.reg.home.len,
                    secs_until(retry_at)
                );
                Vec::new()
            }
            Some(SelectionEvent::Exhausted { retry_at }) => {
                warn!(
                    "no usable home agent left: DHAAD again in {} s",
                    secs_until(retry_at)
                );
                if let Some(mut a) = self.movement.away.take() {
                    a.leave(&mut self.io.kernel).await;
                }
                self.reg.ha = Ipv6Addr::UNSPECIFIED;
                Vec::new()
            }
        }
    }

    async fn send_dhaad_request(&self, source: Ipv6Addr, destination: Ipv6Addr, msg: NdRepr) {
        let bytes = match msg.emit_without_checksum() {
            Ok(b) => b,
            Err(e) => {
                error!("DHAAD request: {e}");
                return;
            }
        };
        let ifindex = match self.movement.location {
            Location::Away(p) => p.ifindex,
            _ => 0,
        };
        if let NdRepr::DhaadRequest(r) = &msg {
            info!(
                "DHAAD request {} from {source} to {destination}",
                r.identifier
            );
        }
        if let Err(e) = self
            .io
            .icmp
            .send_nd(Some(source), destination, ifindex, &bytes)
            .await
        {
            warn!("DHAAD request to {destination}: {e}");
        }
    }

    /// Registers with `ha` from the current CoA: a new binding update list
    /// entry, and the away state rebuilt towards it.
    async fn use_home_agent(&mut self, ha: Ipv6Addr) -> Vec<BulEvent> {
        if let Some(mut a) = self.movement.away.take() {
            a.leave(&mut self.io.kernel).await;
        }
        let Some(link) = self.config.mn_home_link.first() else {
            return Vec::new();
        };
        let mut cfg = registration_config(&self.config, link);
        cfg.home_agent = ha;
        cfg.max_resends = resend_limit(&self.config);
        self.reg.ha = ha;
        self.reg.bul = BulEntry::new(cfg, weak_u16());
        self.reg.may_send_bu = super::registration::bu_allowed(&self.config, ha, self.reg.hoa);
        if !self.reg.may_send_bu {
            error!(
                "MN lacks the necessary IPsec policies for protecting the home registration \
                 to HA {ha} (UseMnHaIPsec is enabled): no Binding Update will be sent"
            );
        }
        info!("home agent {ha} (found by DHAAD)");
        let Location::Away(p) = self.movement.location else {
            return Vec::new();
        };
        match Away::enter(
            &mut self.io.kernel,
            self.reg.hoa,
            ha,
            p.address,
            p.ifindex,
            &self.reg.mobile_network_prefixes,
        )
        .await
        {
            Ok(a) => {
                info!("tunnel {} {} -> {ha}", a.tunnel.1, p.address);
                self.movement.away = Some(a);
                // The tunnel-mode IPsec policies are those for this home agent.
                self.reg.ipsec.release(&mut self.io.kernel).await;
                self.reg.ipsec =
                    TunnelIpsec::new(&self.config, Endpoint::MobileNode, ha, self.reg.hoa);
                self.reg.ipsec.follow(&mut self.io.kernel, p.address).await;
            }
            Err(e) => {
                error!("cannot set up the care-of address {}: {e}", p.address);
                return Vec::new();
            }
        }
        let lifetime = Duration::from_secs(u64::from(self.config.mn_max_ha_binding_life));
        self.reg
            .bul
            .register(std::time::Instant::now(), p.address, lifetime)
    }
}

fn secs_until(t: std::time::Instant) -> u64 {
    t.saturating_duration_since(std::time::Instant::now())
        .as_secs()
}
