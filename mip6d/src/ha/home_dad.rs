//! The home agent's decisions when DAD for a new binding ends and when
//! bindings expire (RFC 6275 §10.3.1, §10.3.2), without I/O: they change the
//! binding cache and say, as [`DadAction`]s, what the loop must do (`super::dad`
//! and `super::HomeAgent::on_timer` carry them out, in the order given).

use std::net::Ipv6Addr;
use std::time::Instant;

use mip6::bcache::DadOutcome;
use mip6::consts::BaStatus;
use mip6::wire::mh::{BindingAck, MhMessage, MhRepr};
use tracing::info;

use super::home_bu::HomeRegistrar;

/// A BU that waits for DAD before its BA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DadRun {
    pub home_ifindex: u32,
    pub ha_address: Ipv6Addr,
    /// With the L flag: the link-local address probed with the home address.
    pub link_local: Option<Ipv6Addr>,
}

/// What the end of a DAD run or an expiry made the home agent decide.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum DadAction {
    /// Install the binding's forwarding state; the result comes back through
    /// [`HomeRegistrar::installed`], which decides the BA's status.
    Install {
        hoa: Ipv6Addr,
        run: DadRun,
        ba: MhRepr,
    },
    /// Announce the home address on the home link with an unsolicited proxy
    /// NA (RFC 6275 §10.4.1; RFC 3963 §6.3: with the Router flag for a
    /// mobile router).
    ProxyNa {
        hoa: Ipv6Addr,
        ifindex: u32,
        mobile_router: bool,
    },
    /// Send this BA from `src` to the home address, through a Type 2
    /// routing header to `via` when the mobile node is away.
    SendBa {
        hoa: Ipv6Addr,
        via: Option<Ipv6Addr>,
        src: Ipv6Addr,
        ba: MhRepr,
    },
    /// The pending binding is refused (someone answered its DAD, status
    /// 134): it is forgotten and this BA goes to its care-of address.
    RefuseDuplicate { hoa: Ipv6Addr, ba: MhRepr },
    /// The binding is gone: its kernel state goes now.
    RemoveBinding { hoa: Ipv6Addr },
    /// The binding expired: its kernel state is queued for removal.
    QueueRemoval { hoa: Ipv6Addr },
}

/// What the loop knows of a binding whose DAD ended silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pending {
    pub(super) hoa: Ipv6Addr,
    pub(super) coa: Ipv6Addr,
    /// The home agent address the BU was sent to: the BA's source.
    pub(super) ha_address: Ipv6Addr,
    pub(super) home_ifindex: u32,
    pub(super) mobile_router: bool,
}

impl HomeRegistrar<'_> {
    /// DAD for `hoa` ended without an answer: the binding is to be installed
    /// (nothing, if the cache no longer waits for it).
    pub(super) fn dad_silent(
        &mut self,
        now: Instant,
        hoa: Ipv6Addr,
        run: DadRun,
    ) -> Vec<DadAction> {
        match self.cache.dad_finished(now, &hoa, false) {
            Some(DadOutcome::Installed(ba)) => vec![DadAction::Install { hoa, run, ba }],
            _ => Vec::new(),
        }
    }

    /// The install of `pending` ended (`ok`): on success the home address is
    /// announced and `ba` goes out; on failure the binding goes and the
    /// mobile node hears status 130 (RFC 6275 §10.3.1: the home agent
    /// cannot provide the service).
    pub(super) fn installed(&mut self, pending: Pending, ok: bool, ba: MhRepr) -> Vec<DadAction> {
        let hoa = pending.hoa;
        let mut actions = Vec::new();
        let ba = if ok {
            actions.push(DadAction::ProxyNa {
                hoa,
                ifindex: pending.home_ifindex,
                mobile_router: pending.mobile_router,
            });
            ba
        } else {
            actions.push(DadAction::RemoveBinding { hoa });
            let seq = self.cache.remove(&hoa).map_or(0, |e| e.sequence);
            MhRepr::new(MhMessage::BindingAck(BindingAck {
                status: BaStatus::INSUFFICIENT_RESOURCES,
                flags: Default::default(),
                sequence: seq,
                lifetime_units: 0,
            }))
        };
        if let MhMessage::BindingAck(a) = &ba.message {
            info!(
                "BA to {hoa} via {}: status {} seq {} lifetime {} s",
                pending.coa,
                a.status.0,
                a.sequence,
                a.lifetime_secs()
            );
        }
        let via = (pending.coa != hoa).then_some(pending.coa);
        actions.push(DadAction::SendBa {
            hoa,
            via,
            src: pending.ha_address,
            ba,
        });
        actions
    }

    /// A node on the home link answered the DAD for `hoa`: the address is
    /// in use, the binding is refused with status 134 (RFC 6275 §10.3.1).
    pub(super) fn dad_answered(&mut self, now: Instant, hoa: Ipv6Addr) -> Vec<DadAction> {
        match self.cache.dad_finished(now, &hoa, true) {
            Some(DadOutcome::Duplicate(ba)) => vec![DadAction::RefuseDuplicate { hoa, ba }],
            _ => Vec::new(),
        }
    }

    /// The bindings whose lifetime ended by `now` leave the cache; their
    /// kernel state is queued for removal (RFC 6275 §10.3.1: an expired
    /// binding is deleted).
    pub(super) fn expire(&mut self, now: Instant) -> Vec<DadAction> {
        self.cache
            .handle_timeout(now)
            .into_iter()
            .map(|entry| {
                info!(
                    "binding {} (CoA {}) expired",
                    entry.home_address, entry.care_of_address
                );
                DadAction::QueueRemoval {
                    hoa: entry.home_address,
                }
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "home_dad_tests.rs"]
mod tests;
