//! The two "a network came up" hooks of the package: ifupdown's
//! `conf/if-up.d/miredo` and NetworkManager's `conf/NetworkManager/dispatcher.d/50-miredo`,
//! run as ifupdown and NetworkManager-dispatcher(8) run them (arguments and
//! environment) with a stub `invoke-rc.d` first on PATH that records its calls
//! and answers `status` as told. Both must reload miredo for an IPv4 network
//! coming up while miredo runs, and do nothing otherwise.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the stub saw, one line per call.
const RELOADED: &str = "--quiet miredo status\n--quiet miredo reload\n";
const ASKED_ONLY: &str = "--quiet miredo status\n";

struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!("miredo-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for sub in ["bin", "dispatcher.d"] {
            fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        let stub = dir.join("bin/invoke-rc.d");
        fs::write(
            &stub,
            "#!/bin/sh\necho \"$*\" >>\"$STUB_LOG\"\n\
             [ \"$3\" = status ] && exit \"${STUB_STATUS:-0}\"\nexit 0\n",
        )
        .expect("stub");
        fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).expect("chmod");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let hook = dir.join("dispatcher.d/50-miredo");
        fs::copy(
            repo.join("conf/NetworkManager/dispatcher.d/50-miredo"),
            &hook,
        )
        .expect("copy the dispatcher hook");
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).expect("chmod");
        Sandbox { dir }
    }

    /// Runs `script` with `args` and exactly `env` (plus PATH and the stub's
    /// settings); returns the stub's calls.
    fn run(&self, script: &Path, args: &[&str], env: &[(&str, &str)], running: bool) -> String {
        let log = self.dir.join("calls.log");
        let _ = fs::remove_file(&log);
        let out = Command::new(script)
            .args(args)
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                    self.dir.join("bin").display()
                ),
            )
            .env("STUB_LOG", &log)
            .env("STUB_STATUS", if running { "0" } else { "3" })
            .envs(env.iter().copied())
            .output()
            .expect("the hook runs");
        assert!(
            out.status.success(),
            "{} {args:?} {env:?}: {out:?}",
            script.display()
        );
        fs::read_to_string(&log).unwrap_or_default()
    }

    fn dispatcher(&self) -> PathBuf {
        self.dir.join("dispatcher.d/50-miredo")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Both scripts stand down when /usr/sbin/miredo is gone (a removed package
/// whose configuration files stay); these tests need it present.
fn require_miredo_binary() {
    assert!(
        Path::new("/usr/sbin/miredo").exists(),
        "/usr/sbin/miredo is missing: the hooks do nothing without it (install Debian's \
         miredo, as scripts/deps.sh does for the lab)"
    );
}

/// The environment NetworkManager gives an `up` of an Ethernet connection.
fn nm_env<'a>(iface: &'a str, action: &'a str, ip4: bool, ip6: bool) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("NM_DISPATCHER_ACTION", action),
        ("DEVICE_IFACE", iface),
        ("DEVICE_IP_IFACE", iface),
        ("CONNECTION_ID", "Wired connection 1"),
        ("CONNECTION_UUID", "8f1e6c2c-3b5d-4c8e-9a53-0d4f4d1c2b7a"),
    ];
    if ip4 {
        env.extend([
            ("IP4_NUM_ADDRESSES", "1"),
            ("IP4_ADDRESS_0", "198.18.0.10/24 198.18.0.1"),
            ("IP4_GATEWAY", "198.18.0.1"),
        ]);
    }
    if ip6 {
        env.extend([
            ("IP6_NUM_ADDRESSES", "1"),
            ("IP6_ADDRESS_0", "2001:db8::10/64 2001:db8::1"),
        ]);
    }
    env
}

#[test]
fn dispatcher_reloads_a_running_miredo_on_up_only() {
    require_miredo_binary();
    let sb = Sandbox::new("nm-dispatcher");
    let hook = sb.dispatcher();
    let up = |iface: &str, ip4: bool, ip6: bool, running: bool| {
        sb.run(
            &hook,
            &[iface, "up"],
            &nm_env(iface, "up", ip4, ip6),
            running,
        )
    };

    assert_eq!(up("eth0", true, false, true), RELOADED, "IPv4 up");
    assert_eq!(up("eth0", true, true, true), RELOADED, "dual-stack up");
    // No address information at all counts as IPv4, as Debian's 01-ifupdown has it.
    assert_eq!(
        up("eth0", false, false, true),
        RELOADED,
        "up without IP details"
    );
    assert_eq!(
        up("eth0", true, false, false),
        ASKED_ONLY,
        "miredo not running"
    );
    assert_eq!(up("eth0", false, true, true), "", "IPv6-only up");
    assert_eq!(up("lo", true, false, true), "", "loopback");

    for action in [
        "pre-up",
        "down",
        "pre-down",
        "vpn-up",
        "vpn-down",
        "dhcp4-change",
        "dhcp6-change",
        "reapply",
    ] {
        let calls = sb.run(
            &hook,
            &["eth0", action],
            &nm_env("eth0", action, true, false),
            true,
        );
        assert_eq!(calls, "", "{action}");
    }
    // Actions without a device: the interface argument is "none" or empty.
    assert_eq!(sb.run(&hook, &["none", "hostname"], &[], true), "");
    assert_eq!(
        sb.run(
            &hook,
            &["", "connectivity-change"],
            &[("CONNECTIVITY_STATE", "FULL")],
            true
        ),
        ""
    );

    // Beside Debian's 01-ifupdown, which runs /etc/network/if-up.d/miredo itself.
    let ifupdown = sb.dir.join("dispatcher.d/01-ifupdown");
    fs::write(&ifupdown, "#!/bin/sh\nexit 0\n").expect("write");
    fs::set_permissions(&ifupdown, fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(up("eth0", true, false, true), "", "01-ifupdown present");
    // A disabled (non-executable) 01-ifupdown runs nothing: ours acts.
    fs::set_permissions(&ifupdown, fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(
        up("eth0", true, false, true),
        RELOADED,
        "01-ifupdown disabled"
    );
}

#[test]
fn ifupdown_hook_reloads_a_running_miredo_for_ipv4_stanzas() {
    require_miredo_binary();
    let sb = Sandbox::new("if-up");
    let hook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/if-up.d/miredo");
    let run = |iface: &str, mode: &str, family: &str, running: bool| {
        let env = [
            ("IFACE", iface),
            ("LOGICAL", iface),
            ("MODE", mode),
            ("PHASE", "post-up"),
            ("ADDRFAM", family),
            ("METHOD", "dhcp"),
        ];
        sb.run(&hook, &[], &env, running)
    };
    assert_eq!(run("eth0", "start", "inet", true), RELOADED);
    assert_eq!(run("eth0", "start", "inet", false), ASKED_ONLY);
    assert_eq!(run("eth0", "start", "inet6", true), "");
    assert_eq!(run("eth0", "stop", "inet", true), "");
    assert_eq!(run("lo", "start", "inet", true), "");
}
