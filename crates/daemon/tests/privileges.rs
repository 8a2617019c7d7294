//! Dropping to `nobody` with kept capabilities. Needs root; each case runs in a fresh
//! process (the test binary re-run with `PRIV_HELPER` set) because the change cannot be
//! undone. Capabilities are per thread, so the helper reports `/proc/thread-self`.

use std::process::Command;

use daemon::privileges::{drop_to_user, lookup_user, restrict_caps, Capability};

const HELPER_VAR: &str = "DAEMON_TEST_PRIV_HELPER";

fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

fn thread_status() -> String {
    std::fs::read_to_string("/proc/thread-self/status").expect("status")
}

fn report() {
    let s = thread_status();
    for key in [
        "Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:",
    ] {
        println!("REPORT {key} {}", status_field(&s, key));
    }
}

/// Not a test on its own: performs the action named by `PRIV_HELPER` and reports.
#[test]
fn helper_priv() {
    let Ok(action) = std::env::var(HELPER_VAR) else {
        return;
    };
    match action.as_str() {
        "drop" => {
            let user = lookup_user("nobody").expect("nobody");
            drop_to_user(&user, &[Capability::CAP_NET_ADMIN, Capability::CAP_NET_RAW])
                .expect("drop");
            // The kept capability must work: raising in effective is allowed.
            assert!(
                caps::has_cap(None, caps::CapSet::Effective, Capability::CAP_NET_RAW)
                    .expect("has_cap")
            );
        }
        "drop-none" => {
            let user = lookup_user("nobody").expect("nobody");
            drop_to_user(&user, &[]).expect("drop");
            // Root is gone for good.
            assert!(nix::unistd::setuid(nix::unistd::Uid::from_raw(0)).is_err());
        }
        "restrict" => {
            restrict_caps(&[Capability::CAP_KILL, Capability::CAP_NET_ADMIN]).expect("restrict");
        }
        other => panic!("unknown helper action {other}"),
    }
    report();
}

fn run_helper(action: &str) -> Vec<(String, String)> {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args(["--exact", "helper_priv", "--nocapture", "--test-threads=1"])
        .env(HELPER_VAR, action)
        .output()
        .expect("run helper");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helper {action} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.find("REPORT ").map(|i| &l[i + 7..]))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn get<'a>(report: &'a [(String, String)], key: &str) -> &'a str {
    report
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {report:?}"))
}

fn mask(caps: &[Capability]) -> String {
    let bits = caps.iter().fold(0u64, |m, c| m | c.bitmask());
    format!("{bits:016x}")
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn drop_to_nobody_keeps_only_selected_caps() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let r = run_helper("drop");
    assert_eq!(get(&r, "Uid:"), "65534\t65534\t65534\t65534");
    assert_eq!(get(&r, "Gid:"), "65534\t65534\t65534\t65534");
    let kept = mask(&[Capability::CAP_NET_ADMIN, Capability::CAP_NET_RAW]);
    assert_eq!(get(&r, "CapEff:"), kept);
    assert_eq!(get(&r, "CapPrm:"), kept);
    assert_eq!(get(&r, "CapInh:"), mask(&[]));
    assert_eq!(get(&r, "CapBnd:"), kept);
}

#[test]
fn drop_to_nobody_with_nothing_kept() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let r = run_helper("drop-none");
    assert_eq!(get(&r, "Uid:"), "65534\t65534\t65534\t65534");
    assert_eq!(get(&r, "CapEff:"), mask(&[]));
    assert_eq!(get(&r, "CapPrm:"), mask(&[]));
}

#[test]
fn restrict_root_caps() {
    assert!(
        is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let r = run_helper("restrict");
    assert!(get(&r, "Uid:").starts_with("0\t"));
    let kept = mask(&[Capability::CAP_KILL, Capability::CAP_NET_ADMIN]);
    assert_eq!(get(&r, "CapEff:"), kept);
    assert_eq!(get(&r, "CapPrm:"), kept);
}
