//! The home agent (RFC 6275 §10, `docs/compat.md`) on the kernel datapath.
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
//!
//! The decisions take no I/O ([`home_bu`], [`home_dad`], [`discovery`]): they
//! return actions, which the loop here carries out in the order given.

mod admission;
mod backlog;
mod binding;
mod cache_file;
mod dad;
mod dhaad;
mod discovery;
mod error;
mod exit;
mod home_bu;
mod home_dad;
mod home_reg;
mod mpd;
mod reload;
mod restore;
#[cfg(test)]
mod test_support;
mod view;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use mip6::bcache::{BindingCache, HomePrefixLifetimes};
use mip6::halist::HomeAgentList;
use mip6::mpa_schedule::UnsolicitedAdverts;
use mip6::wire::ndisc::{
    NdRepr, RouterSolicit, TYPE_DHAAD_REQUEST, TYPE_MOBILE_PREFIX_SOLICIT, TYPE_NEIGHBOR_ADVERT,
    TYPE_ROUTER_ADVERT,
};
use netcfg::xfrm::{PolicyDir, PolicyType, Selector, Template, XfrmPolicy, XfrmProto, XfrmState};
use netcfg::{Family, RuleSpec};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::{Config, Prefix};
use crate::control::{Control, Reloader};
use crate::kernel::raw::{Icmp6Socket, MhSocket, RawIp6Socket};
use crate::kernel::{Kernel, RULE_PRIO_FWD, TABLE_MIP6, XFRM_PRIO_HOME_SIG_ANY};

use crate::publish::Publisher;
use binding::{BindingState, Tunnels};
pub use error::StartError;
use netcfg::anycast::AnycastMemberships;

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

/// What the home agent acts through; what it decides goes out here.
struct Io {
    kernel: Kernel,
    mh: MhSocket,
    icmp: Icmp6Socket,
    /// Neighbor Solicitations from `::` (DAD on a mobile node's behalf).
    raw: RawIp6Socket,
    /// The home-agents anycast addresses joined ([`dhaad`]).
    anycast: AnycastMemberships,
}

/// The HA interfaces, the home prefixes learnt on them, and their addresses.
struct HomeLinks {
    ifaces: Vec<HaIface>,
    prefixes: Vec<HomePrefix>,
    /// The global addresses of the HA interfaces ([`HomeAgent::ha_iface_of`]).
    own_addresses: HashMap<Ipv6Addr, u32>,
    own_addresses_read: Option<Instant>,
    /// The HA interfaces' global addresses for DHAAD, and when they were
    /// read ([`dhaad`]).
    global_addrs: Option<(Instant, GlobalAddresses)>,
}

/// What remote hosts may make the home agent do ([`admission`]).
struct Admission {
    /// New bindings per source.
    new_bindings: admission::NewBindingLimit,
    /// Log lines about what remote hosts sent.
    log_limit: admission::LogLimit,
    /// Solicited prefix advertisements per home address.
    mpa_limit: admission::MpaLimit,
}

/// The running home agent.
struct HomeAgent {
    config: Config,
    io: Io,
    links: HomeLinks,
    cache: BindingCache,
    dad: dad::DadRuns,
    bindings: HashMap<Ipv6Addr, BindingState>,
    /// The shared tunnel device, or the names of per-binding ones.
    tunnel_names: Tunnels,
    view: view::PublishThrottle,
    /// `NonVolatileBindingCache`'s file ([`cache_file`], [`restore`]).
    cache_file: cache_file::CacheFile,
    backlog: backlog::Backlog,
    counters: bus::BuCounters,
    home_agents: HomeAgentList,
    unsolicited: UnsolicitedAdverts,
    admission: Admission,
}

