//! The home agent (umip.md §4.2) on the kernel datapath.
//!
//! At start: `proxy_ndp=1` on the HA interfaces, rule 1005 → table 252, a
//! wildcard-receive HAO state and an inbound sub-policy that lets Binding
//! Updates carrying a Home Address option through the kernel's checks, and an
//! RS per interface so the home prefixes (RAs with the H flag) are learned at
//! once. A home BU is checked by [`mip6::bcache::check_home_bu`]; a new binding
//! waits for DAD on the home link (NS from `::`, 1 s, an NA means 134); then an
//! ip6ip6 tunnel HA → CoA, the route HoA/128 via it (metric 192) and a proxy
//! neighbour entry for the HoA are installed and the BA goes to the CoA with a
//! Type 2 routing header. Deregistration and expiry remove the binding's
//! objects; shutdown removes everything. DHAAD requests to the home-agents
//! anycast addresses are answered from the Home Agents List ([`dhaad`]),
//! Mobile Prefix Solicitations with the home link's prefixes ([`mpd`]).

mod admission;
mod anycast;
mod backlog;
mod binding;
mod dad;
mod dhaad;
mod home_reg;
mod mpd;
mod view;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use mip6::bcache::{BindingCache, DadOutcome, HomePrefixLifetimes};
use mip6::halist::HomeAgentList;
use mip6::mpa_schedule::UnsolicitedAdverts;
use mip6::wire::ndisc::{
    NdRepr, RouterAdvert, RouterSolicit, TYPE_DHAAD_REQUEST, TYPE_MOBILE_PREFIX_SOLICIT,
    TYPE_NEIGHBOR_ADVERT, TYPE_ROUTER_ADVERT,
};
use netcfg::xfrm::{PolicyDir, PolicyType, Selector, Template, XfrmPolicy, XfrmProto, XfrmState};
use netcfg::{Family, RuleSpec};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::{Config, Prefix};
use crate::daemon::{is_link_local, mask, Control, Reloader};
use crate::kernel::raw::{Icmp6Socket, MhSocket, RawIp6Socket};
use crate::kernel::{Kernel, RULE_PRIO_FWD, TABLE_MIP6, XFRM_PRIO_HOME_SIG_ANY};

use crate::publish::Publisher;
use anycast::AnycastMemberships;
use binding::{BindingState, TunnelNames, TUNNEL_GROUP};

/// The MH socket's receive buffer: room for a burst of some ten thousand
/// Binding Updates (the kernel counts about 1 KiB of overhead per packet).
const MH_RECV_BUFFER: i32 = 16 << 20;

/// How often, at most, a BU to an address not known as the home agent's
/// makes it read the interfaces' addresses again.
const OWN_ADDRESSES_REREAD: Duration = Duration::from_secs(1);

/// (interface index, address, prefix length) of the HA interfaces' global
/// addresses.
type GlobalAddresses = Vec<(u32, Ipv6Addr, u8)>;

/// A home prefix learned from an RA (H flag) on an HA interface.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HomePrefix {
    ifindex: u32,
    prefix: Prefix,
    valid_until: Instant,
    preferred_until: Instant,
    /// The (valid, preferred) lifetimes each router last advertised: a
    /// change in them, not their countdown, is a change of the home
    /// prefixes (per router: two routers may advertise different ones).
    advertised_by: Vec<(Ipv6Addr, (u32, u32))>,
}

/// An HA interface.
#[derive(Debug, Clone)]
struct HaIface {
    index: u32,
    name: String,
}

