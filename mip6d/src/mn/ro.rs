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
//! - A correspondent without Mobile IPv6 (Binding Error status 2, ICMPv6
//!   Parameter Problem about the Mobility Header or the Home Address
//!   option: [`super::ro_errors`]) loses its state and gets no route
//!   optimisation for 420 s.
//! - Back home: every correspondent's state and the trigger are removed,
//!   and each correspondent holding a binding gets a deregistration (the
//!   home test from the home address, then a BU with lifetime 0 signed with
//!   the home token alone, RFC 6275 §11.5.4). The home registration gone
//!   otherwise (or shutdown): the state is removed, the correspondents'
//!   bindings expire.

//!
//! [`RouteOptimisation`] decides without I/O: each `handle_*` takes an
//! event and returns [`RoAction`]s, which `ro_io.rs` carries out in order
//! through the node's kernel ledger and MH socket.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use mip6::consts::{IPPROTO_ICMPV6, IPPROTO_MH};
use mip6::ro::{RoAction as EntryAction, RoConfig, RoEntry};
use mip6::wire::mh::{MhMessage, MhRepr, TestInit};
use netcfg::xfrm::{XfrmEvent, XfrmProto};
use tracing::{debug, info};

use super::location::Location;
use crate::config::model::RoPolicy;
use crate::config::Config;
use crate::random;

/// A binding used within this is refreshed (UMIP's 10 s measured at the
/// lifetime's end; here at 90 % of it, 42 s before the end of 420 s).
pub(super) const RECENTLY_USED: Duration = Duration::from_secs(60);
/// Inits per test when `MnMaxCnConsecutiveResends` is 0 (UMIP retries
/// forever; here a silent correspondent is left alone for 420 s after 5).
const DEFAULT_MAX_INITS: u32 = 5;

/// What route optimisation wants done, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RoAction {
    /// Install the trigger and the HoTI bypass for the home address; if
    /// that fails, report it through
    /// [`RouteOptimisation::trigger_failed`].
    InstallTrigger,
    /// Remove the trigger and the larval HAO states its ACQUIREs left.
    RemoveTrigger,
    /// Send a HoTI or CoTI from `src`.
    Send {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        message: MhRepr,
    },
    /// Handover: a correspondent's installed state moves to `coa` at once
    /// (nothing when none is installed).
    MoveBinding { cn: Ipv6Addr, coa: Ipv6Addr },
    /// Install the correspondent's state for `coa`, then send the signed BU
    /// from the home address; if the state cannot be installed, it is
    /// removed and no BU goes out.
    InstallBindingAndSend {
        cn: Ipv6Addr,
        coa: Ipv6Addr,
        sequence: u16,
        message: Vec<u8>,
    },
    /// Send a deregistration BU (lifetime 0) from the home address.
    SendDeregistration {
        cn: Ipv6Addr,
        sequence: u16,
        message: Vec<u8>,
    },
    /// Remove the correspondent's state (`announce`: say that route
    /// optimisation with it ended, if any was installed).
    RemoveBinding { cn: Ipv6Addr, announce: bool },
}

/// Route optimisation's state: the mobile node's correspondents and
/// whether the trigger is in place.
pub(super) struct RouteOptimisation {
    /// Off when `DoRouteOptimizationMN` is off or ACQUIREs cannot be heard.
    enabled: bool,
    pub(super) peers: HashMap<Ipv6Addr, RoEntry>,
    /// The care-of address the trigger is installed for.
    active: Option<Ipv6Addr>,
    /// `MnFlushAllAtHome`: back home, entries whose BU awaits its BA are
    /// dropped, not deregistered.
    pub(super) flush_at_home: bool,
}

fn cookies() -> ([u8; 8], [u8; 8]) {
    (random::secret(), random::secret())
}

