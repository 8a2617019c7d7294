//! The UPnP wrapper against a minimal fake IGD on loopback: SSDP answer,
//! device and service descriptions, SOAP actions.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portmap::upnp::{UpnpError, UpnpGateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const EXTERNAL: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
const TIMEOUT: Duration = Duration::from_secs(3);

/// How the fake IGD behaves, and what it was asked.
#[derive(Default)]
struct Igd {
    /// External port AddPortMapping refuses with 718 (ConflictInMappingEntry).
    busy_port: Option<u16>,
    /// Refuse leases other than 0 with 725 (OnlyPermanentLeasesSupported).
    permanent_only: bool,
    /// "Add <port> <lease>" and "Delete <port>", in order.
    log: Vec<String>,
}

type Shared = Arc<Mutex<Igd>>;

fn tag<'a>(body: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    body.split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map_or("", |(v, _)| v)
}

const DEVICE: &str = r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<controlURL>/ctl</controlURL><SCPDURL>/scpd.xml</SCPDURL>
</service></serviceList></device></root>"#;

fn scpd() -> String {
    let action = |name: &str, args: &[&str]| {
        let args: String = args
            .iter()
            .map(|a| format!("<argument><name>{a}</name><direction>in</direction></argument>"))
            .collect();
        format!("<action><name>{name}</name><argumentList>{args}</argumentList></action>")
    };
    format!(
        r#"<?xml version="1.0"?><scpd xmlns="urn:schemas-upnp-org:service-1-0"><actionList>{}{}{}</actionList></scpd>"#,
        action("GetExternalIPAddress", &[]),
        action(
            "AddPortMapping",
            &[
                "NewRemoteHost",
                "NewExternalPort",
                "NewProtocol",
                "NewInternalPort",
                "NewInternalClient",
                "NewEnabled",
                "NewPortMappingDescription",
                "NewLeaseDuration",
            ],
        ),
        action(
            "DeletePortMapping",
            &["NewRemoteHost", "NewExternalPort", "NewProtocol"]
        ),
    )
}

fn envelope(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{inner}</s:Body></s:Envelope>"#
    )
}

fn ok(action: &str, inner: &str) -> (u16, String) {
    let ns = "urn:schemas-upnp-org:service:WANIPConnection:1";
    (
        200,
        envelope(&format!(
            r#"<u:{action}Response xmlns:u="{ns}">{inner}</u:{action}Response>"#
        )),
    )
}

fn fault(code: u16) -> (u16, String) {
    (
        500,
        envelope(&format!(
            r#"<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>{code}</errorCode><errorDescription>error {code}</errorDescription></UPnPError></detail></s:Fault>"#
        )),
    )
}

fn soap(igd: &Shared, action: &str, body: &str) -> (u16, String) {
    let mut igd = igd.lock().expect("lock");
    match action {
        "GetExternalIPAddress" => ok(
            action,
            &format!("<NewExternalIPAddress>{EXTERNAL}</NewExternalIPAddress>"),
        ),
        "AddPortMapping" => {
            let port: u16 = tag(body, "NewExternalPort").parse().unwrap_or(0);
            let lease: u32 = tag(body, "NewLeaseDuration").parse().unwrap_or(0);
            igd.log.push(format!("Add {port} {lease}"));
            if igd.busy_port == Some(port) {
                fault(718)
            } else if igd.permanent_only && lease != 0 {
                fault(725)
            } else {
                ok(action, "")
            }
        }
        "DeletePortMapping" => {
            let port = tag(body, "NewExternalPort").to_owned();
            igd.log.push(format!("Delete {port}"));
            ok(action, "")
        }
        _ => fault(401),
    }
}

async fn serve_http(mut conn: TcpStream, igd: Shared) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Headers, then as much body as Content-Length says.
    let (head, body) = loop {
        let Ok(n) = conn.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                break (head.to_owned(), body.to_owned());
            }
        }
    };
    let path = head.split_whitespace().nth(1).unwrap_or("");
    let action = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("soapaction").then_some(v)
        })
        .and_then(|v| v.trim().trim_matches('"').split_once('#'))
        .map_or("", |(_, a)| a);
    let (status, reply) = match path {
        "/rootDesc.xml" => (200, DEVICE.to_owned()),
        "/scpd.xml" => (200, scpd()),
        "/ctl" => soap(&igd, action, &body),
        _ => (404, String::new()),
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = conn.write_all(response.as_bytes()).await;
    let _ = conn.shutdown().await;
}

