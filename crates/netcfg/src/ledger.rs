//! A record of the kernel objects a daemon installed, to remove exactly
//! those at shutdown (mip6d must leave rules, routes, tunnels, XFRM state
//! and proxy entries as it found them, docs/protocol-notes.md#restoring-the-kernel-state).
//!
//! Each `add_*` performs the operation and, when it succeeds, records how
//! to undo it; [`Ledger::undo_all`] undoes in reverse order, tries every
//! entry, and reports every failure.

use std::net::{IpAddr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::ip6tnl::{Ip6TnlInfo, Ip6TnlSpec};
use crate::neigh_proxy::ProxyNeigh;
use crate::netlink::{Netlink, RouteSpec, RuleSpec};
use crate::xfrm::{PolicyDir, PolicyType, Selector, Xfrm, XfrmPolicy, XfrmState, XfrmStateId};

/// One installed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    Policy {
        sel: Selector,
        dir: PolicyDir,
        ptype: PolicyType,
    },
    State(XfrmStateId),
    Tunnel {
        index: u32,
        name: String,
    },
    Rule(RuleSpec),
    Route(RouteSpec),
    Proxy(ProxyNeigh),
    Address {
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
    },
}

/// The installed objects, oldest first.
#[derive(Debug, Default)]
pub struct Ledger {
    items: Vec<Installed>,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    pub fn items(&self) -> &[Installed] {
        &self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Record an object installed some other way.
    pub fn record(&mut self, item: Installed) {
        if !self.items.contains(&item) {
            self.items.push(item);
        }
    }

    /// Forget an object removed some other way (e.g. a tunnel deleted at
    /// deregistration) so `undo_all` does not try again.
    pub fn forget(&mut self, item: &Installed) {
        self.items.retain(|i| i != item);
    }

    pub async fn add_policy(&mut self, x: &Xfrm, p: &XfrmPolicy) -> Result<()> {
        x.add_policy(p).await?;
        self.record(Installed::Policy {
            sel: p.sel,
            dir: p.dir,
            ptype: p.ptype,
        });
        Ok(())
    }

    /// `update_policy` (add or replace), recorded once.
    pub async fn update_policy(&mut self, x: &Xfrm, p: &XfrmPolicy) -> Result<()> {
        x.update_policy(p).await?;
        self.record(Installed::Policy {
            sel: p.sel,
            dir: p.dir,
            ptype: p.ptype,
        });
        Ok(())
    }

    pub async fn add_state(&mut self, x: &Xfrm, s: &XfrmState) -> Result<()> {
        x.add_state(s).await?;
        self.record(Installed::State(s.id()));
        Ok(())
    }

    pub async fn add_ip6tnl(&mut self, nl: &Netlink, spec: &Ip6TnlSpec) -> Result<Ip6TnlInfo> {
        let t = nl.add_ip6tnl(spec).await?;
        self.record(Installed::Tunnel {
            index: t.index,
            name: t.name.clone(),
        });
        Ok(t)
    }

    pub async fn add_rule(&mut self, nl: &Netlink, r: &RuleSpec) -> Result<()> {
        nl.add_rule(r).await?;
        self.record(Installed::Rule(r.clone()));
        Ok(())
    }

    pub async fn add_route(&mut self, nl: &Netlink, r: &RouteSpec) -> Result<()> {
        nl.add_route(r).await?;
        self.record(Installed::Route(r.clone()));
        Ok(())
    }

    pub async fn add_proxy_neigh(&mut self, nl: &Netlink, p: ProxyNeigh) -> Result<()> {
        nl.add_proxy_neigh(p).await?;
        self.record(Installed::Proxy(p));
        Ok(())
    }

    pub async fn add_home_address(
        &mut self,
        nl: &Netlink,
        index: u32,
        addr: Ipv6Addr,
    ) -> Result<()> {
        nl.add_home_address(index, addr).await?;
        self.record(Installed::Address {
            index,
            addr: IpAddr::V6(addr),
            prefix_len: 128,
        });
        Ok(())
    }

    pub async fn add_address(
        &mut self,
        nl: &Netlink,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
        nodad: bool,
    ) -> Result<()> {
        nl.add_address(index, addr, prefix_len, nodad).await?;
        self.record(Installed::Address {
            index,
            addr,
            prefix_len,
        });
        Ok(())
    }

    async fn undo(nl: &Netlink, x: &Xfrm, item: &Installed) -> Result<()> {
        match item {
            Installed::Policy { sel, dir, ptype } => x.del_policy(sel, *dir, *ptype).await,
            Installed::State(id) => x.del_state(id).await,
            Installed::Tunnel { index, .. } => nl.del_ip6tnl(*index).await,
            Installed::Rule(r) => nl.del_rule(r).await,
            Installed::Route(r) => nl.del_route(r).await,
            Installed::Proxy(p) => nl.del_proxy_neigh(*p).await,
            Installed::Address {
                index,
                addr,
                prefix_len,
            } => nl.del_address(*index, *addr, *prefix_len).await,
        }
    }

    /// Remove everything recorded, newest first. Objects already gone
    /// (a route that went with its tunnel) are not errors; every other
    /// failure is returned, and the ledger is empty afterwards.
    pub async fn undo_all(&mut self, nl: &Netlink, x: &Xfrm) -> Vec<Error> {
        let mut errors = Vec::new();
        while let Some(item) = self.items.pop() {
            match Self::undo(nl, x, &item).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => errors.push(e),
            }
        }
        errors
    }
}
