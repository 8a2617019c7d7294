//! The mobile node carrying out what its home registration
//! ([`super::registration`]) decides: Mobility Header, DHAAD replies and
//! Mobile Prefix Advertisements in, BUs, DHAAD requests and solicitations
//! out, the tunnel's default route once registered, the away state towards
//! a newly chosen home agent, `HandoverCompleted`, and the state
//! `org.umip_rs.Mip6d1.MobileNode` shows.

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::Duration;

use mip6::wire::mh::{MhMessage, MhRepr};
use mip6::wire::ndisc::NdRepr;
use tracing::{debug, error, info, warn};

use super::away::Away;
use super::location::Location;
use super::registration::{prefix_policies, RegAction};
use super::MobileNode;
use crate::ipsec::{Endpoint, TunnelIpsec};
use crate::kernel::raw::Received;
use crate::kernel::Item;

impl MobileNode {
    /// A Mobility Header message the route optimisation did not take.
    /// It goes to the home link whose home address it is sent to (the BA
    /// is, through its Type 2 routing header), else to the one whose home
    /// agent sent it.
    pub(super) async fn on_mh(&mut self, msg: Received) {
        let Ok(repr) = MhRepr::parse(&msg.payload) else {
            debug!("malformed MH from {}", msg.src);
            return;
        };
        let k = self
            .homes
            .iter()
            .position(|h| h.reg.hoa == msg.dst)
            .or_else(|| self.homes.iter().position(|h| h.reg.ha == msg.src))
            .unwrap_or(0);
        let h = &mut self.homes[k];
        let actions = h.reg.handle_mh(
            std::time::Instant::now(),
            msg.src,
            &repr,
            h.location,
            &self.config,
        );
        self.carry_out(k, actions).await;
    }

    /// A DHAAD reply on the ICMPv6 socket: each home link's discovery
    /// takes it if it answers its request (the identifier).
    pub(super) async fn on_dhaad_reply(&mut self, msg: Received) {
        let Ok(NdRepr::DhaadReply(reply)) = NdRepr::parse(&msg.payload) else {
            debug!("malformed DHAAD reply from {}", msg.src);
            return;
        };
        for k in 0..self.homes.len() {
            let h = &mut self.homes[k];
            let actions = h.reg.handle_dhaad_reply(
                std::time::Instant::now(),
                msg.src,
                &reply,
                h.location,
                &self.config,
            );
            self.carry_out(k, actions).await;
        }
    }

    /// A Mobile Prefix Advertisement on the ICMPv6 socket.
    pub(super) async fn on_mobile_prefix_advert(&mut self, msg: Received) {
        let Ok(NdRepr::MobilePrefixAdvert(mpa)) = NdRepr::parse(&msg.payload) else {
            debug!("malformed MPA from {}", msg.src);
            return;
        };
        let k = self
            .homes
            .iter()
            .position(|h| h.reg.hoa == msg.dst)
            .unwrap_or(0);
        let actions = self.homes[k].reg.handle_mobile_prefix_advert(
            std::time::Instant::now(),
            msg.src,
            msg.dst,
            &mpa,
        );
        self.carry_out(k, actions).await;
    }

    /// The primary CoA changed (`None`: at home): home agent discovery asks
    /// from it if it has to.
    pub(super) async fn discover_home_agent(&mut self, k: usize, coa: Option<Ipv6Addr>) {
        let h = &mut self.homes[k];
        let actions =
            h.reg
                .care_of_address_changed(std::time::Instant::now(), coa, h.location, &self.config);
        self.carry_out(k, actions).await;
    }

