//! Command lines of `miredo`, `miredo-server` and `miredo-checkconf`
//! (docs/compat.md).
//!
//! Parsing is glibc `getopt_long` ([`daemon::getopt`]) with the option
//! string `c:fhp:t:u:V`: clustered short options, attached values
//! (`-cFILE`), `--opt=value` and `--opt value`, unambiguous long-option
//! prefixes (aliases of one option are not ambiguous), argument permutation
//! and `--`. Error texts are glibc's.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use daemon::getopt::{self, HasArg, LongOpt};

/// Which binary is being run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `miredo`: client or relay.
    Miredo,
    /// `miredo-server`.
    MiredoServer,
    /// `miredo-checkconf`.
    Checkconf,
}

impl Program {
    /// The program name (syslog ident, default file names).
    pub fn name(self) -> &'static str {
        match self {
            Program::Miredo => "miredo",
            Program::MiredoServer => "miredo-server",
            Program::Checkconf => "miredo-checkconf",
        }
    }

    /// Picks the program from `argv[0]`'s base name (`miredo` otherwise).
    pub fn from_argv0(argv0: &OsStr) -> Self {
        let base = argv0
            .as_bytes()
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or(b"");
        match base {
            b"miredo-server" => Program::MiredoServer,
            b"miredo-checkconf" => Program::Checkconf,
            _ => Program::Miredo,
        }
    }

    /// Default configuration file: `/etc/miredo/<progname>.conf`
    /// (`miredo.conf` for checkconf).
    pub fn default_config(self) -> PathBuf {
        match self {
            Program::MiredoServer => PathBuf::from("/etc/miredo/miredo-server.conf"),
            _ => PathBuf::from("/etc/miredo/miredo.conf"),
        }
    }

    /// Default pidfile: `/var/run/<progname>.pid`.
    pub fn default_pidfile(self) -> PathBuf {
        PathBuf::from(format!("/var/run/{}.pid", self.name()))
    }
}

/// Default unprivileged user (compiled in, as in Debian's build).
pub const DEFAULT_USER: &str = "miredo";

/// What to do after parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run the daemon (or the check).
    Run,
    /// Print [`usage`] to stdout and exit 0.
    Help,
    /// Print [`version_banner`] to stdout and exit 0.
    Version,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    /// The binary.
    pub program: Program,
    /// `argv[0]` as given (used in messages).
    pub argv0: String,
    /// Run, help or version.
    pub action: Action,
    /// `-c` (or checkconf's positional FILE), else the default.
    pub config_file: PathBuf,
    /// Whether the configuration file was given explicitly.
    pub config_given: bool,
    /// `-f`.
    pub foreground: bool,
    /// `-p`, else `/var/run/<progname>.pid`.
    pub pidfile: PathBuf,
    /// `-t`.
    pub chroot_dir: Option<PathBuf>,
    /// `-u`, else `miredo`.
    pub user: String,
    /// Positional `SERVER_NAME` (miredo, miredo-server).
    pub server_name: Option<String>,
    /// `--client-hook PATH` (our extension; miredo only).
    pub client_hook: Option<PathBuf>,
    /// `--toml` (our extension; checkconf only).
    pub toml: bool,
    /// Option complaints that checkconf ignores (already formatted).
    pub warnings: Vec<String>,
}

/// A command-line error: print `message` to stderr, exit with `exit_code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// 2 for syntax errors (255 for checkconf's extra parameter).
    pub exit_code: i32,
    /// The message (may span several lines; no trailing newline).
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Config,
    Foreground,
    Help,
    Pidfile,
    Chroot,
    User,
    Version,
    ClientHook,
    Toml,
}

impl Opt {
    fn letter(self) -> &'static str {
        match self {
            Opt::Config => "-c",
            Opt::Pidfile => "-p",
            Opt::Chroot => "-t",
            Opt::User => "-u",
            Opt::ClientHook => "--client-hook",
            _ => "",
        }
    }
}

