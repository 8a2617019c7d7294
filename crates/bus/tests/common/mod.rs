//! A private system bus per test: `dbus-daemon` with Debian's default-deny system
//! policy and the project's own policy files from `conf/`, killed by PID on drop.

#![allow(dead_code)]

pub mod mip6d;

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use tokio::process::Command as AsyncCommand;

/// The policy files under test.
const POLICIES: [&str; 2] = ["org.miredo_rs.Miredo1.conf", "org.umip_rs.Mip6d1.conf"];

/// Debian's system.conf policy, minus service activation, pidfile, syslog and user.
const SYSTEM_POLICY: &str = r#"
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
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus" />
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
"#;

pub struct PrivateBus {
    child: Child,
    dir: tempfile::TempDir,
    pub address: String,
}

/// The repository's `conf/` (this module is also used by other crates' tests).
pub fn conf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("conf"))
        .find(|conf| conf.join(POLICIES[0]).exists())
        .expect("the repository's conf/ above the crate")
}

impl PrivateBus {
    /// A bus with the real policies.
    pub fn start() -> PrivateBus {
        Self::start_with_extra("")
    }

    /// A bus with the real policies plus `extra` XML after them (e.g. a mandatory
    /// policy that opens everything, to test the service's own checks).
    pub fn start_with_extra(extra: &str) -> PrivateBus {
        let dir = tempfile::tempdir().expect("tempdir");
        // Unprivileged test clients must reach the socket.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let policy_dir = dir.path().join("system.d");
        std::fs::create_dir(&policy_dir).expect("mkdir");
        for name in POLICIES {
            std::fs::copy(conf_dir().join(name), policy_dir.join(name)).expect("copy policy");
        }
        let config = format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={sock}</listen>
{SYSTEM_POLICY}
  <includedir>{policies}</includedir>
{extra}
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
        let stdout = child.stdout.take().expect("stdout");
        let mut address = String::new();
        BufReader::new(stdout)
            .read_line(&mut address)
            .expect("bus address");
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        PrivateBus {
            child,
            dir,
            address,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `busctl --address=<bus> args...`, optionally as `nobody`. Async, so that a
    /// service on the test's own runtime can answer meanwhile.
    pub async fn busctl(&self, as_nobody: bool, args: &[&str]) -> Output {
        let mut cmd = if as_nobody {
            let mut c = AsyncCommand::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "busctl"]);
            c
        } else {
            AsyncCommand::new("busctl")
        };
        cmd.arg(format!("--address={}", self.address))
            .args(args)
            .output()
            .await
            .expect("busctl")
    }
}

impl PrivateBus {
    /// Runs `dbus-send --system --print-reply args...` as `nobody`, with
    /// `DBUS_SYSTEM_BUS_ADDRESS` pointing at this bus (busctl turns every AccessDenied
    /// into "Access denied"; dbus-send shows the error's own message).
    pub async fn dbus_send_as_nobody(&self, args: &[&str]) -> Output {
        AsyncCommand::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "dbus-send",
                "--system",
                "--print-reply",
            ])
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .output()
            .await
            .expect("dbus-send")
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn is_root() -> bool {
    // The effective uid, from /proc (no unsafe, no extra dependency).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
