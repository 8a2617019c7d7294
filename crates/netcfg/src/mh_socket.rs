//! The Mobility Header socket (RFC 6275 §6.1): `SOCK_RAW`, protocol 135.
//!
//! Set up as UMIP's `mh.c` does (docs/protocol-notes.md#sockets): the kernel fills and checks
//! the MH checksum (checksum offset 4, set at the raw level), and each
//! received message comes with its destination address and interface
//! (`IPV6_PKTINFO`), the Destination Options header carrying a Home Address
//! option (`IPV6_DSTOPTS`) and a Type 2 routing header (`IPV6_RTHDR`).
//! On a `CONFIG_IPV6_MIP6` kernel both headers have already been processed
//! when the message arrives: the source address is the home address and the
//! HAO holds the care-of address; the destination is the home address and
//! the RH2 holds the care-of address.
//!
//! Sending to a mobile node at its care-of address (a Binding
//! Acknowledgement from the HA, or a CN's BA/BRR) uses an RH2 control
//! message: the datagram is addressed to the home address and the routing
//! header lists the care-of address as the first hop (RFC 3542 §7); the
//! kernel swaps them on the wire. An outgoing HAO is the XFRM `hao`
//! state's job, as in UMIP, but [`SendMeta::dstopts`] can carry one.

use std::io;
use std::net::Ipv6Addr;

use crate::error::{Error, Result};
use crate::raw6::Raw6;
pub use crate::raw6::{RecvMeta, SendMeta};

/// `IPPROTO_MH`.
pub const IPPROTO_MH: u8 = 135;
/// Where the checksum sits in a Mobility Header.
pub const MH_CHECKSUM_OFFSET: libc::c_int = 4;
/// Home Address option type (RFC 6275 §6.3).
pub const HAO_OPTION_TYPE: u8 = 201;

/// A Type 2 routing header (RFC 6275 §6.4) carrying `addr`:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Next Header  | Hdr Ext Len=2 | Routing Type=2|Segments Left=1|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            Reserved                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// +                         Home Address                          +
/// ```
///
/// For sending, Next Header is left 0: the kernel fills it in.
pub fn type2_routing_header(addr: Ipv6Addr) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[1] = 2;
    h[2] = 2;
    h[3] = 1;
    h[8..].copy_from_slice(&addr.octets());
    h
}

/// The address in a Type 2 routing header, `None` for anything else.
pub fn parse_type2_routing_header(h: &[u8]) -> Option<Ipv6Addr> {
    if h.len() < 24 || h[1] != 2 || h[2] != 2 {
        return None;
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(&h[8..24]);
    Some(Ipv6Addr::from(a))
}

/// A Destination Options header holding only a Home Address option, which
/// must start at 8n+6 (RFC 6275 §6.3): a 4-byte PadN goes first.
pub fn home_address_dstopts(addr: Ipv6Addr) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[1] = 2; // (2 + 1) * 8 = 24 bytes
    h[2] = 1; // PadN
    h[3] = 2;
    h[6] = HAO_OPTION_TYPE;
    h[7] = 16;
    h[8..].copy_from_slice(&addr.octets());
    h
}

/// The address of the Home Address option in a Destination Options
/// header, if it has one; `None` for a malformed header.
pub fn find_home_address_option(h: &[u8]) -> Option<Ipv6Addr> {
    let len = (usize::from(*h.get(1)?) + 1) * 8;
    let body = h.get(2..len)?;
    let mut i = 0;
    while i < body.len() {
        let ty = body[i];
        if ty == 0 {
            i += 1; // Pad1
            continue;
        }
        let olen = usize::from(*body.get(i + 1)?);
        let data = body.get(i + 2..i + 2 + olen)?;
        if ty == HAO_OPTION_TYPE && olen == 16 {
            let mut a = [0u8; 16];
            a.copy_from_slice(data);
            return Some(Ipv6Addr::from(a));
        }
        i += 2 + olen;
    }
    None
}

