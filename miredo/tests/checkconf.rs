//! Runs the built `miredo-checkconf` on the corpus in tests/data/conf/.

use std::path::{Path, PathBuf};
use std::process::Command;

use miredo::config::{Resolver, SystemResolver};

const BIN: &str = env!("CARGO_BIN_EXE_miredo-checkconf");

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conf")
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_in(dir: &Path, args: &[&str]) -> Out {
    let out = match Command::new(BIN).args(args).current_dir(dir).output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {BIN}: {e}"),
    };
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(args: &[&str]) -> Out {
    run_in(&data_dir(), args)
}

fn gai4(host: &str) -> String {
    SystemResolver.resolve_ipv4(host).err().unwrap_or_default()
}

fn gai6(host: &str) -> String {
    SystemResolver.resolve_ipv6(host).err().unwrap_or_default()
}

/// Expects exit 255 and exactly `lines` followed by the fatal line.
fn fails(file: &str, lines: &[String]) {
    let o = run(&[file]);
    let mut want = lines.join("\n");
    want.push_str("\nFatal configuration error\n");
    assert_eq!(o.code, 255, "{file}: {}", o.stderr);
    assert_eq!(o.stderr, want, "{file}");
    assert_eq!(o.stdout, "", "{file}");
}

fn s(x: &str) -> String {
    x.to_owned()
}

#[test]
fn valid_files_are_clean() {
    let mut n = 0;
    for entry in std::fs::read_dir(data_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("ok_") {
            continue;
        }
        n += 1;
        let o = run(&[&name]);
        assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{name}");
        assert_eq!(o.stdout, "", "{name}");
    }
    assert!(n >= 12, "corpus not found ({n} files)");
}

#[test]
fn lexical_warnings() {
    fails(
        "bad_empty.conf",
        &[s("bad_empty.conf: Server address not specified")],
    );
    fails(
        "bad_missing_server_last_line.conf",
        &[s(
            "bad_missing_server_last_line.conf: Server address not specified",
        )],
    );
    fails(
        "bad_ignoring_line.conf",
        &[s(
            "bad_ignoring_line.conf:2: Ignoring line 2: InterfaceName",
        )],
    );
    fails(
        "bad_long_line.conf",
        &[s("bad_long_line.conf:2: Skipped overly long line 2")],
    );
}

#[test]
fn superfluous_and_duplicates() {
    let lines: Vec<String> = (1..=5)
        .map(|i| {
            format!(
                "bad_superfluous.conf:{}: Superfluous directive Unknown{i} at line {}",
                i + 1,
                i + 1
            )
        })
        .collect();
    fails("bad_superfluous.conf", &lines);
    fails(
        "bad_duplicate.conf",
        &[s(
            "bad_duplicate.conf:3: Superfluous directive BINDPORT at line 3",
        )],
    );
    // First occurrence wins.
    let o = run(&["--toml", "bad_duplicate.conf"]);
    assert_eq!(o.code, 255);
    assert!(o.stdout.contains("bind_port = 3545\n"), "{}", o.stdout);
    fails(
        "bad_mode_directives.conf",
        &[
            s("bad_mode_directives.conf:2: Superfluous directive Prefix at line 2"),
            s("bad_mode_directives.conf:3: Superfluous directive InterfaceMTU at line 3"),
        ],
    );
    fails(
        "bad_relay_with_server.conf",
        &[
            s("bad_relay_with_server.conf:2: Superfluous directive ServerAddress at line 2"),
            s("bad_relay_with_server.conf:3: Superfluous directive ClientHook at line 3"),
        ],
    );
    fails(
        "bad_server_conf.conf",
        &[
            s("bad_server_conf.conf: Server address not specified"),
            s("bad_server_conf.conf:1: Superfluous directive ServerBindAddress at line 1"),
        ],
    );
}

#[test]
fn value_errors() {
    fails(
        "bad_relay_type.conf",
        &[s(
            "bad_relay_type.conf:1: Invalid relay type \"server\" at line 1",
        )],
    );
    fails(
        "bad_int_range.conf",
        &[s("bad_int_range.conf:2: Invalid integer value \"65536\" for BindPort: Numerical result out of range")],
    );
    fails(
        "bad_int_negative.conf",
        &[s("bad_int_negative.conf:2: Invalid integer value \"-1\" for BindPort: Numerical result out of range")],
    );
    fails(
        "bad_int_octal.conf",
        &[s(
            "bad_int_octal.conf:2: Invalid integer value \"08\" for BindPort: Invalid argument",
        )],
    );
    fails(
        "bad_int_trailing.conf",
        &[s("bad_int_trailing.conf:2: Invalid integer value \"1280x\" for InterfaceMTU: Invalid argument")],
    );
    fails(
        "bad_prefix_multicast.conf",
        &[s(
            "bad_prefix_multicast.conf:2: Invalid Teredo IPv6 prefix: ff020000::/32",
        )],
    );
    fails(
        "bad_facility.conf",
        &[s(
            "bad_facility.conf:2: Unknown syslog facility \"local9\" at line 2",
        )],
    );
    fails(
        "bad_ifname.conf",
        &[s("bad_ifname.conf:2: Interface name \"abcdefghijklmnop\" too long (at most 15 characters) at line 2")],
    );
}

