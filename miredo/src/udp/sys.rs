//! The batched UDP syscalls: `sendmmsg` with a `UDP_SEGMENT` control message
//! per GSO run, `recvmmsg` reading the `UDP_GRO` segment size (udp(7),
//! sendmmsg(2), recvmmsg(2)).
//!
//! Written on libc rather than taken from quinn-udp: quinn-udp sends one
//! `sendmsg` per transmit (no `sendmmsg`), so a relay answering many peers
//! would still pay a syscall per destination; the calls are few and small.
//! The message headers hold raw pointers into the caller's buffers, so they
//! live on the stack for the length of one call and never in a struct.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;

use super::runs::Run;

/// Most messages per `sendmmsg`/`recvmmsg` call (sizes the stack arrays).
pub const MAX_MESSAGES: usize = 64;

/// Room for the control messages of one datagram: one `c_int` or `u16`
/// (`CMSG_SPACE(4)` is 24 on 64-bit Linux), with space to spare.
const CMSG_ROOM: usize = 64;

/// 8-byte aligned control message room, as `cmsghdr` needs.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct CmsgBuf([u8; CMSG_ROOM]);

/// What one received message held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Sender (IPv4: the Teredo socket is IPv4).
    pub from: Option<SocketAddrV4>,
    /// Bytes in the message's buffer.
    pub len: usize,
    /// The `UDP_GRO` segment size: zero unless the kernel coalesced datagrams.
    pub segment: usize,
    /// The datagram did not fit its buffer.
    pub truncated: bool,
}

impl Received {
    /// No message.
    pub const EMPTY: Received = Received {
        from: None,
        len: 0,
        segment: 0,
        truncated: false,
    };
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = a.port().to_be();
    sa.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    sa
}

fn from_sockaddr(sa: &libc::sockaddr_in, len: libc::socklen_t) -> Option<SocketAddrV4> {
    if sa.sin_family != libc::AF_INET as libc::sa_family_t
        || (len as usize) < size_of::<libc::sockaddr_in>()
    {
        return None;
    }
    Some(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
        u16::from_be(sa.sin_port),
    ))
}

/// Sends the first [`MAX_MESSAGES`] of `runs` (bytes in `buf`) with one
/// `sendmmsg` (or `sendmsg` each when `mmsg` is false), a run of several
/// datagrams as one `UDP_SEGMENT` message. Returns how many runs went out
/// (at least one), or the error of the first, as `sendmmsg` does. A run
/// outside `buf` or with a segment size beyond 16 bits fails with
/// `InvalidInput`.
pub fn send_runs(fd: RawFd, buf: &[u8], runs: &[Run], mmsg: bool) -> io::Result<usize> {
    let n = runs.len().min(MAX_MESSAGES);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: these are plain C structs; all-zero is a valid value of each.
    let mut hdrs: [libc::mmsghdr; MAX_MESSAGES] = unsafe { zeroed() };
    let mut iovs: [libc::iovec; MAX_MESSAGES] = unsafe { zeroed() };
    let mut addrs: [libc::sockaddr_in; MAX_MESSAGES] = unsafe { zeroed() };
    let mut cmsgs = [CmsgBuf([0; CMSG_ROOM]); MAX_MESSAGES];
    // Stop before the first bad run: the ones before it go out, it then
    // fails alone at the head of the next call.
    let mut count = 0;
    for (i, run) in runs[..n].iter().enumerate() {
        let Some(bytes) = buf.get(run.bytes.clone()) else {
            break;
        };
        let segment = match u16::try_from(run.segment) {
            Ok(s) => s,
            Err(_) if !run.is_segmented() => 0,
            Err(_) => break,
        };
        addrs[i] = sockaddr(run.dst);
        iovs[i] = libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&mut addrs[i] as *mut libc::sockaddr_in).cast();
        h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        h.msg_iov = &mut iovs[i];
        h.msg_iovlen = 1;
        if run.is_segmented() {
            h.msg_control = cmsgs[i].0.as_mut_ptr().cast();
            // SAFETY: CMSG_SPACE only computes a size.
            h.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as _;
            // SAFETY: msg_control points at CMSG_ROOM aligned bytes, more
            // than the CMSG_SPACE(2) given in msg_controllen, so the first
            // header and its two data bytes lie inside the buffer.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(h);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = libc::UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), segment);
            }
        }
        count = i + 1;
    }
    if count == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "datagram outside the send buffer or segment too large",
        ));
    }
    if !mmsg {
        for (i, h) in hdrs[..count].iter().enumerate() {
            // SAFETY: the header points at live buffers set up above.
            let rc = unsafe { libc::sendmsg(fd, &h.msg_hdr, 0) };
            if rc < 0 {
                return if i == 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(i)
                };
            }
        }
        return Ok(count);
    }
    // SAFETY: `count` headers point at buffers that outlive the call.
    let rc = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), count as libc::c_uint, 0) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// Receives up to `meta.len()` (at most [`MAX_MESSAGES`]) messages with one
