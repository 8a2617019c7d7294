//! The mobile node (RFC 6275 §11, `docs/compat.md`) on the kernel datapath.
//!
//! Interfaces and their addresses come from netlink (dump, then events);
//! RAs on physical interfaces tell router presence and the home link. After
//! `InterfaceInitialInitDelay`, and on every change, the node decides:
//! at home (an RA with the home prefix on an up physical interface) →
//! deregister and put the home address on the home link; away → the CoA of
//! [`mip6::coa::select_primary_coa`] is registered with the home agent
//! through the binding update list ([`mip6::bul::BulEntry`]), with the kernel
//! state of [`away::Away`]; a different CoA is a handover. Shutdown
//! deregisters (bounded wait for the BA) and removes everything.
//!
//! The decisions are made without I/O, as the `mip6` cores make theirs
//! (`docs/architecture.md`): [`movement::Movement`] says where the node is
//! and whether it moves ([`movement::MoveAction`]), the home registration
//! ([`registration::Registration`]) what to send and install
//! ([`registration::RegAction`]). `MobileNode` is the loop that feeds them
//! the sockets' and the kernel's news and carries their actions out
//! through [`Io`] (`registration_io.rs`).

mod away;
mod error;
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
pub mod tunnel_bus;
mod tunnel_iface;

use std::time::Duration;

use mip6::coa::PrimaryCoa;
use mip6::wire::ndisc::{
    NdRepr, TYPE_DHAAD_REPLY, TYPE_MOBILE_PREFIX_ADVERT, TYPE_NEIGHBOR_ADVERT, TYPE_ROUTER_ADVERT,
};
use mip6::wire::param_problem::TYPE_PARAMETER_PROBLEM;
use netcfg::{EventGroup, Events};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::{self, Config};
use crate::control::{Control, Reloader};
use crate::kernel::raw::{unsolicited_na, Icmp6Socket, MhSocket, Received};
use crate::kernel::Kernel;
use crate::publish::Publisher;