const COMMON_LONG: [LongOpt<Opt>; 10] = [
    LongOpt::new("config", HasArg::Required, Opt::Config),
    LongOpt::new("conf", HasArg::Required, Opt::Config),
    LongOpt::new("foreground", HasArg::No, Opt::Foreground),
    LongOpt::new("help", HasArg::No, Opt::Help),
    LongOpt::new("pidfile", HasArg::Required, Opt::Pidfile),
    LongOpt::new("chroot", HasArg::Required, Opt::Chroot),
    LongOpt::new("chrootdir", HasArg::Required, Opt::Chroot),
    LongOpt::new("user", HasArg::Required, Opt::User),
    LongOpt::new("username", HasArg::Required, Opt::User),
    LongOpt::new("version", HasArg::No, Opt::Version),
];

fn long_options(p: Program) -> Vec<LongOpt<Opt>> {
    const HOOK: LongOpt<Opt> = LongOpt::new("client-hook", HasArg::Required, Opt::ClientHook);
    const TOML: LongOpt<Opt> = LongOpt::new("toml", HasArg::No, Opt::Toml);
    let mut v = COMMON_LONG.to_vec();
    match p {
        Program::Miredo => v.push(HOOK),
        Program::Checkconf => v.extend([HOOK, TOML]),
        Program::MiredoServer => {}
    }
    v
}

fn short_option(c: u8) -> Option<(Opt, bool)> {
    Some(match c {
        b'c' => (Opt::Config, true),
        b'f' => (Opt::Foreground, false),
        b'h' => (Opt::Help, false),
        b'p' => (Opt::Pidfile, true),
        b't' => (Opt::Chroot, true),
        b'u' => (Opt::User, true),
        b'V' => (Opt::Version, false),
        _ => return None,
    })
}

fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

/// Parses a command line. `args` is the whole `argv`, `argv[0]` included
/// (e.g. `std::env::args_os().collect::<Vec<_>>()`).
pub fn parse_args(program: Program, args: &[OsString]) -> Result<Cli, CliError> {
    let argv0 = args
        .first()
        .map_or_else(|| program.name().to_owned(), |a| lossy(a));
    let rest = args.get(1..).unwrap_or(&[]);
    let mut cli = Cli {
        program,
        argv0: argv0.clone(),
        action: Action::Run,
        config_file: program.default_config(),
        config_given: false,
        foreground: false,
        pidfile: program.default_pidfile(),
        chroot_dir: None,
        user: DEFAULT_USER.to_owned(),
        server_name: None,
        client_hook: None,
        toml: false,
        warnings: Vec::new(),
    };
    let checkconf = program == Program::Checkconf;
    let usage_error = |msg: String| CliError {
        exit_code: 2,
        message: format!("{msg}\nTry \"{argv0} -h | more\" for more information."),
    };
    let getopt::Scan { events, positional } =
        getopt::scan(rest, short_option, &long_options(program));
    // Values seen, for miredo's duplicate check (first value kept).
    let mut seen: Vec<(Opt, OsString)> = Vec::new();
    for ev in events {
        let (opt, value) = match ev {
            Ok(x) => x,
            Err(e) if checkconf => {
                cli.warnings.push(e.glibc(&argv0));
                continue;
            }
            Err(e) => return Err(usage_error(e.glibc(&argv0))),
        };
        match opt {
            Opt::Help => {
                cli.action = Action::Help;
                return Ok(cli);
            }
            Opt::Version => {
                cli.action = Action::Version;
                return Ok(cli);
            }
            Opt::Foreground => cli.foreground = true,
            Opt::Toml => cli.toml = true,
            _ => {
                let value = value.unwrap_or_default();
                if !checkconf {
                    if let Some((_, first)) = seen.iter().find(|(o, _)| *o == opt) {
                        // Same (swapped-looking) wording as miredo.
                        return Err(CliError {
                            exit_code: 2,
                            message: format!(
                                "Duplicate parameter \"{}\" for option {}\n\
                                 would override previous value \"{}\".",
                                lossy(first),
                                opt.letter(),
                                lossy(&value)
                            ),
                        });
                    }
                    seen.push((opt, value.clone()));
                }
                match opt {
                    Opt::Config => {
                        cli.config_file = PathBuf::from(value);
                        cli.config_given = true;
                    }
                    // checkconf accepts and ignores these.
                    _ if checkconf => {}
                    Opt::Pidfile => cli.pidfile = PathBuf::from(value),
                    Opt::Chroot => cli.chroot_dir = Some(PathBuf::from(value)),
                    Opt::User => cli.user = lossy(&value),
                    Opt::ClientHook => cli.client_hook = Some(PathBuf::from(value)),
                    _ => {}
                }
            }
        }
    }
    let mut positional = positional.into_iter();
    if let Some(first) = positional.next() {
        if checkconf {
            cli.config_file = PathBuf::from(first);
            cli.config_given = true;
        } else {
            cli.server_name = Some(lossy(&first));
        }
    }
    if let Some(extra) = positional.next() {
        return Err(CliError {
            exit_code: if checkconf { 255 } else { 2 },
            message: format!("{}: unexpected extra parameter", lossy(&extra)),
        });
    }
    Ok(cli)
}