#[test]
fn resolution_errors() {
    let e = gai4("teredo.invalid");
    assert!(!e.is_empty());
    fails(
        "bad_hostname.conf",
        &[format!(
            "bad_hostname.conf:1: Invalid hostname \"teredo.invalid\" at line 1: {e}"
        )],
    );
    fails(
        "bad_hostname2.conf",
        &[format!(
            "bad_hostname2.conf:2: Invalid hostname \"teredo2.invalid\" at line 2: {}",
            gai4("teredo2.invalid")
        )],
    );
    fails(
        "bad_bind_address.conf",
        &[format!(
            "bad_bind_address.conf:2: Invalid hostname \"2001:db8::1\" at line 2: {}",
            gai4("2001:db8::1")
        )],
    );
    fails(
        "bad_prefix_host.conf",
        &[format!(
            "bad_prefix_host.conf:2: Invalid hostname \"prefix.invalid\" at line 2: {}",
            gai6("prefix.invalid")
        )],
    );
}

#[test]
fn read_errors() {
    fails(
        "no-such-file.conf",
        &[s(
            "Error opening configuration file no-such-file.conf: No such file or directory",
        )],
    );
    fails(
        ".",
        &[s("Error reading configuration file: Is a directory")],
    );
}

#[test]
fn toml_files() {
    let o = run(&["bad_unknown_key.toml"]);
    assert_eq!(o.code, 255);
    assert!(
        o.stderr
            .starts_with("bad_unknown_key.toml:2: unknown field `ServerAddress`, expected one of"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.ends_with("\nFatal configuration error\n"));
    let o = run(&["bad_type.toml"]);
    assert_eq!(o.code, 255);
    assert!(
        o.stderr
            .starts_with("bad_type.toml:3: invalid type: string \"3545\""),
        "{}",
        o.stderr
    );
    let o = run(&["bad_syntax.toml"]);
    assert_eq!(o.code, 255);
    assert!(o.stderr.starts_with("bad_syntax.toml:2: "), "{}", o.stderr);
    fails(
        "bad_values.toml",
        &[
            s("bad_values.toml:2: Invalid Teredo IPv6 prefix: ff000000::/32"),
            s("bad_values.toml:3: Invalid integer value \"70000\" for interface_mtu: Numerical result out of range"),
            s("bad_values.toml:4: Superfluous directive server_address at line 4"),
        ],
    );
    fails(
        "bad_relay_type.toml",
        &[s(
            "bad_relay_type.toml:1: Invalid relay type \"bogus\" at line 1",
        )],
    );
}

#[test]
fn toml_round_trip_through_the_binary() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("checkconf-roundtrip");
    std::fs::create_dir_all(&tmp).unwrap_or_default();
    for name in [
        "ok_debian.conf",
        "ok_client_full.conf",
        "ok_relay_full.conf",
        "ok_restricted.conf",
        "ok_crlf.conf",
        "ok_case_insensitive.conf",
        "ok_client.toml",
    ] {
        let first = run(&["--toml", name]);
        assert_eq!((first.code, first.stderr.as_str()), (0, ""), "{name}");
        let out = tmp.join(format!("{name}.toml"));
        if let Err(e) = std::fs::write(&out, &first.stdout) {
            panic!("{}: {e}", out.display());
        }
        let out = out.display().to_string();
        let second = run(&["--toml", &out]);
        assert_eq!((second.code, second.stderr.as_str()), (0, ""), "{name}");
        assert_eq!(second.stdout, first.stdout, "{name}");
    }
    let o = run(&["--toml", "ok_relay_full.conf"]);
    assert_eq!(
        o.stdout,
        "relay_type = \"cone\"\nprefix = \"3ffe:831f::\"\ninterface_mtu = 1280\n\
         interface_name = \"teredo-relay\"\nbind_address = \"192.0.2.20\"\nbind_port = 3545\n\
         syslog_facility = \"daemon\"\n"
    );
}

#[test]
fn command_line() {
    let o = run(&["-h"]);
    assert_eq!(o.code, 0);
    assert!(o
        .stdout
        .starts_with("Usage: miredo-checkconf [CONF_FILE]\n"));
    let o = run(&["--version"]);
    assert_eq!(o.code, 0);
    assert!(o
        .stdout
        .starts_with("Miredo: Teredo IPv6 tunneling software 1.2.6 (miredo-rs "));
    // The Debian unit calls `miredo-checkconf -f FILE`.
    assert_eq!(run(&["-f", "ok_debian.conf"]).code, 0);
    assert_eq!(
        run(&["-p", "/x", "-t", "/y", "-u", "nobody", "ok_debian.conf"]).code,
        0
    );
    assert_eq!(run(&["--config=ok_debian.conf"]).code, 0);
    assert_eq!(run(&["-cok_debian.conf"]).code, 0);
    assert_eq!(run(&["--conf", "ok_debian.conf"]).code, 0);
    assert_eq!(run(&["-c", "bad_empty.conf"]).code, 255);
    // The positional file overrides -c.
    assert_eq!(run(&["-c", "bad_empty.conf", "ok_debian.conf"]).code, 0);
    // Unknown options are reported and ignored.
    let o = run(&["-x", "--bogus", "ok_debian.conf"]);
    assert_eq!(o.code, 0);
    assert_eq!(
        o.stderr,
        format!("{BIN}: invalid option -- 'x'\n{BIN}: unrecognized option '--bogus'\n")
    );
    let o = run(&["ok_debian.conf", "extra"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (255, "extra: unexpected extra parameter\n")
    );
}

#[test]
fn default_file() {
    let o = run(&[]);
    if !Path::new("/etc/miredo/miredo.conf").exists() {
        assert_eq!(o.code, 255);
        assert_eq!(
            o.stderr,
            "Error opening configuration file /etc/miredo/miredo.conf: No such file or directory\n\
             Fatal configuration error\n"
        );
    }
}
