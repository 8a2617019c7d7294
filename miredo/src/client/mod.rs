//! The Teredo client driver: the tokio loop that feeds the sans-IO cores
//! (`teredo::maintain`, `teredo::relay`) with datagrams, tunnel packets, timers
//! and network-change events, and carries out what they ask for.

mod discovery;
mod port_mapping;
mod resolve;
pub mod sink;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use netcfg::events::{Events, NetEvent};
use teredo::maintain::{
    Event, LogMessage, Maintainer, Outputs as MaintOutputs, Qualified, State, Timers,
};
use teredo::relay::{Config, Mode, OwnAddress, TeredoTunnel};
use teredo::security::Secret;
use teredo::wire::TeredoPacketRepr;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::PortMapping;
use crate::pump::Pump;
use crate::status::{StatusSink, TunnelStatus};
use crate::udp::side::{SideDatagram, SideSockets};
use discovery::DiscoveryListener;
use port_mapping::PortMapTask;
use teredo::qualified::{NatType, PortAllocation};

/// How long to gather netlink events before re-qualifying.
const REQUALIFY_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(20);

/// Why the client loop returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT/SIGTERM/SIGQUIT: exit.
    Terminate,
    /// SIGHUP: reload the configuration and start over.
    Reload,
}

/// Control messages from outside the loop (signals, D-Bus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Leave the loop.
    Stop(Stop),
    /// Re-qualify now (D-Bus `Requalify`).
    Requalify,
}

/// Everything the client loop needs, set up beforehand (sockets and the TUN are
/// opened while still privileged).
pub struct ClientSetup {
    /// Host names or addresses of the Teredo servers, most preferred first
    /// (more than one is our extension: fail-over).
    pub servers: Vec<String>,
    /// Bound UDP socket.
    pub socket: std::net::UdpSocket,
    /// The tunnel interface (shared: the caller keeps it until the final hooks ran).
    pub tun: Arc<netcfg::tun::Tun>,
    /// Qualification timers.
    pub timers: Timers,
    /// `PeerQueueBudget`: bytes queued over all peers at most.
    pub queue_budget: usize,
    /// `PortMapping`: when to ask the NAT for a mapping of our port.
    pub port_mapping: PortMapping,
    /// `LocalDiscovery`: look for clients behind our NAT on the link.
    pub local_discovery: bool,
}