/// The running home agent.
struct HomeAgent {
    config: Config,
    kernel: Kernel,
    mh: MhSocket,
    icmp: Icmp6Socket,
    raw: RawIp6Socket,
    ifaces: Vec<HaIface>,
    prefixes: Vec<HomePrefix>,
    cache: BindingCache,
    dad: dad::DadRuns,
    bindings: HashMap<Ipv6Addr, BindingState>,
    tunnel_names: TunnelNames,
    /// The global addresses of the HA interfaces ([`Self::ha_iface_of`]).
    own_addresses: HashMap<Ipv6Addr, u32>,
    own_addresses_read: Option<Instant>,
    view: view::PublishThrottle,
    backlog: backlog::Backlog,
    counters: bus::BuCounters,
    home_agents: HomeAgentList,
    anycast: AnycastMemberships,
    unsolicited: UnsolicitedAdverts,
    /// New bindings per source ([`admission`]).
    new_bindings: admission::NewBindingLimit,
    /// Log lines about what remote hosts sent ([`admission`]).
    log_limit: admission::LogLimit,
    /// Solicited prefix advertisements per home address ([`admission`]).
    mpa_limit: admission::MpaLimit,
    /// The HA interfaces' global addresses for DHAAD, and when they were
    /// read ([`dhaad`]).
    global_addrs: Option<(Instant, GlobalAddresses)>,
}

/// Runs the home agent until a terminating signal.
pub async fn run(
    config: Config,
    reloader: Reloader,
    mut control: mpsc::Receiver<Control>,
    publisher: Publisher,
    ready: tokio::sync::oneshot::Sender<()>,
) -> i32 {
    let mut ha = match HomeAgent::start(config).await {
        Ok(ha) => {
            let _ = ready.send(());
            ha
        }
        Err((mut kernel, e)) => {
            error!("{e}");
            if let Some(k) = kernel.as_mut() {
                k.teardown().await;
            }
            return 1;
        }
    };
    loop {
        let deadline = [ha.next_deadline(), ha.view.due(Instant::now())]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            c = control.recv() => if !reloader.handle(c, &mut ha.config) {
                break;
            },
            r = ha.mh.recv() => match r {
                Ok(msg) => ha.on_mh(msg).await,
                Err(e) => warn!("MH socket: {e}"),
            },
            r = ha.icmp.recv() => match r {
                Ok(msg) => ha.on_icmp(msg).await,
                Err(e) => warn!("ICMPv6 socket: {e}"),
            },
            () = crate::daemon::sleep_until(deadline) => ha.on_timer().await,
            () = std::future::ready(()), if !ha.backlog.is_empty() => ha.work_backlog().await,
        }
        if ha.view.take(Instant::now()) {
            publisher.home_agent(ha.bus_state()).await;
        }
    }
    for (addr, e) in ha.anycast.leave_all() {
        warn!("cannot leave the anycast address {addr}: {e}");
    }
    ha.remove_bindings().await;
    ha.kernel.teardown().await;
    0
}

type StartError = (Option<Kernel>, String);

