//! Relay mode (`RelayType relay|cone|restricted`, RFC 4380 §5.4): the
//! bridge between Teredo clients and native IPv6.
//!
//! No qualification and no hook: the daemon configures its interface itself
//! (up, no ARP or multicast, `InterfaceMTU`, `fe80::ffff:ffff:ffff/64`,
//! redirects off, `<Prefix>/32` metric 1024), then runs the packet path of
//! [`teredo::relay`] in relay mode. Forwarding between the tunnel and the
//! native interface is the kernel's, as with miredo.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use netcfg::netlink::{Netlink, RouteSpec};
use netcfg::tun::Tun;
use teredo::addr::CLIENT_LINK_LOCAL;
use teredo::relay::{Config, Mode, TeredoTunnel};
use teredo::security::Secret;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::client::{Control, Stop};
use crate::dbus::Publisher;
use crate::pump::Pump;
use crate::status::TunnelStatus;

pub mod loops;

/// Metric of the `<Prefix>/32` route, as miredo sets it.
const PREFIX_ROUTE_METRIC: u32 = 1024;

/// How often the counters are published on D-Bus while they change.
const PUBLISH_EVERY: Duration = Duration::from_secs(2);

/// Everything the relay loop needs, opened beforehand.
pub struct RelaySetup {
    /// Bound UDP sockets: one per packet loop (several share the port,
    /// [`crate::udp::bind_group`]).
    pub sockets: Vec<std::net::UdpSocket>,
    /// The tunnel interface (its first queue; multi-queue with several
    /// sockets).
    pub tun: Arc<Tun>,
    /// The Teredo prefix served, as its first 32 bits (`Prefix`).
    pub prefix: u32,
    /// `RelayType relay|cone` (true) or `restricted` (false).
    pub cone: bool,
    /// `InterfaceMTU`.
    pub mtu: u16,
    /// `PeerQueueBudget`: bytes queued over all peers at most.
    pub queue_budget: usize,
}

/// Brings the relay interface up as miredo does (§4.7).
pub async fn configure_interface(tun: &Tun, prefix: u32, mtu: u16) -> Result<()> {
    let nl = Netlink::new().context("netlink")?;
    let idx = tun.index();
    nl.set_relay_flags(idx).await?;
    nl.set_mtu(idx, u32::from(mtu)).await?;
    if let Err(e) = netcfg::sysctl::set_accept_redirects(tun.name(), false) {
        warn!("{}: accept_redirects: {e}", tun.name());
    }
    nl.set_link_up(idx).await?;
    nl.add_address(idx, IpAddr::V6(CLIENT_LINK_LOCAL), 64, true)
        .await
        .or_else(already_there)?;
    let net = Ipv6Addr::from(u128::from(prefix) << 96);
    let route = RouteSpec::prefix(IpAddr::V6(net), 32, idx).metric(PREFIX_ROUTE_METRIC);
    nl.add_route(&route).await.or_else(already_there)?;
    Ok(())
}

fn already_there(e: netcfg::error::Error) -> std::result::Result<(), netcfg::error::Error> {
    if e.errno() == Some(libc::EEXIST) {
        Ok(())
    } else {
        Err(e)
    }
}

/// Runs the relay until told to stop. `bus` publishes its state and counters.
pub async fn run(
    setup: RelaySetup,
    bus: &Publisher,
    control: &mut mpsc::Receiver<Control>,
) -> Result<Stop> {
    let RelaySetup {
        mut sockets,
        tun,
        prefix,
        cone,
        mtu,
        queue_budget,
    } = setup;
    configure_interface(&tun, prefix, mtu)
        .await
        .context("configuring the relay interface")?;

    let mut status = TunnelStatus::new(tun.name().to_owned(), tun.index());
    status.state = teredo::maintain::State::Up;
    status.mtu = mtu;
    status.mode = if cone { "cone" } else { "restricted" };
    bus.update(&status).await;

    if sockets.len() > 1 {
        let shared = loops::Shared {
            cone,
            prefix,
            queue_budget,
        };
        return loops::run(sockets, tun, shared, &mut status, bus, control).await;
    }
    let socket = sockets.pop().context("no UDP socket")?;
    let mut pump = Pump::new(socket, tun)
        .context("registering the UDP socket")?
        .with_routable_errors();
    let secret = Secret::new(crate::client::random_secret()?);
    let start = Instant::now();
    let mut config = Config::new(Mode::Relay { cone, prefix }, std::process::id(), secret);
    config.queue_budget = queue_budget;
    let mut tunnel = TeredoTunnel::new(config, start);
    info!("Teredo relay started");

    let sleep = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    let mut publish_at = start + PUBLISH_EVERY;
    loop {
        let deadline = tunnel
            .poll_timeout()
            .map_or(publish_at, |t| t.min(publish_at));
        if Some(deadline) != armed {
            sleep.as_mut().reset(deadline.into());
            armed = Some(deadline);
        }
        tokio::select! {
            r = pump.udp_readable() => {
                if let Err(e) = r {
                    warn!("UDP receive error: {e}");
                    continue;
                }
                pump.udp_batch(&mut tunnel, None).await;
            }
            r = pump.tun_readable() => {
                if let Err(e) = r.and(pump.tun_batch(&mut tunnel).await) {
                    error!("tunnel read error: {e}");
                    return Err(e.into());
                }
            }
            c = control.recv() => match c {
                Some(Control::Stop(s)) => return Ok(s),
                // Nothing to re-qualify: a relay has no server.
                Some(Control::Requalify) => {}
                None => return Ok(Stop::Terminate),
            },
            () = &mut sleep => {
                armed = None;
                let now = Instant::now();
                pump.timeout(&mut tunnel, now).await;
                if now >= publish_at {
                    publish_at = now + PUBLISH_EVERY;
                    let peers = u32::try_from(tunnel.peers().len()).unwrap_or(u32::MAX);
                    if status.take_counts(peers, *tunnel.stats(), pump.path_stats()) {
                        bus.update(&status).await;
                    }
                }
            }
        }
    }
}
