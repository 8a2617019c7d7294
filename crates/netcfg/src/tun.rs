//! A Linux TUN device carrying raw IPv6 packets.
//!
//! The device is opened with `IFF_TUN | IFF_NO_PI`: the kernel infers the
//! protocol from the version nibble, so what `recv` returns and `send` takes
//! is exactly an IPv6 packet. It is created *down*, with no address, like
//! miredo's. Closing the descriptor (dropping the [`Tun`]) removes the
//! interface, since it is never made persistent.
//!
//! With offloads ([`Tun::create_offloaded`]) it is opened with
//! `IFF_VNET_HDR` too and `TUNSETOFFLOAD` asks for TCP segmentation and
//! checksum offload (and UDP segmentation where the kernel has it, Linux
//! 6.2+): the kernel then passes TCP super-segments of up to 64 KiB, which
//! [`Tun::try_recv_batch`] cuts into MTU-sized packets, and takes coalesced
//! ones from [`Tun::try_send_batch`] (see [`crate::tun_offload`]).
//!
//! tun-rs stays behind this module; nothing else in the workspace names it.

use std::fs::OpenOptions;
use std::io::{self, ErrorKind};

use tracing::{info, warn};

use crate::error::strerror;
use crate::tun_gro::TunSendBatch;
use crate::tun_offload::TunRecvBatch;

/// Why a TUN device could not be created. The `Display` text is miredo's
/// own log line for the same failure, `%m` included.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TunError {
    /// `/dev/net/tun` could not be opened (missing in containers, no permission).
    #[error("Tunneling driver error (/dev/net/tun): {}", io_text(.0))]
    Open(#[source] io::Error),
    /// The requested name is longer than 15 bytes (or contains a NUL).
    #[error("Tunneling driver error (TUNSETIFF): {}", strerror(libc::ENAMETOOLONG))]
    NameTooLong(String),
    /// `TUNSETIFF` failed: the name is busy (`EBUSY`), used by a non-TUN
    /// interface (`EINVAL`), or we lack `CAP_NET_ADMIN` (`EPERM`).
    #[error("Tunneling driver error (TUNSETIFF): {}", io_text(.0))]
    SetIff(#[source] io::Error),
    /// Anything after the interface existed (index lookup, async registration).
    #[error("Linux tunneling interface creation failure: {}", io_text(.0))]
    Setup(#[source] io::Error),
}

impl TunError {
    /// The errno behind this error, when there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            TunError::NameTooLong(_) => Some(libc::ENAMETOOLONG),
            TunError::Open(e) | TunError::SetIff(e) | TunError::Setup(e) => e.raw_os_error(),
        }
    }

    /// True when another process already holds this interface name
    /// (miredo follows this with "Please make sure another instance of the
    /// program is not already running.").
    pub fn is_busy(&self) -> bool {
        self.errno() == Some(libc::EBUSY)
    }
}

fn io_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => strerror(errno),
        None => e.to_string(),
    }
}

/// An open TUN interface. Not `Clone`; share it behind an `Arc` (both
/// `recv` and `send` take `&self`).
pub struct Tun {
    dev: tun_rs::AsyncDevice,
    name: String,
    index: u32,
    offloads: Offloads,
}

/// Which offloads the kernel accepted for a TUN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offloads {
    /// `IFF_VNET_HDR` with `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6`.
    pub tcp: bool,
    /// `TUN_F_USO4 | TUN_F_USO6` as well.
    pub udp: bool,
}

impl std::fmt::Display for Offloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.tcp, self.udp) {
            (false, _) => f.write_str("none"),
            (true, false) => f.write_str("CSUM TSO4 TSO6"),
            (true, true) => f.write_str("CSUM TSO4 TSO6 USO4 USO6"),
        }
    }
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun")
            .field("name", &self.name)
            .field("index", &self.index)
            .field("offloads", &self.offloads)
            .finish()
    }
}

impl Tun {
    /// Create a TUN interface named `name` (the kernel picks `tun%d` when
    /// `None`). Must be called inside a tokio runtime. The interface is
    /// left down, in the network namespace of the calling thread.
    pub fn create(name: Option<&str>) -> Result<Tun, TunError> {
        Tun::create_offloaded(name, false)
    }

    /// Like [`Tun::create`]; with `offload`, asks for segmentation and
    /// checksum offloads. If the kernel refuses them the plain device is
    /// created instead and the refusal logged (once: this runs once per
    /// interface); [`Tun::offloads`] tells what is on.
    pub fn create_offloaded(name: Option<&str>, offload: bool) -> Result<Tun, TunError> {
        Tun::create_with(name, offload, false)
    }

    /// Like [`Tun::create_offloaded`], for an interface with several queues
    /// (`IFF_MULTI_QUEUE`): this is its first, and [`Tun::open_queue`] opens
    /// the others, one per packet loop.
    pub fn create_multi_queue(name: Option<&str>, offload: bool) -> Result<Tun, TunError> {
        Tun::create_with(name, offload, true)
    }

    /// Another queue of a multi-queue interface ([`Tun::create_multi_queue`]),
    /// with the same offloads, registered with the current tokio runtime: open
    /// it on the loop that will use it.
    ///
    /// Which queue the kernel gives a packet to: the one that last wrote a
    /// packet of the same flow (addresses and ports, either direction), else
    /// one picked by the flow's hash (Linux's automatic queue selection for
    /// TUN). A loop that writes a flow's packets therefore reads its answers.
    pub fn open_queue(&self) -> io::Result<Tun> {
        Ok(Tun {
            dev: self.dev.try_clone()?,
            name: self.name.clone(),
            index: self.index,
            offloads: self.offloads,
        })
    }