/// Runs the home agent until a terminating signal.
pub async fn run(
    config: Config,
    reloader: Reloader,
    mut control: mpsc::Receiver<Control>,
    publisher: Publisher,
    ready: tokio::sync::oneshot::Sender<()>,
) -> i32 {
    let mut kernel = match Kernel::open() {
        Ok(k) => k,
        Err(e) => {
            error!("{}", StartError::Netlink(e));
            return 1;
        }
    };
    let opened = match open(&config, &mut kernel).await {
        Ok(o) => o,
        Err(e) => {
            // Said before the clean-up's own lines, as the cause of them.
            error!("{e}");
            kernel.teardown().await;
            return 1;
        }
    };
    let mut ha = HomeAgent::start(config, kernel, opened).await;
    let _ = ready.send(());
    loop {
        let now = Instant::now();
        let deadline = [ha.next_deadline(), ha.view.due(now), ha.cache_file_due(now)]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            c = control.recv() => {
                let before = ha.config.clone();
                if !reloader.handle(c, &mut ha.config) {
                    break;
                }
                ha.config_reloaded(&before).await;
            },
            r = ha.io.mh.recv_message() => match r {
                Ok(msg) => ha.on_mh(msg).await,
                Err(e) => warn!("MH socket: {e}"),
            },
            r = ha.io.icmp.recv_message() => match r {
                Ok(msg) => ha.on_icmp(msg).await,
                Err(e) => warn!("ICMPv6 socket: {e}"),
            },
            () = crate::control::sleep_until(deadline) => ha.on_timer().await,
            () = std::future::ready(()), if !ha.backlog.is_empty() => ha.work_backlog().await,
        }
        // What the bus shows is the cache: a change to one is a change to
        // the other (the file's text is compared before it is written).
        if ha.view.due(Instant::now()).is_some() {
            ha.cache_file.changed();
        }
        if ha.view.take(Instant::now()) {
            publisher.home_agent(ha.bus_state()).await;
        }
        ha.save_cache_if_due();
    }
    ha.save_cache_at_exit().await;
    for (addr, e) in ha.io.anycast.leave_all() {
        warn!("cannot leave the anycast address {addr}: {e}");
    }
    ha.remove_bindings().await;
    ha.io.kernel.teardown().await;
    0
}

/// The sockets and interfaces the home agent starts with.
struct Opened {
    mh: MhSocket,
    icmp: Icmp6Socket,
    raw: RawIp6Socket,
    anycast: AnycastMemberships,
    ifaces: Vec<HaIface>,
    tunnel_names: Tunnels,
}