/// Starts the fake IGD; returns where to send the SSDP search.
async fn start(igd: Shared) -> SocketAddr {
    let http = TcpListener::bind((LOOPBACK, 0)).await.expect("tcp");
    let http_port = http.local_addr().expect("addr").port();
    let ssdp = UdpSocket::bind((LOOPBACK, 0)).await.expect("udp");
    let ssdp_addr = ssdp.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = ssdp.recv_from(&mut buf).await {
            if !buf[..n].starts_with(b"M-SEARCH") {
                continue;
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:fake::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: http://127.0.0.1:{http_port}/rootDesc.xml\r\n\r\n"
            );
            let _ = ssdp.send_to(answer.as_bytes(), from).await;
        }
    });
    tokio::spawn(async move {
        while let Ok((conn, _)) = http.accept().await {
            tokio::spawn(serve_http(conn, igd.clone()));
        }
    });
    ssdp_addr
}

fn internal() -> SocketAddrV4 {
    SocketAddrV4::new(LOOPBACK, 3544)
}

#[tokio::test]
async fn same_port_mapping_renew_and_remove() {
    let igd = Shared::default();
    let ssdp = start(igd.clone()).await;
    let gw = UpnpGateway::discover_with(LOOPBACK, ssdp, TIMEOUT)
        .await
        .expect("discovered");
    assert_eq!(gw.external_ip().await.expect("ip"), EXTERNAL);
    let lease = Duration::from_secs(3600);
    let m = gw
        .map_udp(internal(), lease, "miredo")
        .await
        .expect("mapped");
    assert_eq!(m.external, SocketAddrV4::new(EXTERNAL, 3544));
    assert_eq!(m.lease, Some(lease));
    assert_eq!(m.renew_after(), Some(Duration::from_secs(1800)));
    let r = gw.renew(&m, lease, "miredo").await.expect("renewed");
    assert_eq!(r, m);
    gw.unmap(&m).await.expect("removed");
    let log = igd.lock().expect("lock").log.clone();
    assert_eq!(log, ["Add 3544 3600", "Add 3544 3600", "Delete 3544"]);
}

#[tokio::test]
async fn busy_port_falls_back_to_any_port() {
    let igd = Shared::new(Mutex::new(Igd {
        busy_port: Some(3544),
        ..Igd::default()
    }));
    let ssdp = start(igd.clone()).await;
    let gw = UpnpGateway::discover_with(LOOPBACK, ssdp, TIMEOUT)
        .await
        .expect("discovered");
    let m = gw
        .map_udp(internal(), Duration::from_secs(600), "miredo")
        .await
        .expect("mapped");
    assert_ne!(m.external.port(), 3544);
    assert_eq!(*m.external.ip(), EXTERNAL);
    let log = igd.lock().expect("lock").log.clone();
    assert_eq!(log.first().map(String::as_str), Some("Add 3544 600"));
    assert_eq!(log.last(), Some(&format!("Add {} 600", m.external.port())));
}

#[tokio::test]
async fn permanent_only_igd() {
    let igd = Shared::new(Mutex::new(Igd {
        permanent_only: true,
        ..Igd::default()
    }));
    let ssdp = start(igd.clone()).await;
    let gw = UpnpGateway::discover_with(LOOPBACK, ssdp, TIMEOUT)
        .await
        .expect("discovered");
    let m = gw
        .map_udp(internal(), Duration::from_secs(600), "miredo")
        .await
        .expect("mapped");
    assert_eq!(m.lease, None);
    assert_eq!(m.renew_after(), None);
    let log = igd.lock().expect("lock").log.clone();
    assert_eq!(log, ["Add 3544 600", "Add 3544 0"]);
}

#[tokio::test]
async fn silent_network_is_not_found_in_bounded_time() {
    // A socket that never answers the search.
    let mute = UdpSocket::bind((LOOPBACK, 0)).await.expect("udp");
    let start = Instant::now();
    let res = UpnpGateway::discover_with(
        LOOPBACK,
        mute.local_addr().expect("addr"),
        Duration::from_millis(300),
    )
    .await;
    assert!(matches!(res, Err(UpnpError::NotFound)), "{res:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
}