pub(super) fn ro_config(config: &Config) -> RoConfig {
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
pub(super) fn ro_allowed(policies: &[RoPolicy], cn: Ipv6Addr) -> bool {
    policies
        .iter()
        .find(|p| p.cn == cn)
        .or_else(|| policies.iter().find(|p| p.cn.is_unspecified()))
        .is_none_or(|p| p.route_optimization)
}

impl RouteOptimisation {
    /// `enabled` when ACQUIREs are listened to.
    pub(super) fn new(enabled: bool) -> RouteOptimisation {
        RouteOptimisation {
            enabled,
            peers: HashMap::new(),
            active: None,
            flush_at_home: false,
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.peers.values().filter_map(RoEntry::poll_timeout).min()
    }

    /// The trigger could not be installed: tried again on the next event.
    pub(super) fn trigger_failed(&mut self) {
        self.active = None;
    }

    /// Follows the home registration: the trigger while registered away,
    /// a handover for every correspondent when the registered CoA changes,
    /// nothing at home. Called after every event of the node's loop.
    pub(super) fn handle_home_registration(
        &mut self,
        now: Instant,
        hoa: Ipv6Addr,
        location: Location,
        registered_coa: Option<Ipv6Addr>,
    ) -> Vec<RoAction> {
        if !self.enabled {
            return Vec::new();
        }
        // Without a usable CoA (between two links) the binding ages and
        // the correspondents keep theirs: only home, or no binding, ends it.
        let want = match location {
            Location::Away(_) | Location::Nowhere => registered_coa,
            Location::Home(_) | Location::Unknown => None,
        };
        if want == self.active {
            return Vec::new();
        }
        let mut out = Vec::new();
        match (self.active, want) {
            (None, Some(coa)) => {
                self.active = Some(coa);
                out.push(RoAction::InstallTrigger);
            }
            (Some(_), Some(coa)) => {
                self.active = Some(coa);
                let cns: Vec<Ipv6Addr> = self.peers.keys().copied().collect();
                for cn in cns {
                    let Some(e) = self.peers.get_mut(&cn) else {
                        continue;
                    };
                    let actions = e.handover(now, coa, cookies());
                    // What the node sends leaves from the new CoA at once.
                    out.push(RoAction::MoveBinding { cn, coa });
                    info!("route optimisation: handover, return routability with {cn} again");
                    self.translate(hoa, cn, actions, &mut out);
                }
            }
            (Some(_), None) if matches!(location, Location::Home(_)) => {
                self.go_home(now, hoa, &mut out);
            }
            (Some(_), None) => return self.clear(),
            (None, None) => {}
        }
        out
    }

    /// Every correspondent's state and the trigger go.
    pub(super) fn clear(&mut self) -> Vec<RoAction> {
        let mut out: Vec<RoAction> = self
            .peers
            .drain()
            .map(|(cn, _)| RoAction::RemoveBinding { cn, announce: true })
            .collect();
        out.push(RoAction::RemoveTrigger);
        self.active = None;
        out
    }

    /// Back home: the state and the trigger go; each correspondent holding a
    /// binding gets a deregistration (home test, BU with lifetime 0,
    /// RFC 6275 §11.5.4).
    fn go_home(&mut self, now: Instant, hoa: Ipv6Addr, out: &mut Vec<RoAction>) {
        out.push(RoAction::RemoveTrigger);
        self.active = None;
        let cns: Vec<Ipv6Addr> = self.peers.keys().copied().collect();
        for cn in cns {
            let Some(e) = self.peers.get_mut(&cn) else {
                continue;
            };
            out.push(RoAction::RemoveBinding {
                cn,
                announce: false,
            });
            let actions = e.deregister(now, random::secret(), !self.flush_at_home);
            if e.is_done(now) {
                self.peers.remove(&cn);
                continue;
            }
            info!("route optimisation: at home, deregistering at {cn}");
            self.translate(hoa, cn, actions, out);
        }
    }

    /// An ACQUIRE: return routability with its correspondent, if wanted.
    pub(super) fn handle_acquire(
        &mut self,
        now: Instant,
        hoa: Ipv6Addr,
        ha: Ipv6Addr,
        ev: XfrmEvent,
        config: &Config,
    ) -> Vec<RoAction> {
        let XfrmEvent::Acquire {
            proto: XfrmProto::Hao,
            src,
            dst: cn,
            sel,
            ..
        } = ev
        else {
            return Vec::new();
        };
        let Some(coa) = self.active else {
            return Vec::new();
        };
        if src != hoa || cn == ha || self.peers.contains_key(&cn) {
            return Vec::new();
        }
        // Signalling and ICMPv6 errors do not start a run (RFC 6275 §11.6.1
        // leaves it to the node; UMIP ignores them).
        if sel.proto == IPPROTO_MH || (sel.proto == IPPROTO_ICMPV6 && sel.sport < 128) {
            return Vec::new();
        }
        let policies = config
            .mn_home_link
            .first()
            .map_or(&[][..], |l| &l.mn_ro_policy[..]);
        if !ro_allowed(policies, cn) {
            debug!("route optimisation with {cn} refused by MnRoPolicy");
            return Vec::new();
        }
        info!("route optimisation: traffic from {hoa} to {cn}, starting return routability");
        let (entry, actions) = RoEntry::start(
            now,
            cn,
            hoa,
            coa,
            random::weak_u16(),
            cookies(),
            ro_config(config),
        );
        self.peers.insert(cn, entry);
        let mut out = Vec::new();
        self.translate(hoa, cn, actions, &mut out);
        out
    }

    /// The correspondent whose binding's use the kernel must be asked about
    /// before [`Self::handle_mh`] can decide: that of a Binding Refresh
    /// Request from a correspondent we know.
    pub(super) fn usage_wanted_for_mh(
        &self,
        src: Ipv6Addr,
        payload: &[u8],
        ha: Ipv6Addr,
    ) -> Option<Ipv6Addr> {
        if src == ha || !self.peers.contains_key(&src) {
            return None;
        }
        let repr = MhRepr::parse(payload).ok()?;
        matches!(repr.message, MhMessage::BindingRefreshRequest).then_some(src)
    }

    /// A Home Test, Care-of Test, BA, BE or BRR from a correspondent;
    /// `None` if the message is not for route optimisation. `used`: the
    /// kernel used the binding lately (asked for a BRR only).
    pub(super) fn handle_mh(
        &mut self,
        now: Instant,
        hoa: Ipv6Addr,
        ha: Ipv6Addr,
        src: Ipv6Addr,
        payload: &[u8],
        used: bool,
    ) -> Option<Vec<RoAction>> {
        if src == ha || !self.peers.contains_key(&src) {
            return None;
        }
        let repr = MhRepr::parse(payload).ok()?;
        let cn = src;
        let e = self.peers.get_mut(&cn)?;
        let actions = match &repr.message {
            // A Binding Refresh Request is honoured for a binding in use
            // (RFC 6275 §11.7.4).
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
                    e.handle_refresh_request(now, cookies())
                } else {
                    Vec::new()
                }
            }
            MhMessage::HomeTest(r) => {
                info!(
                    "route optimisation: HoT from {cn} (nonce index {})",
                    r.nonce_index
                );
                e.handle_test_reply(now, true, r)
            }
            MhMessage::CareOfTest(r) => {
                info!(
                    "route optimisation: CoT from {cn} (nonce index {})",
                    r.nonce_index
                );
                e.handle_test_reply(now, false, r)
            }
            MhMessage::BindingError(be)
                if be.status == mip6::consts::BeStatus::UNKNOWN_BINDING_FOR_HAO
                    && be.home_address == hoa =>
            {
                let crossed = e.binding_error_crossed_bu(now);
                info!(
                    "route optimisation: BE from {cn}: {}{}",
                    be.status,
                    if crossed {
                        " (crossed our BU: ignored)"
                    } else {
                        ""
                    }
                );
                e.handle_binding_error(now)
            }
            MhMessage::BindingError(be)
                if be.status == mip6::consts::BeStatus::UNRECOGNIZED_MH_TYPE =>
            {
                return Some(self.not_supported(now, hoa, cn, "Binding Error status 2"));
            }
            MhMessage::BindingAck(ba) => {
                info!(
                    "route optimisation: BA from {cn}: status {}, seq {}, lifetime {} s",
                    ba.status,
                    ba.sequence,
                    ba.lifetime_secs()
                );
                e.handle_binding_ack(now, ba, payload, cookies())
            }
            _ => return None,
        };
        let mut out = Vec::new();
        self.translate(hoa, cn, actions, &mut out);
        Some(out)
    }

    /// The correspondents whose binding's use the kernel must be asked about
    /// before [`Self::handle_timeout`] at `now`: those due for a refresh.
    pub(super) fn usage_wanted_at(&self, now: Instant) -> Vec<Ipv6Addr> {
        self.peers
            .iter()
            .filter(|(_, e)| e.poll_timeout().is_some_and(|d| d <= now))
            .filter(|(_, e)| !e.is_done(now) && e.refresh_due(now))
            .map(|(cn, _)| *cn)
            .collect()
    }

    /// The correspondents' timers that fell due at `now`; `used`: those of
    /// [`Self::usage_wanted_at`] whose binding the kernel used lately.
    pub(super) fn handle_timeout(
        &mut self,
        now: Instant,
        hoa: Ipv6Addr,
        used: &[Ipv6Addr],
    ) -> Vec<RoAction> {
        let due: Vec<Ipv6Addr> = self
            .peers
            .iter()
            .filter(|(_, e)| e.poll_timeout().is_some_and(|d| d <= now))
            .map(|(cn, _)| *cn)
            .collect();
        let mut out = Vec::new();
        for cn in due {
            let Some(e) = self.peers.get_mut(&cn) else {
                continue;
            };
            if e.is_done(now) {
                self.peers.remove(&cn);
                out.push(RoAction::RemoveBinding {
                    cn,
                    announce: false,
                });
                continue;
            }
            if e.refresh_due(now) && !used.contains(&cn) {
                debug!("route optimisation: binding with {cn} unused lately, left to expire");
                e.skip_refresh();
            }
            let actions = e.handle_timeout(now, cookies());
            self.translate(hoa, cn, actions, &mut out);
        }
        out
    }

    /// What a correspondent's entry decided, as the node's actions.
    pub(super) fn translate(
        &self,
        hoa: Ipv6Addr,
        cn: Ipv6Addr,
        actions: Vec<EntryAction>,
        out: &mut Vec<RoAction>,
    ) {
        for a in actions {
            match a {
                EntryAction::SendHomeTestInit(cookie) => {
                    info!("route optimisation: HoTI to {cn}");
                    let message = MhRepr::new(MhMessage::HomeTestInit(TestInit { cookie }));
                    out.push(RoAction::Send {
                        src: hoa,
                        dst: cn,
                        message,
                    });
                }
                EntryAction::SendCareOfTestInit(cookie) => {
                    let Some(coa) = self.peers.get(&cn).map(|e| e.coa) else {
                        continue;
                    };
                    info!("route optimisation: CoTI to {cn} from {coa}");
                    let message = MhRepr::new(MhMessage::CareOfTestInit(TestInit { cookie }));
                    out.push(RoAction::Send {
                        src: coa,
                        dst: cn,
                        message,
                    });
                }
                EntryAction::SendBindingUpdate {
                    message,
                    sequence,
                    care_of_address,
                } => {
                    if care_of_address == hoa {
                        info!("route optimisation: deregistration BU to {cn} seq {sequence}");
                        out.push(RoAction::SendDeregistration {
                            cn,
                            sequence,
                            message,
                        });
                        continue;
                    }
                    if !self.peers.contains_key(&cn) {
                        continue;
                    }
                    out.push(RoAction::InstallBindingAndSend {
                        cn,
                        coa: care_of_address,
                        sequence,
                        message,
                    });
                }
                EntryAction::Bound(lifetime) => {
                    let coa = self.peers.get(&cn).map(|e| e.coa);
                    info!(
                        "route optimisation: binding with {cn} via {} for {} s",
                        coa.unwrap_or(Ipv6Addr::UNSPECIFIED),
                        lifetime.as_secs()
                    );
                }
                EntryAction::RemoveState => {
                    if self.peers.contains_key(&cn) {
                        info!("route optimisation: binding with {cn} removed");
                        out.push(RoAction::RemoveBinding {
                            cn,
                            announce: false,
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "ro_tests.rs"]
mod tests;