/// `recvmmsg` (or one `recvmsg` when `mmsg` is false), message `i` into
/// `buf[i * slot..(i + 1) * slot]`. Returns how many arrived; `meta` tells
/// their senders, lengths and GRO segment sizes.
pub fn recv_messages(
    fd: RawFd,
    buf: &mut [u8],
    slot: usize,
    meta: &mut [Received],
    mmsg: bool,
) -> io::Result<usize> {
    let n = meta.len().min(MAX_MESSAGES).min(buf.len() / slot.max(1));
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: these are plain C structs; all-zero is a valid value of each.
    let mut hdrs: [libc::mmsghdr; MAX_MESSAGES] = unsafe { zeroed() };
    let mut iovs: [libc::iovec; MAX_MESSAGES] = unsafe { zeroed() };
    let mut addrs: [libc::sockaddr_in; MAX_MESSAGES] = unsafe { zeroed() };
    let mut cmsgs = [CmsgBuf([0; CMSG_ROOM]); MAX_MESSAGES];
    for (i, chunk) in buf.chunks_exact_mut(slot).take(n).enumerate() {
        iovs[i] = libc::iovec {
            iov_base: chunk.as_mut_ptr().cast(),
            iov_len: chunk.len(),
        };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&mut addrs[i] as *mut libc::sockaddr_in).cast();
        h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        h.msg_iov = &mut iovs[i];
        h.msg_iovlen = 1;
        h.msg_control = cmsgs[i].0.as_mut_ptr().cast();
        h.msg_controllen = CMSG_ROOM as _;
    }
    let got = if mmsg {
        // SAFETY: `n` headers point at buffers that outlive the call.
        let rc = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                n as libc::c_uint,
                0,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        rc as usize
    } else {
        // SAFETY: the first header points at buffers that outlive the call.
        let rc = unsafe { libc::recvmsg(fd, &mut hdrs[0].msg_hdr, 0) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        hdrs[0].msg_len = rc as libc::c_uint;
        1
    };
    for (i, m) in meta.iter_mut().take(got).enumerate() {
        let h = &hdrs[i].msg_hdr;
        *m = Received {
            from: from_sockaddr(&addrs[i], h.msg_namelen),
            len: (hdrs[i].msg_len as usize).min(slot),
            segment: gro_segment(h),
            truncated: h.msg_flags & libc::MSG_TRUNC != 0,
        };
    }
    Ok(got)
}

/// The `UDP_GRO` segment size in a received message's control data, or 0.
fn gro_segment(h: &libc::msghdr) -> usize {
    // SAFETY: the kernel set msg_controllen to the control data it wrote into
    // msg_control; CMSG_FIRSTHDR/CMSG_NXTHDR stay within that length.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return usize::try_from(v).unwrap_or(0);
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    0
}

/// Sets an integer `SOL_UDP` option.
pub fn set_udp_option(fd: RawFd, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: setsockopt with a pointer to a c_int of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_UDP,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether the kernel knows `UDP_SEGMENT` (Linux 4.18): reading it fails
/// with `ENOPROTOOPT` where it does not.
pub fn has_udp_segment(fd: RawFd) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into a c_int of the stated size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0
}
