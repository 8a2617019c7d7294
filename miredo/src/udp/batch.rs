//! The Teredo UDP socket with batched, offloaded I/O: datagrams arrive
//! through `recvmmsg` with `UDP_GRO` and leave through one `sendmmsg` per
//! batch with a `UDP_SEGMENT` message per run of equal-size datagrams to one
//! destination. Callers still see single datagrams each way, so the RFC 4380
//! §5.2 checks run on each one as before.

use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, RawFd};

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::runs::{group_runs, next_gro_datagram, Datagram, Run};
use super::sys::{self, Received};
use std::net::SocketAddrV4;

/// Messages per `recvmmsg`. With GRO one message may hold dozens of
/// datagrams; without it this many datagrams cost one syscall.
pub const RECV_MESSAGES: usize = 16;

/// Bytes per receive message: the largest GRO buffer (the kernel coalesces
/// up to 64 KiB) or the largest IPv4 UDP payload (65507). The 1 MiB of
/// receive buffers is allocated zeroed, so only the pages datagrams reach
/// become resident.
const SLOT: usize = 1 << 16;

/// Which offloads to try; each falls back on its own where the kernel
/// refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offloads {
    /// Send runs of datagrams as one `UDP_SEGMENT` message.
    pub gso: bool,
    /// Let the kernel coalesce received datagrams (`UDP_GRO`).
    pub gro: bool,
    /// Use `sendmmsg`/`recvmmsg` (else one `sendmsg`/`recvmsg` per message).
    pub mmsg: bool,
}

impl Offloads {
    /// Everything the kernel offers.
    pub const ALL: Offloads = Offloads {
        gso: true,
        gro: true,
        mmsg: true,
    };
    /// One datagram per syscall, as a socket without any of them.
    pub const NONE: Offloads = Offloads {
        gso: false,
        gro: false,
        mmsg: false,
    };
}

/// What went through the socket: syscalls, messages (a GSO or GRO message
/// carries several datagrams) and datagrams, each way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    /// Receive syscalls that returned messages.
    pub recv_calls: u64,
    /// Messages received (a GRO message holds several datagrams).
    pub recv_messages: u64,
    /// Datagrams handed out.
    pub recv_datagrams: u64,
    /// Send syscalls that sent messages.
    pub send_calls: u64,
    /// Messages sent (a GSO message holds several datagrams).
    pub send_messages: u64,
    /// Datagrams sent.
    pub send_datagrams: u64,
}

impl std::ops::AddAssign<&BatchStats> for BatchStats {
    /// Adds another socket's counts (a relay's packet loops, summed).
    fn add_assign(&mut self, o: &BatchStats) {
        self.recv_calls += o.recv_calls;
        self.recv_messages += o.recv_messages;
        self.recv_datagrams += o.recv_datagrams;
        self.send_calls += o.send_calls;
        self.send_messages += o.send_messages;
        self.send_datagrams += o.send_datagrams;
    }
}

/// The UDP socket and its batch buffers.
pub struct BatchSocket {
    socket: UdpSocket,
    offloads: Offloads,
    /// Received messages, [`SLOT`] bytes each.
    rx_buf: Vec<u8>,
    rx_meta: [Received; RECV_MESSAGES],
    /// Messages in `rx_buf` from the last receive.
    rx_filled: usize,
    /// The message being handed out and the end of its last datagram handed.
    rx_msg: usize,
    rx_cursor: Option<usize>,
    /// The runs of the batch being sent (kept for its storage).
    runs: Vec<Run>,
    stats: BatchStats,
}

impl BatchSocket {
    /// Registers `socket` (bound) with the runtime and turns on the
    /// `offloads` the kernel supports, logging the ones it refuses.
    pub fn new(socket: std::net::UdpSocket, mut offloads: Offloads) -> io::Result<BatchSocket> {
        socket.set_nonblocking(true)?;
        let fd = socket.as_raw_fd();
        if offloads.gro {
            if let Err(e) = sys::set_udp_option(fd, libc::UDP_GRO, 1) {
                info!("UDP receive offload (GRO) not available: {e}");
                offloads.gro = false;
            }
        }
        if offloads.gso && !sys::has_udp_segment(fd) {
            info!("UDP segmentation offload (GSO) not available");
            offloads.gso = false;
        }
        Ok(BatchSocket {
            socket: UdpSocket::from_std(socket)?,
            offloads,
            rx_buf: vec![0u8; RECV_MESSAGES * SLOT],
            rx_meta: [Received::EMPTY; RECV_MESSAGES],
            rx_filled: 0,
            rx_msg: 0,
            rx_cursor: None,
            runs: Vec::new(),
            stats: BatchStats::default(),
        })
    }

    /// The socket, for single sends and addresses.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The offloads in use (fewer than asked once the kernel refused one).
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// Counts of what went through so far.
    pub fn stats(&self) -> BatchStats {
        self.stats
    }

