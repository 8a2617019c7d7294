//! The side sockets of port prediction (`teredo::relay::prediction`): one UDP
//! socket per peer reached through a predictable symmetric NAT, bound to a
//! port the kernel picks, on the Teredo socket's address.
//!
//! The client loop owns the [`SideSockets`] (binding, closing, receiving);
//! the packet path sends through their [`SideSenders`].
//!
//! Each socket has a reader task that hands what it receives to the client
//! loop through one channel, tagged with the socket's port, so the loop
//! waits on one receiver however many peers there are. These sockets carry
//! the bubbles and the traffic of a few peers, not the bulk path: a datagram
//! is one allocation and one syscall, without the batching of `pump`.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

/// Datagrams waiting for the loop, over all side sockets; more are dropped
/// (as a full socket buffer would drop them).
const BACKLOG: usize = 256;
/// Largest datagram read (a Teredo MTU packet with headers and trailers).
const MAX_DATAGRAM: usize = 65_535;

/// One datagram a side socket received.
#[derive(Debug)]
pub struct SideDatagram {
    /// The side socket's local port.
    pub via: u16,
    /// Its sender.
    pub from: SocketAddrV4,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

/// The sending half of the open side sockets, by local port: what the
/// packet path needs, shared with the [`SideSockets`] that open and close
/// them.
#[derive(Clone, Default)]
pub struct SideSenders {
    open: Arc<Mutex<HashMap<u16, Arc<UdpSocket>>>>,
}

impl SideSenders {
    fn get(&self, via: u16) -> Option<Arc<UdpSocket>> {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&via).cloned()
    }

    fn set(&self, via: u16, socket: Option<Arc<UdpSocket>>) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        match socket {
            Some(s) => open.insert(via, s),
            None => open.remove(&via),
        };
    }

    /// Sends `payload` from the side socket bound to `via` to `dst`, without
    /// waiting: a closed port, a full buffer or an error drops the datagram
    /// (logged), as the kernel would drop it on a full queue.
    pub fn send(&self, via: u16, dst: SocketAddrV4, payload: &[u8]) {
        let Some(socket) = self.get(via) else {
            debug!("side port {via} is closed: datagram to {dst} dropped");
            return;
        };
        if let Err(e) = socket.try_send_to(payload, SocketAddr::V4(dst)) {
            debug!("UDP send from side port {via} to {dst} failed: {e}");
        }
    }
}

/// The open side sockets: their readers, and where they deliver.
pub struct SideSockets {
    bind_ip: Ipv4Addr,
    senders: SideSenders,
    readers: HashMap<u16, JoinHandle<()>>,
    tx: mpsc::Sender<SideDatagram>,
    rx: mpsc::Receiver<SideDatagram>,
}

impl SideSockets {
    /// No socket yet; new ones bind to `bind_ip` (the Teredo socket's).
    pub fn new(bind_ip: Ipv4Addr) -> Self {
        let (tx, rx) = mpsc::channel(BACKLOG);
        SideSockets {
            bind_ip,
            senders: SideSenders::default(),
            readers: HashMap::new(),
            tx,
            rx,
        }
    }

    /// The sending half, for the packet path.
    pub fn senders(&self) -> SideSenders {
        self.senders.clone()
    }

    /// Binds a new side socket and starts its reader; returns its port.
    pub fn bind(&mut self) -> io::Result<u16> {
        let std_socket = std::net::UdpSocket::bind((self.bind_ip, 0))?;
        std_socket.set_nonblocking(true)?;
        let socket = Arc::new(UdpSocket::from_std(std_socket)?);
        let SocketAddr::V4(local) = socket.local_addr()? else {
            return Err(io::Error::other("not an IPv4 socket"));
        };
        let via = local.port();
        let reader = tokio::spawn(read_loop(socket.clone(), via, self.tx.clone()));
        self.senders.set(via, Some(socket));
        self.readers.insert(via, reader);
        Ok(via)
    }

    /// Closes the side socket bound to `via`, if open.
    pub fn close(&mut self, via: u16) {
        self.senders.set(via, None);
        if let Some(reader) = self.readers.remove(&via) {
            reader.abort();
        }
    }

    /// The next datagram any side socket received.
    pub async fn recv(&mut self) -> Option<SideDatagram> {
        self.rx.recv().await
    }
}

impl Drop for SideSockets {
    fn drop(&mut self) {
        for (via, reader) in self.readers.drain() {
            self.senders.set(via, None);
            reader.abort();
        }
    }
}

async fn read_loop(socket: Arc<UdpSocket>, via: u16, tx: mpsc::Sender<SideDatagram>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, SocketAddr::V4(from))) => {
                let payload = buf.get(..n).unwrap_or_default().to_vec();
                // A full backlog drops, as a full socket buffer would.
                if let Err(mpsc::error::TrySendError::Closed(_)) =
                    tx.try_send(SideDatagram { via, from, payload })
                {
                    return;
                }
            }
            Ok(_) => {}
            // ICMP errors from earlier sends surface here, once each.
            Err(e) => debug!("UDP receive error on side port {via}: {e}"),
        }
    }
}