/// Runs the client until told to stop. `status` receives every state change
/// (hook, D-Bus); `control` carries signals and D-Bus requests.
pub async fn run(
    setup: ClientSetup,
    status: Arc<dyn StatusSink>,
    control: &mut mpsc::Receiver<Control>,
) -> Result<Stop> {
    let ClientSetup {
        servers,
        socket,
        tun,
        timers,
        queue_budget,
        port_mapping,
        local_discovery,
    } = setup;
    let tun_index = tun.index();
    let tun_name = tun.name().to_owned();
    let mut pump = Pump::new(socket, tun).context("registering the UDP socket")?;
    let secret = Secret::new(random_secret()?);
    let pid = std::process::id();
    let start = Instant::now();
    let mut maint = Maintainer::new(timers, secret.clone(), pid, start);
    let mut pending = MaintOutputs::default();
    let mut config = Config::new(Mode::Client, pid, secret);
    config.queue_budget = queue_budget;
    let mut tunnel = TeredoTunnel::new(config, start);

    let (resolved_tx, mut resolved_rx) = mpsc::channel::<Vec<Ipv4Addr>>(4);
    let mut netevents = Events::ipv4()
        .map_err(|e| warn!("no netlink events, IPv4 changes will be noticed late: {e}"))
        .ok();

    // A burst of netlink events (address, then route) makes one re-qualification.
    let mut requalify_at: Option<Instant> = None;
    // One timer for the whole loop, re-armed only when the deadline moves.
    let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    let mut tun_status = TunnelStatus::new(tun_name, tun_index);
    let mut portmap = (port_mapping != PortMapping::Off).then(PortMapTask::spawn);
    // Local client discovery (RFC 4380 §5.2.8), once we know our link.
    let mut discovery: Option<DiscoveryListener> = None;
    let mut discovery_buf = vec![0u8; 2048];
    tun_status.port_mapping = if portmap.is_some() { "none" } else { "off" };
    // The NAT type last logged: once per change, not per qualification.
    let mut logged_nat = NatType::Unknown;
    // What the NAT granted, as last logged: once per change of protocol or
    // endpoint.
    let mut logged_grant = None;
    // Side sockets, once port prediction is first turned on.
    let mut side: Option<SideSockets> = None;
    // The configured name until qualification says which server is in use.
    tun_status.server = servers.first().cloned().unwrap_or_default();

    let result = loop {
        if let Some(side) = side.as_mut() {
            keep_side_ports(side, &mut tunnel);
        }
        // Drain what the cores want done.
        let out = std::mem::take(&mut pending);
        for tx in out.transmits {
            pump.send_to(tx.dst, &tx.payload).await;
        }
        for ev in out.events {
            match ev {
                Event::ResolveServer => {
                    resolve::spawn(servers.clone(), resolved_tx.clone());
                }
                Event::Qualifying => {
                    tun_status.state = State::Qualifying;
                    status.update(&tun_status).await;
                }
                Event::Up(q) => {
                    let local = pump.local_addr_towards(q.teredo.server);
                    if port_mapping == PortMapping::Always {
                        if let (Some(pm), Some(local)) = (&portmap, local) {
                            pm.map(local.port(), q.mapping());
                        }
                    }
                    if tun_status.server != q.teredo.server.to_string() && servers.len() > 1 {
                        info!("Using Teredo server {}", q.teredo.server);
                    }
                    went_up(&q, &mut tun_status);
                    // The NAT tests follow; until they report, what the
                    // mapping alone tells.
                    tun_status.nat = q.nat_type(local, None);
                    tun_status.port_preserved = q.port_preserved(local).unwrap_or(false);
                    tunnel.set_state(Some(OwnAddress::from(&q)));
                    tunnel.set_inbound_open(maint.port_mapping_in_use().is_some());
                    if let (true, Some(local)) = (local_discovery, local) {
                        listen_on_link(&mut discovery, &pump, &mut tunnel, local);
                    }
                    status.update(&tun_status).await;
                }
                Event::Down => {
                    info!("Lost Teredo connectivity");
                    tunnel.set_state(None);
                    tun_status.state = State::Down;
                    tun_status.clear_address();
                    status.update(&tun_status).await;
                    info!("Teredo pseudo-tunnel stopped");
                }
                Event::NatTested(tests) => {
                    if let Some(q) = maint.qualified().copied() {
                        let local = pump.local_addr_towards(q.teredo.server);
                        let nat = q.nat_type(local, Some(tests));
                        if nat != logged_nat {
                            info!(
                                "NAT type: {} (port {})",
                                nat.as_str(),
                                if tun_status.port_preserved {
                                    "preserved"
                                } else {
                                    "changed"
                                }
                            );
                            logged_nat = nat;
                        }
                        tun_status.nat = nat;
                        // A symmetric NAT whose ports can be foreseen: peers
                        // get side ports of their own.
                        let predict = q.port_allocation(local, tests);
                        tun_status.port_prediction = crate::status::prediction_name(predict);
                        status.update(&tun_status).await;
                        if predict != tunnel.prediction() {
                            match predict {
                                Some(PortAllocation::Preserving) => {
                                    info!("Port prediction on: the NAT preserves ports")
                                }
                                Some(PortAllocation::Sequential { step }) => info!(
                                    "Port prediction on: the NAT allocates ports in sequence (step {step})"
                                ),
                                None => info!("Port prediction off"),
                            }
                        }
                        if predict.is_some() && side.is_none() {
                            let s = SideSockets::new(pump.bound_ip());
                            pump.set_side_senders(s.senders());
                            side = Some(s);
                        }
                        tunnel.set_prediction(predict);
                        if let (Some(pm), PortMapping::Auto, Some(local)) =
                            (&portmap, port_mapping, local)
                        {
                            match nat {
                                NatType::Restricted | NatType::Symmetric | NatType::BehindNat => {
                                    pm.map(local.port(), q.mapping());
                                }
                                _ => pm.unmap(),
                            }
                        }
                    }
                }
                Event::Log(m) => log_message(&m, &servers),
            }
        }
        if tun_status.state != maint.state() && maint.state() != State::Up {
            tun_status.state = maint.state();
            status.update(&tun_status).await;
        }

        let deadline = [
            maint.poll_timeout(),
            tunnel.poll_timeout(),
            tunnel.next_discovery(),
            requalify_at,
        ]
        .into_iter()
        .flatten()
        .min();
        // Re-arming a tokio timer costs a lock and a wheel insertion: do it only
        // when the deadline moved, not once per packet.
        if deadline != armed {
            if let Some(d) = deadline {
                sleep.as_mut().reset(d.into());
            }
            armed = deadline;
        }

        tokio::select! {
            r = pump.udp_readable() => {
                if let Err(e) = r {
                    warn!("UDP receive error: {e}");
                    continue;
                }
                // A qualification packet may change the state: the batch stops
                // there so the top of the loop hands it to the tunnel first.
                let mut divert = |now, from, pkt: &TeredoPacketRepr<'_>, _: &[u8]| {
                    let ours = Maintainer::is_qualification_packet(from, pkt);
                    if ours {
                        pending.append(maint.handle_packet(now, pkt));
                    }
                    ours
                };
                pump.udp_batch(&mut tunnel, Some(&mut divert)).await;
            }
            r = pump.tun_readable() => {
                if let Err(e) = r.and(pump.tun_batch(&mut tunnel).await) {
                    error!("tunnel read error: {e}");
                    break Err(e.into());
                }
            }
            r = recv_discovery(&discovery, &mut discovery_buf) => match r {
                Ok((n, from)) => {
                    let payload = discovery_buf.get(..n).unwrap_or_default();
                    pump.discovery_datagram(&mut tunnel, Instant::now(), from, payload).await;
                }
                Err(e) => {
                    warn!("local discovery: {e}; turned off");
                    discovery = None;
                    tunnel.set_local_link(None);
                }
            },
            Some(d) = next_side(&mut side) => {
                pump.side_datagram(&mut tunnel, d.via, d.from, &d.payload).await;
            }
            Some(g) = next_grant(&mut portmap) => {
                if Some(g) != logged_grant {
                    match g.external {
                        Some(e) => info!("Port mapping on the NAT: {} {e}", g.protocol),
                        None if logged_grant.is_some() => info!("No port mapping on the NAT"),
                        None => {}
                    }
                    logged_grant = Some(g);
                }
                tun_status.port_mapping = g.protocol;
                maint.set_port_mapping(g.external);
                tunnel.set_inbound_open(maint.port_mapping_in_use().is_some());
                status.update(&tun_status).await;
            }
            Some(resolved) = resolved_rx.recv() => {
                pending.append(maint.server_resolved(Instant::now(), &resolved));
            }
            Some(change) = next_change(&mut netevents) => {
                if is_relevant(&change, tun_index) && requalify_at.is_none() {
                    info!("network change ({change:?}): re-qualifying");
                    requalify_at = Some(Instant::now() + REQUALIFY_DEBOUNCE);
                }
            }
            c = control.recv() => match c {
                Some(Control::Stop(s)) => break Ok(s),
                Some(Control::Requalify) => {
                    info!("re-qualifying on request (D-Bus Requalify)");
                    pending.append(maint.requalify(Instant::now()));
                }
                None => break Ok(Stop::Terminate),
            },
            () = &mut sleep, if armed.is_some() => {
                armed = None;
                let now = Instant::now();
                if requalify_at.is_some_and(|t| now >= t) {
                    requalify_at = None;
                    pending.append(maint.requalify(now));
                }
                pending.append(maint.handle_timeout(now));
                pump.timeout(&mut tunnel, now).await;
                pump.send_discovery(&mut tunnel, now).await;
                // The peer count is published at timer ticks (at least every
                // refresh), not per packet: it costs a lock and maybe a D-Bus call.
                let peers = u32::try_from(tunnel.peers().len()).unwrap_or(u32::MAX);
                if tun_status.take_counts(peers, *tunnel.stats(), pump.path_stats()) {
                    status.update(&tun_status).await;
                }
            }
        }
    };
    // The mapping on the NAT goes with us (a reload makes it again).
    if let Some(pm) = portmap.take() {
        pm.stop().await;
    }
    result
}

