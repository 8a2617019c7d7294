//! The mobile node's route optimisation (RFC 6275
//! §11.6–§11.7.2, `docs/compat.md`), per correspondent through
//! [`mip6::ro::RoEntry`].
//!
//! - **Trigger**, as UMIP: while registered away from home, an out
//!   sub-policy from the home address to anywhere with an *optional* HAO
//!   template and no state. The first packet from the home address to a
//!   correspondent then makes the kernel send an XFRM ACQUIRE (and keeps
//!   sending it through the tunnel, the template being optional); the
//!   ACQUIRE starts return routability. ACQUIREs for Mobility Header
//!   traffic, ICMPv6 errors, the home agent and correspondents refused by
//!   `MnRoPolicy` are ignored.
//! - **Tests**: the HoTI leaves from the home address through the tunnel (a
//!   policy without template for MH type 1 from the home address keeps the
//!   HAO template off it); the CoTI from the care-of address directly.
//! - **BU**: once both tokens are in, the kernel state for the
//!   correspondent is installed — HAO state (home address → CN, coa CoA)
//!   with an out policy, so what the node sends to it leaves from the CoA
//!   with a Home Address option; RH2 state (CN → home address, coa CoA)
//!   with an optional in policy, so what it sends with a Type 2 routing
//!   header is accepted — and the signed BU goes out from the home address
//!   (the HAO state puts it on the direct path).
//! - **Handover**: the states move to the new care-of address and the
//!   care-of test runs again (the home token is reused while valid), then
//!   a new BU. At 90 % of the binding's lifetime both tests run again if
//!   the kernel used the binding's states in the last minute
//!   (`XFRMA_LASTUSED`); at its end the state is removed (traffic goes
//!   through the tunnel again, and the next packet triggers a new run).
//! - A Binding Refresh Request from a correspondent runs both tests again
//!   if the binding was used in the last minute.
//! - A Binding Error with status 1 from a correspondent (it lost the
//!   binding) removes the state; the next packet triggers a new run.
//! - Back home: every correspondent's state and the trigger are removed,
//!   and each correspondent holding a binding gets a deregistration (the
//!   home test from the home address, then a BU with lifetime 0 signed with
//!   the home token alone, RFC 6275 §11.5.4). The home registration gone
//!   otherwise (or shutdown): the state is removed, the correspondents'
//!   bindings expire.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Duration;

use mip6::consts::{IPPROTO_ICMPV6, IPPROTO_MH};
use mip6::ro::{RoAction, RoConfig, RoEntry};
use mip6::wire::mh::{MhMessage, MhRepr, TestInit};
use netcfg::xfrm::{XfrmEvent, XfrmEvents, XfrmGroups, XfrmProto, XfrmState};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::location::Location;
use super::ro_xfrm::{install_peer, install_trigger, remove_all};
use crate::config::model::RoPolicy;
use crate::config::Config;
use crate::kernel::raw::MhSocket;
use crate::kernel::raw::Received;
use crate::kernel::{Item, Kernel};
use crate::random;

/// A binding used within this is refreshed (UMIP's 10 s measured at the
/// lifetime's end; here at 90 % of it, 42 s before the end of 420 s).
const RECENTLY_USED: Duration = Duration::from_secs(60);
/// Inits per test when `MnMaxCnConsecutiveResends` is 0 (UMIP retries
/// forever; here a silent correspondent is left alone for 420 s after 5).
const DEFAULT_MAX_INITS: u32 = 5;

struct Peer {
    entry: RoEntry,
    /// Kernel objects and the care-of address they use.
    objects: Vec<Item>,
    installed_coa: Option<Ipv6Addr>,
}

/// Route optimisation's state: the mobile node's correspondents and the
/// trigger. What it decides goes out through a [`RoIo`].
pub(super) struct RouteOptimisation {
    events: Option<XfrmEvents>,
    peers: HashMap<Ipv6Addr, Peer>,
    /// The care-of address the trigger is installed for.
    active: Option<Ipv6Addr>,
    trigger: Vec<Item>,
}

