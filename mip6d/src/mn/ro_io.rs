//! The mobile node carrying out what its route optimisation
//! ([`super::ro`]) decides: ACQUIREs and the correspondents' Mobility
//! Header in, HoTI, CoTI and BUs out, and the XFRM objects of
//! [`super::ro_xfrm`] in the kernel, in the order decided. The kernel is
//! also asked whether a binding was used lately (`XFRMA_LASTUSED`) before
//! a refresh is decided (RFC 6275 §11.7.2, §11.7.4).

use std::collections::HashMap;
use std::net::Ipv6Addr;

use mip6::wire::mh::MhRepr;
use mip6::wire::param_problem::ParamProblem;
use netcfg::xfrm::{XfrmEvent, XfrmEvents, XfrmGroups, XfrmProto, XfrmState};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::ro::{RoAction, RouteOptimisation, RECENTLY_USED};
use super::ro_xfrm::{install_peer, install_trigger, remove_all};
use super::MobileNode;
use crate::config::Config;
use crate::kernel::raw::Received;
use crate::kernel::Item;

/// A correspondent's kernel objects and the care-of address they use.
#[derive(Default)]
struct Installed {
    objects: Vec<Item>,
    coa: Option<Ipv6Addr>,
}

/// Route optimisation's side of the kernel: the ACQUIREs it listens to and
/// the XFRM objects it installed.
pub(super) struct RoKernel {
    events: Option<XfrmEvents>,
    peers: HashMap<Ipv6Addr, Installed>,
    trigger: Vec<Item>,
}

impl RoKernel {
    /// Listens to ACQUIREs when `DoRouteOptimizationMN` is on.
    pub(super) fn new(config: &Config) -> RoKernel {
        let events = if config.do_route_optimization_mn {
            match XfrmEvents::subscribe(XfrmGroups {
                acquire: true,
                report: false,
            }) {
                Ok(e) => Some(e),
                Err(e) => {
                    warn!("route optimisation off: cannot listen to XFRM ACQUIRE: {e}");
                    None
                }
            }
        } else {
            None
        };
        RoKernel {
            events,
            peers: HashMap::new(),
            trigger: Vec::new(),
        }
    }

    /// Whether ACQUIREs are heard (route optimisation is on).
    pub(super) fn listening(&self) -> bool {
        self.events.is_some()
    }

    /// The next ACQUIRE (never, when route optimisation is off).
    pub(super) async fn next_acquire(&mut self) -> Option<XfrmEvent> {
        match self.events.as_mut() {
            Some(e) => e.next_event().await,
            None => std::future::pending().await,
        }
    }
}

/// A fresh route optimisation, on when ACQUIREs are heard.
pub(super) fn new(config: &Config) -> (RouteOptimisation, RoKernel) {
    let k = RoKernel::new(config);
    (RouteOptimisation::new(k.listening()), k)
}

impl MobileNode {
    /// A Mobility Header message: `false` if it is not for route
    /// optimisation.
    pub(super) async fn on_ro_mh(&mut self, msg: &Received) -> bool {
        let (hoa, ha) = (self.primary().reg.hoa, self.primary().reg.ha);
        let used = match self.ro.usage_wanted_for_mh(msg.src, &msg.payload, ha) {
            Some(cn) => self.recently_used(cn).await,
            None => false,
        };
        let now = Instant::now().into_std();
        match self.ro.handle_mh(now, hoa, ha, msg.src, &msg.payload, used) {
            Some(actions) => {
                self.carry_out_ro(actions).await;
                true
            }
            None => false,
        }
    }

