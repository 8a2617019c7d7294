//! The packet path's I/O, shared by the client and relay drivers: moves
//! datagrams and tunnel packets through a [`TeredoTunnel`] in batches.
//!
//! Each readiness wake-up handles up to [`BATCH`] packets with non-blocking
//! calls, so a busy tunnel costs one `select!` per burst, not per packet; the
//! sends are non-blocking too and only a full buffer costs an await. On the
//! UDP side a batch is also few syscalls: datagrams arrive through
//! `recvmmsg` with GRO and leave through one `sendmmsg` with GSO runs
//! ([`crate::udp::batch`]), each still handled as a datagram of its own.

use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use netcfg::tun::Tun;
use netcfg::{TunRecvBatch, TunSendBatch};
use teredo::addr::TEREDO_PORT;
use teredo::relay::{Action, Outputs, TeredoTunnel};
use teredo::wire::{TeredoPacket, TeredoPacketRepr};
use tracing::{debug, warn};

use crate::udp::batch::{BatchSocket, BatchStats, Offloads};
use crate::udp::runs::Datagram;
use crate::udp::side::SideSenders;

/// Packets handled per readiness wake-up before timers and control get a
/// look: amortises the `select!` over a burst, bounds the latency of the rest.
pub const BATCH: usize = 64;

/// Output bytes after which a TUN batch sends what it has so far: a few
/// super-segments' worth, so the arena (never shrunk) stays small.
const FLUSH_AT: usize = 256 << 10;

/// How the packet path batched its system calls: the driver's counters,
/// published in the D-Bus `Counters` next to the tunnel's (docs/dbus.md).
/// Datagrams per receive call, or packets per tunnel write, show whether the
/// offloads and batches of docs/datapath.md are at work.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PathStats {
    /// The UDP socket's system calls, messages and datagrams, each way.
    pub udp: BatchStats,
    /// Reads from the tunnel interface that gave a packet.
    pub tun_reads: u64,
    /// Packets those reads gave (a super-segment is cut into several).
    pub tun_read_packets: u64,
    /// Writes to the tunnel interface (a coalesced run of packets is one).
    pub tun_writes: u64,
    /// Packets those writes carried.
    pub tun_write_packets: u64,
    /// A relay's loops: datagrams handed to the loop that owns their peer.
    pub handed_datagrams: u64,
    /// A relay's loops: tunnel packets handed to the loop that owns their
    /// peer.
    pub handed_tun_packets: u64,
}

impl PathStats {
    /// Every counter with its D-Bus name.
    pub fn named(&self) -> [(&'static str, u64); 12] {
        let u = &self.udp;
        [
            ("udp_recv_calls", u.recv_calls),
            ("udp_recv_messages", u.recv_messages),
            ("udp_recv_datagrams", u.recv_datagrams),
            ("udp_send_calls", u.send_calls),
            ("udp_send_messages", u.send_messages),
            ("udp_send_datagrams", u.send_datagrams),
            ("tun_reads", self.tun_reads),
            ("tun_read_packets", self.tun_read_packets),
            ("tun_writes", self.tun_writes),
            ("tun_write_packets", self.tun_write_packets),
            ("loop_handed_datagrams", self.handed_datagrams),
            ("loop_handed_tun_packets", self.handed_tun_packets),
        ]
    }
}

impl std::ops::AddAssign<&PathStats> for PathStats {
    /// Adds another loop's counters (a relay's packet loops, summed).
    fn add_assign(&mut self, o: &PathStats) {
        self.udp += &o.udp;
        self.tun_reads += o.tun_reads;
        self.tun_read_packets += o.tun_read_packets;
        self.tun_writes += o.tun_writes;
        self.tun_write_packets += o.tun_write_packets;
        self.handed_datagrams += o.handed_datagrams;
        self.handed_tun_packets += o.handed_tun_packets;
    }
}

/// The Teredo UDP socket and the TUN, with their buffers.
pub struct Pump {
    socket: BatchSocket,
    tun: Arc<Tun>,
    /// Where each of the batch's outgoing datagrams lies in the output arena.
    tx_list: Vec<Datagram>,
    /// What one TUN read gave (a super-segment cut to the MTU, with offloads).
    tun_rx: TunRecvBatch,
    /// Packets for the TUN, written (coalesced) once per batch.
    tun_tx: TunSendBatch,
    out: Outputs,
    /// Relay: ICMPv6 errors get a routable source before they go out.
    routable_errors: bool,
    /// Client with port prediction: the side sockets.
    side: Option<SideSenders>,
    /// The tunnel interface's share of [`PathStats`].
    tun_stats: PathStats,
}

/// Sees each datagram (parsed, and as received) before the tunnel does;
/// returns true when it took the packet (the client's qualification traffic,
/// a relay loop's datagrams for another loop).
pub type Diverter<'a> = dyn FnMut(Instant, SocketAddrV4, &TeredoPacketRepr<'_>, &[u8]) -> bool + 'a;

