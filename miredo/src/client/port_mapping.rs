//! The client's port mapping on its NAT (`PortMapping`, our extension): a
//! task that asks the default gateway for a mapping of the Teredo port —
//! PCP, then NAT-PMP (the sans-IO `portmap::PortMapper`, over a socket of its
//! own), then UPnP IGD — keeps it renewed, and deletes it when told to stop.
//!
//! The client loop says when a mapping is wanted ([`PortMapTask::map`]) and
//! hears what the NAT granted ([`PortMapTask::next`]); a gateway that
//! refuses, or none at all, only means the client works without one.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use portmap::upnp::{UpnpGateway, UpnpMapping};
use portmap::{Config, Event, PortMapper, Protocol};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info};

/// How long a UPnP search or request may take.
const UPNP_TIMEOUT: Duration = Duration::from_secs(2);
/// The UPnP lease asked for; renewed at half of it.
const UPNP_LEASE: Duration = Duration::from_secs(3600);
/// How long stopping may take to delete the mapping before the daemon exits.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// What the mapping is called on the gateway (UPnP's description).
const DESCRIPTION: &str = "miredo-rs Teredo client";

/// What the NAT granted: the protocol (`none` when nothing) and where peers
/// reach the client's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    /// `none`, `pcp`, `nat-pmp` or `upnp` (the D-Bus `PortMapping`).
    pub protocol: &'static str,
    /// The public address and port of the mapping.
    pub external: Option<SocketAddrV4>,
}

impl Granted {
    const NONE: Granted = Granted {
        protocol: "none",
        external: None,
    };
}

enum Request {
    /// Map this local UDP port to this public endpoint (again, if the
    /// gateway, our address or the endpoint moved).
    Map(u16, SocketAddrV4),
    /// No mapping needed any more: delete it.
    Unmap,
}

/// The handle of the port-mapping task.
pub struct PortMapTask {
    requests: mpsc::Sender<Request>,
    granted: mpsc::Receiver<Granted>,
    task: tokio::task::JoinHandle<()>,
}

impl PortMapTask {
    /// Starts the task; it does nothing until [`PortMapTask::map`].
    pub fn spawn() -> Self {
        let (requests, rx) = mpsc::channel(8);
        let (tx, granted) = mpsc::channel(8);
        let task = tokio::spawn(run(rx, tx));
        PortMapTask {
            requests,
            granted,
            task,
        }
    }

    /// Asks for a mapping of the local UDP port `port` to `external`, the
    /// public endpoint the Teredo server sees (our address names it).
    pub fn map(&self, port: u16, external: SocketAddrV4) {
        let _ = self.requests.try_send(Request::Map(port, external));
    }

    /// Deletes the mapping, if any.
    pub fn unmap(&self) {
        let _ = self.requests.try_send(Request::Unmap);
    }

    /// The next change of what the NAT granted.
    pub async fn next(&mut self) -> Option<Granted> {
        self.granted.recv().await
    }

    /// Deletes the mapping (bounded in time) and ends the task.
    pub async fn stop(self) {
        drop(self.requests);
        let mut task = self.task;
        if tokio::time::timeout(STOP_TIMEOUT, &mut task).await.is_err() {
            debug!("port mapping: not deleted in time");
            task.abort();
        }
    }
}

async fn run(mut requests: mpsc::Receiver<Request>, granted: mpsc::Sender<Granted>) {
    let mut session: Option<Session> = None;
    let mut told = Granted::NONE;
    loop {
        let update = tokio::select! {
            r = requests.recv() => match r {
                None => break,
                Some(Request::Unmap) => {
                    if let Some(s) = session.take() {
                        s.close().await;
                    }
                    Granted::NONE
                }
                Some(Request::Map(port, external)) => {
                    let Some(target) = Target::find(port, external).await else {
                        debug!("port mapping: no default gateway");
                        continue;
                    };
                    if session.as_ref().is_some_and(|s| s.target == target) {
                        continue;
                    }
                    if let Some(s) = session.take() {
                        s.close().await;
                    }
                    match Session::open(target).await {
                        Ok(s) => session = Some(s),
                        Err(e) => debug!("port mapping: {e}"),
                    }
                    Granted::NONE
                }
            },
            g = next_grant(&mut session) => g,
        };
        if update != told {
            told = update;
            if granted.send(update).await.is_err() {
                break;
            }
        }
    }
    if let Some(s) = session.take() {
        s.close().await;
    }
}