    /// An ICMPv6 Parameter Problem: about a correspondent (route
    /// optimisation), else about the home agent (the home registration).
    pub(super) async fn on_param_problem(&mut self, msg: Received) {
        let problem = match ParamProblem::parse(&msg.payload) {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                debug!("ICMPv6 Parameter Problem from {}: {e}", msg.src);
                return;
            }
        };
        let now = Instant::now().into_std();
        let hoa = self.primary().reg.hoa;
        if let Some(actions) = self.ro.handle_param_problem(now, hoa, msg.src, &problem) {
            return self.carry_out_ro(actions).await;
        }
        for k in 0..self.homes.len() {
            let h = &mut self.homes[k];
            let at = h.location;
            if let Some(actions) =
                h.reg
                    .handle_param_problem(now, msg.src, &problem, at, &self.config)
            {
                return self.carry_out(k, actions).await;
            }
        }
        debug!(
            "ICMPv6 Parameter Problem from {} about {} -> {}: not ours",
            msg.src, problem.source, problem.destination
        );
    }

    pub(super) async fn on_acquire(&mut self, ev: XfrmEvent) {
        let now = Instant::now().into_std();
        let actions = self.ro.handle_acquire(
            now,
            self.primary().reg.hoa,
            self.primary().reg.ha,
            ev,
            &self.config,
        );
        self.carry_out_ro(actions).await;
    }

    pub(super) async fn on_ro_timer(&mut self, now: Instant) {
        let now = now.into_std();
        let mut used = Vec::new();
        for cn in self.ro.usage_wanted_at(now) {
            if self.recently_used(cn).await {
                used.push(cn);
            }
        }
        let actions = self.ro.handle_timeout(now, self.primary().reg.hoa, &used);
        self.carry_out_ro(actions).await;
    }

    /// After every event of the loop: route optimisation follows the home
    /// registration (the first home link's).
    pub(super) async fn follow_home_registration(&mut self) {
        let registered_coa = self.primary().reg.bul.binding().map(|b| b.care_of_address);
        self.ro.flush_at_home = self.config.mn_flush_all_at_home;
        let actions = self.ro.handle_home_registration(
            Instant::now().into_std(),
            self.primary().reg.hoa,
            self.primary().location,
            registered_coa,
        );
        self.carry_out_ro(actions).await;
    }

    /// Every correspondent's state and the trigger removed (shutdown).
    pub(super) async fn clear_ro(&mut self) {
        let actions = self.ro.clear();
        self.carry_out_ro(actions).await;
    }

    /// True if the kernel used the HAO or RH2 state with `cn` within
    /// [`RECENTLY_USED`] (`XFRMA_LASTUSED`).
    async fn recently_used(&self, cn: Ipv6Addr) -> bool {
        let hoa = self.primary().reg.hoa;
        let ids = [
            XfrmState::ro(XfrmProto::Hao, hoa, cn, hoa).id(),
            XfrmState::ro(XfrmProto::Route2, cn, hoa, hoa).id(),
        ];
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for id in ids {
            if let Ok(Some(s)) = self.io.kernel.xfrm.get_state(&id).await {
                if s.last_used
                    .is_some_and(|t| now.saturating_sub(t) <= RECENTLY_USED.as_secs())
                {
                    return true;
                }
            }
        }
        false
    }

    /// Carries out route optimisation's actions in order.
    async fn carry_out_ro(&mut self, actions: Vec<RoAction>) {
        let hoa = self.primary().reg.hoa;
        for a in actions {
            match a {
                RoAction::InstallTrigger => {
                    let kernel = &mut self.io.kernel;
                    let mut items = std::mem::take(&mut self.ro_kernel.trigger);
                    if let Err(e) = install_trigger(kernel, &mut items, hoa).await {
                        warn!("route optimisation trigger: {e}");
                        remove_all(kernel, &mut items).await;
                        self.ro.trigger_failed();
                        continue;
                    }
                    self.ro_kernel.trigger = items;
                    debug!("route optimisation: trigger installed for {hoa}");
                }
                RoAction::RemoveTrigger => {
                    // The larval states the ACQUIREs left (the kernel keeps
                    // each for `xfrm_acq_expires`, 30 s) are HAO states from
                    // the home address without a care-of address, which
                    // ours always have.
                    let kernel = &mut self.io.kernel;
                    remove_all(kernel, &mut self.ro_kernel.trigger).await;
                    let larval = kernel.xfrm.delete_states_where(|s| {
                        s.proto == XfrmProto::Hao && s.src == hoa && s.coaddr.is_none()
                    });
                    if let Err(e) = larval.await {
                        debug!("larval HAO states: {e}");
                    }
                }
                RoAction::Send { src, dst, message } => self.send_ro(src, dst, &message).await,
                RoAction::MoveBinding { cn, coa } => {
                    let Some(p) = self.ro_kernel.peers.get_mut(&cn) else {
                        continue;
                    };
                    if p.coa.is_none() {
                        continue;
                    }
                    match install_peer(&mut self.io.kernel, &mut p.objects, hoa, cn, coa).await {
                        Ok(()) => p.coa = Some(coa),
                        Err(e) => warn!("route optimisation state for {cn}: {e}"),
                    }
                }
                RoAction::InstallBindingAndSend {
                    cn,
                    coa,
                    sequence,
                    message,
                } => {
                    let p = self.ro_kernel.peers.entry(cn).or_default();
                    let kernel = &mut self.io.kernel;
                    if let Err(e) = install_peer(kernel, &mut p.objects, hoa, cn, coa).await {
                        warn!("route optimisation state for {cn}: {e}");
                        remove_all(kernel, &mut p.objects).await;
                        self.ro_kernel.peers.remove(&cn);
                        continue;
                    }
                    p.coa = Some(coa);
                    info!("route optimisation: BU to {cn} seq {sequence} CoA {coa}");
                    if let Err(e) = self.io.mh.send_message(hoa, cn, 0, None, &message).await {
                        warn!("cannot send the BU to {cn}: {e}");
                    }
                }
                RoAction::SendDeregistration { cn, message, .. } => {
                    if let Err(e) = self.io.mh.send_message(hoa, cn, 0, None, &message).await {
                        warn!("cannot send the BU to {cn}: {e}");
                    }
                }
                RoAction::RemoveBinding { cn, announce } => {
                    let Some(mut p) = self.ro_kernel.peers.remove(&cn) else {
                        continue;
                    };
                    if announce && !p.objects.is_empty() {
                        info!("route optimisation with {cn} ended");
                    }
                    remove_all(&mut self.io.kernel, &mut p.objects).await;
                }
            }
        }
    }

    async fn send_ro(&self, src: Ipv6Addr, dst: Ipv6Addr, m: &MhRepr) {
        match m.emit_without_checksum() {
            Ok(bytes) => {
                if let Err(e) = self.io.mh.send_message(src, dst, 0, None, &bytes).await {
                    warn!("cannot send MH type {} to {dst}: {e}", m.message.mh_type());
                }
            }
            Err(e) => warn!("MH type {}: {e}", m.message.mh_type()),
        }
    }
}
