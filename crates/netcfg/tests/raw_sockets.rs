//! The Mobility Header and ICMPv6 raw sockets over loopback in a fresh
//! namespace: options, ancillary data both ways, type filters. What needs
//! CONFIG_IPV6_MIP6 (RH2/HAO processing) is checked in the VM
//! (tests/tests/vm_kernel.rs, `kernel_ops sockets`).

#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv6Addr;
use std::time::Duration;

use common::{ip, netns};
use netcfg::icmp6_socket::{
    Icmp6Filter, Icmp6Socket, Ip6RawSender, ND_NEIGHBOR_ADVERT, ND_ROUTER_SOLICIT,
};
use netcfg::mh_socket::{type2_routing_header, MhSocket, SendMeta};
use netcfg::Netlink;

const WAIT: Duration = Duration::from_secs(5);

/// A Binding Refresh Request (MH type 0, RFC 6275 §6.1.2): payload proto
/// 59, header length 0 (8 bytes), checksum left to the kernel.
const BRR: [u8; 8] = [59, 0, 0, 0, 0, 0, 0, 0];

#[test]
fn mh_socket_round_trip_on_loopback() {
    netns(|| async {
        Netlink::new().unwrap().set_link_up(1).await.unwrap();
        let tx = MhSocket::open().unwrap();
        let rx = MhSocket::open().unwrap();
        assert_eq!(rx.checksum_offset().unwrap(), 4);
        let meta = SendMeta {
            src: Some(Ipv6Addr::LOCALHOST),
            ..SendMeta::default()
        };
        assert_eq!(tx.send(&BRR, Ipv6Addr::LOCALHOST, &meta).await.unwrap(), 8);
        let mut buf = [0u8; 64];
        let got = tokio::time::timeout(WAIT, rx.recv(&mut buf))
            .await
            .expect("no MH message on the loopback")
            .unwrap();
        assert_eq!(got.len, 8);
        assert_eq!(got.src, Some(Ipv6Addr::LOCALHOST));
        assert_eq!(got.dst, Some(Ipv6Addr::LOCALHOST));
        assert_eq!(got.ifindex, 1);
        assert_eq!((got.rthdr.clone(), got.dstopts.len()), (None, 0));
        assert_eq!(buf[2], 0, "MH type");
        // The kernel filled the checksum in (offset 4) and verified it on
        // the way in (a wrong one is dropped).
        assert_ne!(&buf[4..6], &[0, 0]);
    });
}

/// A BU (RFC 6275 §6.1.7) with `flags`, padded to 16 bytes (PadN).
fn bu(flags: u8) -> [u8; 16] {
    [59, 1, 5, 0, 0, 0, 0, 7, flags, 0, 0, 1, 1, 2, 0, 0]
}

/// The home-BU filter: a socket with it does not see BUs with H, but sees
/// BUs without H and other messages; one without it sees all.
#[test]
fn mh_socket_filter_drops_home_binding_updates() {
    netns(|| async {
        Netlink::new().unwrap().set_link_up(1).await.unwrap();
        let tx = MhSocket::open().unwrap();
        let all = MhSocket::open().unwrap();
        let filtered = MhSocket::open().unwrap();
        filtered.drop_home_binding_updates().unwrap();
        let meta = SendMeta {
            src: Some(Ipv6Addr::LOCALHOST),
            ..SendMeta::default()
        };
        for msg in [&bu(0xc0)[..], &bu(0x80)[..], &BRR[..]] {
            tx.send(msg, Ipv6Addr::LOCALHOST, &meta).await.unwrap();
        }
        let mut buf = [0u8; 64];
        for (sock, want) in [
            (&all, vec![(5, 0xc0), (5, 0x80), (0, 0)]),
            (&filtered, vec![(5, 0x80), (0, 0)]),
        ] {
            for (ty, flags) in want {
                let got = tokio::time::timeout(WAIT, sock.recv(&mut buf))
                    .await
                    .expect("an MH message missing")
                    .unwrap();
                let seen_flags = if got.len >= 9 { buf[8] } else { 0 };
                assert_eq!((buf[2], seen_flags), (ty, flags));
            }
        }
        // (Loopback delivers in order: an H BU let through would have come
        // first.)
    });
}

/// A kernel without CONFIG_IPV6_MIP6 refuses a Type 2 routing header in
/// ancillary data; the error names the send. (In the VM it goes out.)
#[test]
fn mh_send_with_rh2_needs_mip6_or_goes_out() {
    netns(|| async {
        Netlink::new().unwrap().set_link_up(1).await.unwrap();
        let tx = MhSocket::open().unwrap();
        let rh = type2_routing_header(Ipv6Addr::LOCALHOST);
        assert_eq!(&rh[..4], &[0, 2, 2, 1]);
        match tx
            .send_via_coa(
                &BRR,
                "2001:db8:1::100".parse().unwrap(),
                Ipv6Addr::LOCALHOST,
                None,
            )
            .await
        {
            Ok(n) => {
                eprintln!("rh2 send went out (MIP6 kernel)");
                assert_eq!(n, 8)
            }
            Err(e) => {
                assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
                assert_eq!(
                    e.to_string(),
                    "mh send to 2001:db8:1::100 via ::1 (rh2): Invalid argument (os error 22)"
                );
            }
        }
    });
}

