//! The hook script sees exactly miredo's environment, through a full
//! sequence of events; exit codes, exec failures and the timeout.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use miredo::hook::{run_script, HookOutcome, HookParams, HookTracker, ScriptHook};

/// A fresh directory under the system temp dir.
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

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Variables the shell itself adds: dash exports PWD.
const SHELL_VARS: [&str; 3] = ["PWD", "SHLVL", "OLDPWD"];

/// The environment of each run, in order, from the log the script appends to.
fn runs(log: &Path) -> Vec<BTreeSet<String>> {
    let text = std::fs::read_to_string(log).unwrap();
    text.split("--end--\n")
        .filter(|chunk| !chunk.trim().is_empty())
        .map(|chunk| {
            let vars: BTreeSet<String> = chunk.lines().map(str::to_string).collect();
            // cwd is `/`: the shell reports it.
            assert!(vars.contains("PWD=/"), "cwd is not /: {vars:?}");
            vars.into_iter()
                .filter(|v| !SHELL_VARS.iter().any(|s| v.starts_with(&format!("{s}="))))
                .collect()
        })
        .collect()
}

fn set(vars: &[String]) -> BTreeSet<String> {
    vars.iter().cloned().collect()
}

#[test]
fn full_sequence_has_exactly_miredos_variables() {
    let dir = tempdir("hook-env");
    let log = dir.join("log");
    let script = dir.join("client-hook");
    write_script(
        &script,
        &format!(
            "/usr/bin/env >> {0}\necho --end-- >> {0}\nexit 0",
            log.display()
        ),
    );
    let hook = ScriptHook::new(&script);

    let a1: Ipv6Addr = "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap();
    let a2: Ipv6Addr = "2001:0:c000:201:c5e:2db6:3fff:fdf5".parse().unwrap();
    let a3: Ipv6Addr = "2001:0:c000:201:3c1f:1234:3fff:fdf5".parse().unwrap();
    let mut t = HookTracker::new(5);
    let mut events = vec![
        t.up("teredo", HookParams::new(a1, 1280)).unwrap(),
        t.up("teredo", HookParams::new(a2, 1280)).unwrap(),
        t.down("teredo").unwrap(),
        t.up("teredo", HookParams::new(a3, 1280)).unwrap(),
    ];
    events.extend(t.shutdown("teredo"));

    let rt = rt();
    for ev in &events {
        assert_eq!(rt.block_on(hook.run(ev)), HookOutcome::Exited(0));
    }

    let s = |v: &[&str]| set(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    let common = ["IFACE=teredo", "IFINDEX=5"];
    let with = |extra: &[&str]| {
        let mut v: Vec<&str> = common.to_vec();
        v.extend_from_slice(extra);
        s(&v)
    };
    let a = |p: &str, addr: Ipv6Addr| format!("{p}ADDRESS={addr}");
    let (a1s, a2s, a3s) = (a("", a1), a("", a2), a("", a3));
    let (o1, o2, o3) = (a("OLD_", a1), a("OLD_", a2), a("OLD_", a3));
    let expected = vec![
        // up: IFINDEX OLD_STATE=down STATE=up ADDRESS LLADDRESS MTU IFACE
        with(&[
            "STATE=up",
            "OLD_STATE=down",
            &a1s,
            "LLADDRESS=fe80::ffff:ffff:ffff",
            "MTU=1280",
        ]),
        // change: OLD_STATE=up and OLD_*, no down in between
        with(&[
            "STATE=up",
            "OLD_STATE=up",
            &a2s,
            "LLADDRESS=fe80::ffff:ffff:ffff",
            "MTU=1280",
            &o1,
            "OLD_LLADDRESS=fe80::ffff:ffff:ffff",
            "OLD_MTU=1280",
        ]),
        // lost: STATE=down OLD_STATE=up OLD_*
        with(&[
            "STATE=down",
            "OLD_STATE=up",
            &o2,
            "OLD_LLADDRESS=fe80::ffff:ffff:ffff",
            "OLD_MTU=1280",
        ]),
        // requalified: like the first up
        with(&[
            "STATE=up",
            "OLD_STATE=down",
            &a3s,
            "LLADDRESS=fe80::ffff:ffff:ffff",
            "MTU=1280",
        ]),
        // shutdown: down, then destroy, both with the old OLD_*
        with(&[
            "STATE=down",
            "OLD_STATE=up",
            &o3,
            "OLD_LLADDRESS=fe80::ffff:ffff:ffff",
            "OLD_MTU=1280",
        ]),
        with(&[
            "STATE=destroy",
            "OLD_STATE=up",
            &o3,
            "OLD_LLADDRESS=fe80::ffff:ffff:ffff",
            "OLD_MTU=1280",
        ]),
    ];
    assert_eq!(runs(&log), expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_codes_exec_failures_and_sync_runner() {
    let dir = tempdir("hook-status");
    let script = dir.join("exit3");
    write_script(&script, "exit 3");
    let env = vec![("STATE".to_string(), "up".to_string())];
    let rt = rt();
    assert_eq!(
        rt.block_on(ScriptHook::new(&script).run_env(&env)),
        HookOutcome::Exited(3)
    );
    assert_eq!(run_script(&script, &env), 3);

    // Exists but is not executable: exec fails (logged), status 1 like privproc.
    let plain = dir.join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\nexit 0\n").unwrap();
    assert_eq!(
        rt.block_on(ScriptHook::new(&plain).run_env(&env)),
        HookOutcome::ExecFailed
    );
    assert_eq!(run_script(&plain, &env), 1);
    assert_eq!(run_script(&dir.join("missing"), &env), 1);

    // Killed by a signal.
    let killer = dir.join("killer");
    write_script(&killer, "kill -9 $$");
    assert_eq!(
        rt.block_on(ScriptHook::new(&killer).run_env(&env)),
        HookOutcome::Signaled(9)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn process_is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) S ...": a zombie waiting for its new parent is dead.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[test]
fn hung_hook_is_killed_with_its_children() {
    let dir = tempdir("hook-timeout");
    let pidfile = dir.join("sleep.pid");
    let script = dir.join("hang");
    write_script(
        &script,
        &format!("/bin/sleep 60 &\necho $! > {}\nwait", pidfile.display()),
    );
    let env: Vec<(String, String)> = vec![];
    let rt = rt();
    for blocking in [false, true] {
        let _ = std::fs::remove_file(&pidfile);
        let hook = ScriptHook::new(&script).with_timeout(Duration::from_millis(500));
        let start = Instant::now();
        let outcome = if blocking {
            miredo::hook::run_script_with_timeout(&script, &env, hook.timeout())
        } else {
            rt.block_on(hook.run_env(&env))
        };
        assert_eq!(outcome, HookOutcome::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(5));
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        while !process_is_dead(pid) {
            assert!(Instant::now() < deadline, "the hook's child {pid} survived");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