/// A packet one relay loop read for another ([`Pump::handed_over`]).
#[derive(Debug)]
pub enum HandedOver {
    /// A tunnel packet.
    Tun(Vec<u8>),
    /// A datagram and its sender.
    Udp(SocketAddrV4, Vec<u8>),
}

impl Pump {
    /// Registers `socket` (bound, still blocking) with the runtime.
    pub fn new(socket: std::net::UdpSocket, tun: Arc<Tun>) -> io::Result<Pump> {
        Pump::with_offloads(socket, tun, Offloads::ALL)
    }

    /// As [`Pump::new`], with only the UDP `offloads` given.
    pub fn with_offloads(
        socket: std::net::UdpSocket,
        tun: Arc<Tun>,
        offloads: Offloads,
    ) -> io::Result<Pump> {
        Ok(Pump {
            socket: BatchSocket::new(socket, offloads)?,
            tun,
            tx_list: Vec::new(),
            tun_rx: TunRecvBatch::new(),
            tun_tx: TunSendBatch::new(),
            out: Outputs::new(),
            routable_errors: false,
            side: None,
            tun_stats: PathStats::default(),
        })
    }

    /// What went through the UDP socket and the tunnel interface so far.
    pub fn path_stats(&self) -> PathStats {
        PathStats {
            udp: self.socket.stats(),
            ..self.tun_stats
        }
    }

    /// For a relay: ICMPv6 errors go to remote hosts, so each gets the source
    /// the kernel would use towards its destination before it is written to
    /// the tunnel (see [`routable_source`]).
    pub fn with_routable_errors(mut self) -> Pump {
        self.routable_errors = true;
        self
    }

    /// Where [`Action::TransmitVia`] outputs go: the client's side sockets
    /// (`teredo::relay::prediction`). Without them, such outputs are dropped.
    pub fn set_side_senders(&mut self, side: SideSenders) {
        self.side = Some(side);
    }

    /// Feeds a datagram a side socket received (port `via`) to the tunnel and
    /// carries out what it produced.
    pub async fn side_datagram(
        &mut self,
        tunnel: &mut TeredoTunnel,
        via: u16,
        from: SocketAddrV4,
        payload: &[u8],
    ) {
        let now = Instant::now();
        tunnel.handle_udp_packet_via(now, unix_secs(), from, Some(via), payload, &mut self.out);
        self.flush().await;
        self.write_tun().await;
    }

    /// The address and port our datagrams to `dst` leave from: the socket's own
    /// port, and its bound address or, when bound to any address, the source
    /// the kernel picks towards `dst` (found by connecting a socket that never
    /// sends). `None` if the kernel has no route or the socket no address.
    pub fn local_addr_towards(&self, dst: Ipv4Addr) -> Option<SocketAddrV4> {
        let SocketAddr::V4(bound) = self.socket.socket().local_addr().ok()? else {
            return None;
        };
        if !bound.ip().is_unspecified() {
            return Some(bound);
        }
        source_towards(SocketAddrV4::new(dst, TEREDO_PORT))
            .map(|ip| SocketAddrV4::new(ip, bound.port()))
    }