    fn create_with(name: Option<&str>, offload: bool, multi_queue: bool) -> Result<Tun, TunError> {
        if let Some(n) = name {
            if n.len() > wire6::IF_NAME_MAX || n.as_bytes().contains(&0) {
                return Err(TunError::NameTooLong(n.to_string()));
            }
            if n.is_empty() {
                return Err(TunError::SetIff(io::Error::from_raw_os_error(libc::EINVAL)));
            }
        }
        // Open once ourselves so that a missing or forbidden /dev/net/tun is
        // told apart from a TUNSETIFF refusal (tun-rs reports both alike).
        OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .map_err(TunError::Open)?;

        let build = |offload: bool| {
            let mut builder = tun_rs::DeviceBuilder::new()
                .layer(tun_rs::Layer::L3)
                .packet_information(false)
                .offload(offload)
                .multi_queue(multi_queue)
                .inherit_enable_state();
            if let Some(n) = name {
                builder = builder.name(n);
            }
            builder.build_async()
        };
        let dev = if offload {
            // A refused TUNSETOFFLOAD closes the descriptor, which removes the
            // (never persistent) interface: the plain retry starts afresh.
            // A refused TUNSETIFF fails the same way again and is reported.
            match build(true) {
                Ok(dev) => dev,
                Err(e) => {
                    let dev = build(false).map_err(TunError::SetIff)?;
                    warn!("TUN offloads unavailable ({e}); reading packets one by one");
                    dev
                }
            }
        } else {
            build(false).map_err(TunError::SetIff)?
        };
        let offloads = Offloads {
            tcp: dev.tcp_gso(),
            udp: dev.udp_gso(),
        };
        let name = dev.name().map_err(TunError::Setup)?;
        let index = dev.if_index().map_err(TunError::Setup)?;
        if offload && offloads.tcp {
            info!("TUN {name} offloads: {offloads}");
        }
        Ok(Tun {
            dev,
            name,
            index,
            offloads,
        })
    }

    /// The offloads the kernel accepted.
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// The interface name the kernel gave us.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Receive one IPv6 packet into `buf`; returns its length.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev.recv(buf).await
    }

    /// Send one IPv6 packet to the kernel.
    pub async fn send(&self, packet: &[u8]) -> io::Result<usize> {
        self.dev.send(packet).await
    }

    /// Try to receive without waiting (`WouldBlock` when nothing is queued).
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev.try_recv(buf)
    }

    /// Wait until a packet may be queued for reading (may be spurious: follow
    /// with [`Tun::try_recv`] until `WouldBlock`).
    pub async fn readable(&self) -> io::Result<()> {
        self.dev.readable().await
    }

    /// Try to send without waiting (`WouldBlock` when the kernel queue is full).
    pub fn try_send(&self, packet: &[u8]) -> io::Result<usize> {
        self.dev.try_send(packet)
    }

    /// Reads once without waiting (`WouldBlock` when nothing is queued) and
    /// leaves the packets in `batch`: one packet, or with offloads the
    /// MTU-sized packets a super-segment was cut into. A malformed
    /// super-segment is dropped with a warning (returns 0 packets).
    pub fn try_recv_batch(&self, batch: &mut TunRecvBatch) -> io::Result<usize> {
        if !self.offloads.tcp {
            let n = self.dev.try_recv(batch.read_buf())?;
            batch.set_plain(n);
            return Ok(1);
        }
        let n = self.dev.try_recv(batch.read_buf())?;
        let mtu = if n > 2 && batch.is_gso() {
            batch.mtu_with(|| self.dev.mtu())
        } else {
            usize::MAX
        };
        match batch.split(n, mtu) {
            Ok(count) => Ok(count),
            Err(e) => {
                warn!("dropping a TUN read: {e}");
                Ok(0)
            }
        }
    }

    /// Writes the queued packets to the kernel, coalesced when offloads are
    /// on, and empties `batch`. Waits only when the kernel queue is full.
    /// Returns how many writes it took, or the first error (the other
    /// packets are still written).
    pub async fn send_batch(&self, batch: &mut TunSendBatch) -> io::Result<usize> {
        let mut first_err = Ok(());
        let mut writes = 0;
        if self.offloads.tcp {
            batch.coalesce(self.offloads.udp);
            for frame in batch.frames() {
                writes += 1;
                if let Err(e) = self.send_waiting(frame).await {
                    first_err = first_err.and(Err(e));
                }
            }
        } else {
            for packet in batch.packets() {
                writes += 1;
                if let Err(e) = self.send_waiting(packet).await {
                    first_err = first_err.and(Err(e));
                }
            }
        }
        batch.clear();
        first_err.map(|()| writes)
    }

    async fn send_waiting(&self, frame: &[u8]) -> io::Result<usize> {
        match self.dev.try_send(frame) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => self.dev.send(frame).await,
            r => r,
        }
    }

    /// Set the transmit queue length (`ip link set txqueuelen`).
    pub fn set_txqueuelen(&self, len: u32) -> io::Result<()> {
        self.dev.set_tx_queue_len(len)
    }
}
