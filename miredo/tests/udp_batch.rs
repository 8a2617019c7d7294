//! The batched UDP socket on real sockets over loopback: what a GSO send
//! puts on the wire, what a GRO or `recvmmsg` receive hands back, and that
//! the paths without offloads carry the same datagrams.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use miredo::udp::batch::{BatchSocket, Offloads};
use miredo::udp::runs::Datagram;

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
const WAIT: Duration = Duration::from_secs(5);

/// A Teredo socket (the daemon's setup: no DF) on an ephemeral loopback port.
fn teredo_socket() -> UdpSocket {
    miredo::udp::bind(SocketAddrV4::new(LOOPBACK, 0)).expect("binding the Teredo socket")
}

fn batch(offloads: Offloads) -> BatchSocket {
    BatchSocket::new(teredo_socket(), offloads).expect("registering the socket")
}

fn addr(s: &UdpSocket) -> SocketAddrV4 {
    match s.local_addr().expect("local address") {
        std::net::SocketAddr::V4(a) => a,
        a => panic!("not IPv4: {a}"),
    }
}

fn local(b: &BatchSocket) -> SocketAddrV4 {
    match b.socket().local_addr().expect("local address") {
        std::net::SocketAddr::V4(a) => a,
        a => panic!("not IPv4: {a}"),
    }
}

/// A plain receiver (no GRO): sees each datagram as the wire carried it.
fn plain_receiver() -> UdpSocket {
    let s = UdpSocket::bind((LOOPBACK, 0)).expect("binding a receiver");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    s
}

/// Payload `i` of `len` bytes: distinct per datagram, so order and
/// boundaries show.
fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j) as u8).collect()
}

/// Lays `items` (destination, payload) back to back as a send batch.
fn lay(items: &[(SocketAddrV4, Vec<u8>)]) -> (Vec<u8>, Vec<Datagram>) {
    let mut buf = Vec::new();
    let mut list = Vec::new();
    for (dst, p) in items {
        let start = buf.len();
        buf.extend_from_slice(p);
        list.push((*dst, start..buf.len()));
    }
    (buf, list)
}

fn recv_n(s: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    (0..n)
        .map(|i| {
            let (len, _) = s
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("datagram {i} of {n} not received: {e}"));
            buf[..len].to_vec()
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Eleven datagrams to one peer, the last short: one GSO message with
/// offloads, eleven single sends without; the peer gets the same eleven.
fn send_run(offloads: Offloads) -> (miredo::udp::batch::BatchStats, Vec<Vec<u8>>) {
    send_run_to(&plain_receiver(), offloads)
}

fn send_run_to(
    rx: &UdpSocket,
    offloads: Offloads,
) -> (miredo::udp::batch::BatchStats, Vec<Vec<u8>>) {
    runtime().block_on(async {
        let mut tx = batch(offloads);
        let mut items: Vec<_> = (0..10).map(|i| (addr(rx), payload(i, 1200))).collect();
        items.push((addr(rx), payload(10, 300)));
        let (buf, list) = lay(&items);
        tx.send_batch(&buf, &list).await;
        let got = recv_n(rx, items.len());
        for (i, ((_, want), got)) in items.iter().zip(&got).enumerate() {
            assert_eq!(got, want, "datagram {i} differs");
        }
        (tx.stats(), got)
    })
}

#[test]
fn gso_send_arrives_as_separate_datagrams() {
    let (stats, _) = send_run(Offloads::ALL);
    assert_eq!(stats.send_calls, 1, "{stats:?}");
    assert_eq!(stats.send_messages, 1, "one GSO message: {stats:?}");
    assert_eq!(stats.send_datagrams, 11, "{stats:?}");
}

#[test]
fn send_without_offloads_carries_the_same_datagrams() {
    let (stats, _) = send_run(Offloads::NONE);
    assert_eq!(stats.send_calls, 11, "one sendmsg each: {stats:?}");
    assert_eq!(stats.send_messages, 11, "{stats:?}");
    let (stats, _) = send_run(Offloads {
        gso: false,
        ..Offloads::ALL
    });
    assert_eq!(stats.send_calls, 1, "one sendmmsg: {stats:?}");
    assert_eq!(stats.send_messages, 11, "{stats:?}");
}

#[test]
fn mixed_destinations_go_in_one_sendmmsg() {
    runtime().block_on(async {
        let peers = [plain_receiver(), plain_receiver(), plain_receiver()];
        let to = |k: usize| addr(&peers[k]);
        // a a b b b a c: runs (a a) (b b b) (a) (c), the b run with a short tail.
        let items = vec![
            (to(0), payload(0, 500)),
            (to(0), payload(1, 500)),
            (to(1), payload(2, 700)),
            (to(1), payload(3, 700)),
            (to(1), payload(4, 20)),
            (to(0), payload(5, 500)),
            (to(2), payload(6, 64)),
        ];
        let (buf, list) = lay(&items);
        let mut tx = batch(Offloads::ALL);
        tx.send_batch(&buf, &list).await;
        let stats = tx.stats();
        assert_eq!(
            (stats.send_calls, stats.send_messages, stats.send_datagrams),
            (1, 4, 7),
            "{stats:?}"
        );
        for (k, peer) in peers.iter().enumerate() {
            let want: Vec<_> = items
                .iter()
                .filter(|(d, _)| *d == to(k))
                .map(|(_, p)| p.clone())
                .collect();
            assert_eq!(recv_n(peer, want.len()), want, "peer {k}");
        }
    });
}

/// Receives `n` datagrams through `rx`, waiting for readiness as the pump does.
async fn receive(rx: &mut BatchSocket, n: usize) -> Vec<(SocketAddrV4, Vec<u8>)> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::timeout(left, rx.readable())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} datagrams arrived", got.len()))
            .expect("readable");
        while let Some((from, data)) = rx.try_recv().expect("receive") {
            got.push((from, data.to_vec()));
        }
    }
    got
}