/// What route optimisation acts through: the mobile node's kernel ledger and
/// MH socket, for its home address.
pub(super) struct RoIo<'a> {
    pub(super) kernel: &'a mut Kernel,
    pub(super) mh: &'a MhSocket,
    pub(super) hoa: Ipv6Addr,
}

fn cookies() -> ([u8; 8], [u8; 8]) {
    (random::secret(), random::secret())
}

impl RouteOptimisation {
    /// Listens to ACQUIREs when `DoRouteOptimizationMN` is on.
    pub(super) fn new(config: &Config) -> RouteOptimisation {
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
        RouteOptimisation {
            events,
            peers: HashMap::new(),
            active: None,
            trigger: Vec::new(),
        }
    }

    /// The next ACQUIRE (never, when route optimisation is off).
    pub(super) async fn next_acquire(&mut self) -> Option<XfrmEvent> {
        match self.events.as_mut() {
            Some(e) => e.next_event().await,
            None => std::future::pending().await,
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter_map(|p| p.entry.poll_timeout())
            .min()
            .map(Instant::from_std)
    }
}

fn ro_config(config: &Config) -> RoConfig {
    RoConfig {
        lifetime: Duration::from_secs(u64::from(config.mn_max_cn_binding_life)),
        ack: config.use_cn_bu_ack,
        max_inits: match config.mn_max_cn_consecutive_resends {
            0 => DEFAULT_MAX_INITS,
            n => n,
        },
    }
}

/// `MnRoPolicy` (of the home link): the entry for this correspondent, else
/// a `::` entry, else yes.
fn ro_allowed(policies: &[RoPolicy], cn: Ipv6Addr) -> bool {
    policies
        .iter()
        .find(|p| p.cn == cn)
        .or_else(|| policies.iter().find(|p| p.cn.is_unspecified()))
        .is_none_or(|p| p.route_optimization)
}

impl RouteOptimisation {
    /// Follows the home registration: the trigger while registered away,
    /// a handover for every correspondent when the registered CoA changes,
    /// nothing at home. Called after every event of the node's loop.
    pub(super) async fn handle_home_registration(
        &mut self,
        io: &mut RoIo<'_>,
        location: Location,
        registered_coa: Option<Ipv6Addr>,
    ) {
        if self.events.is_none() {
            return;
        }
        // Without a usable CoA (between two links) the binding ages and
        // the correspondents keep theirs: only home, or no binding, ends it.
        let want = match location {
            Location::Away(_) | Location::Nowhere => registered_coa,
            Location::Home(_) | Location::Unknown => None,
        };
        if want == self.active {
            return;
        }
        match (self.active, want) {
            (None, Some(coa)) => {
                let mut items = std::mem::take(&mut self.trigger);
                if let Err(e) = install_trigger(&mut *io.kernel, &mut items, io.hoa).await {
                    warn!("route optimisation trigger: {e}");
                    remove_all(&mut *io.kernel, &mut items).await;
                    // Tried again on the next event.
                    return;
                }
                self.trigger = items;
                debug!("route optimisation: trigger installed for {}", io.hoa);
                self.active = Some(coa);
            }
            (Some(_), Some(coa)) => {
                self.active = Some(coa);
                let now = Instant::now().into_std();
                let cns: Vec<Ipv6Addr> = self.peers.keys().copied().collect();
                for cn in cns {
                    let Some(p) = self.peers.get_mut(&cn) else {
                        continue;
                    };
                    let actions = p.entry.handover(now, coa, cookies());
                    if p.installed_coa.is_some() {
                        // What the node sends leaves from the new CoA at once.
                        let r =
                            install_peer(&mut *io.kernel, &mut p.objects, io.hoa, cn, coa).await;
                        match r {
                            Ok(()) => p.installed_coa = Some(coa),
                            Err(e) => warn!("route optimisation state for {cn}: {e}"),
                        }
                    }
                    info!("route optimisation: handover, return routability with {cn} again");
                    self.execute(io, cn, actions).await;
                }
            }
            (Some(_), None) if matches!(location, Location::Home(_)) => {
                self.go_home(io).await;
            }
            (Some(_), None) => self.clear(io).await,
            (None, None) => {}
        }
    }

