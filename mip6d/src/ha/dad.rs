//! Duplicate Address Detection on the mobile node's behalf (RFC 6275
//! §10.3.1): a Neighbor Solicitation for the home address (and, with the L
//! flag, one for its link-local address) from `::` on the home link, then a
//! 1 s wait; an answer for either means status 134, silence means the
//! binding's forwarding state is installed and the BA goes out.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;

use mip6::deadlines::Deadlines;
use mip6::wire::ndisc::{NdRepr, NeighborSolicit};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::home_dad::{DadAction, DadRun, Pending};
use super::HomeAgent;
use crate::kernel::raw::{ipv6_packet, solicited_node, unsolicited_na};

/// The DAD runs in progress, by home address. Thousands may run at once
/// (mobile nodes registering together); each ends on its own deadline.
#[derive(Debug, Default)]
pub(super) struct DadRuns {
    runs: HashMap<Ipv6Addr, DadRun>,
    /// The link-local addresses probed with a home address (L flag).
    link_locals: HashMap<Ipv6Addr, Ipv6Addr>,
    deadlines: Deadlines<Ipv6Addr, Instant>,
}

impl DadRuns {
    fn start(&mut self, hoa: Ipv6Addr, run: DadRun, deadline: Instant) {
        if let Some(ll) = run.link_local {
            self.link_locals.insert(ll, hoa);
        }
        self.runs.insert(hoa, run);
        self.deadlines.set(hoa, deadline);
    }

    /// Ends the run for `hoa` early (an NA answered, or a deregistration).
    pub(super) fn cancel(&mut self, hoa: &Ipv6Addr) -> Option<DadRun> {
        self.deadlines.remove(hoa);
        let run = self.runs.remove(hoa)?;
        if let Some(ll) = run.link_local {
            self.link_locals.remove(&ll);
        }
        Some(run)
    }

    /// An NA for `target` answered a run: the home address it probes for
    /// (itself, or the one its link-local address goes with), the run ended.
    pub(super) fn answered(&mut self, target: &Ipv6Addr) -> Option<Ipv6Addr> {
        let hoa = self.link_locals.get(target).copied().unwrap_or(*target);
        self.cancel(&hoa).map(|_| hoa)
    }

    /// True while a run for `hoa` waits for its answer.
    pub(super) fn is_running(&self, hoa: &Ipv6Addr) -> bool {
        self.runs.contains_key(hoa)
    }

    /// When the next run ends.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.earliest()
    }

    /// The runs that ended at `now` without an answer.
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<(Ipv6Addr, DadRun)> {
        self.deadlines
            .pop_due(now)
            .into_iter()
            .filter_map(|hoa| {
                let run = self.runs.remove(&hoa)?;
                if let Some(ll) = run.link_local {
                    self.link_locals.remove(&ll);
                }
                Some((hoa, run))
            })
            .collect()
    }
}

impl HomeAgent {
    pub(super) async fn start_dad(
        &mut self,
        hoa: Ipv6Addr,
        ifindex: u32,
        ha_address: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
    ) {
        for target in std::iter::once(hoa).chain(link_local) {
            let group = solicited_node(target);
            let ns = NdRepr::NeighborSolicit(NeighborSolicit {
                target,
                options: Vec::new(),
            });
            match ns.emit(&Ipv6Addr::UNSPECIFIED, &group) {
                Ok(icmp) => {
                    let pkt = ipv6_packet(Ipv6Addr::UNSPECIFIED, group, 58, &icmp);
                    if let Err(e) = self.io.raw.send(&pkt, ifindex).await {
                        warn!("DAD NS for {target}: {e}");
                    }
                }
                Err(e) => warn!("DAD NS for {target}: {e}"),
            }
        }
        let run = DadRun {
            home_ifindex: ifindex,
            ha_address,
            link_local,
        };
        self.dad
            .start(hoa, run, Instant::now() + mip6::consts::DAD_WAIT);
    }

    /// DAD found nobody: the decision ([`HomeRegistrar::dad_silent`]) is
    /// carried out; the install's result decides the BA's status.
    pub(super) async fn dad_done(&mut self, hoa: Ipv6Addr, run: DadRun) {
        let now = std::time::Instant::now();
        let actions = self.registrar().dad_silent(now, hoa, run);
        if !actions.is_empty() {
            self.view.changed();
        }
        self.carry_out_dad(actions).await;
    }

