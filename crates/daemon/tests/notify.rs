//! sd_notify datagrams, received on a socket named by NOTIFY_SOCKET.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

#[test]
fn notify_messages() {
    // Without NOTIFY_SOCKET every call is a no-op.
    std::env::remove_var("NOTIFY_SOCKET");
    daemon::notify::ready().expect("no-op");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    std::env::set_var("NOTIFY_SOCKET", &path);
    let mut buf = [0u8; 1024];
    let mut next = || {
        let n = sock.recv(&mut buf).expect("datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };

    daemon::notify::ready().expect("ready");
    assert_eq!(next(), "READY=1\n");
    daemon::notify::status("Teredo address 2001:0::1\nbogus").expect("status");
    assert_eq!(next(), "STATUS=Teredo address 2001:0::1 bogus\n");
    daemon::notify::reloading().expect("reloading");
    let msg = next();
    assert!(msg.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{msg}");
    daemon::notify::stopping().expect("stopping");
    assert_eq!(next(), "STOPPING=1\n");
    daemon::notify::ready_with_status("up").expect("ready+status");
    assert_eq!(next(), "READY=1\nSTATUS=up\n");
    std::env::remove_var("NOTIFY_SOCKET");
}
