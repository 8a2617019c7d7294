//! The mobile node's kernel state while away from home (RFC 6275 §11.3.1,
//! `docs/compat.md`):
//!
//! - the ip6ip6 tunnel CoA → HA over the CoA's interface, the home address
//!   on it as a /128 `home nodad`;
//! - rule 1001 (from HoA → table 252) and rule 1003 (blackhole from HoA);
//! - for a mobile router (NEMO, RFC 3963 §5), per mobile network
//!   prefix: rule 1000 (to MNP → main: what comes out of the tunnel for the
//!   mobile network is delivered there) and rule 1005 (from MNP → table 252:
//!   what the mobile network sends goes into the tunnel once registered);
//! - table 252: HA/128 via the CoA's interface (metric 128), the route the
//!   BU's first lookup needs before XFRM re-routes it from the CoA; after
//!   the BA, `default from <HoA> dev <tunnel> metric 128` (and one from
//!   each mobile network prefix);
//! - XFRM: an out sub-policy for BUs HoA → HA with an HAO template and the
//!   HAO state (HoA, HA, coa CoA), so BUs leave from the CoA with a Home
//!   Address option; an in sub-policy for MH HA → HoA with an (optional) RH2
//!   template and the RH2 state (HA, HoA, coa CoA), so the BA's Type 2
//!   routing header is processed and the BA reaches the MH socket.
//!
//! A handover re-points the tunnel in place and updates the states' CoA.

use std::net::{IpAddr, Ipv6Addr};

use mip6::consts::mh_type;
use netcfg::xfrm::{PolicyDir, PolicyType, Selector, Template, XfrmPolicy, XfrmProto, XfrmState};
use netcfg::{Ip6TnlSpec, RouteSpec, RuleSpec};
use tracing::warn;

use crate::kernel::{
    Item, Kernel, METRIC_MIP6_OUT, RULE_PRIO_FWD, RULE_PRIO_HOA, RULE_PRIO_HOA_BLACKHOLE,
    RULE_PRIO_MNP_TO, TABLE_MAIN, TABLE_MIP6, XFRM_PRIO_HOME_SIG,
};

type Res<T> = Result<T, netcfg::Error>;

/// What is installed while away.
#[derive(Debug, Clone)]
pub struct Away {
    /// Home address.
    pub hoa: Ipv6Addr,
    /// Home agent.
    pub ha: Ipv6Addr,
    /// Care-of address in use.
    pub coa: Ipv6Addr,
    /// Its interface.
    pub coa_ifindex: u32,
    /// Tunnel device index and name.
    pub tunnel: (u32, String),
    /// The table-252 default route via the tunnel is installed.
    pub default_route: bool,
    /// A mobile router's prefixes (empty for a mobile node).
    mobile_network_prefixes: Vec<(Ipv6Addr, u8)>,
    items: Vec<Item>,
}

fn hao_state(hoa: Ipv6Addr, ha: Ipv6Addr, coa: Ipv6Addr) -> XfrmState {
    XfrmState::ro(XfrmProto::Hao, hoa, ha, coa)
}

fn rh2_state(hoa: Ipv6Addr, ha: Ipv6Addr, coa: Ipv6Addr) -> XfrmState {
    XfrmState::ro(XfrmProto::Route2, ha, hoa, coa)
}

fn ha_route(ha: Ipv6Addr, ifindex: u32) -> RouteSpec {
    RouteSpec::prefix(IpAddr::V6(ha), 128, ifindex)
        .table(TABLE_MIP6)
        .metric(METRIC_MIP6_OUT)
}

/// A mobile router's two rules for one prefix.
fn mnp_rules(prefix: Ipv6Addr, len: u8) -> [RuleSpec; 2] {
    let base = RuleSpec::from_addr(IpAddr::V6(prefix), RULE_PRIO_FWD, TABLE_MIP6);
    let from = RuleSpec {
        src: Some((IpAddr::V6(prefix), len)),
        ..base.clone()
    };
    let to = RuleSpec {
        src: None,
        priority: Some(RULE_PRIO_MNP_TO),
        table: TABLE_MAIN,
        ..base
    }
    .to(IpAddr::V6(prefix), len);
    [to, from]
}

impl Away {
    /// Leaves home (or starts away): installs everything but the default route.
    pub async fn enter(
        kernel: &mut Kernel,
        hoa: Ipv6Addr,
        ha: Ipv6Addr,
        coa: Ipv6Addr,
        coa_ifindex: u32,
        mobile_network_prefixes: &[(Ipv6Addr, u8)],
    ) -> Res<Away> {
        let tnl = kernel
            .add_tunnel(&Ip6TnlSpec::mip6(coa, ha, coa_ifindex))
            .await?;
        let mut away = Away {
            hoa,
            ha,
            coa,
            coa_ifindex,
            tunnel: (tnl.index, tnl.name.clone()),
            default_route: false,
            mobile_network_prefixes: mobile_network_prefixes.to_vec(),
            items: vec![Item::Tunnel(tnl.index)],
        };
        if let Err(e) = away.install_rest(kernel).await {
            away.leave(kernel).await;
            return Err(e);
        }
        Ok(away)
    }

