//! The privileged hook runner (miredo's `miredo-privproc`).
//!
//! The daemon drops to an unprivileged user, but the client-hook script expects
//! to run as full root (Debian's calls `ip`; others may do more). So before the
//! drop, the daemon forks this small helper: it stays root, reads one request per
//! hook call from a socket pair — the hook's complete environment — runs the
//! script with exactly that environment, and answers with its exit status. It
//! ends when the socket closes, that is when the daemon exits, and then removes
//! the pidfile: the daemon itself, no longer root, may not unlink it.
//!
//! Frames on the socket: a request is `u32 count` then `count` strings, each a
//! `u32 len` and `len` bytes, big-endian: first the script's path, then the
//! environment as `NAME=value`; the answer is an `i32` status (the exit code, or
//! −1 if the script could not run or was killed). The path travels with each
//! request so a reload can change it.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Upper bound on one request, to refuse garbage rather than allocate it.
const MAX_REQUEST: usize = 64 * 1024;

/// The daemon's end of the helper.
pub struct PrivProc {
    stream: tokio::sync::Mutex<Option<tokio::net::UnixStream>>,
    std_stream: std::sync::Mutex<Option<UnixStream>>,
    child: nix::unistd::Pid,
}

impl PrivProc {
    /// Forks the helper. Must be called before any thread is started (no tokio
    /// runtime yet) and while still root.
    pub fn spawn(pidfile: Option<PathBuf>) -> Result<PrivProc> {
        let (ours, theirs) = UnixStream::pair().context("socketpair for the hook runner")?;
        // SAFETY: the process is single-threaded at this point (documented
        // precondition), so the child may run arbitrary code after fork.
        match unsafe { nix::unistd::fork() }.context("fork of the hook runner")? {
            nix::unistd::ForkResult::Child => {
                drop(ours);
                let code = serve(theirs);
                if let Some(p) = pidfile {
                    let _ = std::fs::remove_file(p);
                }
                std::process::exit(code);
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(theirs);
                Ok(PrivProc {
                    stream: tokio::sync::Mutex::new(None),
                    std_stream: std::sync::Mutex::new(Some(ours)),
                    child,
                })
            }
        }
    }

    /// Runs the hook with `env` and waits for it. Call from within the runtime.
    pub async fn run(&self, script: &Path, env: &[(String, String)]) -> Result<i32> {
        let mut guard = self.stream.lock().await;
        if guard.is_none() {
            let std = self
                .std_stream
                .lock()
                .map_err(|_| anyhow::anyhow!("hook runner lock poisoned"))?
                .take()
                .context("hook runner already closed")?;
            std.set_nonblocking(true)?;
            *guard = Some(tokio::net::UnixStream::from_std(std)?);
        }
        let stream = guard.as_mut().context("hook runner closed")?;
        stream.write_all(&encode(script, env)).await?;
        let status = stream.read_i32().await.context("hook runner died")?;
        Ok(status)
    }

    /// Closes the socket and reaps the helper.
    pub async fn close(&self) {
        self.stream.lock().await.take();
        if let Ok(mut s) = self.std_stream.lock() {
            s.take();
        }
        let child = self.child;
        let _ = tokio::task::spawn_blocking(move || nix::sys::wait::waitpid(child, None)).await;
    }
}

fn encode(script: &Path, env: &[(String, String)]) -> Vec<u8> {
    let mut strings = vec![script.display().to_string()];
    strings.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    let mut buf = Vec::new();
    buf.extend_from_slice(&(strings.len() as u32).to_be_bytes());
    for s in strings {
        buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
        buf.extend_from_slice(s.as_bytes());
    }
    buf
}

/// A decoded request: script path and environment.
type Request = (PathBuf, Vec<(String, String)>);

fn read_request(stream: &mut UnixStream) -> io::Result<Request> {
    let mut word = [0u8; 4];
    stream.read_exact(&mut word)?;
    let count = u32::from_be_bytes(word) as usize;
    let mut script = None;
    let mut env = Vec::new();
    let mut total = 0usize;
    for _ in 0..count {
        stream.read_exact(&mut word)?;
        let len = u32::from_be_bytes(word) as usize;
        total = total.saturating_add(len);
        if total > MAX_REQUEST {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request too large",
            ));
        }
        let mut kv = vec![0u8; len];
        stream.read_exact(&mut kv)?;
        let kv = String::from_utf8(kv)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))?;
        if script.is_none() {
            script = Some(PathBuf::from(kv));
            continue;
        }
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no '='"))?;
        env.push((k.to_owned(), v.to_owned()));
    }
    let script = script.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no script"))?;
    Ok((script, env))
}

/// The helper's loop; returns its exit code.
fn serve(mut stream: UnixStream) -> i32 {
    loop {
        let (script, env) = match read_request(&mut stream) {
            Ok(env) => env,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return 0,
            Err(_) => return 1,
        };
        let status = crate::hook::run_script(&script, &env);
        if stream.write_all(&status.to_be_bytes()).is_err() {
            return 1;
        }
    }
}