impl RecvMeta {
    /// The address in a received Home Address option (after the kernel's
    /// processing: the care-of address the peer sent from).
    pub fn hao_address(&self) -> Option<Ipv6Addr> {
        self.dstopts
            .iter()
            .find_map(|d| find_home_address_option(d))
    }

    /// The address in a received Type 2 routing header (after the kernel's
    /// processing: the care-of address the message was sent to).
    pub fn rh2_address(&self) -> Option<Ipv6Addr> {
        self.rthdr.as_deref().and_then(parse_type2_routing_header)
    }
}

/// A raw Mobility Header socket.
#[derive(Debug)]
pub struct MhSocket {
    raw: Raw6,
}

fn opt_err(what: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |e| Error::object("mh socket", what, e)
}

impl MhSocket {
    /// Open and configure the socket (in the calling thread's namespace).
    /// Needs `CAP_NET_RAW`; must be called inside a tokio runtime.
    pub fn open() -> Result<MhSocket> {
        let raw = Raw6::open(IPPROTO_MH).map_err(opt_err("socket(AF_INET6, SOCK_RAW, 135)"))?;
        raw.set_int(libc::SOL_RAW, libc::IPV6_CHECKSUM, MH_CHECKSUM_OFFSET)
            .map_err(opt_err("IPV6_CHECKSUM 4"))?;
        for (name, what) in [
            (libc::IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO"),
            (libc::IPV6_RECVDSTOPTS, "IPV6_RECVDSTOPTS"),
            (libc::IPV6_RECVRTHDR, "IPV6_RECVRTHDR"),
        ] {
            raw.set_int(libc::IPPROTO_IPV6, name, 1)
                .map_err(opt_err(what))?;
        }
        Ok(MhSocket { raw })
    }

    /// Asks for a receive buffer of `bytes`, so a burst of Binding Updates
    /// waits in the kernel instead of being dropped: `SO_RCVBUFFORCE`
    /// (beyond `net.core.rmem_max`, with `CAP_NET_ADMIN`), else `SO_RCVBUF`
    /// (capped by the kernel).
    pub fn set_recv_buffer(&self, bytes: i32) -> Result<()> {
        self.raw
            .set_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes)
            .or_else(|_| self.raw.set_int(libc::SOL_SOCKET, libc::SO_RCVBUF, bytes))
            .map_err(opt_err("SO_RCVBUF"))
    }

    /// Has the kernel drop Binding Updates with the H flag before they are
    /// queued on this socket (a classic BPF filter, `SO_ATTACH_FILTER`):
    /// beside a home agent, the correspondent node's socket would otherwise
    /// read every home registration only to ignore it, doubling the cost of
    /// each BU at the home agent. Anything shorter than a BU still comes
    /// through, so malformed messages are seen and counted.
    pub fn drop_home_binding_updates(&self) -> Result<()> {
        let program = home_bu_filter();
        let fprog = libc::sock_fprog {
            len: program.len() as u16,
            filter: program.as_ptr().cast_mut(),
        };
        self.raw
            .setsockopt(libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
            .map_err(opt_err("SO_ATTACH_FILTER (drop home BUs)"))
    }

    /// The checksum offset the kernel uses (4 once opened).
    pub fn checksum_offset(&self) -> Result<i32> {
        self.raw
            .getsockopt_int(libc::SOL_RAW, libc::IPV6_CHECKSUM)
            .map_err(opt_err("IPV6_CHECKSUM"))
    }

    /// Receive one Mobility Header message into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<RecvMeta> {
        self.raw
            .recv(buf)
            .await
            .map_err(|e| Error::io("mh recv", e))
    }

    /// Send `msg` (a Mobility Header, checksum left 0) to `dst`.
    pub async fn send(&self, msg: &[u8], dst: Ipv6Addr, meta: &SendMeta<'_>) -> Result<usize> {
        self.raw
            .send(msg, dst, 0, meta)
            .await
            .map_err(|e| Error::object("mh send", format!("to {dst}"), e))
    }