    /// The IPv4 address the Teredo socket is bound to (often unspecified).
    pub fn bound_ip(&self) -> Ipv4Addr {
        match self.socket.socket().local_addr() {
            Ok(SocketAddr::V4(a)) => *a.ip(),
            _ => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// Waits until a datagram may be readable: at once while datagrams of
    /// the last receive are still to be handled.
    pub async fn udp_readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Waits until a tunnel packet may be readable.
    pub async fn tun_readable(&self) -> io::Result<()> {
        self.tun.readable().await
    }

    /// Handles up to [`BATCH`] datagrams. Each is offered to `divert` first
    /// (the client's qualification packets); what it declines goes through
    /// `tunnel`, and the tunnel's outputs are carried out at the end, or
    /// before `divert` takes one. Datagrams received but not yet handled
    /// wait for the next call ([`Pump::udp_readable`] is ready at once).
    pub async fn udp_batch(
        &mut self,
        tunnel: &mut TeredoTunnel,
        mut divert: Option<&mut Diverter<'_>>,
    ) {
        let now = Instant::now();
        let secs = unix_secs();
        for _ in 0..BATCH {
            let (from, data) = match self.socket.try_recv() {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => {
                    // ICMP errors from earlier sends surface here, once each.
                    debug!("UDP receive error: {e}");
                    break;
                }
            };
            if let Some(divert) = divert.as_mut() {
                if let Ok(pkt) = TeredoPacket::parse(data) {
                    if divert(now, from, &pkt, data) {
                        // The caller acts on it before reading more.
                        break;
                    }
                }
            }
            tunnel.handle_udp_packet(now, secs, from, data, &mut self.out);
        }
        self.flush().await;
        self.write_tun().await;
    }

    /// Reads up to [`BATCH`] times from the tunnel interface; each packet a
    /// read gave (with offloads, each MTU-sized piece of a super-segment) goes
    /// through `tunnel` on its own. A read error other than "nothing queued"
    /// is fatal.
    pub async fn tun_batch(&mut self, tunnel: &mut TeredoTunnel) -> io::Result<()> {
        self.tun_batch_with(tunnel, |_| false).await
    }

    /// [`Pump::tun_batch`], each packet first offered to `hand_off`, which
    /// takes (returns true for) those another packet loop owns.
    pub async fn tun_batch_with(
        &mut self,
        tunnel: &mut TeredoTunnel,
        mut hand_off: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<()> {
        let now = Instant::now();
        let secs = unix_secs();
        for _ in 0..BATCH {
            match self.tun.try_recv_batch(&mut self.tun_rx) {
                Ok(n) => {
                    self.tun_stats.tun_reads += 1;
                    self.tun_stats.tun_read_packets += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.write_tun().await;
                    return Err(e);
                }
            }
            for packet in self.tun_rx.packets() {
                if !hand_off(packet) {
                    tunnel.handle_tun_packet(now, secs, packet, &mut self.out);
                }
            }
            // Datagrams wait for the batch's end (longer GSO runs, fewer
            // `sendmmsg`), but the arena stays small.
            if self.out.arena().len() >= FLUSH_AT {
                self.flush().await;
            }
        }
        self.flush().await;
        self.write_tun().await;
        Ok(())
    }

    /// Packets another packet loop read and handed over: each goes through
    /// `tunnel`, and what they produced is carried out.
    pub async fn handed_over(&mut self, tunnel: &mut TeredoTunnel, packets: &[HandedOver]) {
        let now = Instant::now();
        let secs = unix_secs();
        for packet in packets {
            match packet {
                HandedOver::Tun(p) => tunnel.handle_tun_packet(now, secs, p, &mut self.out),
                HandedOver::Udp(from, d) => {
                    tunnel.handle_udp_packet(now, secs, *from, d, &mut self.out)
                }
            }
        }
        self.flush().await;
        self.write_tun().await;
    }

    /// Runs the tunnel's timers and carries out what they produced.
    pub async fn timeout(&mut self, tunnel: &mut TeredoTunnel, now: Instant) {
        tunnel.handle_timeout(now);
        self.flush().await;
        self.write_tun().await;
    }

    /// Feeds a datagram from the local discovery group to the tunnel and
    /// carries out what it produced (RFC 4380 §5.2.8).
    pub async fn discovery_datagram(
        &mut self,
        tunnel: &mut TeredoTunnel,
        now: Instant,
        from: SocketAddrV4,
        payload: &[u8],
    ) {
        tunnel.handle_discovery_datagram(now, from, payload, &mut self.out);
        self.flush().await;
    }

    /// Sends the periodic local discovery bubble, if due.
    pub async fn send_discovery(&mut self, tunnel: &mut TeredoTunnel, now: Instant) {
        tunnel.send_discovery(now, &mut self.out);
        self.flush().await;
    }

    /// Multicast from the Teredo socket (local discovery bubbles) leaves
    /// through the interface of `local`, for the link only, and does not
    /// come back to us.
    pub fn set_multicast_source(&self, local: Ipv4Addr) -> io::Result<()> {
        let s = socket2::SockRef::from(self.socket.socket());
        s.set_multicast_if_v4(&local)?;
        s.set_multicast_ttl_v4(1)?;
        s.set_multicast_loop_v4(false)
    }

    /// Sends one datagram (qualification traffic); errors are logged, not fatal.
    pub async fn send_to(&self, dst: SocketAddrV4, payload: &[u8]) {
        if let Err(e) = self.socket.socket().send_to(payload, dst).await {
            // ICMP errors from earlier sends surface here; they are not fatal.
            debug!("UDP send to {dst} failed: {e}");
        }
    }

    /// Carries out the tunnel's outputs: the datagrams gathered into one
    /// batch (GSO runs, one `sendmmsg`), packets for the tunnel interface
    /// queued for [`Pump::write_tun`]. The non-blocking sends succeed almost
    /// always (the TUN never blocks a writer, a full socket buffer waits).
    async fn flush(&mut self) {
        self.tx_list.clear();
        for i in 0..self.out.len() {
            let Some(o) = self.out.get(i) else {
                break;
            };
            let (action, range) = (o.action, o.range);
            match action {
                Action::Transmit(dst) => {
                    // Consecutive datagrams to one peer sit back to back in
                    // the arena: the batch sends them as one GSO run.
                    self.tx_list.push((dst, range));
                }
                Action::TransmitVia(via, dst) => {
                    if let Some(side) = &self.side {
                        side.send(via, dst, &self.out.arena()[range]);
                    }
                }
                Action::Icmpv6Error(dst) if self.routable_errors => {
                    // A relay's error is for a remote host: the kernel
                    // forwards it from the tunnel once its source is routable.
                    let packet = &mut self.out.arena_mut()[range];
                    match routable_source(dst) {
                        Ok(src) if teredo::wire::set_source(packet, src) => {
                            self.tun_tx.push(packet);
                        }
                        Ok(_) => {}
                        Err(e) => debug!("ICMPv6 error to {dst} not sent: {e}"),
                    }
                }
                // A client's ICMPv6 errors are for local senders: the kernel
                // delivers them from the tunnel like any received error.
                Action::ToTun | Action::Icmpv6Error(_) => {
                    self.tun_tx.push(&self.out.arena()[range]);
                }
            }
        }
        if !self.tx_list.is_empty() {
            self.socket
                .send_batch(self.out.arena(), &self.tx_list)
                .await;
        }
        self.out.clear();
    }

    /// Writes the packets queued for the tunnel interface in one go, TCP
    /// segments of a flow coalesced when the TUN has offloads (the kernel
    /// then takes a whole run as one packet). Errors are logged.
    async fn write_tun(&mut self) {
        if self.tun_tx.is_empty() {
            return;
        }
        let packets = self.tun_tx.len() as u64;
        match self.tun.send_batch(&mut self.tun_tx).await {
            Ok(writes) => {
                self.tun_stats.tun_writes += writes as u64;
                self.tun_stats.tun_write_packets += packets;
            }
            Err(e) => warn!("tunnel write error: {e}"),
        }
    }
}

/// The source address the kernel would give a packet to `dst` (RFC 6724
/// source selection, as RFC 4443 §2.2 (c) asks of an ICMPv6 error), found by
/// connecting a UDP socket that never sends. A fresh socket each time: once
/// connected, a socket keeps its source. The ICMPv6 rate limit (10 per
/// second) bounds the cost.
fn routable_source(dst: Ipv6Addr) -> io::Result<Ipv6Addr> {
    let s = std::net::UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))?;
    s.connect((dst, 9))?;
    match s.local_addr()? {
        SocketAddr::V6(a) if !a.ip().is_unspecified() => Ok(*a.ip()),
        _ => Err(io::Error::new(ErrorKind::AddrNotAvailable, "no source")),
    }
}

/// The IPv4 address the kernel sends from towards `dst` (found by
/// connecting a socket that never sends); `None` without a route.
pub fn source_towards(dst: SocketAddrV4) -> Option<Ipv4Addr> {
    let probe = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    probe.connect(dst).ok()?;
    match probe.local_addr().ok()? {
        SocketAddr::V4(a) if !a.ip().is_unspecified() => Some(*a.ip()),
        _ => None,
    }
}

/// Seconds since the epoch, truncated: the clock of the bubble and ping-test
/// keyed hashes.
pub fn unix_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{BatchStats, PathStats};

    /// The path's counters share the D-Bus `Counters` map with the tunnel's:
    /// a name used twice would hide one of them.
    #[test]
    fn path_counter_names_are_their_own() {
        let tunnel = teredo::relay::Stats::default().named();
        let path = PathStats::default().named();
        let mut seen = HashSet::new();
        for (name, _) in tunnel.iter().chain(path.iter()) {
            assert!(seen.insert(*name), "{name} twice");
        }
    }

    #[test]
    fn loops_sum_every_path_counter() {
        let one = PathStats {
            udp: BatchStats {
                recv_calls: 1,
                recv_messages: 2,
                recv_datagrams: 3,
                send_calls: 4,
                send_messages: 5,
                send_datagrams: 6,
            },
            tun_reads: 7,
            tun_read_packets: 8,
            tun_writes: 9,
            tun_write_packets: 10,
            handed_datagrams: 11,
            handed_tun_packets: 12,
        };
        let mut sum = one;
        sum += &one;
        let doubled: Vec<u64> = one.named().iter().map(|(_, v)| v * 2).collect();
        let summed: Vec<u64> = sum.named().iter().map(|(_, v)| *v).collect();
        assert_eq!(summed, doubled);
    }
}
