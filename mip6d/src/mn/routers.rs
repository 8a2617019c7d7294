//! The routers of one physical interface (RFC 4861 §6.3.4, RFC 6275
//! §11.5.1) and the choice among them, without I/O: each router heard in
//! an RA with the prefixes it advertised, which one the node uses (its
//! prefixes give the care-of address), and the reachability probe of that
//! router when another one appears (`MnRouterProbes`,
//! `MnRouterProbeTimeout`, `docs/protocol-notes.md#movement-detection`).
//!
//! - Eager (`MnRouterProbes 0`): a new default router is used at once.
//! - Lazy (`MnRouterProbes N`): the router in use is probed first, with N
//!   unicast Neighbor Solicitations one retransmission interval apart (the
//!   RA's Retrans Timer, 1 s when unspecified), for at most
//!   N × interval, or `MnRouterProbeTimeout` if that is shorter and > 0. An
//!   answer (a solicited Neighbor Advertisement, or an RA of its own) keeps
//!   it, the new router waiting as a backup; silence until the end moves the
//!   node to the new router.
//!
//! Either way a router in use that expires gives way to the backup heard
//! last.

use std::net::Ipv6Addr;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Prefix;
use crate::net::mask;

/// Retransmission interval when the RA leaves it unspecified (UMIP's
/// default, RFC 4861 §10 RETRANS_TIMER).
pub const DEFAULT_RETRANS: Duration = Duration::from_secs(1);

/// How the node changes routers: `MnRouterProbes` and
/// `MnRouterProbeTimeout` (0: no cap), read at each decision so a reload
/// applies at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbePolicy {
    pub probes: u32,
    pub timeout: Duration,
}

#[cfg(test)]
impl ProbePolicy {
    /// Switch at once.
    pub const EAGER: ProbePolicy = ProbePolicy {
        probes: 0,
        timeout: Duration::ZERO,
    };
}

/// One router heard on the interface.
#[derive(Debug, Clone)]
pub struct Router {
    /// Its link-local address (the RA's source).
    pub addr: Ipv6Addr,
    /// The prefixes of its last RA.
    pub prefixes: Vec<Prefix>,
    /// Default router until then (`None`: router lifetime 0).
    pub default_until: Option<Instant>,
    /// Its prefixes count as advertised until then (the home prefix, even
    /// from a router that is no default router).
    pub heard_until: Instant,
    /// Its last RA.
    pub last_heard: Instant,
    /// The RA's Retrans Timer ([`DEFAULT_RETRANS`] when unspecified).
    pub retrans: Duration,
}

impl Router {
    /// A default router now.
    pub fn is_default(&self, now: Instant) -> bool {
        self.default_until.is_some_and(|t| t > now)
    }

    /// Advertises `p` now.
    pub fn advertises(&self, p: Prefix, now: Instant) -> bool {
        self.heard_until > now && self.prefixes.contains(&p)
    }
}

/// A probe of the router in use, started because `candidate` appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterProbe {
    pub router: Ipv6Addr,
    pub candidate: Ipv6Addr,
    /// Solicitations still to send.
    pub left: u32,
    /// The next one is due then.
    pub next_at: Instant,
    /// Unreachable if no answer by then.
    pub deadline: Instant,
}

/// What a router event means to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterEffect {
    /// The router in use, or whether there is one, changed: decide again.
    Decide,
    /// Send a unicast Neighbor Solicitation to `router` (RFC 4861 §7.3.3).
    SendProbe { router: Ipv6Addr },
}

/// An RA's facts, as [`Routers::heard`] takes them.
#[derive(Debug, Clone)]
pub struct Heard {
    pub src: Ipv6Addr,
    pub prefixes: Vec<Prefix>,
    /// Default router life (zero: not a default router).
    pub default_life: Duration,
    /// How long its prefixes count as advertised.
    pub heard_life: Duration,
    pub retrans: Duration,
}

/// The routers of one interface.
#[derive(Debug, Clone, Default)]
pub struct Routers {
    pub list: Vec<Router>,
    /// The default router in use (its prefixes give the CoA).
    pub current: Option<Ipv6Addr>,
    pub probe: Option<RouterProbe>,
}

impl Routers {
    /// Whether any default router is present.
    pub fn has_default(&self, now: Instant) -> bool {
        self.list.iter().any(|r| r.is_default(now))
    }

    /// Whether `p` is advertised on the link now.
    pub fn advertise(&self, p: Prefix, now: Instant) -> bool {
        self.list.iter().any(|r| r.advertises(p, now))
    }

    /// The prefixes of the router in use, if it is a default router now.
    pub fn current_prefixes(&self, now: Instant) -> Option<&[Prefix]> {
        let cur = self.current?;
        self.list
            .iter()
            .find(|r| r.addr == cur && r.is_default(now))
            .map(|r| r.prefixes.as_slice())
    }

    /// Forgets everything (link down).
    pub fn clear(&mut self) {
        *self = Routers::default();
    }

