//! Command-line parsing of miredo, miredo-server and miredo-checkconf.

use std::ffi::OsString;
use std::path::PathBuf;

use miredo::cli::{parse_args, usage, version_banner, Action, Cli, CliError, Program};

fn argv(args: &[&str]) -> Vec<OsString> {
    std::iter::once("/usr/sbin/miredo")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect()
}

fn ok(p: Program, args: &[&str]) -> Cli {
    match parse_args(p, &argv(args)) {
        Ok(c) => c,
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn err(p: Program, args: &[&str]) -> CliError {
    match parse_args(p, &argv(args)) {
        Ok(c) => panic!("{args:?} accepted: {c:?}"),
        Err(e) => e,
    }
}

const TRY: &str = "Try \"/usr/sbin/miredo -h | more\" for more information.";

#[test]
fn defaults() {
    let c = ok(Program::Miredo, &[]);
    assert_eq!(c.action, Action::Run);
    assert_eq!(c.config_file, PathBuf::from("/etc/miredo/miredo.conf"));
    assert!(!c.config_given);
    assert_eq!(c.pidfile, PathBuf::from("/var/run/miredo.pid"));
    assert_eq!(c.user, "miredo");
    assert_eq!(c.chroot_dir, None);
    assert_eq!(c.server_name, None);
    assert!(!c.foreground);
    assert_eq!(c.argv0, "/usr/sbin/miredo");

    let c = ok(Program::MiredoServer, &[]);
    assert_eq!(
        c.config_file,
        PathBuf::from("/etc/miredo/miredo-server.conf")
    );
    assert_eq!(c.pidfile, PathBuf::from("/var/run/miredo-server.pid"));
    assert_eq!(c.user, "miredo");

    let c = parse_args(Program::Checkconf, &[]);
    assert_eq!(c.map(|c| c.argv0), Ok("miredo-checkconf".to_owned()));
}

#[test]
fn every_option_short_and_long() {
    let c = ok(
        Program::Miredo,
        &[
            "-f",
            "-c",
            "/a.conf",
            "-p/run/m.pid",
            "-t",
            "/var/empty",
            "-u",
            "teredo",
            "--client-hook=/hook",
            "192.0.2.1",
        ],
    );
    assert!(c.foreground);
    assert_eq!(c.config_file, PathBuf::from("/a.conf"));
    assert!(c.config_given);
    assert_eq!(c.pidfile, PathBuf::from("/run/m.pid"));
    assert_eq!(c.chroot_dir, Some(PathBuf::from("/var/empty")));
    assert_eq!(c.user, "teredo");
    assert_eq!(c.client_hook, Some(PathBuf::from("/hook")));
    assert_eq!(c.server_name.as_deref(), Some("192.0.2.1"));

    for args in [
        &["--config", "/b"][..],
        &["--config=/b"],
        &["--conf=/b"],
        &["--con", "/b"],
        &["-c/b"],
        &["-fc", "/b"],
        &["-fc/b"],
    ] {
        assert_eq!(ok(Program::Miredo, args).config_file, PathBuf::from("/b"));
    }
    let c = ok(
        Program::Miredo,
        &[
            "--foreground",
            "--pidfile",
            "/p",
            "--chrootdir=/t",
            "--username",
            "u",
        ],
    );
    assert!(c.foreground);
    assert_eq!(c.pidfile, PathBuf::from("/p"));
    assert_eq!(c.chroot_dir, Some(PathBuf::from("/t")));
    assert_eq!(c.user, "u");
    let c = ok(Program::Miredo, &["--chroot", "/t2", "--user=v", "--fore"]);
    assert_eq!(c.chroot_dir, Some(PathBuf::from("/t2")));
    assert_eq!(c.user, "v");
    assert!(c.foreground);
    // An option's argument may start with a dash.
    assert_eq!(ok(Program::Miredo, &["-u", "-f"]).user, "-f");
}

#[test]
fn permutation_and_double_dash() {
    let c = ok(Program::Miredo, &["server.example", "-f"]);
    assert!(c.foreground);
    assert_eq!(c.server_name.as_deref(), Some("server.example"));
    let c = ok(Program::Miredo, &["--", "-f"]);
    assert!(!c.foreground);
    assert_eq!(c.server_name.as_deref(), Some("-f"));
    let c = ok(Program::Miredo, &["-"]);
    assert_eq!(c.server_name.as_deref(), Some("-"));
}

#[test]
fn help_and_version() {
    assert_eq!(ok(Program::Miredo, &["-h"]).action, Action::Help);
    assert_eq!(ok(Program::Miredo, &["--help", "-x"]).action, Action::Help);
    assert_eq!(ok(Program::Miredo, &["-fV"]).action, Action::Version);
    assert_eq!(ok(Program::Miredo, &["--vers"]).action, Action::Version);
    assert_eq!(err(Program::Miredo, &["-x", "-h"]).exit_code, 2);
    let u = usage(Program::Miredo);
    assert!(u.starts_with("Usage: miredo [OPTIONS] [SERVER_NAME]\n"));
    for opt in [
        "-c, --config",
        "-f, --foreground",
        "-h, --help",
        "-p, --pidfile",
        "-t, --chroot",
        "-u, --user",
        "-V, --version",
        "--client-hook",
    ] {
        assert!(u.contains(opt), "{opt}");
    }
    assert!(!usage(Program::MiredoServer).contains("--client-hook"));
    assert!(usage(Program::MiredoServer).starts_with("Usage: miredo-server [OPTIONS]"));
    assert!(
        version_banner().starts_with("Miredo: Teredo IPv6 tunneling software 1.2.6 (miredo-rs ")
    );
}

#[test]
fn getopt_errors() {
    let e = err(Program::Miredo, &["-x"]);
    assert_eq!(e.exit_code, 2);
    assert_eq!(
        e.message,
        format!("/usr/sbin/miredo: invalid option -- 'x'\n{TRY}")
    );
    let e = err(Program::Miredo, &["-c"]);
    assert_eq!(
        e.message,
        format!("/usr/sbin/miredo: option requires an argument -- 'c'\n{TRY}")
    );
    let e = err(Program::Miredo, &["--bogus=1"]);
    assert_eq!(
        e.message,
        format!("/usr/sbin/miredo: unrecognized option '--bogus=1'\n{TRY}")
    );
    let e = err(Program::Miredo, &["--pidfile"]);
    assert_eq!(
        e.message,
        format!("/usr/sbin/miredo: option '--pidfile' requires an argument\n{TRY}")
    );
    let e = err(Program::Miredo, &["--fore=yes"]);
    assert_eq!(
        e.message,
        format!("/usr/sbin/miredo: option '--foreground' doesn't allow an argument\n{TRY}")
    );
    let e = err(Program::Miredo, &["--c=x"]);
    assert_eq!(
        e.message,
        format!(
            "/usr/sbin/miredo: option '--c=x' is ambiguous; possibilities: '--config' \
             '--chroot' '--chrootdir' '--client-hook'\n{TRY}"
        )
    );
    // miredo-server has no --client-hook; --toml is checkconf's only.
    assert_eq!(
        err(Program::MiredoServer, &["--client-hook", "/h"]).exit_code,
        2
    );
    assert_eq!(err(Program::Miredo, &["--toml"]).exit_code, 2);
}

#[test]
fn duplicates_and_extra_parameters() {
    for (args, letter, first, second) in [
        (&["-c", "a", "--config=b"][..], "-c", "a", "b"),
        (&["-p", "a", "-pb"], "-p", "a", "b"),
        (&["-u", "a", "--username", "b"], "-u", "a", "b"),
        (&["--chroot=a", "-t", "b"], "-t", "a", "b"),
        (
            &["--client-hook=a", "--client-hook=b"],
            "--client-hook",
            "a",
            "b",
        ),
    ] {
        let e = err(Program::Miredo, args);
        assert_eq!(e.exit_code, 2);
        assert_eq!(
            e.message,
            format!(
                "Duplicate parameter \"{first}\" for option {letter}\n\
                 would override previous value \"{second}\"."
            )
        );
    }
    let e = err(Program::MiredoServer, &["a", "b", "c"]);
    assert_eq!(e.exit_code, 2);
    assert_eq!(e.message, "b: unexpected extra parameter");
}

#[test]
fn checkconf_semantics() {
    let c = ok(
        Program::Checkconf,
        &[
            "-f", "-p", "x", "-t", "y", "-u", "z", "-c", "a", "-c", "b", "--toml",
        ],
    );
    assert_eq!(c.config_file, PathBuf::from("b"));
    assert!(c.toml);
    assert_eq!(c.user, "miredo");
    assert_eq!(c.pidfile, PathBuf::from("/var/run/miredo-checkconf.pid"));
    assert_eq!(c.chroot_dir, None);
    let c = ok(Program::Checkconf, &["-c", "a", "file", "-q", "--nope"]);
    assert_eq!(c.config_file, PathBuf::from("file"));
    assert_eq!(
        c.warnings,
        vec![
            "/usr/sbin/miredo: invalid option -- 'q'".to_owned(),
            "/usr/sbin/miredo: unrecognized option '--nope'".to_owned()
        ]
    );
    let e = err(Program::Checkconf, &["a", "b"]);
    assert_eq!(
        (e.exit_code, e.message.as_str()),
        (255, "b: unexpected extra parameter")
    );
    assert_eq!(ok(Program::Checkconf, &["-h"]).action, Action::Help);
    assert!(usage(Program::Checkconf).starts_with("Usage: miredo-checkconf [CONF_FILE]\n"));
}

#[test]
fn non_utf8_arguments() {
    use std::os::unix::ffi::OsStringExt;
    let args = vec![
        OsString::from("miredo"),
        OsString::from("-c"),
        OsString::from_vec(vec![b'/', 0xff]),
        OsString::from_vec(vec![b'-', 0xfe]),
    ];
    let e = parse_args(Program::Miredo, &args);
    assert_eq!(e.map_err(|e| e.exit_code), Err(2));
    let args = &args[..3];
    let c = parse_args(Program::Miredo, args);
    assert_eq!(
        c.map(|c| c.config_file),
        Ok(PathBuf::from(OsString::from_vec(vec![b'/', 0xff])))
    );
}

#[test]
fn long_option_prefixes() {
    let p = Program::Miredo;
    assert_eq!(
        ok(p, &["--chr", "/x"]).chroot_dir,
        Some(PathBuf::from("/x"))
    );
    assert_eq!(ok(p, &["--userna", "x"]).user, "x");
    assert_eq!(
        ok(p, &["--cl", "/h"]).client_hook,
        Some(PathBuf::from("/h"))
    );
    assert_eq!(ok(p, &["--conf", "/c"]).config_file, PathBuf::from("/c"));
    assert_eq!(ok(p, &["--co", "/c"]).config_file, PathBuf::from("/c"));
}

#[test]
fn program_from_argv0() {
    use std::ffi::OsStr;
    assert_eq!(
        Program::from_argv0(OsStr::new("/usr/sbin/miredo-server")),
        Program::MiredoServer
    );
    assert_eq!(
        Program::from_argv0(OsStr::new("miredo-checkconf")),
        Program::Checkconf
    );
    assert_eq!(Program::from_argv0(OsStr::new("./miredo")), Program::Miredo);
}
