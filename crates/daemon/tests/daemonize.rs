//! Background start-up: the launcher's exit status says whether the daemon locked its
//! PID file. The test binary re-runs itself with `DAEMONIZE_HELPER` set as the launcher.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use daemon::daemonize::daemonize;
use daemon::pidfile::Pidfile;

const HELPER_VAR: &str = "DAEMON_TEST_DAEMONIZE";

/// Not a test on its own: daemonizes, locks the PID file from the environment, and
/// (on success) waits for a `stop` file beside it, then removes the PID file and exits.
#[test]
fn helper_daemonize() {
    let Some(pidpath) = std::env::var_os(HELPER_VAR) else {
        return;
    };
    let pidpath = std::path::PathBuf::from(pidpath);
    let detached = daemonize().expect("fork");
    // Only the daemon gets here; the launcher has exited with the verdict.
    match Pidfile::create(&pidpath) {
        Ok(pidfile) => {
            detached.success().expect("report");
            let stop = pidpath.with_extension("stop");
            let deadline = Instant::now() + Duration::from_secs(30);
            while !stop.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let cwd = std::env::current_dir().expect("cwd");
            let sid = nix::unistd::getsid(None).expect("getsid");
            std::fs::write(
                pidpath.with_extension("info"),
                format!("{} {}", cwd.display(), sid == nix::unistd::getpid()),
            )
            .expect("info");
            drop(pidfile);
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("{e}");
            detached.failure();
            std::process::exit(1);
        }
    }
}

fn launch(pidpath: &Path) -> std::process::Output {
    let exe = std::env::current_exe().expect("current_exe");
    Command::new(exe)
        .args([
            "--exact",
            "helper_daemonize",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_VAR, pidpath)
        .output()
        .expect("launch")
}

fn wait_for(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn launcher_exits_zero_once_the_pidfile_is_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidpath = dir.path().join("d.pid");
    let out = launch(&pidpath);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The launcher exits only after the lock: the file is there already.
    let pid: u32 = std::fs::read_to_string(&pidpath)
        .expect("pidfile written before launcher exit")
        .parse()
        .expect("pid");
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    std::fs::write(pidpath.with_extension("stop"), "").expect("stop");
    let info = pidpath.with_extension("info");
    assert!(wait_for(|| info.exists()), "daemon reported");
    assert!(
        wait_for(|| !pidpath.exists()),
        "daemon unlinked its pidfile"
    );
    let info = std::fs::read_to_string(info).expect("info");
    assert_eq!(info, "/ true", "chdir / and session leader");
}

#[test]
fn launcher_exits_one_when_the_pidfile_is_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidpath = dir.path().join("busy.pid");
    let held = Pidfile::create(&pidpath).expect("first instance");
    let out = launch(&pidpath);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("Cannot create PID file {}:", pidpath.display())),
        "{stderr}"
    );
    drop(held);
}

const LOG_HELPER_VAR: &str = "DAEMON_TEST_DAEMONIZE_LOG";

/// Not a test on its own: daemonizes with stdout and stderr going to the log file
/// named in the environment, writes to both, exits.
#[test]
fn helper_daemonize_logging() {
    let Some(logpath) = std::env::var_os(LOG_HELPER_VAR) else {
        return;
    };
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&logpath)
        .expect("log file");
    let detached = daemonize().expect("fork");
    detached.success_logging_to(Some(&log)).expect("report");
    eprintln!("daemon stderr");
    println!("daemon stdout");
    std::process::exit(0);
}

#[test]
fn detached_daemon_appends_its_stderr_to_the_log_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logpath = dir.path().join("debug.log");
    std::fs::write(&logpath, "earlier\n").expect("log");
    let out = Command::new(std::env::current_exe().expect("current_exe"))
        .args([
            "--exact",
            "helper_daemonize_logging",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LOG_HELPER_VAR, &logpath)
        .output()
        .expect("launch");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("daemon stderr"),
        "{out:?}"
    );
    let has = |what: &str| {
        std::fs::read_to_string(&logpath)
            .is_ok_and(|t| t.starts_with("earlier\n") && t.contains(what))
    };
    assert!(
        wait_for(|| has("daemon stderr\n") && has("daemon stdout\n")),
        "log file: {:?}",
        std::fs::read_to_string(&logpath)
    );
}