    /// Carries out, in order, what the end of a DAD run or an expiry decided
    /// (and what an install's result decided next, before anything else).
    pub(super) async fn carry_out_dad(&mut self, actions: Vec<DadAction>) {
        let mut queue = VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            for next in self.carry_out_one(action).await.into_iter().rev() {
                queue.push_front(next);
            }
        }
    }

    /// Carries out one action; returns what its result decided next.
    async fn carry_out_one(&mut self, action: DadAction) -> Vec<DadAction> {
        match action {
            DadAction::Install { hoa, run, ba } => {
                let Some(b) = self.bindings.get_mut(&hoa) else {
                    return Vec::new();
                };
                let coa = b.care_of_address;
                // (RFC 3963 §6.3: a mobile router's proxy NA has the Router flag.)
                let mobile_router = !b.mobile_network_prefixes.is_empty();
                let installed = b
                    .install(
                        &mut self.io.kernel,
                        &mut self.tunnel_names,
                        run.home_ifindex,
                    )
                    .await;
                let tunnel = b.tunnel_name().to_owned();
                match &installed {
                    Ok(()) => {
                        let home_if = self.iface_name(run.home_ifindex);
                        info!("binding {hoa} -> {coa} installed (tunnel {tunnel}, proxy on {home_if})");
                    }
                    Err(e) => error!("cannot install the binding {hoa} -> {coa}: {e}"),
                }
                let pending = Pending {
                    hoa,
                    coa,
                    ha_address: run.ha_address,
                    home_ifindex: run.home_ifindex,
                    mobile_router,
                };
                return self.registrar().installed(pending, installed.is_ok(), ba);
            }
            DadAction::ProxyNa {
                hoa,
                ifindex,
                mobile_router,
            } => {
                let home_if = self.iface_name(ifindex);
                let link_local = self.bindings.get(&hoa).and_then(|b| b.link_local);
                let icmp = &self.io.icmp;
                for target in std::iter::once(hoa).chain(link_local) {
                    if let Err(e) =
                        unsolicited_na(icmp, &home_if, ifindex, target, mobile_router).await
                    {
                        debug!("unsolicited NA for {target}: {e}");
                    }
                }
            }
            DadAction::SendBa { hoa, via, src, ba } => {
                self.send_ba(hoa, via, Some(src), &ba).await;
            }
            DadAction::RefuseDuplicate { hoa, ba } => {
                let pending = self.bindings.remove(&hoa);
                let coa = pending.as_ref().map(|b| b.care_of_address);
                let src = pending.as_ref().map(|b| b.ha_address);
                self.send_ba(hoa, coa, src, &ba).await;
            }
            DadAction::RemoveBinding { hoa } => {
                if let Some(mut b) = self.bindings.remove(&hoa) {
                    b.remove(&mut self.io.kernel).await;
                }
            }
            DadAction::QueueRemoval { hoa } => {
                if let Some(b) = self.bindings.remove(&hoa) {
                    self.backlog.remove(b);
                }
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    /// An NA for the link-local address ends the run of its home address
    /// (RFC 6275 §10.3.1: DAD failing for either refuses the binding).
    #[test]
    fn an_answer_for_the_link_local_address_ends_its_home_address_run() {
        let mut runs = DadRuns::default();
        let run = DadRun {
            home_ifindex: 2,
            ha_address: a("2001:db8:1::2"),
            link_local: Some(a("fe80::100")),
        };
        let t = Instant::now();
        runs.start(a("2001:db8:1::100"), run, t);
        assert_eq!(runs.answered(&a("fe80::999")), None);
        assert_eq!(runs.answered(&a("fe80::100")), Some(a("2001:db8:1::100")));
        assert!(!runs.is_running(&a("2001:db8:1::100")));
        assert_eq!(runs.answered(&a("fe80::100")), None, "alias gone");
        runs.start(a("2001:db8:1::100"), run, t);
        assert_eq!(
            runs.answered(&a("2001:db8:1::100")),
            Some(a("2001:db8:1::100"))
        );
        assert_eq!(runs.answered(&a("fe80::100")), None);
    }
}
