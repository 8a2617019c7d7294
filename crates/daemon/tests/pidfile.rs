//! PID file semantics (reference §5.4). The lock conflict needs a second process: the
//! test binary re-runs itself with `HOLD_PIDFILE` set to act as the first instance.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::process::{Command, Stdio};

use daemon::pidfile::{Pidfile, ALREADY_RUNNING_HINT};

const HOLD_VAR: &str = "DAEMON_TEST_HOLD_PIDFILE";

/// Not a test on its own: with `HOLD_PIDFILE` set, locks that file, says `LOCKED`, and
/// holds it until stdin closes.
#[test]
fn helper_hold_pidfile() {
    let Some(path) = std::env::var_os(HOLD_VAR) else {
        return;
    };
    let pidfile = Pidfile::create(&path).expect("helper lock");
    println!("LOCKED");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(pidfile);
}

#[test]
fn second_instance_is_refused_while_first_holds_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("miredo.pid");
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "helper_hold_pidfile",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLD_VAR, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn helper");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("helper said LOCKED").expect("read");
        if line.contains("LOCKED") {
            break;
        }
    }
    // The first instance's PID, without a newline.
    let content = std::fs::read_to_string(&path).expect("read pidfile");
    assert_eq!(content, child.id().to_string());

    let err = Pidfile::create(&path).expect_err("must be locked");
    assert!(err.is_locked(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "Cannot create PID file {}:\n Resource temporarily unavailable",
            path.display()
        )
    );
    assert_eq!(err.hint(), Some(ALREADY_RUNNING_HINT));
    // The failed attempt must not have clobbered or removed the holder's file.
    assert_eq!(
        std::fs::read_to_string(&path).expect("still there"),
        child.id().to_string()
    );

    drop(child.stdin.take());
    for _ in lines.by_ref() {}
    let status = child.wait().expect("wait helper");
    assert!(status.success());
    assert!(!path.exists(), "holder unlinks on exit");

    let ours = Pidfile::create(&path).expect("free again");
    drop(ours);
}

#[test]
fn pid_without_newline_mode_0644_and_unlinked_on_drop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.pid");
    let pidfile = Pidfile::create(&path).expect("create");
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(bytes, std::process::id().to_string().into_bytes());
    assert!(!bytes.ends_with(b"\n"));
    let meta = std::fs::metadata(&path).expect("meta");
    // umask may remove bits, never add them.
    assert_eq!(meta.permissions().mode() & !0o644 & 0o777, 0);
    assert_eq!(pidfile.path(), path);
    drop(pidfile);
    assert!(!path.exists());
}

#[test]
fn stale_unlocked_file_is_taken_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stale.pid");
    std::fs::write(&path, "123456789\n").expect("write stale");
    let pidfile = Pidfile::create(&path).expect("take over");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        std::process::id().to_string()
    );
    drop(pidfile);
    assert!(!path.exists());
}

#[test]
fn symlink_and_directory_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("target");
    let link = dir.path().join("link.pid");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let err = Pidfile::create(&link).expect_err("O_NOFOLLOW");
    assert!(err.to_string().starts_with("Cannot create PID file"));
    assert!(!err.is_locked());
    assert!(!target.exists());

    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    assert!(Pidfile::create(&sub).is_err());
}

#[test]
fn replaced_file_is_not_unlinked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.pid");
    let pidfile = Pidfile::create(&path).expect("create");
    std::fs::remove_file(&path).expect("rm");
    std::fs::write(&path, "other").expect("someone else's file");
    drop(pidfile);
    assert_eq!(std::fs::read_to_string(&path).expect("kept"), "other");
}

#[test]
fn chown_to_root_and_group() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root: run it as root, as the README's test command does"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("g.pid");
    let pidfile = Pidfile::create(&path).expect("create");
    pidfile.chown_group(65534).expect("chown");
    let meta = std::fs::metadata(&path).expect("meta");
    assert_eq!((meta.uid(), meta.gid()), (0, 65534));
}
