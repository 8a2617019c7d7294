//! miredoctl: prints what a running miredo publishes on the system bus
//! (`org.miredo_rs.Miredo1`, see docs/dbus.md), as text or JSON, and asks it to
//! qualify again.
//!
//! `status` needs no privilege; `requalify` is root only (the bus policy and the
//! daemon both refuse anyone else). Exit status: 0 done, 1 a D-Bus error or a
//! question the tunnel cannot answer, 2 a usage error, 3 miredo is not running
//! (the LSB `status` code), 4 refused for lack of privilege (the LSB code for it).

use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::process::ExitCode;

use bus::zbus::{self, Connection};
use bus::{is_access_denied, miredo_tunnels, tunnel_proxy, TunnelSnapshot, MIREDO_BUS_NAME};
use serde::Serialize;

const USAGE: &str = "\
Usage: miredoctl [status|requalify] [options]

Shows the state of the running miredo, read from the system bus.

Commands:
  status     state, addresses, NAT type, peers and counters (the default)
  requalify  qualify with the Teredo server again now (root only)

Options:
  -i, --interface NAME  only this tunnel (default: every tunnel miredo has)
  -j, --json            print JSON instead of text
      --system          the system bus (the default): $DBUS_SYSTEM_BUS_ADDRESS
                        if set, else /run/dbus/system_bus_socket
      --address ADDRESS the bus at this D-Bus address (unix:path=...)
  -h, --help            print this help and exit
  -V, --version         print the version and exit

Exit status: 0 done, 1 D-Bus error, 2 usage error, 3 miredo is not
running, 4 not allowed (requalify as a user other than root).
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Status,
    Requalify,
}

/// Which bus to read.
#[derive(Clone, Debug, PartialEq, Eq)]
enum BusChoice {
    System,
    Address(String),
}

#[derive(Debug, PartialEq, Eq)]
struct Options {
    command: Command,
    json: bool,
    interface: Option<String>,
    bus: BusChoice,
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Run(Options),
    Help,
    Version,
}