/// Opens the sockets and installs the state every binding relies on; on a
/// failure what `kernel` holds is left for the caller to remove.
async fn open(config: &Config, kernel: &mut Kernel) -> Result<Opened, StartError> {
    let mh = MhSocket::open().map_err(StartError::MhSocket)?;
    if let Err(e) = mh.set_recv_buffer(MH_RECV_BUFFER) {
        warn!("{e}");
    }
    let icmp = Icmp6Socket::open_passing(&[
        TYPE_ROUTER_ADVERT,
        TYPE_NEIGHBOR_ADVERT,
        TYPE_DHAAD_REQUEST,
        TYPE_MOBILE_PREFIX_SOLICIT,
    ])
    .map_err(StartError::Icmp6Socket)?;
    let raw = RawIp6Socket::open().map_err(StartError::RawSocket)?;
    let anycast = AnycastMemberships::open().map_err(StartError::AnycastSocket)?;
    let links = kernel.nl.links().await.map_err(StartError::LinkDump)?;
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
        return Err(StartError::NoInterface);
    }
    for i in &ifaces {
        kernel
            .set_sysctl(&i.name, "proxy_ndp", "1")
            .map_err(|source| StartError::ProxyNdp {
                iface: i.name.clone(),
                source,
            })?;
    }
    let fwd = RuleSpec {
        family: Family::V6,
        src: None,
        dst: None,
        priority: Some(RULE_PRIO_FWD),
        table: TABLE_MIP6,
        blackhole: false,
    };
    kernel
        .add_rule(fwd)
        .await
        .map_err(StartError::ForwardRule)?;
    // The kernel swaps the HAO into the source only with a state for it,
    // and then lets the packet reach the MH socket only if a policy
    // expects the route-optimisation transform.
    let any = Ipv6Addr::UNSPECIFIED;
    let hao_state = XfrmState::ro(XfrmProto::Hao, any, any, any).wildrecv();
    kernel
        .add_state(&hao_state)
        .await
        .map_err(StartError::HaoState)?;
    let bu_in = hao_inbound(Selector::any().mh_type(mip6::consts::mh_type::BU));
    kernel
        .add_policy(&bu_in)
        .await
        .map_err(StartError::BuPolicy)?;
    // The same for Mobile Prefix Solicitations (RFC 6275 §6.7: with an
    // HAO). Not narrowed to type 146: on input the kernel reads the
    // ICMPv6 type right after the IPv6 header, i.e. from the HAO's
    // destination options header, so a type selector never matches.
    let mps_in = hao_inbound(Selector::any().proto(mip6::consts::IPPROTO_ICMPV6));
    kernel
        .add_policy(&mps_in)
        .await
        .map_err(StartError::MpsPolicy)?;
    let role = crate::ipsec::Endpoint::HomeAgent;
    crate::ipsec::install_transport(config, role, None, kernel)
        .await
        .map_err(StartError::Ipsec)?;
    let mut tunnel_names = Tunnels::per_binding(links.iter().map(|l| l.name.as_str()));
    tunnel_names
        .open_shared(kernel, config.ha_tunnel_datapath)
        .await;
    Ok(Opened {
        mh,
        icmp,
        raw,
        anycast,
        ifaces,
        tunnel_names,
    })
}

/// An inbound policy letting what `selector` matches reach the sockets with
/// or without a Home Address option (the HAO state swaps it into the source).
fn hao_inbound(selector: Selector) -> XfrmPolicy {
    let any = Ipv6Addr::UNSPECIFIED;
    XfrmPolicy::new(
        selector,
        PolicyDir::In,
        PolicyType::Sub,
        XFRM_PRIO_HOME_SIG_ANY,
    )
    .tmpl(Template::ro(XfrmProto::Hao, any, any).optional())
}

impl HomeAgent {
    /// The home agent on what [`open`] set up.
    async fn start(config: Config, kernel: Kernel, opened: Opened) -> HomeAgent {
        let Opened {
            mh,
            icmp,
            raw,
            anycast,
            ifaces,
            tunnel_names,
        } = opened;
        let max_bindings = usize::try_from(config.ha_max_bindings).unwrap_or(usize::MAX);
        let mut ha = HomeAgent {
            config,
            io: Io {
                kernel,
                mh,
                icmp,
                raw,
                anycast,
            },
            links: HomeLinks {
                ifaces,
                prefixes: Vec::new(),
                own_addresses: HashMap::new(),
                own_addresses_read: None,
                global_addrs: None,
            },
            cache: BindingCache::with_max_bindings(max_bindings),
            dad: dad::DadRuns::default(),
            bindings: HashMap::new(),
            tunnel_names,
            view: view::PublishThrottle::default(),
            cache_file: cache_file::CacheFile::new(cache_file::CACHE_FILE),
            backlog: backlog::Backlog::default(),
            counters: bus::BuCounters::default(),
            home_agents: HomeAgentList::new(),
            unsolicited: UnsolicitedAdverts::new(crate::random::weak_u16()),
            admission: Admission {
                new_bindings: admission::NewBindingLimit::new(max_bindings),
                log_limit: admission::LogLimit::default(),
                mpa_limit: admission::MpaLimit::new(max_bindings),
            },
        };
        ha.join_anycast(None).await;
        ha.restore_cache().await;
        let rs = NdRepr::RouterSolicit(RouterSolicit::default());
        if let Ok(bytes) = rs.emit_without_checksum() {
            for i in &ha.links.ifaces {
                let all_routers = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
                if let Err(e) = ha.io.icmp.send_nd(None, all_routers, i.index, &bytes).await {
                    debug!("RS on {}: {e}", i.name);
                }
            }
        }
        let names: Vec<&str> = ha.links.ifaces.iter().map(|i| i.name.as_str()).collect();
        let datapath = ha.tunnel_names.datapath().keyword();
        info!(
            "home agent on {} ({datapath} tunnel datapath)",
            names.join(", ")
        );
        ha
    }