impl HomeAgent {
    async fn start(config: Config) -> Result<HomeAgent, StartError> {
        let mut kernel = Kernel::open().map_err(|e| (None, format!("netlink: {e}")))?;
        let fail = |k: Kernel, what: String| (Some(k), what);
        let mh = match MhSocket::open() {
            Ok(s) => s,
            Err(e) => {
                return Err(fail(
                    kernel,
                    format!("Unable to open MH socket! Do you have root permissions? ({e})"),
                ))
            }
        };
        if let Err(e) = mh.set_recv_buffer(MH_RECV_BUFFER) {
            warn!("{e}");
        }
        let icmp = match Icmp6Socket::open(&[
            TYPE_ROUTER_ADVERT,
            TYPE_NEIGHBOR_ADVERT,
            TYPE_DHAAD_REQUEST,
            TYPE_MOBILE_PREFIX_SOLICIT,
        ]) {
            Ok(s) => s,
            Err(e) => return Err(fail(kernel, format!("Unable to open ICMPv6 socket! ({e})"))),
        };
        let raw = match RawIp6Socket::open() {
            Ok(s) => s,
            Err(e) => return Err(fail(kernel, format!("raw IPv6 socket: {e}"))),
        };
        let anycast = match AnycastMemberships::open() {
            Ok(s) => s,
            Err(e) => return Err(fail(kernel, format!("anycast socket: {e}"))),
        };
        let links = match kernel.nl.links().await {
            Ok(l) => l,
            Err(e) => return Err(fail(kernel, format!("link dump: {e}"))),
        };
        let named: Vec<String> = config.ha_interfaces().map(|i| i.name.clone()).collect();
        let ifaces: Vec<HaIface> = links
            .iter()
            .filter(|l| {
                if named.is_empty() {
                    l.index != 1
                } else {
                    named.contains(&l.name)
                }
            })
            .map(|l| HaIface {
                index: l.index,
                name: l.name.clone(),
            })
            .collect();
        if ifaces.is_empty() {
            return Err(fail(kernel, "no home agent interface found".to_owned()));
        }
        for i in &ifaces {
            if let Err(e) = kernel.set_sysctl(&i.name, "proxy_ndp", "1") {
                return Err(fail(kernel, format!("proxy_ndp on {}: {e}", i.name)));
            }
        }
        let fwd = RuleSpec {
            family: Family::V6,
            src: None,
            dst: None,
            priority: Some(RULE_PRIO_FWD),
            table: TABLE_MIP6,
            blackhole: false,
        };
        if let Err(e) = kernel.add_rule(fwd).await {
            return Err(fail(kernel, format!("rule {RULE_PRIO_FWD}: {e}")));
        }
        // The kernel swaps the HAO into the source only with a state for it,
        // and then lets the packet reach the MH socket only if a policy
        // expects the route-optimisation transform.
        let any = Ipv6Addr::UNSPECIFIED;
        let hao_state = XfrmState::ro(XfrmProto::Hao, any, any, any).wildrecv();
        if let Err(e) = kernel.add_state(&hao_state).await {
            return Err(fail(kernel, format!("xfrm HAO receive state: {e}")));
        }
        let bu_in = XfrmPolicy::new(
            Selector::any().mh_type(mip6::consts::mh_type::BU),
            PolicyDir::In,
            PolicyType::Sub,
            XFRM_PRIO_HOME_SIG_ANY,
        )
        .tmpl(Template::ro(XfrmProto::Hao, any, any).optional());
        if let Err(e) = kernel.add_policy(&bu_in).await {
            return Err(fail(kernel, format!("xfrm BU policy: {e}")));
        }
        // The same for Mobile Prefix Solicitations (RFC 6275 §6.7: with an
        // HAO). Not narrowed to type 146: on input the kernel reads the
        // ICMPv6 type right after the IPv6 header, i.e. from the HAO's
        // destination options header, so a type selector never matches.
        let mps_in = XfrmPolicy::new(
            Selector::any().proto(mip6::consts::IPPROTO_ICMPV6),
            PolicyDir::In,
            PolicyType::Sub,
            XFRM_PRIO_HOME_SIG_ANY,
        )
        .tmpl(Template::ro(XfrmProto::Hao, any, any).optional());
        if let Err(e) = kernel.add_policy(&mps_in).await {
            return Err(fail(kernel, format!("xfrm MPS policy: {e}")));
        }
        let role = crate::ipsec::Endpoint::HomeAgent;
        if let Err(e) = crate::ipsec::install_transport(&config, role, None, &mut kernel).await {
            return Err(fail(kernel, format!("IPsec policies: {e}")));
        }
        let max_bindings = usize::try_from(config.ha_max_bindings).unwrap_or(usize::MAX);
        let tunnel_names = TunnelNames::after(links.iter().map(|l| l.name.as_str()));
        let mut ha = HomeAgent {
            config,
            kernel,
            mh,
            icmp,
            raw,
            ifaces,
            prefixes: Vec::new(),
            cache: BindingCache::with_max_bindings(max_bindings),
            dad: dad::DadRuns::default(),
            bindings: HashMap::new(),
            tunnel_names,
            own_addresses: HashMap::new(),
            own_addresses_read: None,
            view: view::PublishThrottle::default(),
            backlog: backlog::Backlog::default(),
            counters: bus::BuCounters::default(),
            home_agents: HomeAgentList::new(),
            anycast,
            unsolicited: UnsolicitedAdverts::new(crate::daemon::random_u16()),
            new_bindings: admission::NewBindingLimit::new(max_bindings),
            log_limit: admission::LogLimit::default(),
            mpa_limit: admission::MpaLimit::new(max_bindings),
            global_addrs: None,
        };
        ha.join_anycast(None).await;
        let rs = NdRepr::RouterSolicit(RouterSolicit::default());
        if let Ok(bytes) = rs.emit_without_checksum() {
            for i in &ha.ifaces {
                let all_routers = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
                if let Err(e) = ha.icmp.send_nd(None, all_routers, i.index, &bytes).await {
                    debug!("RS on {}: {e}", i.name);
                }
            }
        }
        let names: Vec<&str> = ha.ifaces.iter().map(|i| i.name.as_str()).collect();
        info!("home agent on {}", names.join(", "));
        Ok(ha)
    }

