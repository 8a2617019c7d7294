//! A record of the kernel objects a daemon installed, to remove exactly
//! those: every object goes through a [`Ledger`], which remembers it; one
//! object's owner (a binding, say) removes it by itself, and shutdown
//! removes whatever is left in reverse order and puts the sysctls back
//! (tunnels, rules, routes, addresses, proxy entries and XFRM state; see
//! `docs/compat.md`). So a daemon's orderly exit leaves the kernel as it
//! was found.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};

use crate::error::Error;
use crate::ip6tnl::{Ip6TnlInfo, Ip6TnlSpec};
use crate::neigh_proxy::ProxyNeigh;
use crate::netlink::batch::pipelined;
use crate::netlink::{Netlink, RouteSpec, RuleSpec};
use crate::tunnel_filter::TunnelSourceFilter;
use crate::xfrm::{PolicyDir, PolicyType, Selector, Xfrm, XfrmPolicy, XfrmState, XfrmStateId};
use tracing::{debug, warn};

/// One installed object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Item {
    /// `ip -6 rule`.
    Rule(RuleSpec),
    /// `ip -6 route`.
    Route(RouteSpec),
    /// An ip6ip6 tunnel device (its routes and addresses go with it).
    Tunnel(u32),
    /// An address (the home address on the tunnel or the home link).
    Address {
        /// Interface.
        index: u32,
        /// Address.
        addr: Ipv6Addr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// A proxy neighbour entry.
    Proxy(ProxyNeigh),
    /// An (outer source, inner source) pair an external-mode tunnel lets in.
    TunnelFilter(TunnelSourceFilter),
    /// An XFRM policy.
    Policy(Selector, PolicyDir, PolicyType),
    /// An XFRM state.
    State(XfrmStateId),
    /// `net.ipv6.conf.<if>.<key>` and the value it had.
    Sysctl {
        /// Interface name (or `all`/`default`).
        ifname: String,
        /// Key.
        key: String,
        /// Value before we wrote it.
        original: String,
    },
}

/// The netlink and XFRM connections and what was installed through them.
#[derive(Debug)]
pub struct Ledger {
    /// rtnetlink.
    pub nl: Netlink,
    /// XFRM netlink.
    pub xfrm: Xfrm,
    installed: Installed,
}

/// The installed objects in installation order. A home agent with ten
/// thousand bindings holds some forty thousand, and adds or removes a few at
/// every binding change: record, forget and "is it there" stay O(log n).
#[derive(Debug, Default)]
struct Installed {
    by_age: BTreeMap<u64, Item>,
    age_of: HashMap<Item, u64>,
    next_age: u64,
}

impl Installed {
    fn insert(&mut self, item: Item) {
        if self.age_of.contains_key(&item) {
            return;
        }
        let age = self.next_age;
        self.next_age += 1;
        self.age_of.insert(item.clone(), age);
        self.by_age.insert(age, item);
    }

    fn remove(&mut self, item: &Item) {
        if let Some(age) = self.age_of.remove(item) {
            self.by_age.remove(&age);
        }
    }

    fn newest(&self) -> Option<&Item> {
        self.by_age.values().next_back()
    }

    fn iter(&self) -> impl Iterator<Item = &Item> {
        self.by_age.values()
    }
}

type Res<T> = Result<T, Error>;

/// Treats "already there" as success (a restart after a crash, or two
/// bindings sharing an object).
fn exists_ok(r: Res<()>) -> Res<()> {
    match r {
        Err(e) if e.is_exists() => Ok(()),
        other => other,
    }
}

