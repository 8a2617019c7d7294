//! `miredoctl` against our miredo on the lab's private system bus (the project's
//! policy files installed): a client behind a NAT, a client without one, a relay,
//! and no miredo at all. Text and JSON are checked field by field against what the
//! lab knows (the Teredo address on the interface, the NAT's public address);
//! `requalify` as root restarts qualification (the daemon's log, and one more
//! solicitation at the server), as `nobody` it is refused with exit status 4.

use std::net::Ipv6Addr;
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use e2e::{client_ip, nat_public_ip, our_bin, Daemon, Lab, LabOpts, Nat, TeredoAddr, SERVER_IP};
use serde_json::Value;

/// Runs miredoctl on the bus at `bus`, as root or as `nobody`.
fn miredoctl(bus: &str, as_nobody: bool, args: &[&str]) -> Result<Output> {
    let exe = our_bin("miredoctl");
    ensure!(
        exe.exists(),
        "{} not found: build it first (`cargo build -p miredo --bins`)",
        exe.display()
    );
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.arg(format!("--address={bus}"))
        .args(args)
        .output()
        .with_context(|| format!("running {}", exe.display()))
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `miredoctl --json` once the tunnel is `up`, as its first tunnel's object.
fn wait_json_up(lab: &Lab, bus: &str, daemon: &Daemon) -> Result<Value> {
    wait_json(lab, bus, daemon, "the tunnel up", |t| t["state"] == "up")
}

/// Polls `miredoctl --json` until the first tunnel satisfies `done`.
fn wait_json(
    lab: &Lab,
    bus: &str,
    daemon: &Daemon,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let mut last = Value::Null;
    lab.wait_for(
        &format!("miredoctl to show {what}"),
        Duration::from_secs(10),
        || {
            let out = miredoctl(bus, false, &["--json"])?;
            if !out.status.success() {
                return Ok(false);
            }
            let v: Value = serde_json::from_str(&text(&out))?;
            last = v["tunnels"][0].clone();
            Ok(done(&last))
        },
    )
    .with_context(|| format!("last: {last}\ndaemon log:\n{}", daemon.log_text()))?;
    Ok(last)
}

/// The value of `key` in the text output (`  key   value`).
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix("  ")?.strip_prefix(key)?;
        rest.starts_with("  ").then(|| rest.trim())
    })
}

fn assert_not_running(bus: &str) -> Result<()> {
    for args in [&[][..], &["--json"], &["requalify"]] {
        let out = miredoctl(bus, false, args)?;
        ensure!(
            out.status.code() == Some(3),
            "miredoctl {args:?} without miredo: {:?}, {}",
            out.status,
            err_text(&out)
        );
        ensure!(
            err_text(&out).contains("miredo is not running"),
            "{}",
            err_text(&out)
        );
        ensure!(text(&out).is_empty(), "stdout: {}", text(&out));
    }
    Ok(())
}

/// Router Solicitations from `from` that reached the server, counted by an
/// nftables rule of the test's own in `srv` (gone with the lab's namespaces).
fn count_rs_rule(lab: &Lab, from: std::net::Ipv4Addr) -> Result<()> {
    let from = from.to_string();
    lab.exec_ok("srv", &["nft", "add", "table", "inet", "miredoctl_test"])?;
    lab.exec_ok(
        "srv",
        &[
            "nft",
            "add chain inet miredoctl_test input { type filter hook input priority 0; }",
        ],
    )?;
    lab.exec_ok(
        "srv",
        &[
            "nft",
            "add",
            "rule",
            "inet",
            "miredoctl_test",
            "input",
            "ip",
            "saddr",
            &from,
            "udp",
            "dport",
            "3544",
            "counter",
            "comment",
            "\"rs\"",
        ],
    )?;
    Ok(())
}

fn rs_count(lab: &Lab) -> Result<u64> {
    let out = lab.exec_ok("srv", &["nft", "list", "table", "inet", "miredoctl_test"])?;
    let line = out
        .lines()
        .find(|l| l.contains("comment \"rs\""))
        .context("no rs rule")?;
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == "packets" {
            return Ok(words.next().context("count")?.parse()?);
        }
    }
    bail!("no packet count in {line}")
}