    fn next_deadline(&self) -> Option<Instant> {
        let dad = self.dad.next_deadline();
        let expiry = self.cache.poll_timeout().map(Instant::from_std);
        let listed = self.home_agents.poll_timeout().map(Instant::from_std);
        let mpa = self.unsolicited.poll_timeout().map(Instant::from_std);
        [dad, expiry, listed, mpa].into_iter().flatten().min()
    }

    fn iface_name(&self, index: u32) -> String {
        self.ifaces
            .iter()
            .find(|i| i.index == index)
            .map_or_else(|| index.to_string(), |i| i.name.clone())
    }

    /// RAs with the H flag on an HA interface teach home prefixes; NAs end DAD.
    async fn on_icmp(&mut self, msg: crate::kernel::raw::Received) {
        if msg.payload.first() == Some(&TYPE_MOBILE_PREFIX_SOLICIT) {
            self.on_mobile_prefix_solicit(&msg).await;
            return;
        }
        if !self.ifaces.iter().any(|i| i.index == msg.ifindex) {
            return;
        }
        let Ok(nd) = NdRepr::parse(&msg.payload) else {
            return;
        };
        match nd {
            NdRepr::RouterAdvert(ra) => {
                let (learnt, changed) = self.on_ra(&msg, &ra);
                for (prefix, len) in learnt {
                    self.home_prefix_learnt(msg.ifindex, prefix, len).await;
                }
                if changed {
                    self.home_prefixes_changed(msg.ifindex);
                }
            }
            NdRepr::DhaadRequest(_) => self.on_dhaad_request(&msg).await,
            NdRepr::NeighborAdvert(na) if self.dad.cancel(&na.target).is_some() => {
                warn!("DAD for {} failed: {} answered", na.target, msg.src);
                self.view.changed();
                let now = std::time::Instant::now();
                if let Some(DadOutcome::Duplicate(ba)) =
                    self.cache.dad_finished(now, &na.target, true)
                {
                    let pending = self.bindings.remove(&na.target);
                    let coa = pending.as_ref().map(|b| b.care_of_address);
                    let src = pending.as_ref().map(|b| b.ha_address);
                    self.send_ba(na.target, coa, src, &ba).await;
                }
            }
            _ => {}
        }
    }

    /// Learns home prefixes and home agents; returns the new home prefixes,
    /// and whether the link's home prefixes changed (a new one, or new
    /// advertised lifetimes).
    fn on_ra(
        &mut self,
        msg: &crate::kernel::raw::Received,
        ra: &RouterAdvert,
    ) -> (Vec<(Ipv6Addr, u8)>, bool) {
        let mut learnt = Vec::new();
        let mut changed = false;
        if msg.hop_limit != Some(255) || !is_link_local(&msg.src) {
            return (learnt, changed);
        }
        self.learn_home_agents(msg, ra);
        if ra.flags & RouterAdvert::HOME_AGENT == 0 {
            return (learnt, changed);
        }
        let now = Instant::now();
        for p in ra.prefixes() {
            let Some(prefix) = Prefix::new(mask(p.prefix, p.prefix_len), p.prefix_len) else {
                continue;
            };
            let valid_until = now + Duration::from_secs(u64::from(p.valid_lifetime));
            let preferred_until = now + Duration::from_secs(u64::from(p.preferred_lifetime));
            let entry = HomePrefix {
                ifindex: msg.ifindex,
                prefix,
                valid_until,
                preferred_until,
                advertised_by: vec![(msg.src, (p.valid_lifetime, p.preferred_lifetime))],
            };
            match self
                .prefixes
                .iter_mut()
                .find(|h| h.ifindex == msg.ifindex && h.prefix == prefix)
            {
                Some(h) => {
                    let lifetimes = (p.valid_lifetime, p.preferred_lifetime);
                    match h.advertised_by.iter_mut().find(|(r, _)| *r == msg.src) {
                        Some((_, last)) => {
                            changed |= *last != lifetimes;
                            *last = lifetimes;
                        }
                        None => h.advertised_by.push((msg.src, lifetimes)),
                    }
                    h.valid_until = entry.valid_until;
                    h.preferred_until = entry.preferred_until;
                }
                None => {
                    info!(
                        "home prefix {}/{} learned on {}",
                        prefix.addr,
                        prefix.len,
                        self.iface_name(msg.ifindex)
                    );
                    self.prefixes.push(entry);
                    learnt.push((prefix.addr, prefix.len));
                    changed = true;
                }
            }
        }
        (learnt, changed)
    }

