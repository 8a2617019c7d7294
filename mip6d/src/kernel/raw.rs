//! The raw sockets of umip.md §5: the Mobility Header socket (protocol 135,
//! checksum at offset 4, HAO and RH2 read from ancillary data, RH2 written as
//! an `IPV6_RTHDR` control message), the ICMPv6 socket (RS/RA/NS/NA with a
//! type filter) and an `IPPROTO_RAW` socket for Neighbor Solicitations from
//! the unspecified address (DAD on the mobile node's behalf).
//!
//! Temporary home: netcfg is to get raw socket helpers; until they land these
//! live here, over libc, in the calling thread's network namespace.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

const IPPROTO_MH: i32 = 135;
const SOL_RAW: i32 = 255;
const IPV6_CHECKSUM: i32 = 7;
const IPV6_RECVPKTINFO: i32 = 49;
const IPV6_PKTINFO: i32 = 50;
const IPV6_RECVHOPLIMIT: i32 = 51;
const IPV6_HOPLIMIT: i32 = 52;
const IPV6_RECVRTHDR: i32 = 56;
const IPV6_RTHDR: i32 = 57;
const IPV6_RECVDSTOPTS: i32 = 58;
const IPV6_DSTOPTS: i32 = 59;
const ICMP6_FILTER: i32 = 1;
/// Home Address destination option (RFC 6275 §6.3).
const OPT_HOME_ADDRESS: u8 = 201;

/// One datagram received on a raw IPv6 socket, with what the kernel told
/// about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// IPv6 source as delivered (after the kernel's HAO swap: the home address).
    pub src: Ipv6Addr,
    /// IPv6 destination as delivered (after RH2 processing: the home address).
    pub dst: Ipv6Addr,
    /// Arrival interface.
    pub ifindex: u32,
    /// Hop limit, when asked for.
    pub hop_limit: Option<u8>,
    /// The address in the Home Address option, after the kernel's swap: the
    /// packet's original source, i.e. the care-of address.
    pub hao: Option<Ipv6Addr>,
    /// The address in the Type 2 routing header after processing: the
    /// packet's original destination, i.e. the care-of address.
    pub rh2: Option<Ipv6Addr>,
    /// The upper-layer message (MH or ICMPv6).
    pub payload: Vec<u8>,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: the pointer and length describe a live c_int.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn raw_socket(proto: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned from here on.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            proto,
        )
    })?;
    // SAFETY: fd was just returned by socket(2) and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn sockaddr(addr: Ipv6Addr, scope_id: u32) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = addr.octets();
    sa.sin6_scope_id = scope_id;
    sa
}

/// What goes into the control messages of one send.
#[derive(Debug, Clone, Copy, Default)]
struct SendCtl {
    src: Option<Ipv6Addr>,
    ifindex: u32,
    hop_limit: Option<u8>,
    rh2: Option<Ipv6Addr>,
}

/// A raw IPv6 socket registered with tokio.
#[derive(Debug)]
struct RawSocket {
    fd: AsyncFd<OwnedFd>,
}

impl RawSocket {
    fn new(fd: OwnedFd) -> io::Result<RawSocket> {
        // SAFETY: an OwnedFd is open and keeps returning the same descriptor
        // until the AsyncFd that owns it is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(RawSocket { fd })
    }

    fn raw(&self) -> RawFd {
        self.fd.get_ref().as_raw_fd()
    }

    async fn recv(&self) -> io::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| recv_once(fd.get_ref().as_raw_fd())) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    fn send(&self, dst: Ipv6Addr, scope_id: u32, payload: &[u8], ctl: SendCtl) -> io::Result<()> {
        send_once(self.raw(), dst, scope_id, payload, ctl)
    }
}

fn recv_once(fd: RawFd) -> io::Result<Received> {
    let mut buf = vec![0u8; 2048];
    let mut cbuf = [0u64; 64];
    // SAFETY: plain data.
    let mut from: libc::sockaddr_in6 = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: plain data; the pointers set below stay valid for the call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 64]>();
    // SAFETY: msg points at live buffers of the given lengths.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    let mut r = Received {
        src: Ipv6Addr::from(from.sin6_addr.s6_addr),
        dst: Ipv6Addr::UNSPECIFIED,
        ifindex: 0,
        hop_limit: None,
        hao: None,
        rh2: None,
        payload: buf,
    };
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled,
    // bounded by msg_controllen; each data pointer is read within cmsg_len.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = &*c;
            let data = libc::CMSG_DATA(c);
            let len = h.cmsg_len.saturating_sub(libc::CMSG_LEN(0) as usize);
            let bytes = std::slice::from_raw_parts(data, len);
            if h.cmsg_level == libc::IPPROTO_IPV6 {
                match h.cmsg_type {
                    IPV6_PKTINFO if len >= 20 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(&bytes[..16]);
                        r.dst = Ipv6Addr::from(a);
                        let mut i = [0u8; 4];
                        i.copy_from_slice(&bytes[16..20]);
                        r.ifindex = u32::from_ne_bytes(i);
                    }
                    IPV6_HOPLIMIT if len >= 4 => {
                        let mut v = [0u8; 4];
                        v.copy_from_slice(&bytes[..4]);
                        r.hop_limit = u8::try_from(i32::from_ne_bytes(v)).ok();
                    }
                    IPV6_DSTOPTS => r.hao = r.hao.or(find_hao(bytes)),
                    IPV6_RTHDR => r.rh2 = r.rh2.or(find_rh2(bytes)),
                    _ => {}
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(r)
}

