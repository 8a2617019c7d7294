//! The mobile node's side of home registration: Binding Acknowledgements in,
//! the binding update list's events out (BUs on the wire, the tunnel's
//! default route once registered, `HandoverCompleted`), and the state
//! `org.umip_rs.Mip6d1.MobileNode` shows.

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::Duration;

use mip6::bul::{BulEvent, HomeRegistrationConfig};
use mip6::wire::mh::{BuFlags, MhMessage, MhRepr};
use tracing::{debug, error, info, warn};

use super::location::Location;
use super::MobileNode;
use crate::config::{self, Config, HomeLink, IpsecPolicyType};
use crate::kernel::raw::Received;

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

impl MobileNode {
    pub(super) async fn on_mh(&mut self, msg: Received) {
        let Ok(repr) = MhRepr::parse(&msg.payload) else {
            debug!("malformed MH from {}", msg.src);
            return;
        };
        match &repr.message {
            MhMessage::BindingAck(ba) if msg.src == self.reg.ha => {
                info!(
                    "BA from {}: status {} ({}), seq {}, lifetime {} s",
                    msg.src,
                    ba.status.0,
                    ba.status.name(),
                    ba.sequence,
                    ba.lifetime_secs()
                );
                let events =
                    self.reg
                        .bul
                        .handle_binding_ack(std::time::Instant::now(), ba, &repr.options);
                self.handle_bul_events(events).await;
            }
            other => debug!("MH type {} from {} ignored", other.mh_type(), msg.src),
        }
    }

    pub(super) async fn handle_bul_events(&mut self, events: Vec<BulEvent>) {
        // A failed home agent found by DHAAD gives way to the next one, whose
        // first BU comes back here as more events.
        let mut queue: VecDeque<BulEvent> = events.into();
        while let Some(ev) = queue.pop_front() {
            match ev {
                BulEvent::SendBindingUpdate {
                    care_of_address,
                    home_address,
                    home_agent,
                    message,
                } => {
                    self.send_bu(care_of_address, home_address, home_agent, &message)
                        .await
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
                            self.reg.hoa,
                            self.reg.ha,
                            lifetime.as_secs()
                        ),
                    }
                    if let (Some(at), Location::Away(p)) =
                        (self.movement.moved_at.take(), self.movement.location)
                    {
                        let name = self.iface_name(p.ifindex);
                        self.io
                            .publisher
                            .handover_completed(
                                &name,
                                previous_care_of_address,
                                care_of_address,
                                at.elapsed(),
                            )
                            .await;
                    }
                    self.home_agent_accepted();
                    self.schedule_prefix_solicitation(lifetime, status);
                    if let Some(a) = self.movement.away.as_mut() {
                        if let Err(e) = a.registered(&mut self.io.kernel).await {
                            error!("cannot route through the tunnel: {e}");
                        }
                    }
                    // (A tunnel daemon's hook may have set the CoA link's MTU
                    // after the address that triggered the move.)
                    if let Location::Away(p) = self.movement.location {
                        self.fit_tunnel_mtu(p.ifindex).await;
                    }
                }
                BulEvent::Deregistered => {
                    info!("deregistered from {}", self.reg.ha);
                    self.stop_prefix_solicitation().await;
                    self.home_registration_deleted();
                }
                BulEvent::Rejected { status } => {
                    error!(
                        "home agent {} refused the binding: status {} ({})",
                        self.reg.ha,
                        status.0,
                        status.name()
                    );
                    self.stop_prefix_solicitation().await;
                    queue.extend(self.home_agent_failed().await);
                }
                BulEvent::MobileRouterRefused => {
                    error!("home agent {} refuses mobile router service", self.reg.ha);
                    self.stop_prefix_solicitation().await;
                    queue.extend(self.home_agent_failed().await);
                }
                BulEvent::KeyMgmtUnsupported => {
                    warn!("HA does not support IKE session surviving (K flag cleared)");
                }
                BulEvent::GaveUp => {
                    warn!("no BA from {}: giving up", self.reg.ha);
                    self.stop_prefix_solicitation().await;
                    queue.extend(self.home_agent_failed().await);
                }
                BulEvent::Expired => {
                    warn!("binding with {} expired", self.reg.ha);
                    self.stop_prefix_solicitation().await;
                }
            }
        }
    }

    pub(super) async fn send_bu(
        &self,
        coa: Ipv6Addr,
        hoa: Ipv6Addr,
        ha: Ipv6Addr,
        message: &MhRepr,
    ) {
        if !self.reg.may_send_bu {
            return;
        }
        let bytes = match message.emit_without_checksum() {
            Ok(b) => b,
            Err(e) => {
                error!("BU: {e}");
                return;
            }
        };
        let ifindex = match self.movement.location {
            Location::Away(p) => p.ifindex,
            Location::Home(i) => i,
            Location::Unknown | Location::Nowhere => 0,
        };
        if let MhMessage::BindingUpdate(bu) = &message.message {
            info!(
                "BU to {ha}: HoA {hoa} CoA {coa} seq {} lifetime {} s",
                bu.sequence,
                bu.lifetime_secs()
            );
        }
        // Sent from the home address; away, XFRM moves it into an HAO and
        // makes the CoA the source.
        if let Err(e) = self
            .io
            .mh
            .send_message(hoa, ha, ifindex, None, &bytes)
            .await
        {
            warn!("BU to {ha}: {e}");
        }
    }

    /// What `org.umip_rs.Mip6d1.MobileNode` shows.
    pub(super) fn bus_state(&self) -> bus::MobileNodeState {
        use bus::RegistrationState as R;
        use mip6::bul::BulState;
        let bul_state = match self.reg.bul.state() {
            BulState::Idle if self.reg.bul.last_status().is_some_and(|s| !s.is_accepted()) => {
                R::Failed
            }
            BulState::Idle => R::Idle,
            BulState::Registering => R::Registering,
            BulState::Registered => R::Registered,
            BulState::Deregistering => R::Deregistering,
        };
        let (coa, coa_if, registration) = match self.movement.location {
            Location::Away(p) => (Some(p.address), self.iface_name(p.ifindex), bul_state),
            Location::Home(i) if bul_state == R::Idle => (None, self.iface_name(i), R::Home),
            Location::Home(i) => (None, self.iface_name(i), bul_state),
            Location::Unknown | Location::Nowhere => (None, String::new(), bul_state),
        };
        let binding = self.reg.bul.binding();
        let entry = bus::BulEntryInfo {
            peer: self.reg.ha,
            home_address: self.reg.hoa,
            care_of_address: binding.map(|b| b.care_of_address).or(coa),
            lifetime: binding.map_or(Duration::ZERO, |b| b.lifetime),
            expires: binding.map(|b| b.expires_at),
            sequence: self.reg.bul.outstanding_sequence().unwrap_or(0),
            flags: self.reg.bul.flags().0,
            state: bul_state,
            last_status: self.reg.bul.last_status().map(|s| s.0),
        };
        bus::MobileNodeState {
            home_address: Some(self.reg.hoa),
            home_agent: Some(self.reg.ha).filter(|a| !a.is_unspecified()),
            care_of_address: coa,
            care_of_interface: coa_if,
            registration,
            binding_update_list: vec![entry],
        }
    }
}
