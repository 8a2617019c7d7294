//! The root hook runner as a compromised daemon would see it: forged requests
//! (another script, a smuggled variable, bad fields) are refused and logged and
//! run nothing; a good request runs the script fixed at start-up with exactly
//! the hook variables, and the runner and the hook hold `CAP_NET_ADMIN` alone.
//! At exit the runner removes the pidfile only while it holds the daemon's PID.
//!
//! Needs root. Each case runs in a fresh process (this test binary re-run with
//! `MIREDO_TEST_RUNNER` set) that plays the daemon: it forks the runner as
//! `miredo` does and speaks the protocol to it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::Ipv6Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use miredo::hook::request::{self, HEADER_LEN, KIND_RUN, STATUS_REFUSED, VERSION};
use miredo::hook::{HookEvent, HookParams, HookState, OldState};
use miredo::privproc::{fork_runner, RunnerConfig};

const MODE_VAR: &str = "MIREDO_TEST_RUNNER";
const DIR_VAR: &str = "MIREDO_TEST_RUNNER_DIR";
const NET_ADMIN: &str = "0000000000001000";

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (it forks a uid-0 runner and checks its capabilities)"
    );
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("miredo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// A legitimate `up` event on `lo` (present in every namespace).
fn good_event() -> HookEvent {
    let lo = nix::net::if_::if_nametoindex("lo").unwrap();
    HookEvent {
        state: HookState::Up,
        old_state: OldState::Down,
        iface: "lo".into(),
        ifindex: lo,
        current: Some(HookParams::new(
            Ipv6Addr::new(0x2001, 0, 0xc000, 0x201, 0x18af, 0x1a95, 0x3fff, 0xfdf5),
            1280,
        )),
        old: None,
    }
}

fn frame_with_body(body: &[u8]) -> Vec<u8> {
    let mut f = vec![VERSION, KIND_RUN];
    f.extend_from_slice(&(body.len() as u16).to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// The forged requests, by name; `dir` holds the fixed hook and an `evil`
/// script that must never run.
fn attacks(dir: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let evil = dir.join("evil");
    let good = request::encode(&good_event());
    let body = &good[HEADER_LEN..];
    let mut v = Vec::new();

    // Another script: the path appended to a good request's body.
    let mut b = body.to_vec();
    b.extend_from_slice(evil.to_str().unwrap().as_bytes());
    v.push(("another-script", frame_with_body(&b)));

    // A variable smuggled as the interface name.
    let ev = HookEvent {
        iface: "LD_PRELOAD=/x".into(),
        ..good_event()
    };
    v.push(("ld-preload-as-iface", request::encode(&ev)));

    // A variable smuggled behind an unknown flag bit.
    let mut b = body.to_vec();
    let flags_at = 1 + 1 + 4 + 1 + "lo".len();
    b[flags_at] |= 0x80;
    b.extend_from_slice(format!("LD_PRELOAD={}", evil.display()).as_bytes());
    v.push(("ld-preload-extra-field", frame_with_body(&b)));

    for (name, iface) in [
        ("iface-path", "../../x"),
        ("iface-option", "-lo"),
        ("iface-too-long", "lo0123456789abcd"),
    ] {
        let ev = HookEvent {
            iface: iface.into(),
            ..good_event()
        };
        v.push((name, request::encode(&ev)));
    }
    let ev = HookEvent {
        current: Some(HookParams::new(
            good_event().current.unwrap().address,
            70000,
        )),
        ..good_event()
    };
    v.push(("mtu-out-of-range", request::encode(&ev)));
    let ev = HookEvent {
        current: Some(HookParams::new("ff02::1".parse().unwrap(), 1280)),
        ..good_event()
    };
    v.push(("multicast-address", request::encode(&ev)));
    let ev = HookEvent {
        ifindex: 999_999,
        ..good_event()
    };
    v.push(("wrong-ifindex", request::encode(&ev)));
    let mut f = good.clone();
    f[0] = 0;
    v.push(("unknown-version", f));
    v
}

/// The old wire format: `u32 count`, then strings (path, `NAME=value`…).
fn old_format(dir: &Path) -> Vec<u8> {
    let strings = [
        dir.join("evil").display().to_string(),
        format!("LD_PRELOAD={}", dir.join("evil.so").display()),
        "STATE=up".to_string(),
    ];
    let mut buf = (strings.len() as u32).to_be_bytes().to_vec();
    for s in strings {
        buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
        buf.extend_from_slice(s.as_bytes());
    }
    buf
}

fn ask(stream: &mut UnixStream, frame: &[u8]) -> i32 {
    stream.write_all(frame).unwrap();
    let mut word = [0u8; 4];
    stream.read_exact(&mut word).unwrap();
    i32::from_be_bytes(word)
}

fn helper_config(dir: &Path) -> RunnerConfig {
    RunnerConfig {
        hook: dir.join("hook"),
        pidfile: Some(dir.join("pid")),
        daemon_pid: std::process::id(),
    }
}

fn init_logging() {
    let mut log = daemon::logging::LogConfig::new("miredo-test");
    log.syslog_socket = None;
    daemon::logging::init(&log).unwrap();
}

/// Not a test on its own: plays the daemon for the case named by `MODE_VAR`.
#[test]
fn helper_runner() {
    let Ok(mode) = std::env::var(MODE_VAR) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR_VAR).unwrap());
    init_logging();
    match mode.as_str() {
        "attack" => {
            let (mut stream, pid) = fork_runner(helper_config(&dir)).unwrap();
            for (name, frame) in attacks(&dir) {
                println!("REPORT {name} {}", ask(&mut stream, &frame));
            }
            let good = request::encode(&good_event());
            println!("REPORT good {}", ask(&mut stream, &good));
            // Read once the runner has answered: it confines itself after the
            // fork, so a read right after fork_runner may still see the
            // parent's sets.
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            for key in [
                "Uid:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:",
            ] {
                println!("REPORT runner-{key} {}", status_field(&status, key));
            }
            // Last, as it leaves the stream out of step: its first 4 bytes
            // read as a header, the rest as bodies and headers.
            println!("REPORT old-format {}", ask(&mut stream, &old_format(&dir)));
            drop(stream);
            nix::sys::wait::waitpid(pid, None).unwrap();
        }
        "flood" => {
            let (mut stream, pid) = fork_runner(helper_config(&dir)).unwrap();
            let mut bad = request::encode(&good_event());
            bad[0] = 0;
            let refused = (0..100)
                .filter(|_| ask(&mut stream, &bad) == STATUS_REFUSED)
                .count();
            println!("REPORT refused {refused}");
            drop(stream);
            nix::sys::wait::waitpid(pid, None).unwrap();
        }
        "pidfile-ours" | "pidfile-other" => {
            let pid = if mode == "pidfile-ours" {
                std::process::id()
            } else {
                // A new instance's.
                std::process::id() + 1
            };
            std::fs::write(dir.join("pid"), pid.to_string()).unwrap();
            let (stream, child) = fork_runner(helper_config(&dir)).unwrap();
            drop(stream);
            nix::sys::wait::waitpid(child, None).unwrap();
        }
        other => panic!("unknown mode {other}"),
    }
    println!("REPORT done 0");
}

/// Runs the helper; returns its reports and its stderr (the runner's log).
fn run_helper(mode: &str, dir: &Path) -> (BTreeMap<String, String>, String) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--exact",
            "helper_runner",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MODE_VAR, mode)
        .env(DIR_VAR, dir)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "helper {mode} failed:\n{stdout}\n{stderr}"
    );
    let reports: BTreeMap<String, String> = stdout
        .lines()
        .filter_map(|l| l.find("REPORT ").map(|i| &l[i + 7..]))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(
        reports.get("done").map(String::as_str),
        Some("0"),
        "{stdout}\n{stderr}"
    );
    (reports, stderr)
}