    /// The HA interface that holds `addr` as a global address. The
    /// addresses are read once and again only when a BU names one not among
    /// them (at most every [`OWN_ADDRESSES_REREAD`]): a dump costs O(links),
    /// and the home agent has a tunnel per binding.
    async fn ha_iface_of(&mut self, addr: Ipv6Addr) -> Option<u32> {
        if let Some(&index) = self.own_addresses.get(&addr) {
            return Some(index);
        }
        let now = Instant::now();
        if self
            .own_addresses_read
            .is_some_and(|t| now < t + OWN_ADDRESSES_REREAD)
        {
            return None;
        }
        self.own_addresses_read = Some(now);
        let addrs = self
            .kernel
            .nl
            .addresses(Some(Family::V6), None)
            .await
            .ok()?;
        self.own_addresses = addrs
            .iter()
            .filter(|a| a.scope == 0 && self.ifaces.iter().any(|f| f.index == a.index))
            .filter_map(|a| match a.addr {
                IpAddr::V6(v6) => Some((v6, a.index)),
                IpAddr::V4(_) => None,
            })
            .collect();
        self.own_addresses.get(&addr).copied()
    }

    fn home_prefix(&self, ifindex: u32, hoa: Ipv6Addr) -> Option<HomePrefixLifetimes> {
        let now = Instant::now();
        self.prefixes
            .iter()
            .filter(|p| p.ifindex == ifindex && p.valid_until > now && p.prefix.contains(hoa))
            .map(|p| HomePrefixLifetimes {
                valid: p.valid_until - now,
                preferred: p.preferred_until.saturating_duration_since(now),
            })
            .next()
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        self.expire_home_agents();
        self.send_unsolicited_mpas(now).await;
        for (hoa, run) in self.dad.take_due(now) {
            self.backlog.install(hoa, run);
        }
        for entry in self.cache.handle_timeout(now.into_std()) {
            self.view.changed();
            info!(
                "binding {} (CoA {}) expired",
                entry.home_address, entry.care_of_address
            );
            if let Some(b) = self.bindings.remove(&entry.home_address) {
                self.backlog.remove(b);
            }
        }
    }

    /// Shutdown: every binding's tunnel (and the routes through it) goes
    /// in one request; what is left (proxy entries) is removed one by one
    /// by the kernel ledger's teardown.
    async fn remove_bindings(&mut self) {
        let with_tunnels: Vec<crate::kernel::Item> = self
            .bindings
            .values()
            .chain(self.backlog.removals())
            .flat_map(|b| b.device_items().cloned())
            .collect();
        if with_tunnels.is_empty() {
            return;
        }
        // Tunnel-mode SAs go back to the home address, where the admin
        // keyed them, before their tunnels go.
        for b in self
            .bindings
            .values_mut()
            .chain(self.backlog.removals_mut())
        {
            b.release_ipsec(&mut self.kernel).await;
        }
        let tunnels = with_tunnels
            .iter()
            .filter(|i| matches!(i, crate::kernel::Item::Tunnel(_)))
            .count();
        info!("removing {tunnels} binding tunnels");
        if let Err(e) = self.kernel.remove_group(TUNNEL_GROUP, &with_tunnels).await {
            warn!("cannot remove the tunnel group {TUNNEL_GROUP} at once: {e}");
        }
    }
}