    /// Removes every correspondent's state and the trigger.
    pub(super) async fn clear(&mut self, io: &mut RoIo<'_>) {
        for (cn, mut p) in self.peers.drain() {
            if !p.objects.is_empty() {
                info!("route optimisation with {cn} ended");
            }
            remove_all(&mut *io.kernel, &mut p.objects).await;
        }
        self.remove_trigger(io).await;
    }

    /// Removes the trigger and the larval states its ACQUIREs left (the
    /// kernel keeps each for `xfrm_acq_expires`, 30 s): HAO states from the
    /// home address without a care-of address, which ours always have.
    async fn remove_trigger(&mut self, io: &mut RoIo<'_>) {
        remove_all(&mut *io.kernel, &mut self.trigger).await;
        let hoa = io.hoa;
        if let Err(e) = io
            .kernel
            .xfrm
            .delete_states_where(|s| {
                s.proto == XfrmProto::Hao && s.src == hoa && s.coaddr.is_none()
            })
            .await
        {
            debug!("larval HAO states: {e}");
        }
        self.active = None;
    }

    /// Back home: the state and the trigger go; each correspondent holding a
    /// binding gets a deregistration (home test, BU with lifetime 0).
    async fn go_home(&mut self, io: &mut RoIo<'_>) {
        self.remove_trigger(io).await;
        let now = Instant::now().into_std();
        let cns: Vec<Ipv6Addr> = self.peers.keys().copied().collect();
        for cn in cns {
            let Some(p) = self.peers.get_mut(&cn) else {
                continue;
            };
            remove_all(&mut *io.kernel, &mut p.objects).await;
            p.installed_coa = None;
            let actions = p.entry.deregister(now, random::secret());
            if p.entry.is_done(now) {
                self.peers.remove(&cn);
                continue;
            }
            info!("route optimisation: at home, deregistering at {cn}");
            self.execute(io, cn, actions).await;
        }
    }

    /// An ACQUIRE: return routability with its correspondent, if wanted.
    pub(super) async fn handle_acquire(
        &mut self,
        io: &mut RoIo<'_>,
        ev: XfrmEvent,
        ha: Ipv6Addr,
        config: &Config,
    ) {
        let XfrmEvent::Acquire {
            proto: XfrmProto::Hao,
            src,
            dst: cn,
            sel,
            ..
        } = ev
        else {
            return;
        };
        let Some(coa) = self.active else { return };
        if src != io.hoa || cn == ha || self.peers.contains_key(&cn) {
            return;
        }
        if sel.proto == IPPROTO_MH || (sel.proto == IPPROTO_ICMPV6 && sel.sport < 128) {
            return;
        }
        let policies = config
            .mn_home_link
            .first()
            .map_or(&[][..], |l| &l.mn_ro_policy[..]);
        if !ro_allowed(policies, cn) {
            debug!("route optimisation with {cn} refused by MnRoPolicy");
            return;
        }
        info!(
            "route optimisation: traffic from {} to {cn}, starting return routability",
            io.hoa
        );
        let now = Instant::now().into_std();
        let (entry, actions) = RoEntry::start(
            now,
            cn,
            io.hoa,
            coa,
            crate::random::weak_u16(),
            cookies(),
            ro_config(config),
        );
        self.peers.insert(
            cn,
            Peer {
                entry,
                objects: Vec::new(),
                installed_coa: None,
            },
        );
        self.execute(io, cn, actions).await;
    }