#[test]
fn forged_requests_run_nothing_and_are_logged() {
    require_root();
    let dir = tempdir("hook-runner");
    let runs = dir.join("runs");
    write_script(
        &dir.join("hook"),
        &format!(
            "/usr/bin/env | /usr/bin/sort >> {runs}\necho --- >> {runs}\n\
             /bin/cat /proc/$$/status > {status}",
            runs = runs.display(),
            status = dir.join("hook-status").display()
        ),
    );
    let marker = dir.join("evil-ran");
    write_script(
        &dir.join("evil"),
        &format!("/usr/bin/touch {}", marker.display()),
    );

    let (r, log) = run_helper("attack", &dir);
    let names: Vec<&str> = attacks(&dir).iter().map(|(n, _)| *n).collect();
    for name in names.iter().copied().chain(["old-format"]) {
        assert_eq!(
            r.get(name).map(String::as_str),
            Some(STATUS_REFUSED.to_string().as_str()),
            "{name} must be refused; log:\n{log}"
        );
    }
    assert_eq!(r["good"], "0", "the legitimate request runs the hook");
    assert!(!marker.exists(), "the forged script ran");

    // Each refusal is logged with its reason.
    let evil_len = dir.join("evil").to_str().unwrap().len();
    for reason in [
        format!("request refused: {evil_len} trailing bytes"),
        "request refused: bad interface name \"LD_PRELOAD=/x\"".into(),
        "request refused: bad parameter flags".into(),
        "request refused: bad interface name \"../../x\"".into(),
        "request refused: bad interface name \"-lo\"".into(),
        "request refused: bad interface name \"lo0123456789abcd\"".into(),
        "request refused: MTU 70000 out of range".into(),
        "request refused: ADDRESS ff02::1 is not a unicast address".into(),
        "request refused: interface lo has index".into(),
        "request refused: unknown version 0".into(),
    ] {
        assert!(log.contains(&reason), "no {reason:?} in the log:\n{log}");
    }

    // The hook ran once, for the good request, with exactly its variables.
    let text = std::fs::read_to_string(&runs).unwrap();
    let calls: Vec<&str> = text.split("---\n").filter(|c| !c.is_empty()).collect();
    assert_eq!(calls.len(), 1, "hook runs:\n{text}");
    let got: Vec<&str> = calls[0]
        .lines()
        .filter(|l| !l.starts_with("PWD="))
        .collect();
    let mut want: Vec<String> = good_event()
        .env()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    want.sort();
    assert_eq!(got, want);

    // The runner and the hook: uid 0, CAP_NET_ADMIN alone.
    assert!(r["runner-Uid:"].starts_with("0\t"), "{r:?}");
    for key in ["CapPrm:", "CapEff:", "CapBnd:"] {
        assert_eq!(r[&format!("runner-{key}")], NET_ADMIN, "runner {key}");
    }
    for key in ["CapInh:", "CapAmb:"] {
        assert_eq!(
            r[&format!("runner-{key}")],
            "0000000000000000",
            "runner {key}"
        );
    }
    let hook = std::fs::read_to_string(dir.join("hook-status")).unwrap();
    assert!(status_field(&hook, "Uid:").starts_with("0\t"), "{hook}");
    for key in ["CapPrm:", "CapEff:", "CapBnd:"] {
        assert_eq!(status_field(&hook, key), NET_ADMIN, "hook {key}:\n{hook}");
    }
    assert_eq!(status_field(&hook, "CapAmb:"), "0000000000000000");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pidfile_is_removed_only_while_it_holds_the_daemons_pid() {
    require_root();
    let dir = tempdir("hook-runner-pid");
    run_helper("pidfile-other", &dir);
    assert!(
        dir.join("pid").exists(),
        "another instance's pidfile was removed"
    );
    run_helper("pidfile-ours", &dir);
    assert!(!dir.join("pid").exists(), "the daemon's pidfile was left");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_flood_of_forged_requests_is_refused_with_a_bounded_log() {
    require_root();
    let dir = tempdir("hook-runner-flood");
    let marker = dir.join("ran");
    write_script(
        &dir.join("hook"),
        &format!("/usr/bin/touch {}", marker.display()),
    );
    let (r, log) = run_helper("flood", &dir);
    assert_eq!(r["refused"], "100");
    let lines = log.matches("request refused").count();
    assert_eq!(lines, 20, "refusals logged:\n{log}");
    assert!(!marker.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