#[test]
fn miredoctl_shows_clients_and_relay_and_requalifies_for_root_only() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::PortRestricted, Nat::None]))?;
    let bus = lab.dbus_up()?;
    lab.start_debian_server()?;

    // No miredo on the bus yet; no bus at all.
    assert_not_running(&bus)?;
    let out = miredoctl("unix:path=/nonexistent/bus", false, &[])?;
    ensure!(
        out.status.code() == Some(1) && err_text(&out).contains("cannot connect to the bus"),
        "without a bus: {:?} {}",
        out.status,
        err_text(&out)
    );

    // A client behind a port-restricted NAT.
    let conf = Lab::client_conf();
    // The built-in hook: the host's /etc/miredo/client-hook is Debian's.
    let builtin = ["--client-hook", "/nonexistent"];
    let client =
        lab.start_ours_on_bus("cl1", "ctl-client1", "miredo", &conf, &builtin, Some(&bus))?;
    let addr = lab
        .wait_teredo_addr("cl1", Duration::from_secs(10))
        .with_context(|| client.log_text())?;
    let mapped_port = TeredoAddr::from_ipv6(&addr).mapped_port;
    let json = wait_json_up(&lab, &bus, &client)?;
    ensure!(json["interface_name"] == "teredo", "{json}");
    ensure!(
        json["role"] == "client" && json["mode"] == "client",
        "{json}"
    );
    ensure!(
        json["address"]
            .as_str()
            .and_then(|a| a.parse::<Ipv6Addr>().ok())
            == Some(addr),
        "address: {json} vs {addr}"
    );
    ensure!(json["server_address"] == SERVER_IP.to_string(), "{json}");
    ensure!(
        json["mapped_address"] == format!("{}:{mapped_port}", nat_public_ip(1)),
        "{json}"
    );
    ensure!(json["mapped_ip"] == nat_public_ip(1).to_string(), "{json}");
    ensure!(json["mapped_port"] == u64::from(mapped_port), "{json}");
    ensure!(json["mtu"] == 1280, "{json}");
    ensure!(json["port_mapping"] == "none", "{json}");
    // The NAT tests run after qualifying: a port-restricted cone keeps one
    // mapping and the port, and filters the cone test's answer.
    let json = wait_json(&lab, &bus, &client, "the NAT tested", |t| {
        t["nat_type"] != "behind-nat"
    })?;
    ensure!(json["nat_type"] == "restricted", "{json}");
    ensure!(json["port_preserved"] == true, "{json}");
    // Not a symmetric NAT: nothing to predict.
    ensure!(json["port_prediction"] == "off", "{json}");
    ensure!(json["counters"].is_object(), "{json}");

    let out = miredoctl(&bus, false, &[])?;
    ensure!(out.status.success(), "status: {}", err_text(&out));
    let t = text(&out);
    println!("{t}");
    ensure!(t.starts_with("teredo: Teredo client\n"), "{t}");
    ensure!(field(&t, "state") == Some("up"), "{t}");
    ensure!(
        field(&t, "address").and_then(|a| a.parse::<Ipv6Addr>().ok()) == Some(addr),
        "{t}"
    );
    ensure!(
        field(&t, "server") == Some(SERVER_IP.to_string().as_str()),
        "{t}"
    );
    ensure!(
        field(&t, "mapped address") == Some(nat_public_ip(1).to_string().as_str()),
        "{t}"
    );
    ensure!(
        field(&t, "mapped port") == Some(mapped_port.to_string().as_str()),
        "{t}"
    );
    ensure!(
        field(&t, "NAT type")
            == Some("restricted cone (one mapping; lets in only hosts it sent to)")
            && field(&t, "port preserved") == Some("yes")
            && field(&t, "port prediction") == Some("off")
            && field(&t, "port mapping")
                == Some("none (not needed, or no mapping service answered)"),
        "{t}"
    );

    // Requalify: refused to nobody (exit 4, the bus's refusal), done for root.
    count_rs_rule(&lab, nat_public_ip(1))?;
    let out = miredoctl(&bus, true, &["requalify"])?;
    ensure!(
        out.status.code() == Some(4),
        "requalify as nobody: {:?} {}",
        out.status,
        err_text(&out)
    );
    ensure!(
        err_text(&out).contains("requalify is for root only")
            && err_text(&out).contains("AccessDenied"),
        "{}",
        err_text(&out)
    );
    // nobody may read.
    let out = miredoctl(&bus, true, &[])?;
    ensure!(out.status.success(), "status as nobody: {}", err_text(&out));
    let before = rs_count(&lab)?;
    let out = miredoctl(&bus, false, &["requalify"])?;
    ensure!(
        out.status.success(),
        "requalify as root: {}",
        err_text(&out)
    );
    ensure!(
        text(&out) == format!("teredo: qualifying with {SERVER_IP} again\n"),
        "{}",
        text(&out)
    );
    lab.wait_for(
        "the daemon to re-qualify on request",
        Duration::from_secs(5),
        || Ok(client.log_text().contains("re-qualifying on request")),
    )
    .with_context(|| client.log_text())?;
    // The refused call never reached the daemon: one request logged.
    ensure!(
        client
            .log_text()
            .matches("re-qualifying on request")
            .count()
            == 1,
        "{}",
        client.log_text()
    );
    lab.wait_for(
        "a solicitation at the server",
        Duration::from_secs(2),
        || Ok(rs_count(&lab)? > before),
    )?;
    lab.stop(&client)?;
    assert_not_running(&bus)?;

    // A client without a NAT: the server sees its own address and port.
    let client =
        lab.start_ours_on_bus("cl2", "ctl-client2", "miredo", &conf, &builtin, Some(&bus))?;
    let addr = lab
        .wait_teredo_addr("cl2", Duration::from_secs(10))
        .with_context(|| client.log_text())?;
    let json = wait_json_up(&lab, &bus, &client)?;
    ensure!(json["nat_type"] == "none", "{json}");
    ensure!(json["mapped_ip"] == client_ip(2).to_string(), "{json}");
    ensure!(
        json["mapped_port"] == u64::from(TeredoAddr::from_ipv6(&addr).mapped_port),
        "{json}"
    );
    let t = text(&miredoctl(&bus, false, &[])?);
    ensure!(
        field(&t, "NAT type") == Some("none (the server sees our own address and port)"),
        "{t}"
    );
    lab.stop(&client)?;

    // A relay: said so, no NAT type, nothing to re-qualify.
    let relay_conf = "RelayType cone\nInterfaceName teredo\n";
    let relay =
        lab.start_ours_on_bus("relay", "ctl-relay", "miredo", relay_conf, &[], Some(&bus))?;
    let json = wait_json_up(&lab, &bus, &relay)?;
    ensure!(json["role"] == "relay" && json["mode"] == "cone", "{json}");
    ensure!(
        json["nat_type"] == "unknown" && json["mapped_ip"].is_null(),
        "{json}"
    );
    let t = text(&miredoctl(&bus, false, &["-i", "teredo"])?);
    ensure!(
        t.starts_with("teredo: Teredo relay, cone flag set\n"),
        "{t}"
    );
    ensure!(
        field(&t, "NAT type") == Some("not probed (a relay does not qualify)"),
        "{t}"
    );
    ensure!(field(&t, "server").is_none(), "{t}");
    let out = miredoctl(&bus, false, &["requalify"])?;
    ensure!(
        out.status.code() == Some(1) && err_text(&out).contains("a relay has no server"),
        "requalify on a relay: {:?} {}",
        out.status,
        err_text(&out)
    );
    let out = miredoctl(&bus, false, &["-i", "teredo0"])?;
    ensure!(
        out.status.code() == Some(1)
            && err_text(&out).contains("no tunnel 'teredo0' (it has: teredo)"),
        "{}",
        err_text(&out)
    );
    lab.stop(&relay)?;
    lab.down()
}