/// The `-h` text (our own wording; same options as miredo, plus `-t` and
/// our extensions).
pub fn usage(program: Program) -> String {
    let name = program.name();
    if program == Program::Checkconf {
        return format!(
            "Usage: {name} [CONF_FILE]\n\
             Checks a miredo configuration file (default: /etc/miredo/miredo.conf).\n\
             Exit status is 0 if the file is clean, 255 on any error or warning.\n\n\
             \x20 -c, --config FILE  check FILE (a positional CONF_FILE takes precedence)\n\
             \x20     --toml         also print the configuration as TOML on stdout\n\
             \x20 -h, --help         print this help and exit\n\
             \x20 -V, --version      print version information and exit\n\
             \x20 -f, -p, -t, -u     accepted and ignored, as by miredo\n"
        );
    }
    let (what, server) = match program {
        Program::MiredoServer => (
            "Runs a Teredo server.",
            "SERVER_NAME is the primary server address (overrides ServerBindAddress).",
        ),
        _ => (
            "Creates a Teredo tunneling interface for IPv6 connectivity over IPv4/UDP.",
            "SERVER_NAME is the Teredo server to use (overrides ServerAddress).",
        ),
    };
    let hook = if program == Program::Miredo {
        "      --client-hook PATH  run PATH instead of /etc/miredo/client-hook\n"
    } else {
        ""
    };
    let conf = program.default_config();
    let pid = program.default_pidfile();
    format!(
        "Usage: {name} [OPTIONS] [SERVER_NAME]\n{what}\n{server}\n\n\
         \x20 -c, --config FILE   read the configuration from FILE\n\
         \x20                     (default: {conf})\n\
         \x20 -f, --foreground    stay in the foreground, do not daemonize\n\
         \x20 -h, --help          print this help and exit\n\
         \x20 -p, --pidfile FILE  write the process ID to FILE\n\
         \x20                     (default: {pid})\n\
         \x20 -t, --chroot DIR    confine the unprivileged worker to DIR\n\
         \x20 -u, --user USER     run the worker as USER (default: {DEFAULT_USER})\n\
         \x20 -V, --version       print version information and exit\n{hook}",
        conf = conf.display(),
        pid = pid.display(),
    )
}

/// The `-V` text: miredo's first line with our name and version.
pub fn version_banner() -> String {
    format!(
        "Miredo: Teredo IPv6 tunneling software 1.2.6 (miredo-rs {})\n\
         Written in Rust by the miredo-rs contributors, after Miredo by Remi Denis-Courmont.\n\n\
         This is free software; see the source for copying conditions (GNU GPL\n\
         version 2 or later). There is NO warranty; not even for MERCHANTABILITY or\n\
         FITNESS FOR A PARTICULAR PURPOSE.\n",
        env!("CARGO_PKG_VERSION")
    )
}
