//! TUN offloads against the real kernel: two TUNs, one in the test's
//! namespace and one moved into a second namespace, bridged by a loop that
//! reads with `try_recv_batch` and writes with `send_batch`. A kernel TCP
//! connection between the namespaces crosses the bridge; the bytes must
//! arrive unchanged (the kernel verifies every checksum we produced), every
//! packet the bridge sees must fit the MTU, and with offloads on the kernel
//! must have handed over super-segments and taken coalesced ones.

#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use common::{ip, netns};
use netcfg::{Tun, TunRecvBatch, TunSendBatch};

const MTU: usize = 1280;
const NEAR: &str = "2001:db8:ff::1";
const FAR: &str = "2001:db8:ff::2";
const PORT: u16 = 5001;
const BYTES: usize = 4 << 20;

/// What the bridge saw.
#[derive(Debug, Default)]
struct Seen {
    packets: usize,
    /// Reads that gave more than one packet (a super-segment, split).
    split_reads: usize,
    /// Packets written, and the writes they took.
    written: usize,
    writes: usize,
}

/// Forwards packets between the two TUNs until `stop` gives its value.
async fn bridge<T>(a: &Tun, b: &Tun, stop: impl Future<Output = T>) -> (Seen, T) {
    let mut stop = std::pin::pin!(stop);
    let mut seen = Seen::default();
    let mut rx = TunRecvBatch::new();
    let mut tx = TunSendBatch::new();
    loop {
        let (from, to) = tokio::select! {
            r = a.readable() => { r.unwrap(); (a, b) }
            r = b.readable() => { r.unwrap(); (b, a) }
            v = &mut stop => return (seen, v),
        };
        for _ in 0..64 {
            match from.try_recv_batch(&mut rx) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("TUN read: {e}"),
            }
            if rx.len() > 1 {
                seen.split_reads += 1;
            }
            for p in rx.packets() {
                assert!(p.len() <= MTU, "a {}-byte packet left the split", p.len());
                seen.packets += 1;
                tx.push(p);
            }
        }
        seen.written += tx.len();
        seen.writes += to.send_batch(&mut tx).await.unwrap();
    }
}

/// Sends [`BYTES`] from this namespace to a listener in a second one over
/// two TUNs opened with `offload`; returns what the bridge saw.
fn transfer(offload: bool) -> Seen {
    let data: Vec<u8> = (0..BYTES).map(|i| (i * 31 + i / 4093) as u8).collect();
    let sent = data.clone();
    let far = |ready: mpsc::Sender<()>| {
        let addr = SocketAddrV6::new(FAR.parse().unwrap(), PORT, 0, 0);
        let listener = TcpListener::bind(addr).unwrap();
        ready.send(()).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut got = Vec::with_capacity(BYTES);
        conn.read_to_end(&mut got).unwrap();
        got
    };
    let near = move || {
        let to = SocketAddrV6::new(FAR.parse::<Ipv6Addr>().unwrap(), PORT, 0, 0);
        let mut s = TcpStream::connect_timeout(&to.into(), Duration::from_secs(10)).unwrap();
        s.write_all(&sent).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
    };
    let (seen, got) = across(offload, far, near);
    assert_eq!(got.len(), data.len(), "bytes received");
    assert!(got == data, "the bytes arrived changed");
    seen
}