    /// Waits until a datagram may be read: at once while received ones are
    /// still to be handed out.
    pub async fn readable(&self) -> io::Result<()> {
        if self.rx_msg < self.rx_filled {
            return Ok(());
        }
        self.socket.readable().await
    }

    /// The next received datagram and its sender, one at a time even when
    /// the kernel delivered several in one buffer; `Ok(None)` when none is
    /// queued. Errors (ICMP errors of earlier sends surface here) are for
    /// the caller to log.
    pub fn try_recv(&mut self) -> io::Result<Option<(SocketAddrV4, &[u8])>> {
        loop {
            while self.rx_msg < self.rx_filled {
                let m = self.rx_meta[self.rx_msg];
                let next = next_gro_datagram(m.len, m.segment, self.rx_cursor);
                match (next, m.from) {
                    (Some(range), Some(from)) if !m.truncated => {
                        self.rx_cursor = Some(range.end);
                        self.stats.recv_datagrams += 1;
                        let base = self.rx_msg * SLOT;
                        let data = &self.rx_buf[base + range.start..base + range.end];
                        return Ok(Some((from, data)));
                    }
                    (next, _) => {
                        if next.is_some() {
                            debug!("UDP datagram dropped: truncated or not from IPv4");
                        }
                        self.rx_msg += 1;
                        self.rx_cursor = None;
                    }
                }
            }
            self.rx_filled = 0;
            self.rx_msg = 0;
            self.rx_cursor = None;
            let fd = self.socket.as_raw_fd();
            let mmsg = self.offloads.mmsg;
            let r = self.socket.try_io(Interest::READABLE, || {
                sys::recv_messages(fd, &mut self.rx_buf, SLOT, &mut self.rx_meta, mmsg)
            });
            match r {
                Ok(n) => {
                    self.rx_filled = n;
                    self.stats.recv_calls += 1;
                    self.stats.recv_messages += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) && self.offloads.mmsg => {
                    info!("recvmmsg not available: receiving one datagram per call");
                    self.offloads.mmsg = false;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends the `datagrams` (destination and range of `buf` each): runs of
    /// equal-size datagrams to one destination as one GSO message, all of
    /// them with as few `sendmmsg` calls as the kernel takes. Waits for room
    /// when the socket buffer is full; a datagram the kernel refuses is
    /// logged and dropped, as a lone send's would be.
    pub async fn send_batch(&mut self, buf: &[u8], datagrams: &[Datagram]) {
        self.runs.clear();
        if self.offloads.gso {
            group_runs(datagrams, &mut self.runs);
        } else {
            self.runs.extend(datagrams.iter().map(single));
        }
        let fd = self.socket.as_raw_fd();
        let mut done = 0;
        while done < self.runs.len() {
            match self.try_send_from(fd, buf, done) {
                Ok(n) => {
                    let sent = self.runs.get(done..done + n).unwrap_or_default();
                    // Without sendmmsg each message was a call.
                    self.stats.send_calls += if self.offloads.mmsg { 1 } else { n as u64 };
                    self.stats.send_messages += n as u64;
                    self.stats.send_datagrams += sent.iter().map(|r| r.count as u64).sum::<u64>();
                    done += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if let Err(e) = self.socket.writable().await {
                        warn!("UDP socket not writable: {e}");
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if gso_refused(&e) && self.runs[done].is_segmented() => {
                    // No checksum offload on the route (EIO), or a segment
                    // the route cannot carry unfragmented (EINVAL): GSO off
                    // for good, this batch's rest resent one by one.
                    warn!("UDP segmentation offload refused ({e}): sending datagrams one by one");
                    self.offloads.gso = false;
                    let rest: Vec<Run> = self.runs[done..]
                        .iter()
                        .flat_map(|r| r.datagrams().map(|b| single(&(r.dst, b))))
                        .collect();
                    self.runs.truncate(done);
                    self.runs.extend(rest);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) && self.offloads.mmsg => {
                    info!("sendmmsg not available: sending one message per call");
                    self.offloads.mmsg = false;
                }
                Err(e) => {
                    // ICMP errors from earlier sends surface here; they are not fatal.
                    debug!("UDP send to {} failed: {e}", self.runs[done].dst);
                    done += 1;
                }
            }
        }
    }

    fn try_send_from(&self, fd: RawFd, buf: &[u8], from: usize) -> io::Result<usize> {
        let runs = &self.runs[from..];
        let mmsg = self.offloads.mmsg;
        self.socket
            .try_io(Interest::WRITABLE, || sys::send_runs(fd, buf, runs, mmsg))
    }
}

/// A datagram as a run of its own.
fn single((dst, bytes): &Datagram) -> Run {
    Run {
        dst: *dst,
        bytes: bytes.clone(),
        segment: bytes.len(),
        count: 1,
    }
}

/// The errors with which a kernel turns down a `UDP_SEGMENT` message it
/// cannot segment (udp(7); Linux's UDP send path).
fn gso_refused(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL))
}
