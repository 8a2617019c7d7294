//! Coming back to the home link (RFC 6275 §11.5.4), as UMIP does it, decided
//! without I/O. With a home registration that may be alive (acknowledged,
//! or its BA still awaited) the node first probes: a Neighbor Solicitation
//! from `::` for the home address, and for the link-local address of the L
//! flag, on the home link, then waits up to [`HOME_PROBE_WAIT`]. A Neighbor
//! Advertisement from someone else (the home agent's proxy) says the home
//! agent still defends the address: the node deregisters at once. No answer
//! says it does not: the registration is taken as gone and dropped without
//! a BU, unless `MnFlushAllAtHome`, which deregisters anyway.
//! `MnFlushAllAtHome` also drops, without probe or BU, a registration whose
//! BA never came (UMIP's "uncertain" registration).

use std::net::Ipv6Addr;
use std::time::Instant;

use std::time::Duration;

use tracing::{info, warn};

use super::Registration;
use crate::config::Config;

/// How long the node waits for the home agent's answer after the last
/// probe. UMIP sends one probe and waits 1 s (`DAD_WAIT`); but a proxy may
/// delay its answer to a multicast solicitation by up to 1 s (RFC 4861
/// §7.2.8, `MAX_ANYCAST_DELAY_TIME`; Linux by up to 0.8 s), and just after
/// the link comes up the kernel sends nothing while the interface's
/// link-local address is tentative: a single probe and 1 s would drop live
/// bindings. So [`HOME_PROBES`] probes 1 s apart, then this wait; an answer
/// ends it at once.
pub(super) const HOME_PROBE_WAIT: Duration = Duration::from_millis(1500);
/// Probes sent (1 s apart) before the node concludes nobody answers.
pub(super) const HOME_PROBES: u32 = 3;
const HOME_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The probe on the home link, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HomeProbe {
    ifindex: u32,
    targets: Vec<Ipv6Addr>,
    /// When the next probe goes, while some are left.
    next_probe: Option<Instant>,
    probes_left: u32,
    until: Instant,
    answered: bool,
    /// The wait is over: the return may go on.
    over: bool,
}

/// What the node does on its home link now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::mn) enum HomeStep {
    /// Send these probes on `ifindex` and wait.
    Probe {
        ifindex: u32,
        targets: Vec<Ipv6Addr>,
    },
    /// A probe runs: nothing yet.
    Wait,
    /// Put the home address on the home link and deregister (the
    /// registration's state says whether a BU goes out).
    Proceed,
}

impl HomeProbe {
    /// When the next probe goes or the wait ends, while it runs.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        if self.over {
            return None;
        }
        Some(self.next_probe.map_or(self.until, |t| t.min(self.until)))
    }
}

impl Registration {
    /// The addresses the home agent defends for us on the home link: the
    /// home address, and the link-local one of the L flag.
    pub(super) fn defended_addresses(&self) -> Vec<Ipv6Addr> {
        std::iter::once(self.hoa).chain(self.link_local).collect()
    }

    /// The node is on its home link `ifindex`: probe first, wait, or go on.
    pub(in crate::mn) fn home_step(
        &mut self,
        now: Instant,
        ifindex: u32,
        config: &Config,
    ) -> HomeStep {
        match &self.home_probe {
            Some(p) if p.ifindex == ifindex && p.over => {
                self.home_probe = None;
                return HomeStep::Proceed;
            }
            Some(p) if p.ifindex == ifindex => return HomeStep::Wait,
            _ => {}
        }
        let bound = self.bul.binding().is_some_and(|b| b.expires_at > now);
        if config.mn_flush_all_at_home && !bound && self.bul.is_uncertain() {
            info!(
                "home registration with {} never acknowledged: dropped (MnFlushAllAtHome)",
                self.ha
            );
            self.bul.abandon();
        }
        if !bound && !self.bul.is_uncertain() {
            return HomeStep::Proceed;
        }
        let targets = self.defended_addresses();
        let interval = HOME_PROBE_INTERVAL * (HOME_PROBES - 1);
        self.home_probe = Some(HomeProbe {
            ifindex,
            targets: targets.clone(),
            next_probe: Some(now + HOME_PROBE_INTERVAL),
            probes_left: HOME_PROBES - 1,
            until: now + interval + HOME_PROBE_WAIT,
            answered: false,
            over: false,
        });
        HomeStep::Probe { ifindex, targets }
    }

    /// A Neighbor Advertisement for `target` from `src` on `ifindex`: an
    /// answer to the probe unless it is our own (the kernel answers for an
    /// address the node holds, from that address). True when it ends the
    /// wait: the return goes on now.
    pub(in crate::mn) fn handle_home_probe_answer(
        &mut self,
        ifindex: u32,
        src: Ipv6Addr,
        target: Ipv6Addr,
    ) -> bool {
        let Some(p) = self.home_probe.as_mut() else {
            return false;
        };
        if p.over || p.ifindex != ifindex || src == target || !p.targets.contains(&target) {
            return false;
        }
        info!("{target} is defended on the home link by {src}");
        p.answered = true;
        p.over = true;
        true
    }

    /// The probe's timers at `now`: the next probe (returned, to send on
    /// the home link), or the end of the wait: without an answer, the
    /// registration is dropped (no BU) unless `MnFlushAllAtHome`.
    pub(super) fn handle_home_probe_timeout(
        &mut self,
        now: Instant,
        config: &Config,
    ) -> Option<HomeStep> {
        let p = self.home_probe.as_mut()?;
        if p.over {
            return None;
        }
        if p.next_probe.is_some_and(|t| now >= t) && now < p.until {
            p.probes_left = p.probes_left.saturating_sub(1);
            p.next_probe = (p.probes_left > 0).then(|| now + HOME_PROBE_INTERVAL);
            return Some(HomeStep::Probe {
                ifindex: p.ifindex,
                targets: p.targets.clone(),
            });
        }
        if now < p.until {
            return None;
        }
        p.over = true;
        if p.answered {
            return None;
        }
        if config.mn_flush_all_at_home {
            info!(
                "no Neighbor Advertisement for {} on the home link: deregistering from {} \
                 anyway (MnFlushAllAtHome)",
                self.hoa, self.ha
            );
        } else {
            warn!(
                "no Neighbor Advertisement for {} on the home link: the home agent {} \
                 holds no binding, none deregistered",
                self.hoa, self.ha
            );
            self.bul.abandon();
        }
        None
    }

    /// The node left the home link before the probe ended.
    pub(in crate::mn) fn cancel_home_probe(&mut self) {
        self.home_probe = None;
    }
}
