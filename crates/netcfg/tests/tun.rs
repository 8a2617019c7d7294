//! TUN creation, errors and the packet path, in a fresh network namespace.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::time::Duration;

use common::{ip, netns};
use netcfg::{Netlink, Tun, TunError};

#[test]
fn created_down_with_name_and_index_and_removed_on_drop() {
    netns(|| async {
        let nl = Netlink::new().unwrap();
        let tun = Tun::create(Some("teredo")).unwrap();
        assert_eq!(tun.name(), "teredo");
        assert!(tun.index() > 0);
        let link = nl.link(tun.index()).await.unwrap();
        assert_eq!(link.name, "teredo");
        assert!(!link.up, "miredo creates its interface down");
        assert!(link.noarp && link.pointopoint, "{link:?}");
        assert_eq!(nl.link_index("teredo").await.unwrap(), tun.index());
        assert_eq!(nl.link_name(tun.index()).await.unwrap(), "teredo");

        tun.set_txqueuelen(1000).unwrap();
        assert_eq!(nl.link(tun.index()).await.unwrap().txqueuelen, 1000);

        drop(tun);
        let err = nl.link_index("teredo").await.unwrap_err();
        assert!(matches!(err, netcfg::Error::NoSuchLink(_)), "{err}");
    });
}

#[test]
fn kernel_picks_a_name_when_none_given() {
    netns(|| async {
        let tun = Tun::create(None).unwrap();
        assert!(tun.name().starts_with("tun"), "{}", tun.name());
    });
}

#[test]
fn name_errors_read_like_miredo() {
    netns(|| async {
        let err = Tun::create(Some("a-name-of-16-chr")).unwrap_err();
        assert!(matches!(err, TunError::NameTooLong(_)));
        assert_eq!(
            err.to_string(),
            "Tunneling driver error (TUNSETIFF): File name too long"
        );
        // 15 bytes is fine.
        Tun::create(Some("name-of-15-chrs")).unwrap();

        let _first = Tun::create(Some("teredo")).unwrap();
        let err = Tun::create(Some("teredo")).unwrap_err();
        assert!(err.is_busy(), "{err:?}");
        assert_eq!(
            err.to_string(),
            "Tunneling driver error (TUNSETIFF): Device or resource busy"
        );
    });
}

/// Internet checksum over the IPv6 pseudo-header and a UDP datagram.
fn udp6_checksum(src: Ipv6Addr, dst: Ipv6Addr, udp: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for chunk in bytes.chunks(2) {
            let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(udp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 17]);
    add(udp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn udp6_packet(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let ck = udp6_checksum(src, dst, &udp);
    udp[6..8].copy_from_slice(&ck.to_be_bytes());

    let mut pkt = vec![0x60, 0, 0, 0];
    pkt.extend_from_slice(&(udp_len as u16).to_be_bytes());
    pkt.push(17); // next header: UDP
    pkt.push(64); // hop limit
    pkt.extend_from_slice(&src.octets());
    pkt.extend_from_slice(&dst.octets());
    pkt.extend_from_slice(&udp);
    pkt
}

#[test]
fn raw_ipv6_packets_both_ways() {
    netns(|| async {
        let nl = Netlink::new().unwrap();
        let tun = Tun::create(Some("teredo")).unwrap();
        let me: Ipv6Addr = "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap();
        let peer: Ipv6Addr = "2001:db8::2".parse().unwrap();
        nl.set_link_up(tun.index()).await.unwrap();
        nl.add_address(tun.index(), me.into(), 32, true)
            .await
            .unwrap();
        nl.add_route(&netcfg::RouteSpec::default_v6(tun.index()).metric(1029))
            .await
            .unwrap();
        ip(&["-6", "addr", "show", "dev", "teredo"]);

        // Kernel -> TUN: a UDP datagram to a peer comes out as a bare IPv6 packet.
        let sock = UdpSocket::bind(SocketAddrV6::new(me, 4000, 0, 0)).unwrap();
        sock.send_to(b"hello", SocketAddrV6::new(peer, 5000, 0, 0))
            .unwrap();
        let mut buf = [0u8; 2000];
        let n = loop {
            let n = tokio::time::timeout(Duration::from_secs(5), tun.recv(&mut buf))
                .await
                .expect("no packet on the TUN")
                .unwrap();
            // Skip router solicitations and MLD reports the kernel may send.
            if buf[6] == 17 {
                break n;
            }
        };
        assert_eq!(buf[0] >> 4, 6);
        assert_eq!(&buf[8..24], &me.octets());
        assert_eq!(&buf[24..40], &peer.octets());
        assert_eq!(&buf[n - 5..n], b"hello");

        // TUN -> kernel: a crafted datagram reaches the bound socket.
        let pkt = udp6_packet(peer, me, 5000, 4000, b"world");
        assert_eq!(tun.send(&pkt).await.unwrap(), pkt.len());
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rbuf = [0u8; 64];
        let (m, from) = sock.recv_from(&mut rbuf).unwrap();
        assert_eq!(&rbuf[..m], b"world");
        assert_eq!(from, SocketAddrV6::new(peer, 5000, 0, 0).into());
    });
}

/// Reads from `tun` until a UDP packet to `peer` arrives (the kernel may send
/// router solicitations and MLD reports too); `None` after `wait`.
async fn udp_to(tun: &Tun, peer: Ipv6Addr, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2000];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let n = tokio::time::timeout_at(deadline, tun.recv(&mut buf))
            .await
            .ok()?
            .unwrap();
        if buf[6] == 17 && buf[24..40] == peer.octets() {
            return Some(buf[..n].to_vec());
        }
    }
}

/// A multi-queue interface: each of two flows is written on its own queue,
/// and the kernel's answer to each comes back on the queue that wrote it
/// (Linux's automatic queue selection). A relay with one loop per queue
/// relies on it: the loop that passes a peer's packets in reads the
/// answers to that peer.
#[test]
fn multi_queue_answers_come_back_on_the_writing_queue() {
    netns(|| async {
        let nl = Netlink::new().unwrap();
        let first = Tun::create_multi_queue(Some("teredo"), false).unwrap();
        let second = first.open_queue().unwrap();
        assert_eq!(second.index(), first.index());
        let me: Ipv6Addr = "2001:db8::1".parse().unwrap();
        nl.set_link_up(first.index()).await.unwrap();
        nl.add_address(first.index(), me.into(), 64, true)
            .await
            .unwrap();
        let sock = UdpSocket::bind(SocketAddrV6::new(me, 4000, 0, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let queues = [&first, &second];
        let peers: [Ipv6Addr; 2] = [
            "2001:db8::10".parse().unwrap(),
            "2001:db8::11".parse().unwrap(),
        ];
        for round in 0..3u8 {
            for (k, (queue, peer)) in queues.iter().zip(peers).enumerate() {
                let sport = 5000 + k as u16;
                let pkt = udp6_packet(peer, me, sport, 4000, &[round]);
                queue.send(&pkt).await.unwrap();
                let mut rbuf = [0u8; 64];
                let (_, from) = sock.recv_from(&mut rbuf).unwrap();
                sock.send_to(b"answer", from).unwrap();
                let got = udp_to(queue, peer, Duration::from_secs(2)).await;
                assert!(
                    got.is_some_and(|p| p.ends_with(b"answer")),
                    "round {round}: the answer to {peer} did not come back on queue {k}"
                );
                let other = queues[1 - k];
                assert!(
                    udp_to(other, peer, Duration::from_millis(50))
                        .await
                        .is_none(),
                    "round {round}: the answer to {peer} came on the other queue too"
                );
            }
        }
    });
}
