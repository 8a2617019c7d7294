//! `teredo-mire`: the stateless Teredo test responder (docs/compat.md,
//! "teredo-mire"). The protocol is [`teredo::mire`]; this module is its
//! command line and its two sockets.
//!
//! Like the original it takes no configuration, needs no privileges (both
//! ports are above 1023) and keeps whatever user starts it; it runs in the
//! foreground until a signal ends it. SIGUSR1 writes its counters to stderr.

use std::ffi::OsString;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::process::ExitCode;

use daemon::getopt::{self, HasArg, LongOpt};
use daemon::pidfile::strerror;
use teredo::addr::TEREDO_PORT;
use teredo::mire::{handle_datagram, MireCounters, MireSocket, MIRE_PORT};
use tokio::net::UdpSocket;
use tokio::signal::unix::{signal, SignalKind};

/// The `-V` text, the original's (one line).
pub const VERSION_TEXT: &str = "miredo v1.2.6\n";

/// Exit status when a socket cannot be bound (the original's `exit(-1)`).
const EXIT_BIND: u8 = 255;

/// Largest UDP payload over IPv4 is 65507 octets; one more page of room.
const RECV_BUFFER: usize = 65536;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MireCommand {
    /// Answer datagrams until killed.
    Run,
    /// Print `Usage: <argv0>` and exit 0.
    Help,
    /// Print [`VERSION_TEXT`] and exit 0.
    Version,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Help,
    Version,
}

const LONG: [LongOpt<Opt>; 2] = [
    LongOpt::new("help", HasArg::No, Opt::Help),
    LongOpt::new("version", HasArg::No, Opt::Version),
];

/// Parses `argv` (with `argv[0]`) as glibc's `getopt_long` with `hV` and
/// `--help`/`--version` would: the first option decides; an unknown option
/// before it is an error (glibc's message, exit 1). Other arguments are
/// ignored, as by the original.
pub fn parse_mire_args(args: &[OsString]) -> Result<MireCommand, String> {
    let argv0 = args.first().map_or_else(
        || "teredo-mire".to_owned(),
        |a| a.to_string_lossy().into_owned(),
    );
    let rest = args.get(1..).unwrap_or(&[]);
    let short = |c: u8| match c {
        b'h' => Some((Opt::Help, false)),
        b'V' => Some((Opt::Version, false)),
        _ => None,
    };
    let scan = getopt::scan(rest, short, &LONG);
    match scan.events.into_iter().next() {
        None => Ok(MireCommand::Run),
        Some(Ok((Opt::Help, _))) => Ok(MireCommand::Help),
        Some(Ok((Opt::Version, _))) => Ok(MireCommand::Version),
        Some(Err(e)) => Err(e.glibc(&argv0)),
    }
}

fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    // Nothing useful to do if stdout is closed.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The `teredo-mire` program.
pub fn main_mire() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    match parse_mire_args(&args) {
        Ok(MireCommand::Help) => {
            let argv0 = args.first().map(|a| a.to_string_lossy().into_owned());
            print_stdout(&format!("Usage: {}\n", argv0.unwrap_or_default()));
            ExitCode::SUCCESS
        }
        Ok(MireCommand::Version) => {
            print_stdout(VERSION_TEXT);
            ExitCode::SUCCESS
        }
        Ok(MireCommand::Run) => run(),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

/// Binds both ports (3544 first, as the original, with its messages), then
/// serves forever.
fn run() -> ExitCode {
    let bind = |port: u16, what: &str| {
        crate::udp::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).map_err(|e| {
            eprintln!("{what}: {}", strerror(&e));
            ExitCode::from(EXIT_BIND)
        })
    };
    let server = match bind(TEREDO_PORT, "teredo_socket(server)") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let peer = match bind(MIRE_PORT, "teredo_socket") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("teredo-mire: cannot start: {}", strerror(&e));
            return ExitCode::from(1);
        }
    };
    match rt.block_on(serve(server, peer)) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("teredo-mire: {}", strerror(&e));
            ExitCode::from(1)
        }
    }
}

/// Answers datagrams on both sockets; replies always leave from port 3545.
async fn serve(
    server: StdUdpSocket,
    peer: StdUdpSocket,
) -> std::io::Result<std::convert::Infallible> {
    server.set_nonblocking(true)?;
    peer.set_nonblocking(true)?;
    let server = UdpSocket::from_std(server)?;
    let peer = UdpSocket::from_std(peer)?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut counters = MireCounters::default();
    let mut server_buf = vec![0u8; RECV_BUFFER];
    let mut peer_buf = vec![0u8; RECV_BUFFER];
    let mut reply = Vec::with_capacity(RECV_BUFFER);
    loop {
        let (socket, received, buf) = tokio::select! {
            r = server.recv_from(&mut server_buf) => (MireSocket::Server, r, &server_buf),
            r = peer.recv_from(&mut peer_buf) => (MireSocket::Peer, r, &peer_buf),
            _ = usr1.recv() => {
                report(&counters);
                continue;
            }
        };
        // A receive error is an ICMP error about an earlier reply or a
        // transient condition: nothing to answer, keep serving.
        let Ok((len, SocketAddr::V4(sender))) = received else {
            continue;
        };
        let datagram = buf.get(..len).unwrap_or_default();
        let verdict = handle_datagram(socket, sender, datagram, &mut reply);
        counters.count(&verdict);
        if verdict == teredo::mire::Verdict::Reply {
            // Best effort, as any UDP answer: an unreachable sender is not ours to fix.
            let _ = peer.send_to(&reply, sender).await;
        }
    }
}

fn report(c: &MireCounters) {
    eprintln!(
        "teredo-mire: {} datagrams: {} replied, {} ignored, {} malformed",
        c.total(),
        c.replied,
        c.ignored,
        c.malformed
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<MireCommand, String> {
        let v: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse_mire_args(&v)
    }

    #[test]
    fn first_option_decides_and_other_arguments_are_ignored() {
        assert_eq!(parse(&["teredo-mire"]), Ok(MireCommand::Run));
        assert_eq!(
            parse(&["teredo-mire", "extra", "args"]),
            Ok(MireCommand::Run)
        );
        assert_eq!(parse(&["m", "-hV"]), Ok(MireCommand::Help));
        assert_eq!(parse(&["m", "-Vh"]), Ok(MireCommand::Version));
        assert_eq!(parse(&["m", "x", "--vers"]), Ok(MireCommand::Version));
        assert_eq!(parse(&["m", "--he"]), Ok(MireCommand::Help));
        assert_eq!(parse(&["m", "-h", "-x"]), Ok(MireCommand::Help));
        assert_eq!(parse(&["m", "--", "-h"]), Ok(MireCommand::Run));
    }

    #[test]
    fn errors_are_glibcs_with_argv0() {
        assert_eq!(
            parse(&["teredo-mire", "-x", "-h"]),
            Err("teredo-mire: invalid option -- 'x'".into())
        );
        assert_eq!(
            parse(&["/usr/bin/teredo-mire", "--bogus"]),
            Err("/usr/bin/teredo-mire: unrecognized option '--bogus'".into())
        );
        assert_eq!(
            parse(&["t", "--help=x"]),
            Err("t: option '--help' doesn't allow an argument".into())
        );
        assert_eq!(
            parse(&["t", "--="]),
            Err("t: option '--=' is ambiguous; possibilities: '--help' '--version'".into())
        );
    }
}