    /// When the binding cache file is to be written next.
    fn cache_file_due(&self, now: Instant) -> Option<Instant> {
        self.config
            .non_volatile_binding_cache
            .then(|| self.cache_file.due(now))
            .flatten()
    }

    fn next_deadline(&self) -> Option<Instant> {
        let dad = self.dad.next_deadline();
        let expiry = self.cache.poll_timeout().map(Instant::from_std);
        let listed = self.home_agents.poll_timeout().map(Instant::from_std);
        let mpa = self.unsolicited.poll_timeout().map(Instant::from_std);
        [dad, expiry, listed, mpa].into_iter().flatten().min()
    }

    fn iface_name(&self, index: u32) -> String {
        self.links
            .ifaces
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
        if !self.links.ifaces.iter().any(|i| i.index == msg.ifindex) {
            return;
        }
        let Ok(nd) = NdRepr::parse(&msg.payload) else {
            return;
        };
        match nd {
            NdRepr::RouterAdvert(ra) => {
                let heard = discovery::HeardRa {
                    ifindex: msg.ifindex,
                    src: msg.src,
                    hop_limit: msg.hop_limit,
                    ra: &ra,
                };
                let actions = self.discovery().router_advert(Instant::now(), heard);
                self.carry_out_nd(actions).await;
            }
            NdRepr::DhaadRequest(_) => self.on_dhaad_request(&msg).await,
            NdRepr::NeighborAdvert(na) => {
                let Some(hoa) = self.dad.answered(&na.target) else {
                    return;
                };
                warn!("DAD for {} failed: {} answered", na.target, msg.src);
                self.view.changed();
                let now = std::time::Instant::now();
                let actions = self.registrar().dad_answered(now, hoa);
                self.carry_out_dad(actions).await;
            }
            _ => {}
        }
    }

    /// The HA interface that holds `addr` as a global address. The
    /// addresses are read once and again only when a BU names one not among
    /// them (at most every [`OWN_ADDRESSES_REREAD`]): a dump costs O(links),
    /// and the home agent has a tunnel per binding.
    async fn ha_iface_of(&mut self, addr: Ipv6Addr) -> Option<u32> {
        if let Some(&index) = self.links.own_addresses.get(&addr) {
            return Some(index);
        }
        let now = Instant::now();
        if self
            .links
            .own_addresses_read
            .is_some_and(|t| now < t + OWN_ADDRESSES_REREAD)
        {
            return None;
        }
        self.links.own_addresses_read = Some(now);
        let addrs = self
            .io
            .kernel
            .nl
            .addresses(Some(Family::V6), None)
            .await
            .ok()?;
        self.links.own_addresses = addrs
            .iter()
            .filter(|a| a.scope == 0 && self.links.ifaces.iter().any(|f| f.index == a.index))
            .filter_map(|a| match a.addr {
                IpAddr::V6(v6) => Some((v6, a.index)),
                IpAddr::V4(_) => None,
            })
            .collect();
        self.links.own_addresses.get(&addr).copied()
    }

    fn home_prefix(&self, ifindex: u32, hoa: Ipv6Addr) -> Option<HomePrefixLifetimes> {
        let now = Instant::now();
        self.links
            .prefixes
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
        let expired = self.registrar().expire(now.into_std());
        if !expired.is_empty() {
            self.view.changed();
        }
        self.carry_out_dad(expired).await;
    }
}