    async fn install_rest(&mut self, kernel: &mut Kernel) -> Res<()> {
        let (hoa, ha, coa) = (self.hoa, self.ha, self.coa);
        kernel.add_home_address(self.tunnel.0, hoa).await?;
        self.items.push(Item::Address {
            index: self.tunnel.0,
            addr: hoa,
            prefix_len: 128,
        });
        let rule = RuleSpec::from_addr(IpAddr::V6(hoa), RULE_PRIO_HOA, TABLE_MIP6);
        kernel.add_rule(rule.clone()).await?;
        self.items.push(Item::Rule(rule));
        let bh = RuleSpec::blackhole_from(IpAddr::V6(hoa), RULE_PRIO_HOA_BLACKHOLE);
        kernel.add_rule(bh.clone()).await?;
        self.items.push(Item::Rule(bh));
        for &(prefix, len) in &self.mobile_network_prefixes {
            for rule in mnp_rules(prefix, len) {
                kernel.add_rule(rule.clone()).await?;
                self.items.push(Item::Rule(rule));
            }
        }
        let route = ha_route(ha, self.coa_ifindex);
        kernel.add_route(route.clone()).await?;
        self.items.push(Item::Route(route));
        for s in [hao_state(hoa, ha, coa), rh2_state(hoa, ha, coa)] {
            kernel.add_state(&s).await?;
            self.items.push(Item::State(s.id()));
        }
        let any = Ipv6Addr::UNSPECIFIED;
        let bu_out = XfrmPolicy::new(
            Selector::hosts(hoa, ha).mh_type(mh_type::BU),
            PolicyDir::Out,
            PolicyType::Sub,
            XFRM_PRIO_HOME_SIG,
        )
        .tmpl(Template::ro(XfrmProto::Hao, any, any));
        let mh_in = XfrmPolicy::new(
            Selector::hosts(ha, hoa).proto(mip6::consts::IPPROTO_MH),
            PolicyDir::In,
            PolicyType::Sub,
            XFRM_PRIO_HOME_SIG,
        )
        .tmpl(Template::ro(XfrmProto::Route2, any, any).optional());
        for p in [bu_out, mh_in] {
            kernel.add_policy(&p).await?;
            self.items.push(Item::Policy(p.sel, p.dir, p.ptype));
        }
        Ok(())
    }

    /// The BA arrived (or, with `OptimisticHandoff`, the BU is about to
    /// leave): traffic from the home address, and from a mobile router's
    /// prefixes, goes through the tunnel. The default routes are
    /// source-specific (`CONFIG_IPV6_SUBTREES`, as UMIP's), so each home
    /// address of a node with several home links takes its own tunnel.
    pub async fn registered(&mut self, kernel: &mut Kernel) -> Res<()> {
        if self.default_route {
            return Ok(());
        }
        let sources = std::iter::once((self.hoa, 128)).chain(self.mobile_network_prefixes.clone());
        for (src, len) in sources {
            let route = RouteSpec::default_v6(self.tunnel.0)
                .from(IpAddr::V6(src), len)
                .table(TABLE_MIP6)
                .metric(METRIC_MIP6_OUT);
            kernel.add_route(route.clone()).await?;
            self.items.push(Item::Route(route));
        }
        self.default_route = true;
        Ok(())
    }

    /// A new CoA (possibly on another interface): tunnel endpoints, the HA
    /// route's interface and the XFRM states' care-of address follow.
    pub async fn handover(&mut self, kernel: &mut Kernel, coa: Ipv6Addr, ifindex: u32) -> Res<()> {
        let (hoa, ha) = (self.hoa, self.ha);
        kernel
            .change_tunnel(self.tunnel.0, &Ip6TnlSpec::mip6(coa, ha, ifindex))
            .await?;
        if ifindex != self.coa_ifindex {
            let old = Item::Route(ha_route(ha, self.coa_ifindex));
            kernel.remove(old.clone()).await?;
            self.items.retain(|i| *i != old);
            let route = ha_route(ha, ifindex);
            kernel.add_route(route.clone()).await?;
            self.items.push(Item::Route(route));
        }
        for s in [hao_state(hoa, ha, coa), rh2_state(hoa, ha, coa)] {
            kernel.add_state(&s).await?;
        }
        self.coa = coa;
        self.coa_ifindex = ifindex;
        Ok(())
    }

    /// Removes everything (returning home, or shutdown), newest first.
    pub async fn leave(&mut self, kernel: &mut Kernel) {
        while let Some(item) = self.items.pop() {
            if let Err(e) = kernel.remove(item.clone()).await {
                warn!("cannot remove {item:?}: {e}");
            }
        }
        self.default_route = false;
    }
}
