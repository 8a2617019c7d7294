//! `miredo-checkconf [-c FILE] [--toml] [FILE]`: checks a `miredo.conf`.
//!
//! Exit status 0 when the file is clean, 255 on any error *or warning*, as
//! miredo's own `miredo-checkconf`. Messages go to stderr, followed by
//! `Fatal configuration error`. `--toml` (our extension) also prints the
//! parsed configuration as TOML on stdout.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use miredo::cli::{parse_args, usage, version_banner, Action, Program};
use miredo::config::{load_miredo, miredo_to_toml, Options};

fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    // Nothing useful to do if stdout is closed.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match parse_args(Program::Checkconf, &args) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(u8::try_from(e.exit_code).unwrap_or(255));
        }
    };
    // Unknown options are reported and otherwise ignored.
    for w in &cli.warnings {
        eprintln!("{w}");
    }
    match cli.action {
        Action::Help => {
            print_stdout(&usage(Program::Checkconf));
            return ExitCode::SUCCESS;
        }
        Action::Version => {
            print_stdout(&version_banner());
            return ExitCode::SUCCESS;
        }
        Action::Run => {}
    }

    let (config, report) = match load_miredo(&cli.config_file, &Options::checkconf()) {
        Ok(loaded) => (Some(loaded.config), loaded.report),
        Err(report) => (None, report),
    };
    for line in report.rendered() {
        eprintln!("{line}");
    }
    if cli.toml {
        if let Some(config) = &config {
            print_stdout(&miredo_to_toml(config));
        }
    }
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        eprintln!("Fatal configuration error");
        ExitCode::from(255)
    }
}
