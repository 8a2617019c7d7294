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

mod away;
mod dhaad;
mod error;
mod ifaces;
mod links;
mod location;
mod mpd;
mod registration;
mod ro;
mod ro_xfrm;
pub mod tunnel_bus;
mod tunnel_iface;

use std::net::Ipv6Addr;
use std::time::Duration;

use mip6::bul::BulEntry;
use mip6::coa::{select_primary_coa, PrimaryCoa};
use mip6::haselect::HomeAgentSelection;
use mip6::wire::ndisc::{NdRepr, TYPE_DHAAD_REPLY, TYPE_MOBILE_PREFIX_ADVERT, TYPE_ROUTER_ADVERT};
use netcfg::{EventGroup, Events};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::{self, Config, Prefix};
use crate::control::{Control, Reloader};
use crate::kernel::raw::{unsolicited_na, Icmp6Socket, MhSocket, Received};
use crate::kernel::Kernel;
use crate::publish::Publisher;
use crate::random::weak_u16;

use away::Away;
pub use error::StartError;
use ifaces::{valid_ra_source, Iface};
use location::Location;
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

/// The home registration: the home address, the home agent (configured or
/// discovered), the home link and prefix, and the binding with the agent.
struct Registration {
    hoa: Ipv6Addr,
    /// `::` while DHAAD has not found one.
    ha: Ipv6Addr,
    /// Set when the home agent is left to DHAAD (`HomeAgentAddress ::`).
    ha_selection: Option<HomeAgentSelection>,
    mpd: mpd::PrefixDiscovery,
    home: Prefix,
    home_plen: u8,
    home_iface: String,
    bul: BulEntry,
    may_send_bu: bool,
    /// A mobile router's prefixes (`IsMobRtr` with MNPs), routed through the
    /// tunnel while away.
    mobile_network_prefixes: Vec<(Ipv6Addr, u8)>,
    /// Tunnel-mode IPsec policies, following the CoA while away.
    ipsec: crate::ipsec::TunnelIpsec,
}

/// Movement detection: the interfaces, where the node is, and the kernel
/// state that follows from it.
struct Movement {
    ifaces: Vec<Iface>,
    location: Location,
    away: Option<Away>,
    home_addr_on: Option<u32>,
    settle_until: Option<Instant>,
    moved_at: Option<Instant>,
    /// The CoA interface and MTU last warned about (see `check_tunnel_mtu`).
    mtu_warned: Option<(u32, u32)>,
}

