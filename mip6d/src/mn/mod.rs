//! The mobile node (RFC 6275 §11, `docs/compat.md`) on the kernel datapath.
//!
//! Interfaces and their addresses come from netlink (dump, then events);
//! RAs on physical interfaces tell the routers and the home links. After
//! `InterfaceInitialInitDelay`, and on every change, the node decides for
//! each home link (`MnHomeLink` block, [`home::Home`]): at home (an RA
//! with its home prefix on an up physical interface) → deregister and put
//! the home address on that link; away → the CoA of
//! [`mip6::coa::select_primary_coa`] is registered with its home agent
//! through its binding update list entry ([`mip6::bul::BulEntry`]), with
//! the kernel state of [`away::Away`]; a different CoA is a handover.
//! Shutdown deregisters every home address (bounded wait for the BAs) and
//! removes everything.
//!
//! The decisions are made without I/O, as the `mip6` cores make theirs
//! (`docs/architecture.md`): [`movement::Movement`] says where the node is
//! and whether it moves ([`movement::MoveAction`]), each home registration
//! ([`registration::Registration`]) what to send and install
//! ([`registration::RegAction`]). `MobileNode` is the loop that feeds them
//! the sockets' and the kernel's news and carries their actions out
//! through [`Io`] (`handoff.rs`, `registration_io.rs`).

mod away;
mod error;
mod handoff;
mod home;
mod home_io;
mod ifaces;
mod links;
mod location;
mod movement;
mod registration;
mod registration_io;
mod reload;
mod ro;
mod ro_errors;
mod ro_io;
mod ro_xfrm;
mod routers;
pub mod tunnel_bus;
mod tunnel_iface;

use std::time::Duration;

use mip6::wire::ndisc::{
    NdRepr, TYPE_DHAAD_REPLY, TYPE_MOBILE_PREFIX_ADVERT, TYPE_NEIGHBOR_ADVERT, TYPE_ROUTER_ADVERT,
};
use mip6::wire::param_problem::TYPE_PARAMETER_PROBLEM;
use netcfg::{EventGroup, Events};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::config::{self, Config};
use crate::control::{Control, Reloader};
use crate::kernel::raw::{Icmp6Socket, MhSocket, Received};
use crate::kernel::Kernel;
use crate::publish::Publisher;

pub use error::StartError;
use home::Home;
use location::Location;
use movement::{MoveAction, Movement};
use registration::Registration;
use routers::ProbePolicy;
use tunnel_bus::TunnelNotice;

/// How long shutdown waits for the deregistration's BA.
const SHUTDOWN_DEREG_WAIT: Duration = Duration::from_millis(1500);

/// What the mobile node acts through; what it decides goes out here.
struct Io {
    kernel: Kernel,
    mh: MhSocket,
    icmp: Icmp6Socket,
    events: Events,
    publisher: Publisher,
    /// miredo's D-Bus notices for the `Tunnel enabled` interfaces.
    tunnel_notices: mpsc::Receiver<TunnelNotice>,
}

struct MobileNode {
    config: Config,
    io: Io,
    /// One per `MnHomeLink` block, in the file's order; never empty.
    homes: Vec<Home>,
    movement: Movement,
    /// Route optimisation with correspondents ([`ro`]).
    ro: ro::RouteOptimisation,
    /// Its ACQUIREs and XFRM objects ([`ro_io`]).
    ro_kernel: ro_io::RoKernel,
}

/// Runs the mobile node until a terminating signal.
pub async fn run(
    config: Config,
    reloader: Reloader,
    mut control: mpsc::Receiver<Control>,
    publisher: Publisher,
    ready: tokio::sync::oneshot::Sender<()>,
) -> i32 {
    let mut mn = match MobileNode::start(config, publisher).await {
        Ok(mn) => {
            let _ = ready.send(());
            mn
        }
        Err(e) => {
            error!("{e}");
            return 1;
        }
    };
    loop {
        let deadline = mn.next_deadline();
        tokio::select! {
            c = control.recv() => {
                let before = mn.config.clone();
                if !reloader.handle(c, &mut mn.config) {
                    break;
                }
                if before.optimistic_handoff != mn.config.optimistic_handoff {
                    mn.optimistic_handoff_changed().await;
                }
                mn.config_reloaded(&before).await;
            },
            r = mn.io.mh.recv_message() => match r {
                Ok(msg) => {
                    if !mn.on_ro_mh(&msg).await {
                        mn.on_mh(msg).await;
                    }
                }
                Err(e) => warn!("MH socket: {e}"),
            },
            Some(ev) = mn.ro_kernel.next_acquire() => mn.on_acquire(ev).await,
            r = mn.io.icmp.recv_message() => match r {
                Ok(msg) => mn.on_icmp(msg).await,
                Err(e) => warn!("ICMPv6 socket: {e}"),
            },
            ev = mn.io.events.next_event() => match ev {
                Some(ev) => mn.on_net_event(ev).await,
                None => {
                    error!("netlink event socket closed");
                    break;
                }
            },
            Some(n) = mn.io.tunnel_notices.recv() => mn.on_tunnel_notice(n).await,
            () = crate::control::sleep_until(deadline) => mn.on_timer().await,
        }
        mn.follow_home_registration().await;
        mn.io.publisher.mobile_node(mn.bus_state()).await;
    }
    mn.shutdown().await;
    0
}

