//! The syslog datagrams, captured on a socket bound in a temporary directory.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use daemon::logging::{self, Facility, LogConfig};
use tracing_subscriber::layer::SubscriberExt as _;

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = vec![0u8; 65536];
    let n = sock.recv(&mut buf).expect("datagram");
    String::from_utf8(buf[..n].to_vec()).expect("utf8")
}

/// Splits `<PRI>Mmm dd hh:mm:ss rest` into (PRI, rest), checking the timestamp shape.
fn split(line: &str) -> (u8, String) {
    let close = line.find('>').expect("PRI");
    assert!(line.starts_with('<'), "{line}");
    let pri = line[1..close].parse().expect("PRI number");
    let rest = &line[close + 1..];
    let (ts, rest) = rest.split_at(15);
    assert_eq!(ts.as_bytes()[3], b' ', "{ts:?}");
    assert_eq!(
        (ts.as_bytes()[9], ts.as_bytes()[12]),
        (b':', b':'),
        "{ts:?}"
    );
    (
        pri,
        rest.strip_prefix(' ')
            .expect("space after timestamp")
            .to_owned(),
    )
}

#[test]
fn syslog_lines_severities_and_facility_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log");
    let server = UnixDatagram::bind(&path).expect("bind");
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");

    let mut config = LogConfig::new("miredo");
    config.syslog_socket = Some(path.clone());
    config.stderr = false;
    let (layer, handle) = logging::layer(&config);
    assert!(handle.syslog_connected());
    assert_eq!(handle.facility(), Facility::Daemon);
    let subscriber = tracing_subscriber::registry().with(layer);
    let pid = std::process::id();

    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("Starting...");
        let (pri, rest) = split(&recv(&server));
        assert_eq!(pri, 3 * 8 + 6);
        assert_eq!(rest, format!("miredo[{pid}]: Starting..."));

        daemon::notice!("Exiting on signal {} ({})", 15, "Terminated");
        let (pri, rest) = split(&recv(&server));
        assert_eq!(pri, 3 * 8 + 5);
        assert_eq!(
            rest,
            format!("miredo[{pid}]: Exiting on signal 15 (Terminated)")
        );

        daemon::alert!("Fatal configuration error");
        assert_eq!(split(&recv(&server)).0, 3 * 8 + 1);

        tracing::warn!("Loading configuration from {} failed", "/x");
        assert_eq!(split(&recv(&server)).0, 3 * 8 + 4);

        tracing::error!(errno = 2, "Tunneling driver error");
        let (pri, rest) = split(&recv(&server));
        assert_eq!(pri, 3 * 8 + 3);
        assert_eq!(
            rest,
            format!("miredo[{pid}]: Tunneling driver error errno=2")
        );

        handle.set_facility("local0".parse().expect("facility"));
        assert_eq!(handle.facility(), Facility::Local0);
        daemon::notice!("Reloading configuration on signal 1 (Hangup)");
        assert_eq!(split(&recv(&server)).0, 16 * 8 + 5);
    });
}

#[test]
fn reconnects_when_syslog_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log");
    let server = UnixDatagram::bind(&path).expect("bind");
    let mut config = LogConfig::new("mip6d");
    config.syslog_socket = Some(path.clone());
    config.stderr = false;
    let (layer, _handle) = logging::layer(&config);
    let subscriber = tracing_subscriber::registry().with(layer);

    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("one");
        assert!(recv(&server).ends_with("one"));
        drop(server);
        std::fs::remove_file(&path).expect("rm socket");
        // The daemon is gone: the message is lost, nothing panics.
        tracing::info!("lost");
        let server = UnixDatagram::bind(&path).expect("rebind");
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        // A reconnection attempt is allowed at most once a second.
        std::thread::sleep(Duration::from_millis(1100));
        tracing::info!("two");
        assert!(recv(&server).ends_with("two"));
    });
}

#[test]
fn missing_socket_keeps_stderr_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = LogConfig::new("miredo");
    config.syslog_socket = Some(dir.path().join("absent"));
    let (layer, handle) = logging::layer(&config);
    assert!(!handle.syslog_connected());
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("still fine");
    });
}
