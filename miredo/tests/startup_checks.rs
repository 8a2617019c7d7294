//! The checks `miredo` makes before it touches the system (docs/compat.md,
//! "Process, signals, privileges"): they fail with miredo's message and exit code 1.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_miredo");

fn run(tag: &str, args: &[&str]) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("miredo-startup-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("miredo.conf");
    std::fs::write(&conf, "ServerAddress 192.0.2.1\n").expect("write config");
    let conf = conf.to_string_lossy().into_owned();
    let mut all = vec!["-f", "-c", conf.as_str(), "-p", "/nonexistent/miredo.pid"];
    all.extend_from_slice(args);
    let out = Command::new(BIN).args(&all).output().expect("run miredo");
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_chroot_directory_is_an_error_naming_it() {
    let (code, stderr) = run("missing", &["-t", "/nonexistent/chroot"]);
    assert_eq!(code, 1, "stderr: {stderr}");
    assert!(
        stderr.contains("Error (/nonexistent/chroot): No such file or directory"),
        "stderr: {stderr}"
    );
}

#[test]
fn chroot_to_a_file_is_an_error() {
    let (code, stderr) = run("file", &["-t", "/etc/hostname"]);
    assert_eq!(code, 1, "stderr: {stderr}");
    assert!(
        stderr.contains("Error (/etc/hostname): Not a directory"),
        "stderr: {stderr}"
    );
}