    /// Send `msg` to a mobile node's `home` address via its care-of
    /// address `coa`, with a Type 2 routing header (from `src` when given).
    pub async fn send_via_coa(
        &self,
        msg: &[u8],
        home: Ipv6Addr,
        coa: Ipv6Addr,
        src: Option<Ipv6Addr>,
    ) -> Result<usize> {
        let rh = type2_routing_header(coa);
        let meta = SendMeta {
            src,
            rthdr: Some(&rh),
            ..SendMeta::default()
        };
        self.raw
            .send(msg, home, 0, &meta)
            .await
            .map_err(|e| Error::object("mh send", format!("to {home} via {coa} (rh2)"), e))
    }
}

/// Classic BPF (`linux/filter.h`) opcodes the home-BU filter uses: class
/// (LD 0x00, JMP 0x05, RET 0x06) | size (W 0x00, B 0x10) | mode (ABS 0x20,
/// LEN 0x80) or jump test (JEQ 0x10, JGE 0x30, JSET 0x40), source K 0x00.
mod bpf {
    pub const LD_W_LEN: u16 = 0x80;
    pub const LD_B_ABS: u16 = 0x10 | 0x20;
    pub const JGE_K: u16 = 0x05 | 0x30;
    pub const JEQ_K: u16 = 0x05 | 0x10;
    pub const JSET_K: u16 = 0x05 | 0x40;
    pub const RET_K: u16 = 0x06;
}

/// Offset of the MH Type (RFC 6275 §6.1.1) and of a BU's flags byte
/// (§6.1.7: A, H, L, K after the 16-bit sequence number); a raw IPv6
/// socket's filter sees the message from the Mobility Header on.
const MH_TYPE_OFFSET: u32 = 2;
const BU_FLAGS_OFFSET: u32 = 8;
const MH_TYPE_BU: u32 = 5;
const BU_FLAG_H: u32 = 0x40;

/// Accept everything but a BU (long enough to have flags) with H set.
fn home_bu_filter() -> [libc::sock_filter; 8] {
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    [
        op(bpf::LD_W_LEN, 0, 0, 0),
        op(bpf::JGE_K, 0, 4, BU_FLAGS_OFFSET + 1), // too short: accept
        op(bpf::LD_B_ABS, 0, 0, MH_TYPE_OFFSET),
        op(bpf::JEQ_K, 0, 2, MH_TYPE_BU), // not a BU: accept
        op(bpf::LD_B_ABS, 0, 0, BU_FLAGS_OFFSET),
        op(bpf::JSET_K, 1, 0, BU_FLAG_H), // H: drop
        op(bpf::RET_K, 0, 0, u32::MAX),
        op(bpf::RET_K, 0, 0, 0),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rh2_and_hao_layouts() {
        let a: Ipv6Addr = "2001:db8:a::100".parse().unwrap();
        let rh = type2_routing_header(a);
        assert_eq!(&rh[..8], &[0, 2, 2, 1, 0, 0, 0, 0]);
        assert_eq!(parse_type2_routing_header(&rh), Some(a));
        let mut type0 = rh;
        type0[2] = 0;
        assert_eq!(parse_type2_routing_header(&type0), None);
        assert_eq!(parse_type2_routing_header(&rh[..20]), None);

        let d = home_address_dstopts(a);
        assert_eq!(&d[..8], &[0, 2, 1, 2, 0, 0, 201, 16]);
        // The option starts at offset 6 (8n+6), so the address is 8-aligned.
        assert_eq!(find_home_address_option(&d), Some(a));
        // Pad1 then a 3-byte PadN also reaches it; truncations are None.
        let mut p = d;
        p[2..6].copy_from_slice(&[0, 1, 1, 0]);
        assert_eq!(find_home_address_option(&p), Some(a));
        for cut in 0..24 {
            assert_eq!(find_home_address_option(&d[..cut]), None, "cut {cut}");
        }
        assert_eq!(find_home_address_option(&[0, 0, 1, 4, 0, 0, 0, 0]), None);
    }
}
