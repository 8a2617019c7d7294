//! The real `miredo` client, in a network namespace of its own: after start-up
//! the daemon runs as user `miredo` with `CAP_NET_ADMIN` alone (bounding set
//! included), the root hook runner and its hooks hold `CAP_NET_ADMIN` alone, a
//! reload that names another hook script keeps the one chosen at start-up, and
//! the runner removes the pidfile at exit. No server answers: the hook runs for
//! the final `down` and `destroy` of each round.
//!
//! Needs root (namespaces, TUN, a privilege drop).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_miredo");
const NET_ADMIN: &str = "0000000000001000";
const NONE: &str = "0000000000000000";

/// A namespace removed on drop.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Netns {
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {name}");
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The daemon, killed on drop if still running.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

fn proc_status(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

fn wait_until(what: &str, timeout: Duration, log: &Path, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; daemon log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
}

#[test]
fn daemon_and_hook_runner_keep_only_their_capabilities() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (network namespace, TUN, privilege drop)"
    );
    let miredo = nix::unistd::User::from_name("miredo")
        .unwrap()
        .expect("this test needs the system user `miredo` (as the Debian package creates)");
    let id = std::process::id();
    let dir: PathBuf = std::env::temp_dir().join(format!("miredo-privsep-{id}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ns = Netns::new(format!("mrd-privsep-{id}"));

    let hook = dir.join("hook");
    write_script(
        &hook,
        &format!(
            "echo \"$STATE\" >> {dir}/calls\n/bin/cat /proc/$$/status > {dir}/hook-status",
            dir = dir.display()
        ),
    );
    let other = dir.join("other-hook");
    write_script(
        &other,
        &format!("/usr/bin/touch {}/other-ran", dir.display()),
    );
    let conf = dir.join("miredo.conf");
    let write_conf = |hook: &Path| {
        std::fs::write(
            &conf,
            format!(
                "ServerAddress 192.0.2.1\nInterfaceName tprivsep\nClientHook {}\n",
                hook.display()
            ),
        )
        .unwrap();
    };
    write_conf(&hook);
    let log = dir.join("log");
    let pidfile = dir.join("miredo.pid");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.0, BIN, "-f", "-u", "miredo", "-p"])
        .arg(&pidfile)
        .arg("-c")
        .arg(&conf)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // `ip netns exec` execs the daemon in place: same PID.
    let mut daemon = Daemon(child);
    let pid = daemon.0.id();

    wait_until("the privilege drop", Duration::from_secs(10), &log, || {
        status_field(&proc_status(pid), "Uid:").starts_with(&format!("{}\t", miredo.uid))
    });
    let children =
        || std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    wait_until("the hook runner", Duration::from_secs(5), &log, || {
        !children().trim().is_empty()
    });
    let runner: u32 = children()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let s = proc_status(pid);
    assert_eq!(
        status_field(&s, "Uid:"),
        format!("{0}\t{0}\t{0}\t{0}", miredo.uid)
    );
    for key in ["CapPrm:", "CapEff:", "CapBnd:"] {
        assert_eq!(status_field(&s, key), NET_ADMIN, "daemon {key}\n{s}");
    }
    for key in ["CapInh:", "CapAmb:"] {
        assert_eq!(status_field(&s, key), NONE, "daemon {key}\n{s}");
    }
    let r = proc_status(runner);
    assert!(status_field(&r, "Uid:").starts_with("0\t"), "{r}");
    for key in ["CapPrm:", "CapEff:", "CapBnd:"] {
        assert_eq!(status_field(&r, key), NET_ADMIN, "runner {key}\n{r}");
    }
    for key in ["CapInh:", "CapAmb:"] {
        assert_eq!(status_field(&r, key), NONE, "runner {key}\n{r}");
    }

    // A reload naming another script: the round ends with down/destroy through
    // the script chosen at start-up, and the change is reported, not applied.
    write_conf(&other);
    let calls = dir.join("calls");
    let count = || {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .lines()
            .count()
    };
    // The TUN exists once the signal handlers are in place.
    wait_until("the TUN", Duration::from_secs(5), &log, || {
        Command::new("ip")
            .args(["-n", &ns.0, "link", "show", "tprivsep"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    signal(pid, nix::sys::signal::Signal::SIGHUP);
    wait_until(
        "the reload's down/destroy hooks",
        Duration::from_secs(10),
        &log,
        || count() >= 2,
    );
    wait_until("the reload warning", Duration::from_secs(5), &log, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("is used until a restart"))
    });

    signal(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = daemon.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "exit {status}; log:\n{log_text}");
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "down\ndestroy\ndown\ndestroy\n",
        "log:\n{log_text}"
    );
    assert!(
        !dir.join("other-ran").exists(),
        "the reload changed the hook"
    );
    let h = std::fs::read_to_string(dir.join("hook-status")).unwrap();
    assert!(status_field(&h, "Uid:").starts_with("0\t"), "{h}");
    for key in ["CapPrm:", "CapEff:", "CapBnd:"] {
        assert_eq!(status_field(&h, key), NET_ADMIN, "hook {key}\n{h}");
    }
    wait_until("the pidfile removal", Duration::from_secs(5), &log, || {
        !pidfile.exists()
    });
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}
