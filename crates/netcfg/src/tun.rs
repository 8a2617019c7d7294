//! A Linux TUN device carrying raw IPv6 packets.
//!
//! The device is opened with `IFF_TUN | IFF_NO_PI`: the kernel infers the
//! protocol from the version nibble, so what `recv` returns and `send` takes
//! is exactly an IPv6 packet. It is created *down*, with no address, like
//! miredo's. Closing the descriptor (dropping the [`Tun`]) removes the
//! interface, since it is never made persistent.
//!
//! tun-rs stays behind this module; nothing else in the workspace names it.

use std::fs::OpenOptions;
use std::io;

use crate::error::strerror;

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
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun")
            .field("name", &self.name)
            .field("index", &self.index)
            .finish()
    }
}

impl Tun {
    /// Create a TUN interface named `name` (the kernel picks `tun%d` when
    /// `None`). Must be called inside a tokio runtime. The interface is
    /// left down, in the network namespace of the calling thread.
    pub fn create(name: Option<&str>) -> Result<Tun, TunError> {
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

        let mut builder = tun_rs::DeviceBuilder::new()
            .layer(tun_rs::Layer::L3)
            .packet_information(false)
            .inherit_enable_state();
        if let Some(n) = name {
            builder = builder.name(n);
        }
        let dev = builder.build_async().map_err(TunError::SetIff)?;
        let name = dev.name().map_err(TunError::Setup)?;
        let index = dev.if_index().map_err(TunError::Setup)?;
        Ok(Tun { dev, name, index })
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

    /// Set the transmit queue length (`ip link set txqueuelen`).
    pub fn set_txqueuelen(&self, len: u32) -> io::Result<()> {
        self.dev.set_tx_queue_len(len)
    }
}
