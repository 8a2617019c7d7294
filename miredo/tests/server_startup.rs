//! What `miredo-server` says and returns when it cannot start (docs/compat.md,
//! "miredo-server.conf" and "Behaviour"): configuration errors name file and line, exit codes are miredo's.
//!
//! The checks after the raw socket (global addresses, MTU, bind) need `CAP_NET_RAW`;
//! without it those tests only check the raw-socket message.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_miredo-server");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `miredo-server -f -c <conf_text in a temp file> -p /nonexistent/… args…`.
fn run(tag: &str, conf_text: &str, args: &[&str]) -> (Run, String) {
    let dir = std::env::temp_dir().join(format!(
        "miredo-server-startup-{}-{tag}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("miredo-server.conf");
    std::fs::write(&conf, conf_text).expect("write config");
    let conf = conf.to_string_lossy().into_owned();
    let mut all = vec![
        "-f",
        "-c",
        conf.as_str(),
        "-p",
        "/nonexistent/miredo-server.pid",
    ];
    all.extend_from_slice(args);
    let out = Command::new(BIN)
        .args(&all)
        .output()
        .expect("run miredo-server");
    let _ = std::fs::remove_dir_all(&dir);
    (
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        conf,
    )
}

fn has_raw_socket() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn bad_integer_names_file_and_line() {
    let (r, conf) = run(
        "int",
        "ServerBindAddress 192.0.2.1\nInterfaceMTU banana\n",
        &[],
    );
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{conf}:2: Invalid integer value \"banana\" for InterfaceMTU"
        )),
        "stderr: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("Fatal configuration error"),
        "{}",
        r.stderr
    );
}

#[test]
fn missing_server_address_is_fatal() {
    let (r, _) = run("missing", "InterfaceMTU 1280\n", &[]);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    assert!(
        r.stderr.contains("Server address not specified"),
        "{}",
        r.stderr
    );
}

#[test]
fn unknown_user_exits_1() {
    let (r, _) = run(
        "user",
        "ServerBindAddress 192.0.2.1\n",
        &["-u", "no-such-user-miredo-rs"],
    );
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    assert!(
        r.stderr
            .contains("User \"no-such-user-miredo-rs\": User not found"),
        "{}",
        r.stderr
    );
}

#[test]
fn command_line_like_miredo() {
    let (r, _) = run("help", "", &["-h"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Teredo server"), "{}", r.stdout);
    let (r, _) = run("version", "", &["-V"]);
    assert_eq!(r.code, 0);
    assert!(r
        .stdout
        .starts_with("Miredo: Teredo IPv6 tunneling software 1.2.6"));
    let (r, _) = run("dup", "", &["-c", "/x"]);
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    assert!(r.stderr.contains("Duplicate parameter"), "{}", r.stderr);
    let (r, _) = run("extra", "", &["192.0.2.1", "192.0.2.9"]);
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    assert!(
        r.stderr.contains("192.0.2.9: unexpected extra parameter"),
        "{}",
        r.stderr
    );
    let (r, _) = run("opt", "", &["-x"]);
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
}

/// (conf, expected stderr fragments) for the checks after the raw socket.
const SERVER_CHECKS: &[(&str, &[&str])] = &[
    (
        "ServerBindAddress 10.0.0.1\n",
        &[
            "Teredo server UDP socket error: Server IPv4 addresses must be global unicast (10.0.0.1).",
            "Teredo server fatal error",
        ],
    ),
    (
        "ServerBindAddress 192.0.2.1\nServerBindAddress2 192.168.0.1\n",
        &["must be global unicast (192.168.0.1)"],
    ),
    (
        "ServerBindAddress 192.0.2.1\nInterfaceMTU 1000\n",
        &["MTU 1000 is below 1280", "Teredo server fatal error"],
    ),
    (
        // Not an address of this host (TEST-NET-1 is never assigned outside the lab).
        "ServerBindAddress 192.0.2.201\n",
        &[
            "Error (192.0.2.201): Cannot assign requested address",
            "Teredo server fatal error",
        ],
    ),
];

#[test]
fn server_checks_fail_with_miredos_messages() {
    for (i, (conf, expected)) in SERVER_CHECKS.iter().enumerate() {
        let (r, _) = run(&format!("check{i}"), conf, &[]);
        assert_eq!(r.code, 1, "{conf}: stderr: {}", r.stderr);
        if !has_raw_socket() {
            assert!(
                r.stderr.contains("Raw IPv6 socket not working"),
                "{}",
                r.stderr
            );
            continue;
        }
        for e in *expected {
            assert!(r.stderr.contains(e), "{conf}: no {e:?} in: {}", r.stderr);
        }
    }
}

#[test]
fn server_name_argument_replaces_a_missing_configuration() {
    let dir =
        std::env::temp_dir().join(format!("miredo-server-startup-{}-name", std::process::id()));
    let missing = dir.join("absent.conf");
    let missing = missing.to_string_lossy();
    let out = Command::new(BIN)
        .args(["-f", "-c", &missing, "-p", "/nonexistent/x.pid", "10.0.0.1"])
        .output()
        .expect("run miredo-server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("Loading configuration from {missing} failed")),
        "{stderr}"
    );
    if has_raw_socket() {
        // The argument became the primary address, and got checked.
        assert!(
            stderr.contains("must be global unicast (10.0.0.1)"),
            "{stderr}"
        );
    }
}