#[test]
fn gro_receive_yields_each_datagram_with_its_sender() {
    runtime().block_on(async {
        let mut rx = batch(Offloads::ALL);
        assert!(rx.offloads().gro, "this kernel has UDP GRO");
        let mut tx = batch(Offloads::ALL);
        let dst = local(&rx);
        let items: Vec<_> = (0..20)
            .map(|i| (dst, payload(i, if i == 19 { 100 } else { 1000 })))
            .collect();
        let (buf, list) = lay(&items);
        tx.send_batch(&buf, &list).await;
        let from = local(&tx);
        let got = receive(&mut rx, items.len()).await;
        for (i, ((_, want), (src, data))) in items.iter().zip(&got).enumerate() {
            assert_eq!(*src, from, "sender of datagram {i}");
            assert_eq!(data, want, "datagram {i} differs");
        }
        // Loopback hands the GSO message to a GRO socket whole.
        let stats = rx.stats();
        assert_eq!(stats.recv_datagrams, 20, "{stats:?}");
        assert_eq!(stats.recv_messages, 1, "one coalesced message: {stats:?}");
    });
}

#[test]
fn recvmmsg_batches_a_burst_from_plain_senders() {
    for offloads in [Offloads::ALL, Offloads::NONE] {
        runtime().block_on(async {
            let mut rx = batch(offloads);
            let dst = local(&rx);
            let senders = [plain_receiver(), plain_receiver()];
            for i in 0..40 {
                let s = &senders[i % 2];
                s.send_to(&payload(i, 80 + i), dst).expect("send");
            }
            let got = receive(&mut rx, 40).await;
            for (i, (src, data)) in got.iter().enumerate() {
                assert_eq!(*src, addr(&senders[i % 2]), "sender of datagram {i}");
                assert_eq!(*data, payload(i, 80 + i), "datagram {i}");
            }
            let stats = rx.stats();
            if offloads.mmsg {
                assert!(stats.recv_calls <= 5, "batched: {stats:?}");
            } else {
                assert_eq!(stats.recv_calls, 40, "one recvmsg each: {stats:?}");
            }
        });
    }
}

/// The DF bit of the first UDP packet to `port` a raw socket sees.
fn first_df_bit(raw: &socket2::Socket, port: u16) -> bool {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 65536];
    loop {
        let len = raw.recv(&mut buf).expect("raw receive within the timeout");
        // SAFETY: recv initialised the first `len` bytes.
        let pkt: Vec<u8> = buf[..len]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        let ihl = usize::from(pkt[0] & 0x0f) * 4;
        if pkt.len() >= ihl + 4 && u16::from_be_bytes([pkt[ihl + 2], pkt[ihl + 3]]) == port {
            return pkt[6] & 0x40 != 0;
        }
    }
}

#[test]
fn gso_datagrams_leave_without_df() {
    use socket2::{Domain, Protocol, Socket, Type};
    let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)).expect("raw socket (root)");
    raw.set_read_timeout(Some(WAIT)).expect("read timeout");
    // Control: a socket with the default path MTU discovery sets DF, so the
    // check below can see it.
    let rx = plain_receiver();
    UdpSocket::bind((LOOPBACK, 0))
        .and_then(|s| s.send_to(&[1, 2, 3], addr(&rx)))
        .expect("control send");
    assert!(
        first_df_bit(&raw, addr(&rx).port()),
        "default socket: DF set"
    );
    // The raw socket sees what IP carried: the GSO packet before the UDP
    // layer cut it, whose header each segment copies.
    let rx = plain_receiver();
    let (stats, got) = send_run_to(&rx, Offloads::ALL);
    assert_eq!((stats.send_messages, got.len()), (1, 11));
    assert!(
        !first_df_bit(&raw, addr(&rx).port()),
        "GSO packet: DF clear"
    );
}