impl MobileNode {
    async fn start(config: Config, publisher: Publisher) -> Result<MobileNode, StartError> {
        if config.mn_home_link.is_empty() {
            return Err(StartError::NoHomeLink);
        }
        let agents: Vec<_> = config
            .mn_home_link
            .iter()
            .map(|l| l.home_agent_address)
            .filter(|a| !a.is_unspecified())
            .collect();
        if let Some(a) = agents
            .iter()
            .enumerate()
            .find_map(|(n, a)| agents[..n].contains(a).then_some(*a))
        {
            return Err(StartError::SharedHomeAgent(a));
        }
        let mut kernel = Kernel::open().map_err(StartError::Netlink)?;
        let mut homes = Vec::new();
        for link in &config.mn_home_link {
            let (hoa, ha) = (link.home_address.addr, link.home_agent_address);
            // UMIP: with UseMnHaIPsec on and no BU/BA policy, no BU is ever sent.
            let mut reg = Registration::new(&config, link);
            if !reg.may_send_bu && !ha.is_unspecified() {
                error!(
                    "MN lacks the necessary IPsec policies for protecting the home registration \
                     to HA {ha} (UseMnHaIPsec is enabled): no Binding Update will be sent"
                );
            }
            if let Some(ll) = home_io::home_link_local(&kernel, link).await {
                info!("{ll} is on {}: BUs carry the L flag", link.interface);
                reg.use_link_local(&config, link, ll);
            }
            crate::ipsec::install_transport(
                &config,
                crate::ipsec::Endpoint::MobileNode,
                Some(hoa),
                &mut kernel,
            )
            .await
            .map_err(StartError::Ipsec)?;
            homes.push(Home::new(reg));
        }
        let mh = MhSocket::open().map_err(StartError::MhSocket)?;
        let icmp = Icmp6Socket::open_passing(&[
            TYPE_ROUTER_ADVERT,
            TYPE_NEIGHBOR_ADVERT,
            TYPE_DHAAD_REPLY,
            TYPE_MOBILE_PREFIX_ADVERT,
            TYPE_PARAMETER_PROBLEM,
        ])
        .map_err(StartError::Icmp6Socket)?;
        let events = Events::subscribe(&[EventGroup::Link, EventGroup::Ipv6Addr])
            .map_err(StartError::Events)?;
        let tunnel_names = config
            .interface
            .iter()
            .filter(|i| i.tunnel)
            .map(|i| i.name.clone())
            .collect();
        let settle = config::seconds(config.interface_initial_init_delay)
            .filter(|d| !d.is_zero())
            .map(|d| Instant::now() + d);
        let (ro, ro_kernel) = ro_io::new(&config);
        let mut mn = MobileNode {
            homes,
            ro,
            ro_kernel,
            config,
            io: Io {
                kernel,
                mh,
                icmp,
                events,
                publisher,
                tunnel_notices: tunnel_bus::watch(tunnel_names),
            },
            movement: Movement::new(settle),
        };
        let links = mn
            .io
            .kernel
            .nl
            .links()
            .await
            .map_err(StartError::LinkDump)?;
        for l in links {
            mn.track_link(l.index, &l.name, l.up && l.running).await;
        }
        let tracked: Vec<String> = mn
            .movement
            .ifaces
            .iter()
            .map(|i| {
                format!(
                    "{} (pref {}{})",
                    i.name,
                    i.preference,
                    if i.tunnel { ", tunnel" } else { "" }
                )
            })
            .collect();
        for h in &mn.homes {
            let ha_text = if h.reg.ha.is_unspecified() {
                "by DHAAD".to_owned()
            } else {
                h.reg.ha.to_string()
            };
            info!(
                "mobile node: home address {}, home agent {ha_text}, interfaces {}",
                h.reg.hoa,
                tracked.join(", ")
            );
        }
        if mn.movement.settle_until.is_none() {
            mn.evaluate().await;
        }
        Ok(mn)
    }