    /// An RA. A new default router beside the one in use is taken at once
    /// (eager) or after a probe of the one in use (lazy); an RA of the
    /// probed router answers the probe.
    pub fn heard(&mut self, now: Instant, ra: Heard, policy: ProbePolicy) -> Vec<RouterEffect> {
        let default_until = (!ra.default_life.is_zero()).then_some(now + ra.default_life);
        let mut effects = Vec::new();
        let (is_new, prefixes_changed, was_default) =
            match self.list.iter_mut().find(|r| r.addr == ra.src) {
                Some(r) => {
                    let was = r.is_default(now);
                    let changed = r.prefixes != ra.prefixes || r.heard_until <= now;
                    r.prefixes = ra.prefixes;
                    r.default_until = default_until;
                    r.heard_until = now + ra.heard_life;
                    r.last_heard = now;
                    r.retrans = ra.retrans;
                    (false, changed, was)
                }
                None => {
                    self.list.push(Router {
                        addr: ra.src,
                        prefixes: ra.prefixes,
                        default_until,
                        heard_until: now + ra.heard_life,
                        last_heard: now,
                        retrans: ra.retrans,
                    });
                    (true, true, false)
                }
            };
        let is_default = default_until.is_some();
        if self.probe.as_ref().is_some_and(|p| p.router == ra.src) && is_default {
            // The router in doubt spoke: it is there.
            self.probe = None;
        }
        let current_alive = self
            .current
            .is_some_and(|c| self.list.iter().any(|r| r.addr == c && r.is_default(now)));
        if is_default && !current_alive {
            if self.current != Some(ra.src) {
                self.current = Some(ra.src);
                self.probe = None;
            }
            effects.push(RouterEffect::Decide);
        } else if is_default && self.current != Some(ra.src) && (is_new || !was_default) {
            if policy.probes == 0 {
                self.current = Some(ra.src);
                self.probe = None;
                effects.push(RouterEffect::Decide);
            } else if self.probe.is_none() {
                if let Some(router) = self.current {
                    let interval = self
                        .list
                        .iter()
                        .find(|r| r.addr == router)
                        .map_or(DEFAULT_RETRANS, |r| r.retrans);
                    let mut span = interval.saturating_mul(policy.probes);
                    if !policy.timeout.is_zero() {
                        span = span.min(policy.timeout);
                    }
                    self.probe = Some(RouterProbe {
                        router,
                        candidate: ra.src,
                        left: policy.probes - 1,
                        next_at: now + interval,
                        deadline: now + span,
                    });
                    effects.push(RouterEffect::SendProbe { router });
                }
            }
        } else if prefixes_changed || was_default != is_default {
            effects.push(RouterEffect::Decide);
        }
        effects
    }

    /// A solicited Neighbor Advertisement for `target`: the probed router
    /// answered and stays in use.
    pub fn answered(&mut self, target: Ipv6Addr) -> bool {
        if self.probe.as_ref().is_some_and(|p| p.router == target) {
            self.probe = None;
            return true;
        }
        false
    }

    /// When [`Routers::handle_timeout`] is due: a probe to send or give up,
    /// or a router or prefix expiring.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        let probe = self.probe.as_ref().map(|p| {
            if p.left > 0 {
                p.next_at.min(p.deadline)
            } else {
                p.deadline
            }
        });
        self.list
            .iter()
            .flat_map(|r| [r.default_until, Some(r.heard_until)])
            .flatten()
            .filter(|t| *t > now)
            .chain(probe)
            .min()
    }

    /// Probes due, a probe given up (the candidate taken), a router in use
    /// expired (the backup heard last taken).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<RouterEffect> {
        let mut effects = Vec::new();
        if let Some(p) = self.probe.as_mut() {
            if p.deadline <= now {
                let candidate = p.candidate;
                self.probe = None;
                let alive = self
                    .list
                    .iter()
                    .any(|r| r.addr == candidate && r.is_default(now));
                if alive {
                    self.current = Some(candidate);
                    effects.push(RouterEffect::Decide);
                }
            } else if p.left > 0 && p.next_at <= now {
                p.left -= 1;
                let interval = self
                    .list
                    .iter()
                    .find(|r| r.addr == p.router)
                    .map_or(DEFAULT_RETRANS, |r| r.retrans);
                p.next_at = now + interval;
                effects.push(RouterEffect::SendProbe { router: p.router });
            }
        }
        let current_alive = self
            .current
            .is_some_and(|c| self.list.iter().any(|r| r.addr == c && r.is_default(now)));
        if self.current.is_some() && !current_alive {
            self.probe = None;
            self.current = self
                .list
                .iter()
                .filter(|r| r.is_default(now))
                .max_by_key(|r| r.last_heard)
                .map(|r| r.addr);
            effects.push(RouterEffect::Decide);
        }
        self.list
            .retain(|r| r.heard_until > now || r.is_default(now));
        effects
    }
}

/// The prefixes of an RA's Prefix Information options.
pub fn advertised_prefixes<'a>(
    infos: impl Iterator<Item = &'a mip6::wire::ndopt::PrefixInfo>,
) -> Vec<Prefix> {
    infos
        .filter(|p| p.prefix_len <= 128)
        .map(|p| Prefix {
            addr: mask(p.prefix, p.prefix_len),
            len: p.prefix_len,
        })
        .collect()
}