/// Hop limit 255 and packet info come with each message; the mobile
/// node's filter passes an NA but not an Echo Request sent before it.
#[test]
fn icmp6_socket_filter_and_ancillary_data() {
    netns(|| async {
        Netlink::new().unwrap().set_link_up(1).await.unwrap();
        let tx = Icmp6Socket::open(Icmp6Filter::block_all()).unwrap();
        let mn = Icmp6Socket::open(Icmp6Filter::mobile_node()).unwrap();
        let all = Icmp6Socket::open(Icmp6Filter::pass_all()).unwrap();
        let echo = [128u8, 0, 0, 0, 0, 1, 0, 1];
        let mut na = [0u8; 24];
        na[0] = ND_NEIGHBOR_ADVERT;
        na[8..].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
        let meta = SendMeta::default();
        tx.send(&echo, Ipv6Addr::LOCALHOST, &meta).await.unwrap();
        tx.send(&na, Ipv6Addr::LOCALHOST, &meta).await.unwrap();

        let mut buf = [0u8; 64];
        let got = tokio::time::timeout(WAIT, mn.recv(&mut buf))
            .await
            .expect("the MN socket got nothing")
            .unwrap();
        assert_eq!(
            buf[0], ND_NEIGHBOR_ADVERT,
            "the echo request passed the filter"
        );
        assert_eq!(got.hop_limit, Some(255));
        assert_eq!((got.dst, got.ifindex), (Some(Ipv6Addr::LOCALHOST), 1));

        let got = tokio::time::timeout(WAIT, all.recv(&mut buf))
            .await
            .expect("the pass-all socket got nothing")
            .unwrap();
        assert_eq!((buf[0], got.len), (128, 8));
        mn.join("ff02::1:ff00:1".parse().unwrap(), 1).unwrap();
        mn.leave("ff02::1:ff00:1".parse().unwrap(), 1).unwrap();
        let err = mn.leave("ff02::1:ff00:1".parse().unwrap(), 1).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("icmp6 socket leave ff02::1:ff00:1 on 1: "),
            "{err}"
        );
    });
}

/// The ICMPv6 checksum over the pseudo-header (RFC 8200 §8.1).
fn icmp6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A Router Solicitation from the unspecified address, header built by
/// us, crosses a veth and arrives with source :: and hop limit 255.
/// (The kernel refuses with EADDRNOTAVAIL while the link has no usable
/// address of the destination's scope.)
#[test]
fn raw_ipv6_sender_solicits_from_unspecified() {
    netns(|| async {
        ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        let nl = Netlink::new().unwrap();
        let v0 = nl.link_index("v0").await.unwrap();
        let v1 = nl.link_index("v1").await.unwrap();
        nl.set_link_up(v0).await.unwrap();
        nl.set_link_up(v1).await.unwrap();
        // The kernel's route lookup still wants some usable source on the
        // link (a link-local, not tentative), though the packet carries ::.
        nl.add_address(v0, "fe80::a".parse().unwrap(), 64, true)
            .await
            .unwrap();
        let rx = Icmp6Socket::open(Icmp6Filter::block_all().pass(ND_ROUTER_SOLICIT)).unwrap();
        let tx = Ip6RawSender::open().unwrap();

        let src = Ipv6Addr::UNSPECIFIED;
        let dst: Ipv6Addr = "ff02::1".parse().unwrap();
        let mut rs = vec![ND_ROUTER_SOLICIT, 0, 0, 0, 0, 0, 0, 0];
        let ck = icmp6_checksum(src, dst, &rs);
        rs[2..4].copy_from_slice(&ck.to_be_bytes());
        let mut pkt = vec![0x60, 0, 0, 0, 0, 8, 58, 255];
        pkt.extend_from_slice(&src.octets());
        pkt.extend_from_slice(&dst.octets());
        pkt.extend_from_slice(&rs);

        // Until the link is up for IPv6 the first packets may be lost:
        // resend until one arrives (bounded).
        let mut buf = [0u8; 64];
        let mut got = None;
        for _ in 0..25 {
            assert_eq!(tx.send(&pkt, v0).await.unwrap(), 48);
            if let Ok(r) = tokio::time::timeout(Duration::from_millis(200), rx.recv(&mut buf)).await
            {
                got = Some(r.unwrap());
                break;
            }
        }
        let got = got.expect("no RS arrived on v1 within 5 s");
        assert_eq!(buf[0], ND_ROUTER_SOLICIT);
        assert_eq!(got.src, Some(Ipv6Addr::UNSPECIFIED));
        assert_eq!(
            (got.dst, got.ifindex, got.hop_limit),
            (Some(dst), v1, Some(255))
        );

        let err = tx.send(&pkt[..20], v0).await.unwrap_err();
        assert!(
            err.to_string().starts_with("ipv6 raw send 20 bytes: "),
            "{err}"
        );
    });
}