    /// Carries out home link `k`'s registration's actions in order;
    /// building the away state towards a new home agent brings the actions
    /// of registering with it.
    pub(super) async fn carry_out(&mut self, k: usize, actions: Vec<RegAction>) {
        let mut queue: VecDeque<RegAction> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                RegAction::SendBu {
                    hoa,
                    ha,
                    coa,
                    ifindex,
                    message,
                } => self.send_bu(coa, hoa, ha, ifindex, &message).await,
                RegAction::Registered {
                    care_of_address,
                    previous_care_of_address,
                } => {
                    self.registered(k, care_of_address, previous_care_of_address)
                        .await
                }
                RegAction::SendDhaadRequest {
                    source,
                    destination,
                    ifindex,
                    request,
                } => {
                    let msg = NdRepr::DhaadRequest(request);
                    self.send_nd("DHAAD request", source, destination, ifindex, &msg)
                        .await;
                }
                RegAction::SendPrefixSolicitation(mps) => {
                    self.send_prefix_solicitation(k, NdRepr::MobilePrefixSolicit(mps))
                        .await
                }
                RegAction::RemovePrefixPolicies { ha } => self.remove_prefix_policies(k, ha).await,
                RegAction::LeaveAway => {
                    if let Some(mut a) = self.homes[k].away.take() {
                        a.leave(&mut self.io.kernel).await;
                    }
                }
                RegAction::EnterAway { ha, coa } => queue.extend(self.enter_away(k, ha, coa).await),
                RegAction::ProbeHome { ifindex, targets } => {
                    super::home_io::send_probes(ifindex, &targets).await;
                }
            }
        }
    }

    async fn registered(&mut self, k: usize, coa: Ipv6Addr, previous: Option<Ipv6Addr>) {
        let h = &mut self.homes[k];
        if let (Some(at), Location::Away(p)) = (h.moved_at.take(), h.location) {
            let name = self.iface_name(p.ifindex);
            self.io
                .publisher
                .handover_completed(&name, previous, coa, at.elapsed())
                .await;
        }
        let h = &mut self.homes[k];
        if let Some(a) = h.away.as_mut() {
            if let Err(e) = a.registered(&mut self.io.kernel).await {
                error!("cannot route through the tunnel: {e}");
            }
        }
        // (A tunnel daemon's hook may have set the CoA link's MTU after the
        // address that triggered the move.)
        if let Location::Away(p) = h.location {
            self.fit_tunnel_mtu(p.ifindex).await;
        }
    }

    /// The away state towards a home agent found by DHAAD, then the
    /// registration with it.
    async fn enter_away(
        &mut self,
        k: usize,
        ha: Ipv6Addr,
        p: mip6::coa::PrimaryCoa,
    ) -> Vec<RegAction> {
        let h = &mut self.homes[k];
        match Away::enter(
            &mut self.io.kernel,
            h.reg.hoa,
            ha,
            p.address,
            p.ifindex,
            &h.reg.mobile_network_prefixes,
        )
        .await
        {
            Ok(a) => {
                info!("tunnel {} {} -> {ha}", a.tunnel.1, p.address);
                h.away = Some(a);
                // The tunnel-mode IPsec policies are those for this home agent.
                h.reg.ipsec.release(&mut self.io.kernel).await;
                h.reg.ipsec = TunnelIpsec::new(&self.config, Endpoint::MobileNode, ha, h.reg.hoa);
                h.reg.ipsec.follow(&mut self.io.kernel, p.address).await;
            }
            Err(e) => {
                error!("cannot set up the care-of address {}: {e}", p.address);
                return Vec::new();
            }
        }
        self.route_optimistically(k).await;
        let h = &mut self.homes[k];
        h.reg.register(
            std::time::Instant::now(),
            p.address,
            h.location,
            &self.config,
        )
    }

    async fn send_bu(
        &self,
        coa: Ipv6Addr,
        hoa: Ipv6Addr,
        ha: Ipv6Addr,
        ifindex: u32,
        message: &MhRepr,
    ) {
        let bytes = match message.emit_without_checksum() {
            Ok(b) => b,
            Err(e) => {
                error!("BU: {e}");
                return;
            }
        };
        if let MhMessage::BindingUpdate(bu) = &message.message {
            info!(
                "BU to {ha}: HoA {hoa} CoA {coa} seq {} lifetime {} s",
                bu.sequence,
                bu.lifetime_secs()
            );
        }
        if let Err(e) = self
            .io
            .mh
            .send_message(hoa, ha, ifindex, None, &bytes)
            .await
        {
            warn!("BU to {ha}: {e}");
        }
    }

    /// Sends a DHAAD request or a solicitation.
    async fn send_nd(
        &self,
        what: &str,
        source: Ipv6Addr,
        destination: Ipv6Addr,
        ifindex: u32,
        msg: &NdRepr,
    ) {
        let bytes = match msg.emit_without_checksum() {
            Ok(b) => b,
            Err(e) => {
                error!("{what}: {e}");
                return;
            }
        };
        match msg {
            NdRepr::DhaadRequest(r) => info!(
                "DHAAD request {} from {source} to {destination}",
                r.identifier
            ),
            NdRepr::MobilePrefixSolicit(m) => {
                info!("MPS {} from {source} to {destination}", m.identifier)
            }
            _ => {}
        }
        if let Err(e) = self
            .io
            .icmp
            .send_nd(Some(source), destination, ifindex, &bytes)
            .await
        {
            warn!("{what} to {destination}: {e}");
        }
    }

    /// A solicitation leaves from the CoA with an HAO (RFC 6275 §6.7), so
    /// only while away, through the XFRM policies towards the home agent.
    async fn send_prefix_solicitation(&mut self, k: usize, msg: NdRepr) {
        let h = &mut self.homes[k];
        let (Some(_), Location::Away(p)) = (h.away.as_ref(), h.location) else {
            return;
        };
        if let Some((old, new)) = h.reg.retarget_prefix_policies() {
            if let Some(old) = old {
                self.remove_prefix_policies(k, old).await;
            }
            for p in prefix_policies(self.homes[k].reg.hoa, new) {
                if let Err(e) = self.io.kernel.add_policy(&p).await {
                    warn!("prefix discovery policy: {e}");
                    return;
                }
            }
        }
        let (hoa, ha) = (self.homes[k].reg.hoa, self.homes[k].reg.ha);
        self.send_nd("MPS", hoa, ha, p.ifindex, &msg).await;
    }

    async fn remove_prefix_policies(&mut self, k: usize, ha: Ipv6Addr) {
        for p in prefix_policies(self.homes[k].reg.hoa, ha) {
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

    /// What `org.umip_rs.Mip6d1.MobileNode` shows: one binding update
    /// list entry per home link; the single-valued properties (home
    /// address, home agent, care-of address, registration) are the first
    /// home link's.
    pub(super) fn bus_state(&self) -> bus::MobileNodeState {
        let entries: Vec<_> = self.homes.iter().map(|h| self.bus_entry(h)).collect();
        let first = self.primary();
        let (coa, coa_if, registration) = match first.location {
            Location::Away(p) => (Some(p.address), self.iface_name(p.ifindex), entries[0].1),
            Location::Home(i) if entries[0].1 == bus::RegistrationState::Idle => {
                (None, self.iface_name(i), bus::RegistrationState::Home)
            }
            Location::Home(i) => (None, self.iface_name(i), entries[0].1),
            Location::Unknown | Location::Nowhere => (None, String::new(), entries[0].1),
        };
        bus::MobileNodeState {
            home_address: Some(first.reg.hoa),
            home_agent: Some(first.reg.ha).filter(|a| !a.is_unspecified()),
            care_of_address: coa,
            care_of_interface: coa_if,
            registration,
            binding_update_list: entries.into_iter().map(|(e, _)| e).collect(),
        }
    }

    /// Home link `h`'s binding update list entry, and its registration
    /// state.
    fn bus_entry(&self, h: &super::home::Home) -> (bus::BulEntryInfo, bus::RegistrationState) {
        use bus::RegistrationState as R;
        use mip6::bul::BulState;
        let bul = &h.reg.bul;
        let state = match bul.state() {
            BulState::Idle if bul.last_status().is_some_and(|s| !s.is_accepted()) => R::Failed,
            BulState::Idle => R::Idle,
            BulState::Registering => R::Registering,
            BulState::Registered => R::Registered,
            BulState::Deregistering => R::Deregistering,
        };
        let coa = match h.location {
            Location::Away(p) => Some(p.address),
            _ => None,
        };
        let binding = bul.binding();
        let entry = bus::BulEntryInfo {
            peer: h.reg.ha,
            home_address: h.reg.hoa,
            care_of_address: binding.map(|b| b.care_of_address).or(coa),
            lifetime: binding.map_or(Duration::ZERO, |b| b.lifetime),
            expires: binding.map(|b| b.expires_at),
            sequence: bul.outstanding_sequence().unwrap_or(0),
            flags: bul.flags().0,
            state,
            last_status: bul.last_status().map(|s| s.0),
        };
        (entry, state)
    }
}
