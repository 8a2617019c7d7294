//! Raw IPv6 sockets with RFC 3542 ancillary data, under tokio.
//!
//! The common part of [`crate::mh_socket`] and [`crate::icmp6_socket`]: a
//! non-blocking `SOCK_RAW` socket registered with tokio's reactor, socket
//! options, and `recvmsg`/`sendmsg` with the control messages mip6d uses
//! (packet info, hop limit, routing header, destination options). For raw
//! IPv6 sockets the kernel hands over the payload after the IPv6 header and
//! its extension headers; those headers come as control messages.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// What came with a received datagram.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecvMeta {
    /// Payload length (the message itself is in the caller's buffer).
    pub len: usize,
    /// Source address (`msg_name`).
    pub src: Option<Ipv6Addr>,
    /// Destination address and arrival interface (`IPV6_PKTINFO`).
    pub dst: Option<Ipv6Addr>,
    pub ifindex: u32,
    /// `IPV6_HOPLIMIT`, when asked for.
    pub hop_limit: Option<u8>,
    /// The routing header as received (`IPV6_RTHDR`), e.g. a Type 2 one.
    pub rthdr: Option<Vec<u8>>,
    /// The Destination Options header(s) (`IPV6_DSTOPTS`), e.g. with a HAO.
    pub dstopts: Vec<Vec<u8>>,
    /// The payload did not fit the buffer (`MSG_TRUNC`).
    pub truncated: bool,
}

/// Ancillary data to send with one datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendMeta<'a> {
    /// Source address and/or outgoing interface (`IPV6_PKTINFO`); an
    /// unspecified address lets the kernel choose.
    pub src: Option<Ipv6Addr>,
    pub ifindex: u32,
    /// `IPV6_HOPLIMIT` for this datagram.
    pub hop_limit: Option<u8>,
    /// A complete routing header to insert (`IPV6_RTHDR`).
    pub rthdr: Option<&'a [u8]>,
    /// A complete Destination Options header to insert after the routing
    /// header (`IPV6_DSTOPTS`).
    pub dstopts: Option<&'a [u8]>,
}

