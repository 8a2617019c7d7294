//! mip6ctl against a mip6d service on a private system bus (a `dbus-daemon` with the
//! project's policy file, reached through `DBUS_SYSTEM_BUS_ADDRESS`).

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::net::Ipv6Addr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bus::{
    BindingInfo, BindingState, BuCounters, BulEntryInfo, HomeAgentState, Mip6dService,
    MobileNodeState, RegistrationState, Role,
};
use tokio::process::Command as AsyncCommand;

/// A dbus-daemon with a default-deny system policy plus conf/org.umip_rs.Mip6d1.conf,
/// killed by PID on drop.
struct PrivateBus {
    child: Child,
    _dir: tempfile::TempDir,
    address: String,
}

impl PrivateBus {
    fn start() -> PrivateBus {
        let dir = tempfile::tempdir().expect("tempdir");
        // `nobody` must reach the socket.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/org.umip_rs.Mip6d1.conf");
        let policy_dir = dir.path().join("system.d");
        std::fs::create_dir(&policy_dir).expect("mkdir");
        std::fs::copy(&policy, policy_dir.join("org.umip_rs.Mip6d1.conf")).expect("copy policy");
        let config = format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={sock}</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <includedir>{policies}</includedir>
</busconfig>
"#,
            sock = dir.path().join("sock").display(),
            policies = policy_dir.display(),
        );
        let config_path = dir.path().join("bus.conf");
        std::fs::write(&config_path, config).expect("write config");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config_path.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon");
        let mut address = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut address)
            .expect("bus address");
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        PrivateBus {
            child,
            _dir: dir,
            address,
        }
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Runs mip6ctl with `args` against the bus at `address`, as root or as `nobody`.
/// Async, so that a service on the test's runtime answers meanwhile.
async fn mip6ctl(address: &str, as_nobody: bool, args: &[&str]) -> Output {
    let exe = env!("CARGO_BIN_EXE_mip6ctl");
    let mut cmd = if as_nobody {
        let mut c = AsyncCommand::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", exe]);
        c
    } else {
        AsyncCommand::new(exe)
    };
    tokio::time::timeout(
        Duration::from_secs(20),
        cmd.args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", address)
            .output(),
    )
    .await
    .expect("mip6ctl finishes within 20 s")
    .expect("mip6ctl runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ip(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

fn mobile_node(now: Instant) -> MobileNodeState {
    MobileNodeState {
        home_address: Some(ip("2001:db8:1::100")),
        home_agent: Some(ip("2001:db8:1::1")),
        care_of_address: Some(ip("2001:db8:a::100")),
        care_of_interface: "eth1".into(),
        registration: RegistrationState::Registered,
        binding_update_list: vec![BulEntryInfo {
            peer: ip("2001:db8:1::1"),
            home_address: ip("2001:db8:1::100"),
            care_of_address: Some(ip("2001:db8:a::100")),
            lifetime: Duration::from_secs(420),
            expires: Some(now + Duration::from_secs(3600)),
            sequence: 4711,
            flags: 0xc000,
            state: RegistrationState::Registered,
            last_status: Some(0),
        }],
    }
}

fn home_agent(now: Instant) -> HomeAgentState {
    HomeAgentState {
        binding_cache: vec![BindingInfo {
            home_address: ip("2001:db8:1::100"),
            care_of_address: ip("2001:db8:a::100"),
            local_address: Some(ip("2001:db8:1::1")),
            lifetime: Duration::from_secs(420),
            expires: now + Duration::from_secs(3600),
            sequence: 9,
            flags: 0xf000,
            state: BindingState::Registered,
        }],
        counters: BuCounters {
            received: 12,
            accepted: 9,
            rejected: BTreeMap::from([(129, 1), (135, 2)]),
            dropped: 0,
        },
    }
}

#[tokio::test]
async fn mobile_node_text_and_json() {
    assert!(
        is_root(),
        "this test needs root (the policy lets only root own the name): run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let svc = Mip6dService::start_at(&bus.address, Role::MobileNode)
        .await
        .expect("service");
    svc.update_mobile_node(mobile_node(Instant::now()))
        .await
        .expect("update");

    let out = mip6ctl(&bus.address, false, &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "mip6d: mobile-node",
        "  home address                2001:db8:1::100",
        "  home agent                  2001:db8:1::1",
        "  care-of address             2001:db8:a::100 on eth1",
        "  registration                registered",
        "  binding update list         1 entries",
        "  route-optimization bindings 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing from\n{text}"
        );
    }

    // nobody sees the counts, not the list of bindings (root only).
    let out = mip6ctl(&bus.address, true, &[]).await;
    assert!(out.status.success(), "as nobody: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l == "  binding update list         1 entries"),
        "{text}"
    );
    let out = mip6ctl(&bus.address, true, &["bul"]).await;
    assert_eq!(out.status.code(), Some(1), "nobody: {}", stdout(&out));
    assert_eq!(
        stderr(&out),
        "mip6ctl: the binding update list is readable by root only (the counts are in \
         `mip6ctl status`)\n"
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let out = mip6ctl(&bus.address, true, &["status", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["mobile_node"]["binding_update_list_entries"], 1);
    assert_eq!(
        json["mobile_node"]["binding_update_list"],
        serde_json::Value::Null
    );

    let out = mip6ctl(&bus.address, false, &["bul"]).await;
    assert!(out.status.success(), "as root: {}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("PEER           HOME ADDRESS     CARE-OF ADDRESS  STATE"),
        "{text}"
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        cells[..4],
        [
            "2001:db8:1::1",
            "2001:db8:1::100",
            "2001:db8:a::100",
            "registered"
        ]
    );
    assert!(cells[4].ends_with("/420"), "{text}");
    assert_eq!(cells[5..], ["4711", "AH", "0"]);

    let out = mip6ctl(&bus.address, false, &["status", "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["role"], "mobile-node");
    assert_eq!(json["mobile_node"]["care_of_interface"], "eth1");
    assert_eq!(json["mobile_node"]["registration_state"], "registered");
    assert_eq!(
        json["mobile_node"]["binding_update_list"][0]["sequence"],
        4711
    );
    assert_eq!(json["home_agent"], serde_json::Value::Null);
    assert_eq!(
        json["correspondent"]["binding_cache"],
        serde_json::json!([])
    );
    assert_eq!(json["correspondent"]["binding_cache_entries"], 0);

    let out = mip6ctl(&bus.address, false, &["bul", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json[0]["flags"], "AH");
    assert_eq!(json[0]["last_status"], 0);
    assert!(
        json[0]["remaining"].as_u64().is_some_and(|r| r > 3500),
        "{json}"
    );

    let out = mip6ctl(&bus.address, false, &["bc"]).await;
    assert!(out.status.success());
    assert_eq!(stdout(&out), "binding cache: empty\n");
}

#[tokio::test]
async fn home_agent_text_and_json() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    let svc = Mip6dService::start_at(&bus.address, Role::HomeAgent)
        .await
        .expect("service");
    svc.update_home_agent(home_agent(Instant::now()))
        .await
        .expect("update");

    let out = mip6ctl(&bus.address, false, &["status"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "mip6d: home-agent",
        "  home registrations          1 bindings",
        "  binding updates received    12",
        "    accepted                  9",
        "    rejected                  3 (129: 1, 135: 2)",
        "    dropped                   0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing from\n{text}"
        );
    }

    // nobody: the count, not the bindings.
    let out = mip6ctl(&bus.address, true, &["status"]).await;
    assert!(out.status.success(), "as nobody: {}", stderr(&out));
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l == "  home registrations          1 bindings"),
        "{}",
        stdout(&out)
    );
    for args in [&["bc"][..], &["bc", "--json"]] {
        let out = mip6ctl(&bus.address, true, args).await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "nobody {args:?}: {}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains("readable by root only"),
            "{}",
            stderr(&out)
        );
        assert!(
            !stdout(&out).contains("2001:db8:a::100"),
            "{}",
            stdout(&out)
        );
    }

    let out = mip6ctl(&bus.address, false, &["bc"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let cells: Vec<&str> = text
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        cells[..5],
        [
            "home",
            "2001:db8:1::100",
            "2001:db8:a::100",
            "2001:db8:1::1",
            "registered"
        ],
        "{text}"
    );
    assert_eq!(cells[6..], ["9", "AHLK"], "{text}");

    let out = mip6ctl(&bus.address, false, &["bc", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["home_agent"][0]["local_address"], "2001:db8:1::1");
    assert_eq!(json["correspondent"], serde_json::json!([]));
    let out = mip6ctl(&bus.address, false, &["--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["home_agent"]["rejected_by_status"]["135"], 2);
    assert_eq!(json["mobile_node"], serde_json::Value::Null);

    let out = mip6ctl(&bus.address, false, &["bul"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "mip6ctl: mip6d runs as home-agent: only a mobile node has a binding update list\n"
    );
}

#[tokio::test]
async fn exit_status_when_mip6d_or_the_bus_is_absent() {
    assert!(
        is_root(),
        "this test needs root (a system-type bus): run it as root, as the README's test command does"
    );
    let bus = PrivateBus::start();
    for json in [false, true] {
        let args: &[&str] = if json { &["--json"] } else { &[] };
        let out = mip6ctl(&bus.address, false, args).await;
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "mip6ctl: mip6d is not running (no owner of org.umip_rs.Mip6d1 on the system bus)\n"
        );
        assert!(out.stdout.is_empty());
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let nowhere = format!("unix:path={}", dir.path().join("none").display());
    let out = mip6ctl(&nowhere, false, &["status"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("mip6ctl: cannot connect to the system bus: "),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn usage() {
    let out = mip6ctl("unix:path=/nonexistent", false, &["-h"]).await;
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("Usage: mip6ctl [status|bul|bc] [--json]\n"));
    let out = mip6ctl("unix:path=/nonexistent", false, &["routes"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("mip6ctl: unknown command 'routes'\nUsage: "));
    let out = mip6ctl("unix:path=/nonexistent", false, &["-V"]).await;
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("mip6ctl "));
}
