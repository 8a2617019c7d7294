//! `teredo-mire` as a program: its command line and start-up failures match
//! Debian's byte for byte; it runs unprivileged and counts what it drops.
//!
//! Needs root (network namespaces, changing user); fails otherwise. Build the
//! binaries first (`cargo build -p miredo`).

use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use e2e::teredo::addr::TEREDO_PORT;
use e2e::teredo::mire::MIRE_PORT;
use e2e::teredo::wire::{emit_bubble, EchoKind, EchoRepr, Ipv6Header};
use e2e::{our_bin, require_root, Lab, LabOpts, Nat, RELAY_IP};

const DEBIAN_MIRE: &str = "/usr/bin/teredo-mire";

fn our_mire() -> Result<String> {
    let bin = our_bin("teredo-mire");
    ensure!(
        bin.exists(),
        "{} not found: build it first (`cargo build -p miredo`)",
        bin.display()
    );
    Ok(bin.to_string_lossy().into_owned())
}

/// Runs `bin` with `argv[0]` = `teredo-mire` (so both print the same name).
/// Only for command lines that exit at once.
fn run(bin: &str, args: &[&str]) -> Result<Output> {
    Command::new(bin)
        .arg0("teredo-mire")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {bin}"))
}

fn same_output(args: &[&str], debian: &Output, ours: &Output) -> Result<()> {
    ensure!(
        debian.status.code() == ours.status.code()
            && debian.stdout == ours.stdout
            && debian.stderr == ours.stderr,
        "{args:?}: Debian's {:?} {:?} {:?}, ours {:?} {:?} {:?}",
        debian.status.code(),
        String::from_utf8_lossy(&debian.stdout),
        String::from_utf8_lossy(&debian.stderr),
        ours.status.code(),
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&ours.stderr)
    );
    Ok(())
}

/// `-h`, `-V`, their long forms and prefixes, and glibc's complaints (exit 1).
#[test]
fn options_match_debians_byte_for_byte() -> Result<()> {
    let ours = our_mire()?;
    let lines: [&[&str]; 13] = [
        &["-h"],
        &["--help"],
        &["--he"],
        &["-V"],
        &["--version"],
        &["--vers"],
        &["-hV"],
        &["extra", "-V"],
        &["--bogus"],
        &["-x"],
        &["-x", "-h"],
        &["--help=x"],
        &["--="],
    ];
    for args in lines {
        same_output(args, &run(DEBIAN_MIRE, args)?, &run(&ours, args)?)?;
    }
    let help = run(&ours, &["-h"])?;
    ensure!(help.stdout == b"Usage: teredo-mire\n" && help.status.success());
    let bad = run(&ours, &["-x"])?;
    ensure!(
        bad.status.code() == Some(1),
        "unknown option: {:?}",
        bad.status
    );
    Ok(())
}

/// Runs `f` in a new network namespace of this thread alone (gone when the
/// thread ends): the sockets it binds and the processes it starts live there.
fn in_private_netns<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    std::thread::spawn(move || -> Result<T> {
        // SAFETY: unshare has no memory-safety preconditions; CLONE_NEWNET
        // affects only the calling thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            bail!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
        }
        f()
    })
    .join()
    .map_err(|_| anyhow!("netns thread panicked"))?
}

/// A port that is taken: exit 255 and the original's message, for 3544 (the
/// first socket) and for 3545 alone.
#[test]
fn bind_failures_match_debians() -> Result<()> {
    require_root()?;
    let ours = our_mire()?;
    for (port, message) in [
        (
            TEREDO_PORT,
            "teredo_socket(server): Address already in use\n",
        ),
        (MIRE_PORT, "teredo_socket: Address already in use\n"),
    ] {
        let ours = ours.clone();
        let (debian, mine) = in_private_netns(move || {
            let holder = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))?;
            let out = (run(DEBIAN_MIRE, &[])?, run(&ours, &[])?);
            drop(holder);
            Ok(out)
        })?;
        same_output(&[], &debian, &mine)?;
        ensure!(
            mine.status.code() == Some(255) && mine.stderr == message.as_bytes(),
            "port {port} taken: {:?} {:?}",
            mine.status,
            String::from_utf8_lossy(&mine.stderr)
        );
    }
    Ok(())
}

/// Started as `nobody`, the responder binds both ports and answers; every
/// datagram is counted once (SIGUSR1 prints the counters), malformed ones
/// included, and none stops it.
#[test]
fn runs_unprivileged_and_counts_what_it_drops() -> Result<()> {
    let lab = Lab::up(LabOpts::with_nats(&[Nat::None]))?;
    let bin = our_mire()?;
    let d = lab.start(
        "relay",
        "our-mire",
        &[
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            &bin,
        ],
    )?;
    lab.wait_for("the mire bound as nobody", Duration::from_secs(5), || {
        let out = lab.exec_ok("relay", &["ss", "-Hulnp", "sport = :3545"])?;
        Ok(out.contains(&format!("pid={},", d.pid)))
    })
    .with_context(|| d.log_text())?;
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid))?;
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
    ensure!(
        uid.split_whitespace().skip(1).all(|u| u == "65534"),
        "not running as nobody: {uid}"
    );

    let (bubble_ok, echo_ok) = lab.in_netns("wan", || {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        let a = "2001:0:c000:201:0:4066:34ff:8efe".parse()?;
        let b = "2001:0:c633:6401:0:f226:39cc:9bfe".parse()?;
        // Malformed on both sockets: empty, IPv4, truncated IPv6.
        for port in [TEREDO_PORT, MIRE_PORT] {
            for junk in [&[][..], &[0x45; 28][..], &[0x60; 39][..]] {
                s.send_to(junk, (RELAY_IP, port))?;
            }
        }
        // Ignored: a bubble on 3545. Then one answer per socket, which
        // also shows that everything sent before was handled.
        s.send_to(&emit_bubble(a, b), (RELAY_IP, MIRE_PORT))?;
        s.send_to(&emit_bubble(a, b), (RELAY_IP, TEREDO_PORT))?;
        let mut msg = Vec::new();
        EchoRepr {
            kind: EchoKind::Request,
            ident: 9,
            seq: 9,
            data: b"x",
        }
        .emit(&a, &b, &mut msg);
        s.send_to(
            &Ipv6Header::new(a, b, 58, 64, &msg).to_vec(),
            (RELAY_IP, MIRE_PORT),
        )?;
        let mut buf = [0u8; 2048];
        let (mut bubble, mut echo) = (false, false);
        while !(bubble && echo) {
            let (n, _) = s.recv_from(&mut buf).context("a reply is missing")?;
            let h = Ipv6Header::parse(&buf[..n])?;
            bubble |= h.is_bubble();
            echo |= EchoRepr::parse_ipv6(&buf[..n]).is_ok_and(|(_, e)| e.kind == EchoKind::Reply);
        }
        Ok((bubble, echo))
    })?;
    ensure!(bubble_ok && echo_ok);

    lab.signal(&d, libc::SIGUSR1)?;
    let want = "teredo-mire: 9 datagrams: 2 replied, 1 ignored, 6 malformed";
    lab.wait_for("the counters on stderr", Duration::from_secs(5), || {
        Ok(d.log_text().contains(want))
    })
    .with_context(|| format!("log:\n{}", d.log_text()))?;
    ensure!(d.is_running(), "SIGUSR1 stopped it");
    Ok(())
}