use away::Away;
pub use error::StartError;
use location::Location;
use movement::{MoveAction, Movement};
use registration::Registration;
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
    reg: Registration,
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
        let Some(link) = config.mn_home_link.first().cloned() else {
            return Err(StartError::NoHomeLink);
        };
        if config.mn_home_link.len() > 1 {
            warn!("only the first MnHomeLink is used");
        }
        let (hoa, ha) = (link.home_address.addr, link.home_agent_address);
        // UMIP: with UseMnHaIPsec on and no BU/BA policy, no BU is ever sent.
        let mut reg = Registration::new(&config, &link);
        if !reg.may_send_bu && !ha.is_unspecified() {
            error!(
                "MN lacks the necessary IPsec policies for protecting the home registration \
                 to HA {ha} (UseMnHaIPsec is enabled): no Binding Update will be sent"
            );
        }
        let mut kernel = Kernel::open().map_err(StartError::Netlink)?;
        if let Some(ll) = home_io::home_link_local(&kernel, &link).await {
            info!("{ll} is on {}: BUs carry the L flag", link.interface);
            reg.use_link_local(&config, &link, ll);
        }
        crate::ipsec::install_transport(
            &config,
            crate::ipsec::Endpoint::MobileNode,
            Some(hoa),
            &mut kernel,
        )
        .await
        .map_err(StartError::Ipsec)?;
        let mh = MhSocket::open().map_err(StartError::MhSocket)?;
        let icmp = Icmp6Socket::open_passing(&[
            TYPE_ROUTER_ADVERT,
            TYPE_DHAAD_REPLY,
            TYPE_MOBILE_PREFIX_ADVERT,
            TYPE_PARAMETER_PROBLEM,
            TYPE_NEIGHBOR_ADVERT,
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
            reg,
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
        let ha_text = if ha.is_unspecified() {
            "by DHAAD".to_owned()
        } else {
            ha.to_string()
        };
        info!(
            "mobile node: home address {hoa}, home agent {ha_text}, interfaces {}",
            tracked.join(", ")
        );
        if mn.movement.settle_until.is_none() {
            mn.evaluate().await;
        }
        Ok(mn)
    }

    fn next_deadline(&self) -> Option<Instant> {
        let now = Instant::now();
        let reg = self.reg.poll_timeout().map(Instant::from_std);
        [
            reg,
            self.movement.poll_timeout(now),
            self.ro.poll_timeout().map(Instant::from_std),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        self.movement.handle_timeout(now);
        let actions = self
            .reg
            .handle_timeout(now.into_std(), self.movement.location, &self.config);
        self.carry_out(actions).await;
        self.on_ro_timer(now).await;
        self.evaluate().await;
    }

    async fn on_icmp(&mut self, msg: Received) {
        match msg.payload.first() {
            Some(&TYPE_DHAAD_REPLY) => return self.on_dhaad_reply(msg).await,
            Some(&TYPE_MOBILE_PREFIX_ADVERT) => return self.on_mobile_prefix_advert(msg).await,
            Some(&TYPE_PARAMETER_PROBLEM) => return self.on_param_problem(msg).await,
            Some(&TYPE_NEIGHBOR_ADVERT) => {
                return self
                    .on_neighbor_advert(msg.ifindex, msg.src, &msg.payload)
                    .await
            }
            _ => {}
        }
        let Ok(NdRepr::RouterAdvert(ra)) = NdRepr::parse(&msg.payload) else {
            return;
        };
        let (home, now) = (self.reg.home, Instant::now());
        if self
            .movement
            .handle_router_advert(now, msg.ifindex, msg.src, msg.hop_limit, &ra, home)
        {
            self.evaluate().await;
        }
    }

    /// Where are we, and does it change anything?
    async fn evaluate(&mut self) {
        let decision = self
            .movement
            .decide(Instant::now(), self.config.no_home_return);
        match decision {
            Some(MoveAction::GoHome(index)) => self.go_home(index).await,
            Some(MoveAction::MoveTo(p)) => self.move_to(p).await,
            None => {}
        }
    }

    fn iface_name(&self, index: u32) -> String {
        self.movement.iface_name(index)
    }

    async fn move_to(&mut self, p: PrimaryCoa) {
        self.reg.cancel_home_probe();
        let name = self.iface_name(p.ifindex);
        if let Some(index) = self.movement.home_addr_on.take() {
            let item = crate::kernel::Item::Address {
                index,
                addr: self.reg.hoa,
                prefix_len: self.reg.home_plen,
            };
            if let Err(e) = self.io.kernel.remove(item).await {
                warn!("cannot remove the home address from the home link: {e}");
            }
        }
        if self.reg.ha.is_unspecified() {
            // No home agent yet: DHAAD from this CoA, registration on its reply.
            info!("away from home: CoA {} on {name}", p.address);
            self.movement.moved(Instant::now(), p);
            self.discover_home_agent(Some(p.address)).await;
            return;
        }
        let result = match self.movement.away.as_mut() {
            Some(a) => {
                info!("handover: CoA {} -> {} ({name})", a.coa, p.address);
                a.handover(&mut self.io.kernel, p.address, p.ifindex).await
            }
            None => {
                info!("away from home: CoA {} on {name}", p.address);
                match Away::enter(
                    &mut self.io.kernel,
                    self.reg.hoa,
                    self.reg.ha,
                    p.address,
                    p.ifindex,
                    &self.reg.mobile_network_prefixes,
                )
                .await
                {
                    Ok(a) => {
                        info!("tunnel {} {} -> {}", a.tunnel.1, p.address, self.reg.ha);
                        self.movement.away = Some(a);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = result {
            error!("cannot set up the care-of address {}: {e}", p.address);
            return;
        }
        self.movement.moved(Instant::now(), p);
        self.reg.ipsec.follow(&mut self.io.kernel, p.address).await;
        let actions = self.reg.register(
            std::time::Instant::now(),
            p.address,
            self.movement.location,
            &self.config,
        );
        self.carry_out(actions).await;
        self.fit_tunnel_mtu(p.ifindex).await;
    }

    async fn go_home(&mut self, index: u32) {
        if self.home_return_waits(index).await {
            return;
        }
        info!("at home on {}", self.iface_name(index));
        if self.iface_name(index) != self.reg.home_iface {
            debug!(
                "home prefix seen on {}, MnHomeLink names {}",
                self.iface_name(index),
                self.reg.home_iface
            );
        }
        if let Some(mut a) = self.movement.away.take() {
            a.leave(&mut self.io.kernel).await;
        }
        self.reg.ipsec.release(&mut self.io.kernel).await;
        if let Err(e) = self
            .io
            .kernel
            .add_address(index, self.reg.hoa, self.reg.home_plen)
            .await
        {
            warn!("cannot put the home address on the home link: {e}");
        } else {
            self.movement.home_addr_on = Some(index);
            let name = self.iface_name(index);
            let icmp = &self.io.icmp;
            if let Err(e) = unsolicited_na(icmp, &name, index, self.reg.hoa, false).await {
                debug!("unsolicited NA for {}: {e}", self.reg.hoa);
            }
            self.announce_link_local(index).await;
        }
        self.movement.location = Location::Home(index);
        let actions = self.reg.deregister(
            std::time::Instant::now(),
            self.reg.hoa,
            self.movement.location,
            &self.config,
        );
        self.carry_out(actions).await;
    }

    /// Deregisters when away (waiting a little for the BA), then removes
    /// everything installed.
    async fn shutdown(&mut self) {
        if let (Location::Away(p), true) =
            (self.movement.location, self.reg.bul.binding().is_some())
        {
            let actions = self.reg.deregister(
                std::time::Instant::now(),
                p.address,
                self.movement.location,
                &self.config,
            );
            self.carry_out(actions).await;
            let deadline = Instant::now() + SHUTDOWN_DEREG_WAIT;
            while self.reg.bul.outstanding_sequence().is_some() {
                tokio::select! {
                    r = self.io.mh.recv_message() => {
                        if let Ok(msg) = r {
                            self.on_mh(msg).await;
                        }
                    }
                    () = tokio::time::sleep_until(deadline) => {
                        warn!("no BA for the deregistration from {}", self.reg.ha);
                        break;
                    }
                }
            }
        }
        self.clear_ro().await;
        if let Some(mut a) = self.movement.away.take() {
            a.leave(&mut self.io.kernel).await;
        }
        self.reg.ipsec.release(&mut self.io.kernel).await;
        self.io.kernel.teardown().await;
    }
}