async fn next_grant(session: &mut Option<Session>) -> Granted {
    match session {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Which port to map, on which gateway, from which local address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target {
    gateway: Ipv4Addr,
    local: SocketAddrV4,
    /// The public endpoint asked for.
    external: SocketAddrV4,
}

impl Target {
    async fn find(port: u16, external: SocketAddrV4) -> Option<Target> {
        let route = tokio::task::spawn_blocking(portmap::gateway::default_route)
            .await
            .ok()?
            .ok()??;
        // The address the kernel sends from towards the gateway: PCP wants it
        // in the request (RFC 6887 §8.1), NAT-PMP and UPnP map to it.
        let gateway = SocketAddrV4::new(route.gateway, portmap::mapper::SERVER_PORT);
        let local = crate::pump::source_towards(gateway)?;
        Some(Target {
            gateway: route.gateway,
            local: SocketAddrV4::new(local, port),
            external,
        })
    }
}

/// A UPnP mapping being asked for, in a task of its own: the session's
/// future is dropped whenever the client loop has a new request, and the
/// request on the gateway must not be lost with it (the mapping would stay
/// there for its whole lease, unknown to us).
type UpnpAttempt = tokio::task::JoinHandle<Option<(UpnpGateway, UpnpMapping)>>;

/// One mapping's life on one gateway.
struct Session {
    target: Target,
    socket: UdpSocket,
    /// PCP and NAT-PMP; `None` once UPnP holds the mapping.
    mapper: Option<PortMapper>,
    upnp: Option<(UpnpGateway, UpnpMapping)>,
    upnp_attempt: Option<UpnpAttempt>,
    upnp_renew_at: Option<Instant>,
    granted: Granted,
}

impl Session {
    async fn open(target: Target) -> std::io::Result<Session> {
        let socket = UdpSocket::bind(SocketAddrV4::new(*target.local.ip(), 0)).await?;
        Ok(Session {
            target,
            socket,
            mapper: Some(mapper_for(&target)?),
            upnp: None,
            upnp_attempt: None,
            upnp_renew_at: None,
            granted: Granted::NONE,
        })
    }

    /// Runs until what is granted changes.
    async fn next(&mut self) -> Granted {
        let mut buf = [0u8; 1100];
        loop {
            let deadline = [
                self.mapper.as_ref().and_then(PortMapper::poll_timeout),
                self.upnp_renew_at,
            ]
            .into_iter()
            .flatten()
            .min();
            let out = tokio::select! {
                r = self.socket.recv_from(&mut buf) => match (r, self.mapper.as_mut()) {
                    (Ok((n, SocketAddr::V4(from))), Some(m)) => {
                        m.handle_packet(Instant::now(), from, &buf[..n])
                    }
                    _ => continue,
                },
                attempt = upnp_done(&mut self.upnp_attempt) => {
                    self.upnp_attempt = None;
                    match attempt {
                        Some((gateway, m)) => self.use_upnp(gateway, m),
                        None => self.granted = Granted::NONE,
                    }
                    return self.granted;
                }
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    if self.upnp_renew_at.is_some_and(|t| now >= t) {
                        self.renew_upnp().await;
                    }
                    match self.mapper.as_mut() {
                        Some(m) => m.handle_timeout(now),
                        None => portmap::Outputs::default(),
                    }
                }
            };
            self.send(&out.transmits).await;
            for ev in out.events {
                self.event(ev).await;
            }
            if let Some(e) = self.granted.external.filter(|e| *e != self.target.external) {
                // Peers reach us where our address says, the endpoint the
                // server sees: another port is of no use. Give it back.
                info!(
                    "port mapping: the NAT gave {e}, not {}: not used",
                    self.target.external
                );
                self.release().await;
            }
            return self.granted;
        }
    }

    async fn send(&self, transmits: &[portmap::Transmit]) {
        for t in transmits {
            if let Err(e) = self.socket.send_to(&t.payload, t.dst).await {
                debug!("port mapping: sending to {}: {e}", t.dst);
            }
        }
    }

    async fn event(&mut self, ev: Event) {
        match ev {
            Event::Mapped {
                protocol, external, ..
            } => {
                let protocol = match protocol {
                    Protocol::Pcp => "pcp",
                    Protocol::NatPmp => "nat-pmp",
                };
                self.granted = Granted {
                    protocol,
                    external: Some(external),
                };
            }
            Event::Lost => self.granted = Granted::NONE,
            Event::Failed(why) => {
                debug!("port mapping: PCP and NAT-PMP: {why:?}; trying UPnP");
                self.granted = Granted::NONE;
                if self.upnp.is_none() && self.upnp_attempt.is_none() {
                    let (local, port) = (self.target.local, self.target.external.port());
                    self.upnp_attempt = Some(tokio::spawn(try_upnp(local, port)));
                }
            }
        }
    }

    /// UPnP holds the mapping now; PCP and NAT-PMP stop asking.
    fn use_upnp(&mut self, gateway: UpnpGateway, m: UpnpMapping) {
        self.mapper = None;
        self.upnp_renew_at = m.renew_after().map(|d| Instant::now() + d);
        self.granted = Granted {
            protocol: "upnp",
            external: Some(m.external),
        };
        self.upnp = Some((gateway, m));
    }

    /// Waits (bounded) for a UPnP request still under way, so that what it
    /// made is deleted with the rest.
    async fn settle_upnp(&mut self) {
        let Some(attempt) = self.upnp_attempt.take() else {
            return;
        };
        match tokio::time::timeout(STOP_TIMEOUT, attempt).await {
            Ok(Ok(Some(made))) => self.upnp = Some(made),
            Ok(_) => {}
            Err(_) => debug!("port mapping: UPnP request still under way; not deleted"),
        }
    }

    async fn renew_upnp(&mut self) {
        self.upnp_renew_at = None;
        let Some((gateway, m)) = self.upnp.take() else {
            return;
        };
        match gateway.renew(&m, UPNP_LEASE, DESCRIPTION).await {
            Ok(m) => {
                self.upnp_renew_at = m.renew_after().map(|d| Instant::now() + d);
                self.granted.external = Some(m.external);
                self.upnp = Some((gateway, m));
            }
            Err(e) => {
                // Gone: back to asking with PCP and NAT-PMP first.
                info!("port mapping: UPnP renewal failed: {e}");
                self.granted = Granted::NONE;
                self.mapper = mapper_for(&self.target).ok();
            }
        }
    }

    /// Deletes the mapping and asks no more.
    async fn release(&mut self) {
        self.settle_upnp().await;
        if let Some(m) = self.mapper.as_mut() {
            let out = m.stop(Instant::now());
            self.send(&out.transmits).await;
        }
        self.mapper = None;
        if let Some((gateway, m)) = self.upnp.take() {
            if let Err(e) = gateway.unmap(&m).await {
                debug!("port mapping: UPnP delete: {e}");
            }
        }
        self.upnp_renew_at = None;
        self.granted = Granted::NONE;
    }

    /// Deletes the mapping (best effort).
    async fn close(mut self) {
        self.settle_upnp().await;
        if let Some(m) = self.mapper.as_mut() {
            let out = m.stop(Instant::now());
            self.send(&out.transmits).await;
        }
        if let Some((gateway, m)) = self.upnp.take() {
            if let Err(e) = gateway.unmap(&m).await {
                debug!("port mapping: UPnP delete: {e}");
            }
        }
    }
}

/// Asks the UPnP IGD on our link for `port` on its public side, forwarded to
/// `local`: the gateway and the mapping it made, if it did.
async fn try_upnp(local: SocketAddrV4, port: u16) -> Option<(UpnpGateway, UpnpMapping)> {
    let gateway = match UpnpGateway::discover(*local.ip(), UPNP_TIMEOUT).await {
        Ok(g) => g,
        Err(e) => {
            debug!("port mapping: UPnP: {e}");
            return None;
        }
    };
    match gateway
        .map_udp_at(local, port, UPNP_LEASE, DESCRIPTION)
        .await
    {
        Ok(m) => Some((gateway, m)),
        Err(e) => {
            info!("port mapping: UPnP gateway refused: {e}");
            None
        }
    }
}

/// The end of a UPnP request under way; never, without one.
async fn upnp_done(attempt: &mut Option<UpnpAttempt>) -> Option<(UpnpGateway, UpnpMapping)> {
    match attempt {
        Some(a) => a.await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// A PCP/NAT-PMP state machine for `target`, with a fresh nonce.
fn mapper_for(target: &Target) -> std::io::Result<PortMapper> {
    let mut nonce = [0u8; 12];
    getrandom::getrandom(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
    let config = Config::new(
        *target.local.ip(),
        target.local.port(),
        target.gateway,
        nonce,
    )
    .with_suggested_external(target.external);
    Ok(PortMapper::new(config, Instant::now()))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
