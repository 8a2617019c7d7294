//! What Debian's iproute2 client hook does, over netlink (docs/compat.md, "Client hook").
//!
//! Used when the hook script does not exist. Step by step like the script,
//! which goes on after a failed command: a failed step is logged and the
//! next one runs. Steps whose errors the script sends to /dev/null (rule
//! deletion, flushes) log at debug level, the others at warn.
//!
//! Resulting state after `up` (as with the script): `ADDRESS/32` and
//! `LLADDRESS/64`, the kernel's `2001::/32` and `fe80::/64` prefix routes,
//! `default dev IFACE metric 1029`; with a `teredo` routing table, also
//! `default dev IFACE table teredo` and `from ADDRESS prio 32765 lookup
//! teredo`. The kernel adds its own random link-local address when the
//! link comes up, as it does under the script.

use std::net::IpAddr;

use netcfg::{Family, Netlink, RouteSpec, RtTables, RuleSpec};

use super::{HookEvent, HookOutcome, HookState};

/// The built-in hook and the knobs the Debian script sets at its top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinHook {
    /// `METRIC=1029`: metric of the default route in the main table.
    pub metric: u32,
    /// `TABLE=teredo`: the source-routing table, used only if the name
    /// resolves in `rt_tables`.
    pub table: String,
    /// `PRIO=32765`: priority of the source rule.
    pub prio: u32,
    /// `#MTU=1400`: when set, replaces the daemon's MTU (also on `down`).
    pub mtu_override: Option<u32>,
    /// Where table names are looked up.
    pub rt_tables: RtTables,
}

impl Default for BuiltinHook {
    fn default() -> BuiltinHook {
        BuiltinHook {
            metric: 1029,
            table: "teredo".to_string(),
            prio: 32765,
            mtu_override: None,
            rt_tables: RtTables::system(),
        }
    }
}

/// Counts failed steps and logs them.
struct Steps<'a> {
    iface: &'a str,
    failures: usize,
}

impl Steps<'_> {
    fn check(&mut self, what: &str, quiet: bool, r: netcfg::Result<()>) {
        if let Err(e) = r {
            self.failures += 1;
            if quiet {
                tracing::debug!(iface = self.iface, "client hook: {what}: {e}");
            } else {
                tracing::warn!(iface = self.iface, "client hook: {what}: {e}");
            }
        }
    }
}

impl BuiltinHook {
    /// Apply `ev` to the kernel (in the calling thread's namespace).
    pub async fn run(&self, ev: &HookEvent) -> HookOutcome {
        if ev.state == HookState::Destroy {
            return HookOutcome::Builtin { failures: 0 };
        }
        let nl = match Netlink::new() {
            Ok(nl) => nl,
            Err(e) => {
                tracing::warn!("client hook: {e}");
                return HookOutcome::Builtin { failures: 1 };
            }
        };
        let mut steps = Steps {
            iface: &ev.iface,
            failures: 0,
        };
        let idx = ev.ifindex;

        // "If the source routing table is not configured, ignore it."
        let table = self.rt_tables.lookup(&self.table);
        if let Some(t) = table {
            if let Some(old) = &ev.old {
                let rule = RuleSpec::from_addr(IpAddr::V6(old.address), self.prio, t);
                steps.check("rule del", true, nl.del_rule(&rule).await);
            }
            steps.check(
                "route flush table",
                true,
                nl.flush_table(t, Family::V6).await,
            );
        }

        steps.check(
            "route flush dev",
            true,
            nl.flush_routes_dev(idx, Family::V6).await,
        );
        steps.check(
            "address flush",
            true,
            nl.flush_addresses(idx, Family::V6).await,
        );

        let link = if ev.state == HookState::Up {
            nl.set_link_up(idx).await
        } else {
            nl.set_link_down(idx).await
        };
        steps.check("link set", false, link);

        let mtu = self.mtu_override.or(ev.current.map(|p| p.mtu));
        if let Some(mtu) = mtu {
            steps.check("link set mtu", false, nl.set_mtu(idx, mtu).await);
        }

        if let (HookState::Up, Some(p)) = (ev.state, &ev.current) {
            // No `nodad`, like the script: the kernel skips DAD on a NOARP
            // TUN anyway, and `ip addr` then shows exactly the script's result.
            let ll = nl
                .add_address(idx, IpAddr::V6(p.lladdress), 64, false)
                .await;
            steps.check("address add LLADDRESS/64", false, ll);
            let a = nl.add_address(idx, IpAddr::V6(p.address), 32, false).await;
            steps.check("address add ADDRESS/32", false, a);
            let route = RouteSpec::default_v6(idx).metric(self.metric);
            steps.check("route add default", false, nl.add_route(&route).await);
            if let Some(t) = table {
                let route = RouteSpec::default_v6(idx).table(t);
                steps.check("route add default table", false, nl.add_route(&route).await);
                let rule = RuleSpec::from_addr(IpAddr::V6(p.address), self.prio, t);
                steps.check("rule add", false, nl.add_rule(&rule).await);
            }
        }
        HookOutcome::Builtin {
            failures: steps.failures,
        }
    }
}
