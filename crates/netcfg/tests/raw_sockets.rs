//! The Mobility Header and ICMPv6 raw sockets over loopback in a fresh
//! namespace: options, ancillary data both ways, type filters. What needs
//! CONFIG_IPV6_MIP6 (RH2/HAO processing) is checked in the VM
//! (tests/tests/vm_kernel.rs, `kernel_ops sockets`).

#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv6Addr;
use std::time::Duration;

use common::netns;
use netcfg::icmp6_socket::{Icmp6Filter, Icmp6Socket, ND_NEIGHBOR_ADVERT};
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