/// Runs `far_side` in a second namespace behind TUN `offb` (it signals when it
/// listens) and then `near_side` here behind `offa`, the two TUNs (opened with
/// `offload`) bridged until `far_side` returns; gives what the bridge saw
/// and what `far_side` returned.
fn across(
    offload: bool,
    far_side: impl FnOnce(mpsc::Sender<()>) -> Vec<u8> + Send + 'static,
    near_side: impl FnOnce() + Send + 'static,
) -> (Seen, Vec<u8>) {
    netns(move || async move {
        let near = Tun::create_offloaded(Some("offa"), offload).unwrap();
        let far = Tun::create_offloaded(Some("offb"), offload).unwrap();
        assert_eq!(near.offloads().tcp, offload, "{:?}", near.offloads());

        // The far namespace: a thread of its own, kept until the TUN is gone.
        let (tid_tx, tid_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (got_tx, got_rx) = tokio::sync::oneshot::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let far_thread = std::thread::spawn(move || {
            netcfg::netns::unshare_netns().unwrap();
            // SAFETY: gettid takes no arguments and touches no memory.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            go_rx.recv().unwrap();
            ip(&["link", "set", "offb", "mtu", &MTU.to_string(), "up"]);
            ip(&[
                "-6",
                "addr",
                "add",
                &format!("{FAR}/64"),
                "dev",
                "offb",
                "nodad",
            ]);
            let _ = got_tx.send(far_side(ready_tx));
            // Hold the namespace until the TUN inside it has been closed.
            let _ = done_rx.recv();
        });
        let tid = tid_rx.recv().unwrap();
        ip(&["link", "set", "offb", "netns", &tid.to_string()]);
        go_tx.send(()).unwrap();
        ip(&["link", "set", "offa", "mtu", &MTU.to_string(), "up"]);
        ip(&[
            "-6",
            "addr",
            "add",
            &format!("{NEAR}/64"),
            "dev",
            "offa",
            "nodad",
        ]);
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("far side not ready");

        let client = std::thread::spawn(near_side);
        let (seen, got) =
            tokio::time::timeout(Duration::from_secs(60), bridge(&near, &far, got_rx))
                .await
                .expect("transfer did not finish in 60 s");
        client.join().unwrap();
        drop(far);
        drop(done_tx);
        far_thread.join().unwrap();
        (seen, got.expect("far side gave up"))
    })
}

/// Datagrams of the UDP test, and their size.
const DATAGRAMS: usize = 60;
const DATAGRAM: usize = 1000;

/// Sends [`DATAGRAMS`] UDP datagrams in one burst across the bridge; the
/// far side must get each one, unchanged and on its own (the kernel cut
/// any super-datagram we wrote back into the datagrams).
fn udp_burst(offload: bool) -> Seen {
    let far = |ready: mpsc::Sender<()>| {
        let sock = UdpSocket::bind(SocketAddrV6::new(FAR.parse().unwrap(), PORT, 0, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        ready.send(()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        for _ in 0..DATAGRAMS {
            let n = sock.recv(&mut buf).expect("a datagram went missing");
            assert_eq!(n, DATAGRAM, "datagram {} arrived with {n} bytes", got.len());
            got.push(buf[0]);
            assert!(buf[..n].iter().all(|&b| b == buf[0]), "a datagram changed");
        }
        got
    };
    // One send with UDP_SEGMENT: the kernel hands the TUN one
    // super-datagram (or, without offloads, the datagrams), so the bridge
    // gets the whole burst in one read whatever the scheduling.
    let near = || {
        let sock = UdpSocket::bind("[2001:db8:ff::1]:0").unwrap();
        let size = DATAGRAM as libc::c_int;
        // SAFETY: a valid socket and an int option of the right length.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&sock),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "UDP_SEGMENT: {}", std::io::Error::last_os_error());
        let burst: Vec<u8> = (0..DATAGRAMS * DATAGRAM)
            .map(|i| (i / DATAGRAM) as u8)
            .collect();
        let to = SocketAddrV6::new(FAR.parse().unwrap(), PORT, 0, 0);
        sock.send_to(&burst, to).unwrap();
    };
    let (seen, got) = across(offload, far, near);
    let expected: Vec<u8> = (0..DATAGRAMS as u8).collect();
    assert_eq!(got, expected, "every datagram, in order");
    seen
}

#[test]
fn a_udp_burst_through_offloaded_tuns_arrives_datagram_by_datagram() {
    let seen = udp_burst(true);
    eprintln!("offloads on: {seen:?}");
    assert!(seen.split_reads > 0, "no super-datagram was read: {seen:?}");
    assert!(
        seen.writes + DATAGRAMS / 2 < seen.written,
        "the burst was not coalesced: {seen:?}"
    );
}

#[test]
fn a_udp_burst_through_plain_tuns_arrives_datagram_by_datagram() {
    let seen = udp_burst(false);
    assert_eq!(seen.writes, seen.written, "{seen:?}");
}

#[test]
fn tcp_through_offloaded_tuns_arrives_intact_in_super_segments() {
    let seen = transfer(true);
    eprintln!("offloads on: {seen:?}");
    assert!(seen.split_reads > 0, "no super-segment was read: {seen:?}");
    assert!(
        seen.writes < seen.written,
        "nothing was coalesced: {seen:?}"
    );
}

#[test]
fn tcp_through_plain_tuns_arrives_intact_packet_by_packet() {
    let seen = transfer(false);
    eprintln!("offloads off: {seen:?}");
    assert_eq!(seen.split_reads, 0, "{seen:?}");
    assert_eq!(seen.writes, seen.written, "{seen:?}");
    assert!(seen.packets > BYTES / MTU, "{seen:?}");
}