/// A raw IPv6 socket for one protocol.
#[derive(Debug)]
pub(crate) struct Raw6 {
    fd: AsyncFd<OwnedFd>,
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl Raw6 {
    /// `socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto)`.
    pub(crate) fn open(proto: u8) -> io::Result<Raw6> {
        // SAFETY: socket(2) takes plain integers.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_INET6,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::c_int::from(proto),
            )
        })?;
        // SAFETY: fd is a new descriptor nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the OwnedFd is moved into the AsyncFd, which keeps the
        // descriptor open and unreplaced for as long as it is registered.
        let fd = unsafe {
            AsyncFd::register_with_interest(owned, Interest::READABLE | Interest::WRITABLE)?
        };
        Ok(Raw6 { fd })
    }

    pub(crate) fn raw_fd(&self) -> libc::c_int {
        self.fd.get_ref().as_raw_fd()
    }

    pub(crate) fn setsockopt<T>(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        value: &T,
    ) -> io::Result<()> {
        // SAFETY: value points to a live T of the size we pass.
        cvt(unsafe {
            libc::setsockopt(
                self.raw_fd(),
                level,
                name,
                (value as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        })
        .map(drop)
    }

    pub(crate) fn getsockopt_int(
        &self,
        level: libc::c_int,
        name: libc::c_int,
    ) -> io::Result<libc::c_int> {
        let mut v: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: v and len are live and sized as passed.
        cvt(unsafe {
            libc::getsockopt(
                self.raw_fd(),
                level,
                name,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        })?;
        Ok(v)
    }

    pub(crate) fn set_int(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        v: libc::c_int,
    ) -> io::Result<()> {
        self.setsockopt(level, name, &v)
    }

    /// Receive one datagram into `buf`.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<RecvMeta> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| recvmsg(fd.get_ref().as_raw_fd(), buf)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Send one datagram to `dst` with `meta`'s ancillary data.
    pub(crate) async fn send(
        &self,
        payload: &[u8],
        dst: Ipv6Addr,
        scope_id: u32,
        meta: &SendMeta<'_>,
    ) -> io::Result<usize> {
        let control = build_control(meta);
        loop {
            let mut guard = self.fd.writable().await?;
            match guard
                .try_io(|fd| sendmsg(fd.get_ref().as_raw_fd(), payload, dst, scope_id, &control))
            {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

fn sockaddr_in6(addr: Ipv6Addr, scope_id: u32) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = addr.octets();
    sa.sin6_scope_id = scope_id;
    sa
}

/// One control message: level, type, data.
type Cmsg = (libc::c_int, libc::c_int, Vec<u8>);

fn pktinfo_bytes(addr: Ipv6Addr, ifindex: u32) -> Vec<u8> {
    // struct in6_pktinfo { struct in6_addr ipi6_addr; int ipi6_ifindex; }
    let mut v = addr.octets().to_vec();
    v.extend_from_slice(&ifindex.to_ne_bytes());
    v
}

fn build_control(meta: &SendMeta<'_>) -> Vec<u8> {
    let mut msgs: Vec<Cmsg> = Vec::new();
    if meta.src.is_some() || meta.ifindex != 0 {
        let src = meta.src.unwrap_or(Ipv6Addr::UNSPECIFIED);
        msgs.push((
            libc::IPPROTO_IPV6,
            libc::IPV6_PKTINFO,
            pktinfo_bytes(src, meta.ifindex),
        ));
    }
    if let Some(h) = meta.hop_limit {
        msgs.push((
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            libc::c_int::from(h).to_ne_bytes().to_vec(),
        ));
    }
    if let Some(r) = meta.rthdr {
        msgs.push((libc::IPPROTO_IPV6, libc::IPV6_RTHDR, r.to_vec()));
    }
    if let Some(d) = meta.dstopts {
        msgs.push((libc::IPPROTO_IPV6, libc::IPV6_DSTOPTS, d.to_vec()));
    }
    encode_cmsgs(&msgs)
}

/// Lay control messages out as `CMSG_SPACE`-aligned `cmsghdr`s.
fn encode_cmsgs(msgs: &[Cmsg]) -> Vec<u8> {
    // SAFETY: CMSG_SPACE/CMSG_LEN are pure arithmetic.
    let total: usize = msgs
        .iter()
        .map(|(_, _, d)| unsafe { libc::CMSG_SPACE(d.len() as u32) } as usize)
        .sum();
    let mut buf = vec![0u8; total];
    let hdr = size_of::<libc::cmsghdr>();
    let mut off = 0;
    for (level, ty, data) in msgs {
        // SAFETY: as above.
        let len = unsafe { libc::CMSG_LEN(data.len() as u32) } as usize;
        let space = unsafe { libc::CMSG_SPACE(data.len() as u32) } as usize;
        let mut h: libc::cmsghdr = unsafe { std::mem::zeroed() };
        h.cmsg_len = len as _;
        h.cmsg_level = *level;
        h.cmsg_type = *ty;
        // SAFETY: cmsghdr is plain old data; we copy its bytes.
        let hb =
            unsafe { std::slice::from_raw_parts((&h as *const libc::cmsghdr).cast::<u8>(), hdr) };
        buf[off..off + hdr].copy_from_slice(hb);
        // CMSG_DATA is at CMSG_LEN(0) from the header.
        // SAFETY: CMSG_LEN only computes a length; it reads no memory.
        let data_off = unsafe { libc::CMSG_LEN(0) } as usize;
        buf[off + data_off..off + data_off + data.len()].copy_from_slice(data);
        off += space;
    }
    buf
}

fn sendmsg(
    fd: libc::c_int,
    payload: &[u8],
    dst: Ipv6Addr,
    scope_id: u32,
    control: &[u8],
) -> io::Result<usize> {
    let mut sa = sockaddr_in6(dst, scope_id);
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain old data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut sa as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !control.is_empty() {
        msg.msg_control = control.as_ptr() as *mut libc::c_void;
        msg.msg_controllen = control.len() as _;
    }
    // SAFETY: every pointer in msg refers to memory alive for the call; the
    // kernel only reads through them.
    let n = unsafe { libc::sendmsg(fd, &msg, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn recvmsg(fd: libc::c_int, buf: &mut [u8]) -> io::Result<RecvMeta> {
    let mut sa = MaybeUninit::<libc::sockaddr_in6>::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 128];
    // SAFETY: msghdr is plain old data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = sa.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 128]>() as _;
    // SAFETY: all buffers outlive the call and their sizes are as given.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut meta = RecvMeta {
        len: n as usize,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        ..RecvMeta::default()
    };
    if msg.msg_namelen as usize >= size_of::<libc::sockaddr_in6>() {
        // SAFETY: the kernel filled a sockaddr_in6 (it was zeroed before).
        let sa = unsafe { sa.assume_init() };
        meta.src = Some(Ipv6Addr::from(sa.sin6_addr.s6_addr));
    }
    let clen = (msg.msg_controllen as usize).min(size_of::<[u64; 128]>());
    // SAFETY: control is a live buffer of at least clen bytes.
    let cbytes = unsafe { std::slice::from_raw_parts(control.as_ptr().cast::<u8>(), clen) };
    for (level, ty, data) in decode_cmsgs(cbytes) {
        if level != libc::IPPROTO_IPV6 {
            continue;
        }
        match ty {
            libc::IPV6_PKTINFO if data.len() >= 20 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&data[..16]);
                meta.dst = Some(Ipv6Addr::from(a));
                meta.ifindex = u32::from_ne_bytes([data[16], data[17], data[18], data[19]]);
            }
            libc::IPV6_HOPLIMIT if data.len() >= 4 => {
                let h = i32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
                meta.hop_limit = u8::try_from(h).ok();
            }
            libc::IPV6_RTHDR => meta.rthdr = Some(data.to_vec()),
            libc::IPV6_DSTOPTS => meta.dstopts.push(data.to_vec()),
            _ => {}
        }
    }
    Ok(meta)
}

/// Walk a received control buffer; stops at the first malformed header.
pub fn decode_cmsgs(buf: &[u8]) -> Vec<(libc::c_int, libc::c_int, &[u8])> {
    let hdr = size_of::<libc::cmsghdr>();
    // SAFETY: pure arithmetic.
    let data_off = unsafe { libc::CMSG_LEN(0) } as usize;
    let align = size_of::<usize>();
    let mut out = Vec::new();
    let mut off = 0;
    while off + hdr <= buf.len() {
        let mut h = MaybeUninit::<libc::cmsghdr>::uninit();
        // SAFETY: hdr bytes are available at off; cmsghdr is plain old data.
        let h = unsafe {
            std::ptr::copy_nonoverlapping(buf[off..].as_ptr(), h.as_mut_ptr().cast::<u8>(), hdr);
            h.assume_init()
        };
        let len = h.cmsg_len as usize;
        // `cmsg_len` is a size_t as the kernel wrote it: checked, not trusted.
        let Some(end) = off
            .checked_add(len)
            .filter(|&e| len >= data_off && e <= buf.len())
        else {
            break;
        };
        out.push((h.cmsg_level, h.cmsg_type, &buf[off + data_off..end]));
        off += len.div_ceil(align) * align;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_round_trip() {
        let rh = [
            59u8, 2, 2, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        ];
        let meta = SendMeta {
            src: Some("2001:db8::1".parse().unwrap()),
            ifindex: 3,
            hop_limit: Some(255),
            rthdr: Some(&rh),
            dstopts: None,
        };
        let buf = build_control(&meta);
        let got = decode_cmsgs(&buf);
        assert_eq!(got.len(), 3);
        assert_eq!(
            (got[0].0, got[0].1),
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
        );
        assert_eq!(&got[0].2[..16], &meta.src.unwrap().octets());
        assert_eq!(&got[0].2[16..20], &3u32.to_ne_bytes());
        assert_eq!(got[1].1, libc::IPV6_HOPLIMIT);
        assert_eq!(got[1].2, &255i32.to_ne_bytes());
        assert_eq!((got[2].1, got[2].2), (libc::IPV6_RTHDR, &rh[..]));
        // A truncated header ends the walk instead of reading past the end.
        assert_eq!(decode_cmsgs(&buf[..buf.len() - 1]).len(), 2);
        assert!(decode_cmsgs(&[1, 2, 3]).is_empty());
    }

    #[test]
    fn a_huge_length_ends_the_walk() {
        // A first message of 16 octets, then one whose cmsg_len would
        // overflow the offset: the walk stops after the first.
        let mut buf = encode_cmsgs(&[(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, vec![0; 4])]);
        let first = buf.len();
        buf.extend_from_slice(&buf.clone());
        buf[first..first + size_of::<usize>()].copy_from_slice(&usize::MAX.to_ne_bytes());
        assert_eq!(decode_cmsgs(&buf).len(), 1);
    }
}