/// The Home Address option's address in a destination options header.
fn find_hao(hdr: &[u8]) -> Option<Ipv6Addr> {
    let total = (usize::from(*hdr.get(1)?) + 1) * 8;
    let opts = hdr.get(2..total.min(hdr.len()))?;
    let mut i = 0;
    while i < opts.len() {
        let ty = opts[i];
        if ty == 0 {
            i += 1;
            continue;
        }
        let len = usize::from(*opts.get(i + 1)?);
        if ty == OPT_HOME_ADDRESS && len == 16 {
            let a: [u8; 16] = opts.get(i + 2..i + 18)?.try_into().ok()?;
            return Some(Ipv6Addr::from(a));
        }
        i += 2 + len;
    }
    None
}

/// The address of a Type 2 routing header.
fn find_rh2(hdr: &[u8]) -> Option<Ipv6Addr> {
    if hdr.len() < 24 || hdr[2] != 2 {
        return None;
    }
    let a: [u8; 16] = hdr[8..24].try_into().ok()?;
    Some(Ipv6Addr::from(a))
}

fn send_once(
    fd: RawFd,
    dst: Ipv6Addr,
    scope_id: u32,
    payload: &[u8],
    ctl: SendCtl,
) -> io::Result<()> {
    let sa = sockaddr(dst, scope_id);
    let mut cbuf = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: plain data; the pointers set below stay valid for the call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&sa as *const libc::sockaddr_in6 as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    let mut items: Vec<(i32, Vec<u8>)> = Vec::new();
    if ctl.src.is_some() || ctl.ifindex != 0 {
        let mut info = ctl.src.unwrap_or(Ipv6Addr::UNSPECIFIED).octets().to_vec();
        info.extend_from_slice(&ctl.ifindex.to_ne_bytes());
        items.push((IPV6_PKTINFO, info));
    }
    if let Some(h) = ctl.hop_limit {
        items.push((IPV6_HOPLIMIT, i32::from(h).to_ne_bytes().to_vec()));
    }
    if let Some(coa) = ctl.rh2 {
        // RFC 6275 §6.4: next header (filled by the kernel), length 2,
        // type 2, segments left 1, reserved, the one address.
        let mut rh = vec![0, 2, 2, 1, 0, 0, 0, 0];
        rh.extend_from_slice(&coa.octets());
        items.push((IPV6_RTHDR, rh));
    }
    if !items.is_empty() {
        // SAFETY: every CMSG_SPACE fits in cbuf (3 items of at most 24 bytes).
        let space: usize = items
            .iter()
            .map(|(_, d)| unsafe { libc::CMSG_SPACE(d.len() as u32) } as usize)
            .sum();
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: walking the control buffer just sized for these items.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            for (ty, data) in &items {
                if c.is_null() {
                    break;
                }
                (*c).cmsg_level = libc::IPPROTO_IPV6;
                (*c).cmsg_type = *ty;
                (*c).cmsg_len = libc::CMSG_LEN(data.len() as u32) as usize;
                std::ptr::copy_nonoverlapping(data.as_ptr(), libc::CMSG_DATA(c), data.len());
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
    }
    // SAFETY: msg points at live buffers of the given lengths.
    let n = unsafe { libc::sendmsg(fd, &msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The Mobility Header socket.
#[derive(Debug)]
pub struct MhSocket {
    sock: RawSocket,
}

impl MhSocket {
    /// Opens it: checksum offset 4, packet info, destination options and
    /// routing headers delivered as ancillary data.
    pub fn open() -> io::Result<MhSocket> {
        let fd = raw_socket(IPPROTO_MH)?;
        let raw = fd.as_raw_fd();
        setsockopt_int(raw, SOL_RAW, IPV6_CHECKSUM, 4)?;
        for opt in [IPV6_RECVPKTINFO, IPV6_RECVDSTOPTS, IPV6_RECVRTHDR] {
            setsockopt_int(raw, libc::IPPROTO_IPV6, opt, 1)?;
        }
        Ok(MhSocket {
            sock: RawSocket::new(fd)?,
        })
    }

    /// The next Mobility Header message (checksum already verified by the kernel).
    pub async fn recv(&self) -> io::Result<Received> {
        self.sock.recv().await
    }

    /// Sends `mh` (checksum left zero: the kernel fills it) from `src` to
    /// `dst`, out of `ifindex` if non-zero, with a Type 2 routing header
    /// carrying `rh2` if given (the packet then goes to `rh2` first and
    /// `dst` is the routing header's final address).
    pub fn send(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        ifindex: u32,
        rh2: Option<Ipv6Addr>,
        mh: &[u8],
    ) -> io::Result<()> {
        self.sock.send(
            dst,
            0,
            mh,
            SendCtl {
                src: Some(src),
                ifindex,
                hop_limit: None,
                rh2,
            },
        )
    }
}

/// The ICMPv6 socket, passing only the given types.
#[derive(Debug)]
pub struct Icmp6Socket {
    sock: RawSocket,
}

impl Icmp6Socket {
    /// Opens it with an `ICMP6_FILTER` passing `types`, packet info and hop
    /// limits delivered as ancillary data.
    pub fn open(types: &[u8]) -> io::Result<Icmp6Socket> {
        let fd = raw_socket(libc::IPPROTO_ICMPV6)?;
        let raw = fd.as_raw_fd();
        let mut filter = [u32::MAX; 8];
        for &t in types {
            filter[usize::from(t >> 5)] &= !(1u32 << (t & 31));
        }
        // SAFETY: the pointer and length describe the live 32-byte filter.
        cvt(unsafe {
            libc::setsockopt(
                raw,
                libc::IPPROTO_ICMPV6,
                ICMP6_FILTER,
                filter.as_ptr().cast(),
                size_of::<[u32; 8]>() as libc::socklen_t,
            )
        })?;
        setsockopt_int(raw, libc::IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)?;
        setsockopt_int(raw, libc::IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)?;
        Ok(Icmp6Socket {
            sock: RawSocket::new(fd)?,
        })
    }

    /// The next ICMPv6 message.
    pub async fn recv(&self) -> io::Result<Received> {
        self.sock.recv().await
    }

    /// Sends an ICMPv6 message (checksum filled by the kernel) with hop
    /// limit 255 out of `ifindex`, from `src` or the kernel's choice.
    pub fn send_nd(
        &self,
        src: Option<Ipv6Addr>,
        dst: Ipv6Addr,
        ifindex: u32,
        msg: &[u8],
    ) -> io::Result<()> {
        self.sock.send(
            dst,
            ifindex,
            msg,
            SendCtl {
                src,
                ifindex,
                hop_limit: Some(255),
                rh2: None,
            },
        )
    }
}

/// An `IPPROTO_RAW` socket: whole IPv6 packets, header included (for
/// Neighbor Solicitations from `::`, which the ICMPv6 socket cannot send).
#[derive(Debug)]
pub struct RawIp6Socket {
    fd: OwnedFd,
}

impl RawIp6Socket {
    /// Opens it.
    pub fn open() -> io::Result<RawIp6Socket> {
        Ok(RawIp6Socket {
            fd: raw_socket(libc::IPPROTO_RAW)?,
        })
    }

    /// Sends `packet` (a complete IPv6 packet) out of `ifindex`.
    pub fn send(&self, packet: &[u8], dst: Ipv6Addr, ifindex: u32) -> io::Result<()> {
        let sa = sockaddr(dst, ifindex);
        // SAFETY: buffer and address are live for the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&sa as *const libc::sockaddr_in6).cast(),
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// An IPv6 packet: header (hop limit 255, `next` as next header) + payload.
pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(40 + payload.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(
        &u16::try_from(payload.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    p.push(next);
    p.push(255);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// The solicited-node multicast address of `a` (RFC 4291 §2.7.1).
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hao_found_after_padding() {
        // next header, length 2 (24 bytes), PadN(2), HAO.
        let mut hdr = vec![135, 2, 1, 2, 0, 0, OPT_HOME_ADDRESS, 16];
        let a: Ipv6Addr = "2001:db8:a::100".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        hdr.extend_from_slice(&a.octets());
        assert_eq!(find_hao(&hdr), Some(a));
        assert_eq!(find_hao(&hdr[..10]), None);
    }

    #[test]
    fn rh2_address() {
        let a: Ipv6Addr = "2001:db8:a::100".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        let mut hdr = vec![135, 2, 2, 0, 0, 0, 0, 0];
        hdr.extend_from_slice(&a.octets());
        assert_eq!(find_rh2(&hdr), Some(a));
        hdr[2] = 0;
        assert_eq!(find_rh2(&hdr), None);
    }

    #[test]
    fn solicited_node_address() {
        let a: Ipv6Addr = "2001:db8:1::1:2345".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        assert_eq!(
            solicited_node(a),
            "ff02::1:ff01:2345"
                .parse::<Ipv6Addr>()
                .unwrap_or(Ipv6Addr::LOCALHOST)
        );
    }
}
