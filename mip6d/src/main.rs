//! mip6d: a drop-in for UMIP 1.0's Mobile IPv6 daemon.
//!
//! Reads the command line and the configuration, implements `-h`, `-V` and
//! `--show-config`, and otherwise runs the daemon ([`mip6d::daemon::run`]).

use std::ffi::OsString;
use std::io::ErrorKind;

use mip6d::cli::{self, Action, ShowFormat};
use mip6d::config::{self, Config, SystemHost};
use mip6d::debuglog;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    std::process::exit(run(&args));
}

fn run(args: &[OsString]) -> i32 {
    let cli = match cli::parse_args(args) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("{e}");
            if e.usage {
                let argv0 = args.first().map(|a| a.to_string_lossy().into_owned());
                eprint!("{}", cli::usage(argv0.as_deref().unwrap_or("mip6d")));
            }
            return 1;
        }
    };
    match cli.action {
        Action::Help => {
            eprint!("{}", cli::usage(&cli.argv0));
            return 1;
        }
        Action::Version => {
            eprint!("{}", cli::version_banner());
            return 1;
        }
        Action::Run | Action::ShowConfig(_) => {}
    }
    let mut file = cli.config_file.display().to_string();
    let mut config = match config::load(&cli.config_file, &SystemHost) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            loaded.config
        }
        // Without -c, a missing default file means "all defaults" (UMIP).
        Err(e) if !cli.config_given && e.unreadable.is_some() => {
            if e.unreadable != Some(ErrorKind::NotFound) {
                eprintln!("{}", e.error);
            }
            file = format!("{file} (not found, defaults used)");
            Config::default()
        }
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            return 1;
        }
    };
    cli.overrides.apply(&mut config);
    match cli.action {
        Action::ShowConfig(ShowFormat::Umip) => {
            for line in config::show_umip(&config, &file) {
                eprintln!("{}", debuglog::line("conf_show", &line));
            }
            1
        }
        Action::ShowConfig(ShowFormat::Toml) => {
            print!("{}", config::to_toml(&config));
            0
        }
        Action::ShowConfig(ShowFormat::Conf) => {
            print!("{}", config::to_legacy(&config));
            0
        }
        Action::Run | Action::Help | Action::Version => {
            if let Some(problem) = config.startup_error() {
                eprintln!("{}: {problem}", cli.argv0);
                return 1;
            }
            mip6d::daemon::run(
                config,
                mip6d::daemon::RunOptions {
                    argv0: cli.argv0,
                    config_file: cli.config_file,
                    overrides: cli.overrides,
                    pidfile: cli.pidfile,
                },
            )
        }
    }
}
