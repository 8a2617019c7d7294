//! The `mip6d` binary's command line: exit codes, messages, option order,
//! the `-c` forms, `--show-config` (docs/compat.md, "Command line").

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Output};

fn mip6d(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mip6d"))
        .arg0("mip6d")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("mip6d runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `--show-config` lines without the `ctime` prefix, after checking it.
fn show_lines(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .map(|l| {
            let (stamp, rest) = l.split_at(l.find(" conf_show: ").unwrap_or_else(|| panic!("{l}")));
            let b = stamp.as_bytes();
            assert_eq!(b.len(), 19, "{l}");
            assert!(
                b[3] == b' ' && b[7] == b' ' && b[13] == b':' && b[16] == b':',
                "{l}"
            );
            rest.trim_start_matches(" conf_show: ").to_owned()
        })
        .collect()
}

const SEED: &str = "tests/data/ok_seed.conf";

#[test]
fn help_and_version_exit_1_on_stderr() {
    for flag in ["-h", "-?", "--help", "--he"] {
        let o = mip6d(&[flag]);
        assert_eq!(o.status.code(), Some(1), "{flag}");
        assert!(stderr(&o).starts_with("Usage: mip6d [options]\n"), "{flag}");
        assert!(o.stdout.is_empty());
    }
    let o = mip6d(&["-V"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("umip (UMIP Mobile IPv6 for Linux) 1.0 (umip-rs "));
    assert_eq!(mip6d(&["--version"]).status.code(), Some(1));
}

#[test]
fn getopt_errors_print_glibc_messages_and_usage() {
    let cases: [(&[&str], &str); 6] = [
        (&["-x"], "mip6d: invalid option -- 'x'"),
        (&["--bogus"], "mip6d: unrecognized option '--bogus'"),
        (
            &["--h"],
            "mip6d: option '--h' is ambiguous; possibilities: '--help' '--home-agent'",
        ),
        (&["-d"], "mip6d: option requires an argument -- 'd'"),
        (
            &["--mobile-node=1"],
            "mip6d: option '--mobile-node' doesn't allow an argument",
        ),
        // UMIP's own scan for a standalone -c.
        (
            &["-c", "-d", "1"],
            "mip6d: option requires an argument -- c",
        ),
    ];
    for (args, first) in cases {
        let o = mip6d(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = stderr(&o);
        let mut lines = e.lines();
        assert_eq!(lines.next(), Some(first), "{args:?}");
        assert_eq!(lines.next(), Some("Usage: mip6d [options]"), "{args:?}");
    }
    // The first terminal option wins: -V before the bad option.
    let o = mip6d(&["-V", "-x"]);
    assert!(stderr(&o).starts_with("umip (UMIP"));
}

#[test]
fn show_config_shows_the_state_at_its_position() {
    let o = mip6d(&["-c", SEED, "--show-config", "-d", "7"]);
    assert_eq!(o.status.code(), Some(1));
    let lines = show_lines(&o);
    assert_eq!(lines[0], format!("config_file = {SEED}"));
    assert_eq!(lines[1], "mip6_entity = 1");
    assert!(lines.contains(&"debug_level = 10".to_owned()), "{lines:?}");
    assert!(lines.contains(&"UseMnHaIPsec = disabled".to_owned()));
    assert!(lines.contains(&"InitialBindackTimeoutFirstReg = 1.500000".to_owned()));
    assert!(
        lines.contains(&"Interface \"teredo\" { MnIfPreference 1; Tunnel enabled; }".to_owned())
    );

    let o = mip6d(&[
        "-c",
        SEED,
        "-d",
        "7",
        "-H",
        "-l",
        "/tmp/x.log",
        "--show-config",
    ]);
    let lines = show_lines(&o);
    assert_eq!(lines[1], "mip6_entity = 2");
    assert_eq!(lines[2], "debug_level = 7");
    assert_eq!(lines[3], "debug_log_file = /tmp/x.log");
    // -d uses atoi: garbage is 0.
    let o = mip6d(&["-c", SEED, "-d", "abc", "--show-config"]);
    assert_eq!(show_lines(&o)[2], "debug_level = 0");
}

#[test]
fn show_config_toml_and_conf_go_to_stdout() {
    let o = mip6d(&["-c", SEED, "-C", "--show-config=toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let toml = stdout(&o);
    assert!(toml.contains("node_config = \"CN\"\n"), "{toml}");
    assert!(toml.contains("[[interface]]\nname = \"teredo\""), "{toml}");
    let o = mip6d(&["-c", SEED, "--show-config=conf"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("NodeConfig MN;\n"));
    let o = mip6d(&["-c", SEED, "--show-config=xml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with(
        "mip6d: invalid argument 'xml' for '--show-config' (valid: umip, toml, conf)\n"
    ));
}

#[test]
fn a_toml_file_is_read_as_toml() {
    let o = mip6d(&["-c", "tests/data/ok_mn.toml", "--show-config"]);
    let lines = show_lines(&o);
    assert_eq!(lines[1], "mip6_entity = 1");
    assert!(lines.contains(&"UseMnHaIPsec = disabled".to_owned()));
}

#[test]
fn attached_c_is_honoured_and_the_first_c_wins() {
    let o = mip6d(&[&format!("-c{SEED}"), "--show-config"]);
    assert_eq!(show_lines(&o)[0], format!("config_file = {SEED}"));
    let o = mip6d(&["-c", SEED, "-c", "tests/data/ok_cn.conf", "--show-config"]);
    assert_eq!(show_lines(&o)[0], format!("config_file = {SEED}"));
}

#[test]
fn a_missing_or_broken_c_file_is_fatal_with_a_message() {
    let o = mip6d(&["-c", "/nonexistent/mip6d.conf"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error in configuration file /nonexistent/mip6d.conf: cannot be read: \
         No such file or directory\n"
    );
    let o = mip6d(&[
        "-c",
        "tests/data/bad_unterminated_string.conf",
        "--show-config",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Unterminated string\nError in configuration file \
         tests/data/bad_unterminated_string.conf at line 4: syntax error at 'DebugLevel'\n"
    );
}

#[test]
fn without_c_a_missing_default_file_means_defaults() {
    if std::path::Path::new(mip6d::config::DEFAULT_CONFIG_FILE).exists() {
        eprintln!(
            "skipped: this machine has a {}",
            mip6d::config::DEFAULT_CONFIG_FILE
        );
        return;
    }
    let o = mip6d(&["-M", "--show-config=toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("node_config = \"MN\"\n"));
}

/// The machines CI runs on lack the Mobile IPv6 datapath (docs/vm.md): the
/// daemon refuses to start, naming the missing kernel options (or, without
/// the privileges the probe needs, saying so).
#[test]
fn running_on_a_kernel_without_mip6_names_the_missing_options() {
    let o = mip6d(&["-c", SEED]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("CONFIG_IPV6_MIP6") || err.contains("kernel probe failed"),
        "{err}"
    );
}
