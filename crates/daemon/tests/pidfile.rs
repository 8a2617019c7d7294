//! PID file semantics (docs/compat.md, "Process, signals, privileges"). The lock conflict needs a second process: the
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

/// A local user plants a symlink at the pidfile path, pointing at a file they want
/// clobbered (truncated, chowned, overwritten with a PID).
#[test]
fn symlink_to_a_victim_is_refused_and_the_victim_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").expect("victim");
    let before = std::fs::metadata(&victim).expect("meta");
    let link = dir.path().join("miredo.pid");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    let err = Pidfile::create(&link).expect_err("a symlink must be refused");
    assert!(!err.is_locked(), "{err}");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n"
    );
    let after = std::fs::metadata(&victim).expect("meta");
    assert_eq!(
        (after.uid(), after.gid(), after.mode()),
        (before.uid(), before.gid(), before.mode())
    );
    assert!(std::fs::symlink_metadata(&link)
        .expect("link kept")
        .is_symlink());
}

/// The same with a hard link: the path is a regular file, but it is also the victim.
#[test]
fn hard_link_to_a_victim_is_refused_and_the_victim_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").expect("victim");
    let link = dir.path().join("miredo.pid");
    std::fs::hard_link(&victim, &link).expect("hard link");
    let err = Pidfile::create(&link).expect_err("a second hard link must be refused");
    assert_eq!(
        err.to_string(),
        format!(
            "Cannot create PID file {}:\n Too many links",
            link.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n"
    );
    assert_eq!(std::fs::metadata(&victim).expect("meta").nlink(), 2);
}

/// A file another user owns was planted at the path (root would otherwise truncate
/// it and chown it to itself).
#[test]
fn file_owned_by_another_user_is_refused() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (it gives a file to another user)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("miredo.pid");
    std::fs::write(&path, "planted").expect("write");
    nix::unistd::chown(
        &path,
        Some(nix::unistd::Uid::from_raw(65534)),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .expect("chown");
    let err = Pidfile::create(&path).expect_err("another user's file must be refused");
    assert!(
        err.to_string().ends_with("Operation not permitted"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "planted");
    assert_eq!(std::fs::metadata(&path).expect("meta").uid(), 65534);
}