/// A command line miredoctl does not understand (exit 2, after the usage).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum UsageError {
    #[error("unknown option '{0}'")]
    Option(String),
    #[error("unknown command '{0}'")]
    Command(String),
    #[error("one command at a time ('{0}' is extra)")]
    Extra(String),
    #[error("option '{0}' needs a value")]
    Missing(String),
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Parsed, UsageError> {
    let mut command = None;
    let mut opts = Options {
        command: Command::Status,
        json: false,
        interface: None,
        bus: BusChoice::System,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--name=value` and `--name value` alike.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| UsageError::Missing(name.to_owned()))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "-j" | "--json" => opts.json = true,
            "--system" => opts.bus = BusChoice::System,
            "--address" => opts.bus = BusChoice::Address(value("--address")?),
            "-i" | "--interface" => opts.interface = Some(value("--interface")?),
            word if word.starts_with('-') => return Err(UsageError::Option(word.to_owned())),
            word => {
                let cmd = match word {
                    "status" => Command::Status,
                    "requalify" => Command::Requalify,
                    _ => return Err(UsageError::Command(word.to_owned())),
                };
                if command.replace(cmd).is_some() {
                    return Err(UsageError::Extra(word.to_owned()));
                }
            }
        }
    }
    opts.command = command.unwrap_or(Command::Status);
    Ok(Parsed::Run(opts))
}

/// Why a run failed; [`Failure::exit_code`] is its exit status.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("miredo is not running (no owner of {MIREDO_BUS_NAME} on the bus)")]
    NotRunning,
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Bus(String),
}

impl Failure {
    /// 3 and 4 are the LSB codes for "not running" and "insufficient privilege".
    fn exit_code(&self) -> u8 {
        match self {
            Failure::NotRunning => 3,
            Failure::Refused(_) => 4,
            Failure::Unavailable(_) | Failure::Bus(_) => 1,
        }
    }

    fn from_zbus(context: &str, e: zbus::Error) -> Failure {
        if bus::daemon_absent(&e) {
            return Failure::NotRunning;
        }
        Failure::Bus(format!("{context}: {e}"))
    }
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(opts)) => opts,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("miredoctl {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("miredoctl: {e}");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("miredoctl: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&opts)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("miredoctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn connect(choice: &BusChoice) -> Result<Connection, Failure> {
    let (conn, which) = match choice {
        BusChoice::System => (Connection::system().await, "the system bus".to_owned()),
        BusChoice::Address(a) => (
            match zbus::connection::Builder::address(a.as_str()) {
                Ok(b) => b.build().await,
                Err(e) => Err(e),
            },
            format!("the bus at {a}"),
        ),
    };
    conn.map_err(|e| Failure::Bus(format!("cannot connect to {which}: {e}")))
}

async fn run(opts: &Options) -> Result<String, Failure> {
    let conn = connect(&opts.bus).await?;
    let tunnels = miredo_tunnels(&conn)
        .await
        .map_err(|e| Failure::from_zbus("cannot ask the bus for miredo", e))?
        .ok_or(Failure::NotRunning)?;
    let chosen: Vec<String> = match &opts.interface {
        Some(name) if tunnels.contains(name) => vec![name.clone()],
        Some(name) => {
            return Err(Failure::Unavailable(format!(
                "miredo has no tunnel '{name}' (it has: {})",
                if tunnels.is_empty() {
                    "none".to_owned()
                } else {
                    tunnels.join(", ")
                }
            )))
        }
        None => tunnels,
    };
    let mut snapshots = Vec::with_capacity(chosen.len());
    for name in &chosen {
        snapshots.push(
            TunnelSnapshot::fetch(&conn, name)
                .await
                .map_err(|e| Failure::from_zbus(&format!("reading tunnel {name}"), e))?,
        );
    }
    match opts.command {
        Command::Status => {
            let report = StatusJson {
                tunnels: snapshots.into_iter().map(TunnelJson::from).collect(),
            };
            Ok(if opts.json {
                to_json(&report)
            } else {
                status_text(&report)
            })
        }
        Command::Requalify => requalify(&conn, &snapshots).await,
    }
}

async fn requalify(conn: &Connection, snapshots: &[TunnelSnapshot]) -> Result<String, Failure> {
    let snap = match snapshots {
        [one] => one,
        [] => return Err(Failure::Unavailable("miredo has no tunnel".to_owned())),
        _ => {
            return Err(Failure::Unavailable(
                "miredo has several tunnels: name one with --interface".to_owned(),
            ))
        }
    };
    let name = &snap.interface_name;
    if snap.is_relay() {
        return Err(Failure::Unavailable(format!(
            "{name} is a Teredo relay ({}): a relay has no server to qualify with",
            snap.mode
        )));
    }
    let proxy = tunnel_proxy(conn, name)
        .await
        .map_err(|e| Failure::from_zbus("building the proxy", e))?;
    match proxy.requalify().await {
        Ok(()) => Ok(format!(
            "{name}: qualifying with {} again\n",
            or_dash(&snap.server_address)
        )),
        Err(e) if is_access_denied(&e) => Err(Failure::Refused(format!(
            "requalify is for root only; the bus refused it: {e}"
        ))),
        Err(e) => Err(Failure::from_zbus("Requalify", e)),
    }
}

#[derive(Serialize)]
struct StatusJson {
    tunnels: Vec<TunnelJson>,
}

/// One tunnel as `--json` prints it: the properties, plus the role and the
/// mapped address taken apart.
#[derive(Serialize)]
struct TunnelJson {
    #[serde(flatten)]
    snapshot: TunnelSnapshot,
    /// `client` or `relay`.
    role: &'static str,
    /// The IPv4 part of `mapped_address`, `null` while not qualified.
    mapped_ip: Option<String>,
    /// The port part of `mapped_address`, `null` while not qualified.
    mapped_port: Option<u16>,
}

impl From<TunnelSnapshot> for TunnelJson {
    fn from(snapshot: TunnelSnapshot) -> TunnelJson {
        let mapped = snapshot.mapped_address.parse::<SocketAddrV4>().ok();
        TunnelJson {
            role: if snapshot.is_relay() {
                "relay"
            } else {
                "client"
            },
            mapped_ip: mapped.map(|m| m.ip().to_string()),
            mapped_port: mapped.map(|m| m.port()),
            snapshot,
        }
    }
}

/// Pretty JSON with a final newline.
fn to_json<T: Serialize>(value: &T) -> String {
    // Strings, numbers and string-keyed maps only: serializing cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// What a `NatType` value means, in words.
fn nat_words(t: &TunnelJson) -> String {
    if t.snapshot.is_relay() {
        return "not probed (a relay does not qualify)".to_owned();
    }
    match t.snapshot.nat_type.as_str() {
        "unknown" => "unknown (not qualified)".to_owned(),
        "none" => "none (the server sees our own address and port)".to_owned(),
        "cone" => "full cone (lets in packets from any host)".to_owned(),
        "restricted" => "restricted cone (one mapping; lets in only hosts it sent to)".to_owned(),
        "symmetric" => "symmetric (a new mapping for each destination)".to_owned(),
        "behind-nat" => "behind a NAT (type tests not complete)".to_owned(),
        other => other.to_owned(),
    }
}

/// What a `PortMapping` value means, in words.
fn mapping_words(m: &str) -> String {
    match m {
        "off" => "off".to_owned(),
        "none" => "none (not needed, or no mapping service answered)".to_owned(),
        "pcp" => "PCP (RFC 6887)".to_owned(),
        "nat-pmp" => "NAT-PMP (RFC 6886)".to_owned(),
        "upnp" => "UPnP IGD".to_owned(),
        other => other.to_owned(),
    }
}

fn status_text(report: &StatusJson) -> String {
    let mut out = String::new();
    if report.tunnels.is_empty() {
        out.push_str("miredo runs, without a tunnel\n");
    }
    for t in &report.tunnels {
        let s = &t.snapshot;
        let role = match s.mode.as_str() {
            "cone" => "Teredo relay, cone flag set",
            "restricted" => "Teredo relay, no cone flag (restricted)",
            _ => "Teredo client",
        };
        let _ = writeln!(out, "{}: {role}", s.interface_name);
        let mut line = |key: &str, value: &str| {
            let _ = writeln!(out, "{}", format!("  {key:<20}{value}").trim_end());
        };
        line("state", &s.state);
        line("address", or_dash(&s.address));
        line("link-local address", or_dash(&s.link_local_address));
        line("MTU", &s.mtu.to_string());
        if !t.snapshot.is_relay() {
            line("server", or_dash(&s.server_address));
            line("mapped address", t.mapped_ip.as_deref().unwrap_or("-"));
            line(
                "mapped port",
                &t.mapped_port.map_or("-".to_owned(), |p| p.to_string()),
            );
        }
        line("NAT type", &nat_words(t));
        if !t.snapshot.is_relay() && s.nat_type != "unknown" && s.nat_type != "none" {
            line(
                "port preserved",
                if s.port_preserved { "yes" } else { "no" },
            );
            if !s.port_prediction.is_empty() {
                line("port prediction", &s.port_prediction);
            }
        }
        if !s.port_mapping.is_empty() && !t.snapshot.is_relay() {
            line("port mapping", &mapping_words(&s.port_mapping));
        }
        line("peers", &s.peers.to_string());
        if s.counters.is_empty() {
            line("counters", "-");
        } else {
            line("counters", "");
            let width = s.counters.keys().map(String::len).max().unwrap_or(0);
            for (name, value) in &s.counters {
                let _ = writeln!(out, "    {name:<width$}  {value}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Parsed, String> {
        parse_args(list.iter().map(|s| (*s).to_owned())).map_err(|e| e.to_string())
    }

    fn run_opts(list: &[&str]) -> Options {
        match args(list) {
            Ok(Parsed::Run(o)) => o,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    #[test]
    fn command_line() {
        let o = run_opts(&[]);
        assert_eq!(
            (o.command, o.json, o.bus),
            (Command::Status, false, BusChoice::System)
        );
        let o = run_opts(&["requalify", "-i", "teredo", "--address", "unix:path=/x"]);
        assert_eq!(o.command, Command::Requalify);
        assert_eq!(o.interface.as_deref(), Some("teredo"));
        assert_eq!(o.bus, BusChoice::Address("unix:path=/x".into()));
        let o = run_opts(&["--address=unix:path=/y", "--system", "--json"]);
        assert_eq!((o.json, o.bus), (true, BusChoice::System));
        assert_eq!(args(&["-h"]), Ok(Parsed::Help));
        assert_eq!(args(&["status", "-V"]), Ok(Parsed::Version));
        assert_eq!(
            args(&["show"]).err().as_deref(),
            Some("unknown command 'show'")
        );
        assert_eq!(
            args(&["--address"]).err().as_deref(),
            Some("option '--address' needs a value")
        );
        assert!(args(&["status", "requalify"]).is_err());
        assert!(args(&["--xml"]).is_err());
    }

    fn client() -> TunnelSnapshot {
        TunnelSnapshot {
            interface_name: "teredo".into(),
            state: "up".into(),
            address: "2001:0:c000:201:0:f227:3cff:ffef".into(),
            link_local_address: "fe80::ffff:ffff:ffff".into(),
            mtu: 1280,
            server_address: "192.0.2.1".into(),
            mapped_address: "203.0.113.1:3544".into(),
            peers: 2,
            mode: "client".into(),
            nat_type: "symmetric".into(),
            port_preserved: false,
            port_mapping: "pcp".into(),
            port_prediction: "sequential".into(),
            counters: [("rx".to_owned(), 7)].into_iter().collect(),
        }
    }

    #[test]
    fn text_of_a_client_and_a_relay() {
        let relay = TunnelSnapshot {
            mode: "cone".into(),
            nat_type: "unknown".into(),
            server_address: String::new(),
            mapped_address: String::new(),
            ..client()
        };
        let text = status_text(&StatusJson {
            tunnels: vec![client().into(), relay.into()],
        });
        for line in [
            "teredo: Teredo client",
            "  mapped address      203.0.113.1",
            "  mapped port         3544",
            "  NAT type            symmetric (a new mapping for each destination)",
            "  port preserved      no",
            "  port prediction     sequential",
            "  port mapping        PCP (RFC 6887)",
            "    rx  7",
            "teredo: Teredo relay, cone flag set",
            "  NAT type            not probed (a relay does not qualify)",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        // The client's only: a relay does not test its NAT.
        assert_eq!(text.matches("port prediction").count(), 1, "{text}");
    }

    #[test]
    fn json_takes_the_mapping_apart() {
        let json = to_json(&TunnelJson::from(client()));
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(v["mapped_ip"], "203.0.113.1");
        assert_eq!(v["mapped_port"], 3544);
        assert_eq!(v["role"], "client");
        assert_eq!(v["nat_type"], "symmetric");
        assert_eq!(v["port_mapping"], "pcp");
        assert_eq!(v["port_preserved"], false);
        assert_eq!(v["port_prediction"], "sequential");
        assert_eq!(v["counters"]["rx"], 7);
    }
}