    /// A Home Test, Care-of Test or BA from a correspondent; `false` if the
    /// message is not for route optimisation.
    pub(super) async fn handle_mh(
        &mut self,
        io: &mut RoIo<'_>,
        msg: &Received,
        ha: Ipv6Addr,
    ) -> bool {
        if msg.src == ha || !self.peers.contains_key(&msg.src) {
            return false;
        }
        let Ok(repr) = MhRepr::parse(&msg.payload) else {
            return false;
        };
        let now = Instant::now().into_std();
        let cn = msg.src;
        // A Binding Refresh Request is honoured for a binding in use.
        let used = matches!(repr.message, MhMessage::BindingRefreshRequest)
            && Self::recently_used(io, cn).await;
        let Some(p) = self.peers.get_mut(&cn) else {
            return false;
        };
        let actions = match &repr.message {
            MhMessage::BindingRefreshRequest => {
                info!(
                    "route optimisation: BRR from {cn}{}",
                    if used {
                        ""
                    } else {
                        " (binding unused: ignored)"
                    }
                );
                if used {
                    p.entry.handle_refresh_request(now, cookies())
                } else {
                    Vec::new()
                }
            }
            MhMessage::HomeTest(r) => {
                info!(
                    "route optimisation: HoT from {cn} (nonce index {})",
                    r.nonce_index
                );
                p.entry.handle_test_reply(now, true, r)
            }
            MhMessage::CareOfTest(r) => {
                info!(
                    "route optimisation: CoT from {cn} (nonce index {})",
                    r.nonce_index
                );
                p.entry.handle_test_reply(now, false, r)
            }
            MhMessage::BindingError(be)
                if be.status == mip6::consts::BeStatus::UNKNOWN_BINDING_FOR_HAO
                    && be.home_address == io.hoa =>
            {
                let crossed = p.entry.binding_error_crossed_bu(now);
                info!(
                    "route optimisation: BE from {cn}: {}{}",
                    be.status,
                    if crossed {
                        " (crossed our BU: ignored)"
                    } else {
                        ""
                    }
                );
                p.entry.handle_binding_error(now)
            }
            MhMessage::BindingAck(ba) => {
                info!(
                    "route optimisation: BA from {cn}: status {}, seq {}, lifetime {} s",
                    ba.status,
                    ba.sequence,
                    ba.lifetime_secs()
                );
                p.entry.handle_binding_ack(now, ba, &msg.payload, cookies())
            }
            _ => return false,
        };
        self.execute(io, cn, actions).await;
        true
    }

    /// The correspondents' timers that fell due at `now`.
    pub(super) async fn handle_timeout(&mut self, now: Instant, io: &mut RoIo<'_>) {
        let now = now.into_std();
        let due: Vec<Ipv6Addr> = self
            .peers
            .iter()
            .filter(|(_, p)| p.entry.poll_timeout().is_some_and(|d| d <= now))
            .map(|(cn, _)| *cn)
            .collect();
        for cn in due {
            let Some(p) = self.peers.get_mut(&cn) else {
                continue;
            };
            if p.entry.is_done(now) {
                if let Some(mut p) = self.peers.remove(&cn) {
                    remove_all(&mut *io.kernel, &mut p.objects).await;
                }
                continue;
            }
            if p.entry.refresh_due(now) && !Self::recently_used(io, cn).await {
                debug!("route optimisation: binding with {cn} unused lately, left to expire");
                if let Some(p) = self.peers.get_mut(&cn) {
                    p.entry.skip_refresh();
                }
            }
            let Some(p) = self.peers.get_mut(&cn) else {
                continue;
            };
            let actions = p.entry.handle_timeout(now, cookies());
            self.execute(io, cn, actions).await;
        }
    }

    /// True if the kernel used the HAO or RH2 state with `cn` within
    /// [`RECENTLY_USED`] (`XFRMA_LASTUSED`).
    async fn recently_used(io: &RoIo<'_>, cn: Ipv6Addr) -> bool {
        let ids = [
            XfrmState::ro(XfrmProto::Hao, io.hoa, cn, io.hoa).id(),
            XfrmState::ro(XfrmProto::Route2, cn, io.hoa, io.hoa).id(),
        ];
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for id in ids {
            if let Ok(Some(s)) = io.kernel.xfrm.get_state(&id).await {
                if s.last_used
                    .is_some_and(|t| now.saturating_sub(t) <= RECENTLY_USED.as_secs())
                {
                    return true;
                }
            }
        }
        false
    }

