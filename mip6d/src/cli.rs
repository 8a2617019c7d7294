//! The command line of `mip6d`.
//!
//! glibc `getopt_long` ([`daemon::getopt`]) with UMIP's option string
//! `c:d:l:Vh?CMH` and long options `--version`, `--help`,
//! `--correspondent-node`, `--home-agent`, `--mobile-node`, `--show-config`:
//! clustered short options, attached values, unambiguous long-option
//! prefixes, permutation of non-options (which are ignored) and `--`. Error
//! texts are glibc's; every error, `-h`, `-V` and `--show-config` exits 1.
//!
//! Options are applied in order, and the first of `-h`, `-V`,
//! `--show-config` or an error ends the scan: what follows it is not applied
//! (`-c f --show-config -d 7` shows the file's DebugLevel).
//!
//! Deliberate differences from UMIP (listed in docs/compat.md):
//! - the attached form `-cFILE` is honoured (UMIP reads the default file);
//! - `--show-config=toml` / `--show-config=conf` print the TOML form or a
//!   `mip6d.conf` on stdout and exit 0 (`--show-config` alone is UMIP's);
//! - `--pidfile FILE` (for init scripts): always go to the background and
//!   keep a locked PID file (UMIP writes none).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use daemon::getopt::{self, HasArg, LongOpt};

use crate::config::{Overrides, Role, DEFAULT_CONFIG_FILE};

/// Paths this long or longer are refused (`MAXPATHLEN`).
const MAX_PATH: usize = 4096;

/// What `--show-config` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowFormat {
    /// UMIP's `conf_show` lines in debug-log format on stderr (exit 1).
    Umip,
    /// The TOML form on stdout (exit 0).
    Toml,
    /// A `mip6d.conf` on stdout (exit 0).
    Conf,
}

/// What to do after parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run the daemon.
    Run,
    /// `-h`, `-?`, `--help`: usage on stderr, exit 1.
    Help,
    /// `-V`, `--version`: version on stderr, exit 1.
    Version,
    /// `--show-config[=FORMAT]`.
    ShowConfig(ShowFormat),
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    /// `argv[0]` as given (used in messages).
    pub argv0: String,
    /// The action.
    pub action: Action,
    /// `-c`, else [`DEFAULT_CONFIG_FILE`].
    pub config_file: PathBuf,
    /// Whether `-c` was given (a missing or broken default file is not fatal).
    pub config_given: bool,
    /// `-d`, `-l`, `-C/-H/-M` seen before the action, folded in order.
    pub overrides: Overrides,
    /// `--pidfile`: the PID file to lock, which also means "always daemonize".
    pub pidfile: Option<PathBuf>,
}

/// A command-line error: print [`CliError::message`] (and the usage when
/// [`CliError::usage`] is set) on stderr, then exit 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// The message, without a trailing newline.
    pub message: String,
    /// Whether the usage text follows.
    pub usage: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Config,
    Debug,
    LogFile,
    Version,
    Help,
    Cn,
    Ha,
    Mn,
    ShowConfig,
    Pidfile,
}

const LONG: [LongOpt<Opt>; 7] = [
    LongOpt::new("version", HasArg::No, Opt::Version),
    LongOpt::new("help", HasArg::No, Opt::Help),
    LongOpt::new("correspondent-node", HasArg::No, Opt::Cn),
    LongOpt::new("home-agent", HasArg::No, Opt::Ha),
    LongOpt::new("mobile-node", HasArg::No, Opt::Mn),
    LongOpt::new("show-config", HasArg::Optional, Opt::ShowConfig),
    LongOpt::new("pidfile", HasArg::Required, Opt::Pidfile),
];

fn short(c: u8) -> Option<(Opt, bool)> {
    Some(match c {
        b'c' => (Opt::Config, true),
        b'd' => (Opt::Debug, true),
        b'l' => (Opt::LogFile, true),
        b'V' => (Opt::Version, false),
        b'h' | b'?' => (Opt::Help, false),
        b'C' => (Opt::Cn, false),
        b'H' => (Opt::Ha, false),
        b'M' => (Opt::Mn, false),
        _ => return None,
    })
}

/// C `atoi`: optional blanks and sign, then the leading digits; anything
/// else is 0. Negative levels count as 0 (only 0 versus > 0 matters).
pub fn atoi(s: &OsStr) -> u32 {
    let b = s.as_bytes();
    let start = b
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .count();
    let rest = &b[start..];
    let (negative, digits) = match rest.first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let mut value: u64 = 0;
    for d in digits.iter().take_while(|c| c.is_ascii_digit()) {
        value = (value * 10 + u64::from(d - b'0')).min(u64::from(u32::MAX));
    }
    if negative {
        0
    } else {
        u32::try_from(value).unwrap_or(u32::MAX)
    }
}