/// Treats "already gone" as success.
fn gone_ok(r: Res<()>) -> Res<()> {
    match r {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// Writes `net.ipv6.conf.<ifname>.<key>` in one `write(2)` without a
/// newline: some handlers (`ignore_routes_with_linkdown` on an interface)
/// report 1 byte written whatever the length, so a second write of the
/// rest ("\n") would fail with EINVAL after the value was applied.
fn write_ipv6_conf(ifname: &str, key: &str, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    if ifname.contains('/') || key.contains('/') || ifname.starts_with('.') {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/{key}");
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write(value.trim().as_bytes()).map(drop)
}

impl Ledger {
    /// Opens the connections (inside the runtime, in the current namespace).
    pub fn open() -> Res<Ledger> {
        Ok(Ledger {
            nl: Netlink::new()?,
            xfrm: Xfrm::new()?,
            installed: Installed::default(),
        })
    }

    fn record(&mut self, item: Item) {
        self.installed.insert(item);
    }

    fn forget(&mut self, item: &Item) {
        self.installed.remove(item);
    }

    /// What is installed now, oldest first.
    pub fn installed(&self) -> impl Iterator<Item = &Item> {
        self.installed.iter()
    }

    /// Adds a rule.
    pub async fn add_rule(&mut self, spec: RuleSpec) -> Res<()> {
        exists_ok(self.nl.add_rule(&spec).await)?;
        self.record(Item::Rule(spec));
        Ok(())
    }

    /// Adds a route.
    pub async fn add_route(&mut self, spec: RouteSpec) -> Res<()> {
        exists_ok(self.nl.add_route(&spec).await)?;
        self.record(Item::Route(spec));
        Ok(())
    }

    /// Replaces the route `old` (recorded before) by `new`, which has the
    /// same destination, table and metric, in one request.
    pub async fn replace_route(&mut self, old: &RouteSpec, new: RouteSpec) -> Res<()> {
        self.nl.replace_route(&new).await?;
        self.forget(&Item::Route(old.clone()));
        self.record(Item::Route(new));
        Ok(())
    }

    /// Lets an external-mode tunnel take only what its
    /// [`TunnelSourceFilter`]s allow; goes with the device.
    pub async fn guard_tunnel_ingress(&mut self, index: u32) -> Res<()> {
        self.nl.add_tunnel_ingress_guard(index).await
    }

    /// Adds a [`TunnelSourceFilter`], or changes the one with its handle
    /// (`old`, recorded before).
    pub async fn replace_tunnel_filter(
        &mut self,
        old: Option<&TunnelSourceFilter>,
        new: TunnelSourceFilter,
    ) -> Res<()> {
        self.nl.replace_tunnel_source_filter(&new).await?;
        if let Some(old) = old {
            self.forget(&Item::TunnelFilter(*old));
        }
        self.record(Item::TunnelFilter(new));
        Ok(())
    }

    /// Creates a tunnel (brought up by netcfg).
    pub async fn add_tunnel(&mut self, spec: &Ip6TnlSpec) -> Res<Ip6TnlInfo> {
        let info = self.nl.add_ip6tnl(spec).await?;
        self.record(Item::Tunnel(info.index));
        Ok(info)
    }

    /// Deletes every device of `group` in one request (the kernel batches
    /// their unregistration); `with_them` are the tunnels of the group and the
    /// routes and filters on them, which go with the devices and are forgotten.
    pub async fn remove_group<'a>(
        &mut self,
        group: u32,
        with_them: impl IntoIterator<Item = &'a Item>,
    ) -> Res<()> {
        gone_ok(self.nl.del_link_group(group).await)?;
        for item in with_them {
            self.forget(item);
        }
        Ok(())
    }

    /// Deletes the tunnel device `device` (an [`Item::Tunnel`]); `with_it`
    /// are the routes and filters on it, which go with it and are forgotten.
    pub async fn remove_device<'a>(
        &mut self,
        device: Item,
        with_it: impl IntoIterator<Item = &'a Item>,
    ) -> Res<()> {
        for item in with_it {
            self.forget(item);
        }
        self.remove(device).await
    }

    /// Re-points a tunnel (handover).
    pub async fn change_tunnel(&mut self, index: u32, spec: &Ip6TnlSpec) -> Res<()> {
        self.nl.change_ip6tnl(index, spec).await
    }

    /// Adds the home address (`home nodad`, /128) on `index`.
    pub async fn add_home_address(&mut self, index: u32, addr: Ipv6Addr) -> Res<()> {
        exists_ok(self.nl.add_home_address(index, addr).await)?;
        self.record(Item::Address {
            index,
            addr,
            prefix_len: 128,
        });
        Ok(())
    }

    /// Adds an address without DAD (the home address back on the home
    /// link: the home agent defended it until now).
    pub async fn add_address(&mut self, index: u32, addr: Ipv6Addr, prefix_len: u8) -> Res<()> {
        exists_ok(
            self.nl
                .add_address(index, IpAddr::V6(addr), prefix_len, true)
                .await,
        )?;
        self.record(Item::Address {
            index,
            addr,
            prefix_len,
        });
        Ok(())
    }

    /// Adds a proxy neighbour entry.
    pub async fn add_proxy(&mut self, entry: ProxyNeigh) -> Res<()> {
        exists_ok(self.nl.add_proxy_neigh(entry).await)?;
        self.record(Item::Proxy(entry));
        Ok(())
    }

    /// Adds (or replaces) an XFRM policy.
    pub async fn add_policy(&mut self, p: &XfrmPolicy) -> Res<()> {
        self.xfrm.update_policy(p).await?;
        self.record(Item::Policy(p.sel, p.dir, p.ptype));
        Ok(())
    }

    /// Adds (or replaces) an XFRM state.
    pub async fn add_state(&mut self, s: &XfrmState) -> Res<()> {
        match self.xfrm.add_state(s).await {
            Err(e) if e.is_exists() => self.xfrm.update_state(s).await?,
            other => other?,
        }
        self.record(Item::State(s.id()));
        Ok(())
    }

    /// Writes a sysctl, remembering the first value seen for restoring.
    pub fn set_sysctl(&mut self, ifname: &str, key: &str, value: &str) -> std::io::Result<()> {
        let original = crate::sysctl::get_ipv6_conf(ifname, key)?;
        let known = self.installed().any(
            |i| matches!(i, Item::Sysctl { ifname: n, key: k, .. } if n == ifname && k == key),
        );
        write_ipv6_conf(ifname, key, value)?;
        if !known {
            self.installed.insert(Item::Sysctl {
                ifname: ifname.to_owned(),
                key: key.to_owned(),
                original,
            });
        }
        Ok(())
    }

    /// Removes one object (if we installed it or not); "not there" is fine.
    pub async fn remove(&mut self, item: Item) -> Res<()> {
        let r = self.delete(&item).await;
        self.forget(&item);
        gone_ok(r)
    }

    /// Removes many objects, with up to [`crate::netlink::batch::IN_FLIGHT`]
    /// requests in flight and so in no particular order among them (the
    /// caller gives only objects that do not depend on each other: routes
    /// and proxy entries, not a tunnel with its routes). "Not there" is
    /// fine; the failures are returned.
    pub async fn remove_many(&mut self, items: Vec<Item>) -> Vec<(Item, Error)> {
        let this = &*self;
        let failed = pipelined(items.clone(), |item| async move {
            gone_ok(this.delete(&item).await)
        })
        .await;
        for item in &items {
            self.forget(item);
        }
        failed
    }

    /// The kernel request that removes `item`.
    async fn delete(&self, item: &Item) -> Res<()> {
        match item {
            Item::Rule(spec) => self.nl.del_rule(spec).await,
            Item::Route(spec) => self.nl.del_route(spec).await,
            Item::Tunnel(index) => self.nl.del_ip6tnl(*index).await,
            Item::Address {
                index,
                addr,
                prefix_len,
            } => {
                self.nl
                    .del_address(*index, IpAddr::V6(*addr), *prefix_len)
                    .await
            }
            Item::Proxy(entry) => self.nl.del_proxy_neigh(*entry).await,
            Item::TunnelFilter(f) => self.nl.del_tunnel_source_filter(f).await,
            Item::Policy(sel, dir, ptype) => self.xfrm.del_policy(sel, *dir, *ptype).await,
            Item::State(id) => self.xfrm.del_state(id).await,
            Item::Sysctl {
                ifname,
                key,
                original,
            } => {
                if let Err(e) = write_ipv6_conf(ifname, key, original) {
                    warn!("cannot restore net.ipv6.conf.{ifname}.{key}={original}: {e}");
                }
                Ok(())
            }
        }
    }

    /// Removes every object still installed, newest first, and restores the
    /// sysctls. Failures are logged, do not stop the rest, and are returned.
    pub async fn teardown(&mut self) -> Vec<(Item, Error)> {
        let mut failed = Vec::new();
        while let Some(item) = self.installed.newest().cloned() {
            debug!("removing {item:?}");
            if let Err(e) = self.remove(item.clone()).await {
                warn!("cannot remove {item:?}: {e}");
                failed.push((item, e));
            }
        }
        failed
    }
}