struct MobileNode {
    config: Config,
    io: Io,
    reg: Registration,
    movement: Movement,
    /// Route optimisation with correspondents ([`ro`]).
    ro: ro::RouteOptimisation,
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
            c = control.recv() => if !reloader.handle(c, &mut mn.config) {
                break;
            },
            r = mn.io.mh.recv_message() => match r {
                Ok(msg) => {
                    let mut io = ro::RoIo {
                        kernel: &mut mn.io.kernel,
                        mh: &mn.io.mh,
                        hoa: mn.reg.hoa,
                    };
                    if !mn.ro.handle_mh(&mut io, &msg, mn.reg.ha).await {
                        mn.on_mh(msg).await;
                    }
                }
                Err(e) => warn!("MH socket: {e}"),
            },
            Some(ev) = mn.ro.next_acquire() => {
                let mut io = ro::RoIo {
                    kernel: &mut mn.io.kernel,
                    mh: &mn.io.mh,
                    hoa: mn.reg.hoa,
                };
                mn.ro.handle_acquire(&mut io, ev, mn.reg.ha, &mn.config).await;
            }
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
        let registered_coa = mn.reg.bul.binding().map(|b| b.care_of_address);
        let mut io = ro::RoIo {
            kernel: &mut mn.io.kernel,
            mh: &mn.io.mh,
            hoa: mn.reg.hoa,
        };
        mn.ro
            .handle_home_registration(&mut io, mn.movement.location, registered_coa)
            .await;
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
        let may_send_bu = registration::bu_allowed(&config, ha, hoa);
        if !may_send_bu && !ha.is_unspecified() {
            error!(
                "MN lacks the necessary IPsec policies for protecting the home registration \
                 to HA {ha} (UseMnHaIPsec is enabled): no Binding Update will be sent"
            );
        }
        let mut kernel = Kernel::open().map_err(StartError::Netlink)?;
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
        ])
        .map_err(StartError::Icmp6Socket)?;
        let events = Events::subscribe(&[EventGroup::Link, EventGroup::Ipv6Addr])
            .map_err(StartError::Events)?;
        let bul = BulEntry::new(
            registration::registration_config(&config, &link),
            weak_u16(),
        );
        let tunnel_names = config
            .interface
            .iter()
            .filter(|i| i.tunnel)
            .map(|i| i.name.clone())
            .collect();
        let settle = config::seconds(config.interface_initial_init_delay)
            .filter(|d| !d.is_zero())
            .map(|d| Instant::now() + d);
        let mut mn = MobileNode {
            reg: Registration {
                hoa,
                ha,
                ha_selection: dhaad::selection_for(&link),
                mpd: mpd::PrefixDiscovery::new(&config),
                ipsec: crate::ipsec::TunnelIpsec::new(
                    &config,
                    crate::ipsec::Endpoint::MobileNode,
                    ha,
                    hoa,
                ),
                home: link.effective_home_prefix(),
                home_plen: link.home_address.len,
                home_iface: link.interface.clone(),
                bul,
                may_send_bu,
                mobile_network_prefixes: if link.is_mob_rtr {
                    link.mobile_network_prefixes
                        .iter()
                        .map(|p| (p.addr, p.len))
                        .collect()
                } else {
                    Vec::new()
                },
            },
            ro: ro::RouteOptimisation::new(&config),
            config,
            io: Io {
                kernel,
                mh,
                icmp,
                events,
                publisher,
                tunnel_notices: tunnel_bus::watch(tunnel_names),
            },
            movement: Movement {
                ifaces: Vec::new(),
                location: Location::Unknown,
                away: None,
                home_addr_on: None,
                settle_until: settle,
                moved_at: None,
                mtu_warned: None,
            },
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
        let bul = self.reg.bul.poll_timeout().map(Instant::from_std);
        let ifaces = self
            .movement
            .ifaces
            .iter()
            .filter_map(|i| i.next_expiry(now))
            .min();
        let discovery = [self.dhaad_deadline(), self.mpd_deadline()];
        [
            bul,
            ifaces,
            self.movement.settle_until,
            self.ro.poll_timeout(),
        ]
        .into_iter()
        .chain(discovery)
        .flatten()
        .min()
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if self.movement.settle_until.is_some_and(|t| t <= now) {
            self.movement.settle_until = None;
        }
        let events = self.reg.bul.handle_timeout(now.into_std());
        self.handle_bul_events(events).await;
        self.on_dhaad_timer().await;
        self.on_mpd_timer().await;
        let mut io = ro::RoIo {
            kernel: &mut self.io.kernel,
            mh: &self.io.mh,
            hoa: self.reg.hoa,
        };
        self.ro.handle_timeout(now, &mut io).await;
        self.evaluate().await;
    }

    async fn on_icmp(&mut self, msg: Received) {
        match msg.payload.first() {
            Some(&TYPE_DHAAD_REPLY) => return self.on_dhaad_reply(msg).await,
            Some(&TYPE_MOBILE_PREFIX_ADVERT) => return self.on_mobile_prefix_advert(msg).await,
            _ => {}
        }
        if !valid_ra_source(&msg.src, msg.hop_limit) {
            return;
        }
        let Ok(NdRepr::RouterAdvert(ra)) = NdRepr::parse(&msg.payload) else {
            return;
        };
        let (home, now) = (self.reg.home, Instant::now());
        let Some(i) = self
            .movement
            .ifaces
            .iter_mut()
            .find(|i| i.index == msg.ifindex)
        else {
            return;
        };
        let was_home = i.at_home(now);
        let had_router = i.router_until.is_some_and(|t| t > now);
        i.on_router_advert(&ra, home, now);
        if was_home != i.at_home(now) || had_router != i.router_until.is_some_and(|t| t > now) {
            debug!("{}: RA from {}", i.name, msg.src);
            self.evaluate().await;
        }
    }

    /// Where are we, and does it change anything?
    async fn evaluate(&mut self) {
        let now = Instant::now();
        if self.movement.settle_until.is_some_and(|t| t > now) {
            return;
        }
        if !self.config.no_home_return {
            if let Some(h) = self.movement.ifaces.iter().find(|i| i.at_home(now)) {
                let index = h.index;
                if self.movement.location != Location::Home(index) {
                    self.go_home(index).await;
                }
                return;
            }
        }
        let candidates: Vec<_> = self
            .movement
            .ifaces
            .iter()
            .map(|i| i.candidate(now))
            .collect();
        let current = match self.movement.location {
            Location::Away(p) => Some(p),
            _ => None,
        };
        match select_primary_coa(&candidates, current) {
            Some(p) if Some(p) != current => self.move_to(p).await,
            Some(_) => {}
            None => {
                if matches!(
                    self.movement.location,
                    Location::Away(_) | Location::Unknown
                ) {
                    info!("no usable care-of address: the binding ages");
                    self.movement.location = Location::Nowhere;
                }
            }
        }
    }

    fn iface_name(&self, index: u32) -> String {
        self.movement
            .ifaces
            .iter()
            .find(|i| i.index == index)
            .map_or_else(|| index.to_string(), |i| i.name.clone())
    }

    async fn move_to(&mut self, p: PrimaryCoa) {
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
            self.movement.location = Location::Away(p);
            self.movement.moved_at = Some(Instant::now());
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
        self.movement.location = Location::Away(p);
        self.movement.moved_at = Some(Instant::now());
        self.reg.ipsec.follow(&mut self.io.kernel, p.address).await;
        let lifetime = Duration::from_secs(u64::from(self.config.mn_max_ha_binding_life));
        let events = self
            .reg
            .bul
            .register(std::time::Instant::now(), p.address, lifetime);
        self.handle_bul_events(events).await;
        self.fit_tunnel_mtu(p.ifindex).await;
    }

    async fn go_home(&mut self, index: u32) {
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
        }
        self.movement.location = Location::Home(index);
        let events = self
            .reg
            .bul
            .deregister(std::time::Instant::now(), self.reg.hoa);
        self.handle_bul_events(events).await;
    }

    /// Deregisters when away (waiting a little for the BA), then removes
    /// everything installed.
    async fn shutdown(&mut self) {
        if let (Location::Away(p), true) =
            (self.movement.location, self.reg.bul.binding().is_some())
        {
            let events = self
                .reg
                .bul
                .deregister(std::time::Instant::now(), p.address);
            self.handle_bul_events(events).await;
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
        let mut io = ro::RoIo {
            kernel: &mut self.io.kernel,
            mh: &self.io.mh,
            hoa: self.reg.hoa,
        };
        self.ro.clear(&mut io).await;
        if let Some(mut a) = self.movement.away.take() {
            a.leave(&mut self.io.kernel).await;
        }
        self.reg.ipsec.release(&mut self.io.kernel).await;
        self.io.kernel.teardown().await;
    }
}