/// Parses a command line. `args` is the whole `argv`, `argv[0]` included.
pub fn parse_args(args: &[OsString]) -> Result<Cli, CliError> {
    let argv0 = args
        .first()
        .map_or_else(|| "mip6d".to_owned(), |a| a.to_string_lossy().into_owned());
    // UMIP looks for a standalone "-c" before getopt runs; a value that
    // starts with '-' is refused with this (non-glibc) wording.
    if let Some(pos) = args.iter().position(|a| a.as_bytes() == b"-c") {
        if let Some(value) = args.get(pos + 1) {
            if value.as_bytes().first() == Some(&b'-') {
                return Err(CliError {
                    message: format!("{argv0}: option requires an argument -- c"),
                    usage: true,
                });
            }
        }
    }
    let mut cli = Cli {
        argv0: argv0.clone(),
        action: Action::Run,
        config_file: PathBuf::from(DEFAULT_CONFIG_FILE),
        config_given: false,
        overrides: Overrides::default(),
        pidfile: None,
    };
    // Non-options are ignored, as UMIP does.
    let scan = getopt::scan(args.get(1..).unwrap_or(&[]), short, &LONG);
    for event in scan.events {
        let (opt, value) = event.map_err(|e| CliError {
            message: e.glibc(&argv0),
            usage: true,
        })?;
        let value = value.unwrap_or_default();
        match opt {
            Opt::Config => {
                if value.len() >= MAX_PATH {
                    return Err(CliError {
                        message: format!("{argv0}: argument too long -- c <file>"),
                        usage: false,
                    });
                }
                // The first -c wins, as in UMIP.
                if !cli.config_given {
                    cli.config_file = PathBuf::from(value);
                    cli.config_given = true;
                }
            }
            Opt::Debug => cli.overrides.debug_level = Some(atoi(&value)),
            Opt::LogFile => {
                cli.overrides.debug_log_file = Some(value.to_string_lossy().into_owned());
            }
            Opt::Pidfile => {
                if value.is_empty() || value.len() >= MAX_PATH {
                    return Err(CliError {
                        message: format!("{argv0}: invalid argument for '--pidfile'"),
                        usage: true,
                    });
                }
                cli.pidfile = Some(PathBuf::from(value));
            }
            Opt::Cn => cli.overrides.node_config = Some(Role::CorrespondentNode),
            Opt::Ha => cli.overrides.node_config = Some(Role::HomeAgent),
            Opt::Mn => cli.overrides.node_config = Some(Role::MobileNode),
            Opt::Help => {
                cli.action = Action::Help;
                return Ok(cli);
            }
            Opt::Version => {
                cli.action = Action::Version;
                return Ok(cli);
            }
            Opt::ShowConfig => {
                let format = match value.as_bytes() {
                    b"" | b"umip" => ShowFormat::Umip,
                    b"toml" => ShowFormat::Toml,
                    b"conf" => ShowFormat::Conf,
                    other => {
                        return Err(CliError {
                            message: format!(
                                "{argv0}: invalid argument '{}' for '--show-config' \
                                 (valid: umip, toml, conf)",
                                String::from_utf8_lossy(other)
                            ),
                            usage: true,
                        })
                    }
                };
                cli.action = Action::ShowConfig(format);
                return Ok(cli);
            }
        }
    }
    Ok(cli)
}

/// The `-h` text (our wording, UMIP's options).
pub fn usage(argv0: &str) -> String {
    let name = argv0.rsplit('/').next().unwrap_or(argv0);
    format!(
        "Usage: {name} [options]\n\
         Options:\n\
         \x20 -V, --version            Print version information and exit\n\
         \x20 -?, -h, --help           Print this help text and exit\n\
         \x20 -c <file>                Read the configuration from <file>\n\
         \x20                          (default: {DEFAULT_CONFIG_FILE}; a name ending in .toml\n\
         \x20                          is read as the TOML form)\n\
         \x20     --show-config[=umip|toml|conf]\n\
         \x20                          Print the effective configuration and exit\n\
         \n\
         \x20These options override values read from the configuration file:\n\
         \x20 -d <number>              Set the debug level (0: run as a daemon;\n\
         \x20                          more: stay in the foreground unless -l is given)\n\
         \x20 -l <file>                Write the debug log to <file> instead of stderr\n\
         \x20 -C, --correspondent-node Run as a correspondent node\n\
         \x20 -H, --home-agent         Run as a home agent\n\
         \x20 -M, --mobile-node        Run as a mobile node\n\
         \n\
         \x20umip-rs extension, for init scripts:\n\
         \x20     --pidfile <file>     Always run as a daemon and keep a locked PID file\n"
    )
}

/// The `-V` text: UMIP's first line (scripts read it) with our name and version.
pub fn version_banner() -> String {
    format!(
        "umip (UMIP Mobile IPv6 for Linux) 1.0 (umip-rs {})\n\
         Written in Rust by the umip-rs contributors, after UMIP and MIPL.\n\
         This is free software; see the source for copying conditions (GNU GPL\n\
         version 2 or later). There is NO warranty; not even for MERCHANTABILITY or\n\
         FITNESS FOR A PARTICULAR PURPOSE.\n",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, CliError> {
        let argv: Vec<OsString> = std::iter::once("mip6d")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        parse_args(&argv)
    }

    #[test]
    fn pidfile_takes_attached_or_separate_value() {
        for args in [
            &["--pidfile", "/run/mip6d.pid"][..],
            &["--pidfile=/run/mip6d.pid"],
            &["--pid=/run/mip6d.pid"],
        ] {
            let cli = parse(args).map_err(|e| e.message);
            assert_eq!(
                cli.map(|c| c.pidfile),
                Ok(Some(PathBuf::from("/run/mip6d.pid"))),
                "{args:?}"
            );
        }
        assert_eq!(parse(&["-d", "1"]).map(|c| c.pidfile), Ok(None));
    }

    #[test]
    fn pidfile_needs_a_value() {
        let e = parse(&["--pidfile"]).err();
        assert_eq!(
            e.map(|e| (e.message, e.usage)),
            Some((
                "mip6d: option '--pidfile' requires an argument".to_owned(),
                true
            ))
        );
        assert!(parse(&["--pidfile="]).is_err());
    }
}