    /// The first home link's: what route optimisation and the single-valued
    /// D-Bus properties follow.
    fn primary(&self) -> &Home {
        &self.homes[0]
    }

    /// The home addresses of every home link: never care-of addresses.
    fn home_addresses(&self) -> Vec<std::net::Ipv6Addr> {
        self.homes.iter().map(|h| h.reg.hoa).collect()
    }

    fn next_deadline(&self) -> Option<Instant> {
        let now = Instant::now();
        self.homes
            .iter()
            .filter_map(|h| h.reg.poll_timeout().map(Instant::from_std))
            .chain(self.movement.poll_timeout(now))
            .chain(self.ro.poll_timeout().map(Instant::from_std))
            .min()
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        let effects = self.movement.handle_timeout(now);
        self.carry_out_movement(effects).await;
        for k in 0..self.homes.len() {
            let h = &mut self.homes[k];
            let actions = h
                .reg
                .handle_timeout(now.into_std(), h.location, &self.config);
            self.carry_out(k, actions).await;
        }
        self.on_ro_timer(now).await;
        self.evaluate().await;
    }

    /// `MnRouterProbes` and `MnRouterProbeTimeout` as configured now.
    fn probe_policy(&self) -> ProbePolicy {
        ProbePolicy {
            probes: self.config.mn_router_probes,
            timeout: config::seconds(self.config.mn_router_probe_timeout).unwrap_or_default(),
        }
    }

    async fn on_icmp(&mut self, msg: Received) {
        match msg.payload.first() {
            Some(&TYPE_DHAAD_REPLY) => return self.on_dhaad_reply(msg).await,
            Some(&TYPE_MOBILE_PREFIX_ADVERT) => return self.on_mobile_prefix_advert(msg).await,
            Some(&TYPE_PARAMETER_PROBLEM) => return self.on_param_problem(msg).await,
            _ => {}
        }
        let now = Instant::now();
        match NdRepr::parse(&msg.payload) {
            Ok(NdRepr::RouterAdvert(ra)) => {
                let policy = self.probe_policy();
                let effects = self.movement.handle_router_advert(
                    now,
                    msg.ifindex,
                    msg.src,
                    msg.hop_limit,
                    &ra,
                    policy,
                );
                self.carry_out_movement(effects).await;
            }
            Ok(NdRepr::NeighborAdvert(na)) if msg.hop_limit == Some(255) => {
                self.movement.handle_neighbor_advert(msg.ifindex, &na);
                self.on_home_probe_answer(msg.ifindex, msg.src, na.target)
                    .await;
            }
            _ => {}
        }
    }

    /// Where are we for each home link, and does it change anything?
    async fn evaluate(&mut self) {
        let now = Instant::now();
        for k in 0..self.homes.len() {
            let h = &mut self.homes[k];
            let decision =
                self.movement
                    .decide(now, self.config.no_home_return, h.reg.home, &mut h.location);
            match decision {
                Some(MoveAction::GoHome(index)) => self.go_home(k, index).await,
                Some(MoveAction::MoveTo(p)) => self.move_to(k, p).await,
                None => {}
            }
        }
    }

    fn iface_name(&self, index: u32) -> String {
        self.movement.iface_name(index)
    }

    /// Deregisters every home address that is away (waiting a little for
    /// the BAs), then removes everything installed.
    async fn shutdown(&mut self) {
        let mut waiting = false;
        for k in 0..self.homes.len() {
            let h = &mut self.homes[k];
            if let (Location::Away(p), true) = (h.location, h.reg.bul.binding().is_some()) {
                let actions = h.reg.deregister(
                    std::time::Instant::now(),
                    p.address,
                    h.location,
                    &self.config,
                );
                self.carry_out(k, actions).await;
                waiting = true;
            }
        }
        let deadline = Instant::now() + SHUTDOWN_DEREG_WAIT;
        while waiting
            && self
                .homes
                .iter()
                .any(|h| h.reg.bul.outstanding_sequence().is_some())
        {
            tokio::select! {
                r = self.io.mh.recv_message() => {
                    if let Ok(msg) = r {
                        self.on_mh(msg).await;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    for h in self.homes.iter().filter(|h| h.reg.bul.outstanding_sequence().is_some()) {
                        warn!("no BA for the deregistration from {}", h.reg.ha);
                    }
                    break;
                }
            }
        }
        self.clear_ro().await;
        for h in &mut self.homes {
            if let Some(mut a) = h.away.take() {
                a.leave(&mut self.io.kernel).await;
            }
            h.reg.ipsec.release(&mut self.io.kernel).await;
        }
        self.io.kernel.teardown().await;
    }
}