    async fn execute(&mut self, io: &mut RoIo<'_>, cn: Ipv6Addr, actions: Vec<RoAction>) {
        for a in actions {
            match a {
                RoAction::SendHomeTestInit(cookie) => {
                    info!("route optimisation: HoTI to {cn}");
                    let m = MhRepr::new(MhMessage::HomeTestInit(TestInit { cookie }));
                    Self::send(io, io.hoa, cn, &m).await;
                }
                RoAction::SendCareOfTestInit(cookie) => {
                    let Some(coa) = self.peers.get(&cn).map(|p| p.entry.coa) else {
                        continue;
                    };
                    info!("route optimisation: CoTI to {cn} from {coa}");
                    let m = MhRepr::new(MhMessage::CareOfTestInit(TestInit { cookie }));
                    Self::send(io, coa, cn, &m).await;
                }
                RoAction::SendBindingUpdate {
                    message,
                    sequence,
                    care_of_address,
                } => {
                    if care_of_address == io.hoa {
                        info!("route optimisation: deregistration BU to {cn} seq {sequence}");
                        if let Err(e) = io.mh.send_message(io.hoa, cn, 0, None, &message).await {
                            warn!("cannot send the BU to {cn}: {e}");
                        }
                        continue;
                    }
                    let Some(p) = self.peers.get_mut(&cn) else {
                        continue;
                    };
                    let r =
                        install_peer(&mut *io.kernel, &mut p.objects, io.hoa, cn, care_of_address)
                            .await;
                    if let Err(e) = r {
                        warn!("route optimisation state for {cn}: {e}");
                        remove_all(&mut *io.kernel, &mut p.objects).await;
                        p.installed_coa = None;
                        continue;
                    }
                    p.installed_coa = Some(care_of_address);
                    info!("route optimisation: BU to {cn} seq {sequence} CoA {care_of_address}");
                    if let Err(e) = io.mh.send_message(io.hoa, cn, 0, None, &message).await {
                        warn!("cannot send the BU to {cn}: {e}");
                    }
                }
                RoAction::Bound(lifetime) => {
                    let coa = self.peers.get(&cn).map(|p| p.entry.coa);
                    info!(
                        "route optimisation: binding with {cn} via {} for {} s",
                        coa.unwrap_or(Ipv6Addr::UNSPECIFIED),
                        lifetime.as_secs()
                    );
                }
                RoAction::RemoveState => {
                    if let Some(p) = self.peers.get_mut(&cn) {
                        info!("route optimisation: binding with {cn} removed");
                        remove_all(&mut *io.kernel, &mut p.objects).await;
                        p.installed_coa = None;
                    }
                }
            }
        }
    }

    async fn send(io: &RoIo<'_>, src: Ipv6Addr, dst: Ipv6Addr, m: &MhRepr) {
        match m.emit_without_checksum() {
            Ok(bytes) => {
                if let Err(e) = io.mh.send_message(src, dst, 0, None, &bytes).await {
                    warn!("cannot send MH type {} to {dst}: {e}", m.message.mh_type());
                }
            }
            Err(e) => warn!("MH type {}: {e}", m.message.mh_type()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mn_ro_policy_per_correspondent_then_wildcard() {
        let cn: Ipv6Addr = "2001:db8:c::2".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        let other: Ipv6Addr = "2001:db8:c::3".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        assert!(ro_allowed(&[], cn), "no MnRoPolicy: allowed");
        let policies = [
            RoPolicy {
                cn: Ipv6Addr::UNSPECIFIED,
                route_optimization: false,
            },
            RoPolicy {
                cn,
                route_optimization: true,
            },
        ];
        assert!(ro_allowed(&policies, cn));
        assert!(!ro_allowed(&policies, other));
        let cfg = ro_config(&Config::default());
        assert_eq!(cfg.lifetime, Duration::from_secs(420));
        assert_eq!(cfg.max_inits, DEFAULT_MAX_INITS);
        assert!(!cfg.ack);
    }
}