async fn recv_discovery(
    listener: &Option<DiscoveryListener>,
    buf: &mut [u8],
) -> std::io::Result<(usize, std::net::SocketAddrV4)> {
    match listener {
        Some(l) => l.recv(buf).await,
        None => std::future::pending().await,
    }
}

/// Listens for local discovery on the link of `local`, our Teredo socket's
/// endpoint towards the server (again if that changed); without it, local
/// discovery stays off.
fn listen_on_link(
    listener: &mut Option<DiscoveryListener>,
    pump: &Pump,
    tunnel: &mut TeredoTunnel,
    local: std::net::SocketAddrV4,
) {
    if listener
        .as_ref()
        .is_some_and(|l| l.link().addr == *local.ip())
    {
        return;
    }
    let opened = DiscoveryListener::open(local)
        .and_then(|l| pump.set_multicast_source(*local.ip()).map(|()| l));
    match opened {
        Ok(l) => {
            tunnel.set_local_link(Some(l.link()));
            *listener = Some(l);
        }
        Err(e) => {
            info!("local discovery off: {e}");
            tunnel.set_local_link(None);
            *listener = None;
        }
    }
}

async fn next_side(side: &mut Option<SideSockets>) -> Option<SideDatagram> {
    match side {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Closes the side sockets the tunnel gave back and binds those it wants.
fn keep_side_ports(side: &mut SideSockets, tunnel: &mut TeredoTunnel) {
    for via in tunnel.take_released_side_ports() {
        side.close(via);
    }
    for _ in 0..tunnel.side_ports_wanted() {
        match side.bind() {
            Ok(via) => tunnel.add_side_port(via),
            Err(e) => {
                // Without side sockets, reach peers as without prediction.
                warn!("Port prediction off: cannot bind a side socket: {e}");
                tunnel.set_port_prediction(false);
                break;
            }
        }
    }
}

async fn next_grant(task: &mut Option<PortMapTask>) -> Option<port_mapping::Granted> {
    match task {
        Some(t) => t.next().await,
        None => std::future::pending().await,
    }
}

async fn next_change(events: &mut Option<Events>) -> Option<NetEvent> {
    match events {
        Some(ev) => ev.next_event().await,
        None => std::future::pending().await,
    }
}

/// IPv4 changes that can move our NAT mapping; our own tunnel's link changes
/// (the hook bringing it up) are not among them.
fn is_relevant(ev: &NetEvent, tun_index: u32) -> bool {
    match ev {
        NetEvent::Ipv4AddrAdded { .. }
        | NetEvent::Ipv4AddrRemoved { .. }
        | NetEvent::Ipv4DefaultRouteChanged => true,
        NetEvent::LinkChanged { index, up } => *index != tun_index && *up,
        _ => false,
    }
}

fn went_up(q: &Qualified, st: &mut TunnelStatus) {
    info!("New Teredo address/MTU");
    info!("Teredo pseudo-tunnel started");
    info!(" (address: {}, MTU: {})", q.address, q.mtu);
    st.state = State::Up;
    st.server = q.teredo.server.to_string();
    st.address = Some(q.address);
    st.mtu = q.mtu;
    st.mapped = Some(q.mapping());
}

fn log_message(m: &LogMessage, servers: &[String]) {
    match m {
        LogMessage::NoReply => info!("No reply from Teredo server"),
        LogMessage::AuthFailed => error!("Authentication with server failed."),
        LogMessage::NonGlobalServer(_) => error!("Teredo server has a non global IPv4 address."),
        LogMessage::ResolveFailed => {
            let names: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
            error!("Cannot resolve Teredo server address {}", names.join(", "))
        }
        LogMessage::InvalidRa(why) => warn!("Ignoring router advertisement: {why}"),
    }
}

pub(crate) fn random_secret() -> Result<[u8; 16]> {
    let mut key = [0u8; 16];
    getrandom::getrandom(&mut key)
        .map_err(|e| anyhow::anyhow!("reading random bytes for the HMAC key: {e}"))?;
    Ok(key)
}
