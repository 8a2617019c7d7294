//! The root hook runner (miredo's `miredo-privproc`).
//!
//! The daemon drops to an unprivileged user, but the client-hook script expects
//! uid 0 (Debian's calls `ip`). So before the drop, the daemon forks this small
//! helper. It is the boundary between the network-facing daemon, which must be
//! assumed compromised, and root:
//!
//! - the **script** is fixed when the runner starts ([`RunnerConfig::hook`]:
//!   `--client-hook`, `ClientHook` or `/etc/miredo/client-hook`); no request can
//!   name another, and a reload does not change it (`docs/compat.md`);
//! - a **request** is one event in typed fields ([`crate::hook::request`]), checked
//!   before anything runs: the interface name, index, addresses and MTUs must be
//!   what a Teredo client produces, and `IFACE` must name interface `IFINDEX` now
//!   (miredo's privproc looks the name up from the index too). The runner builds
//!   the environment itself ([`HookEvent::env`]), so none can be smuggled in. A
//!   refused request is logged (at most 20 lines a minute) and answered
//!   [`STATUS_REFUSED`]; nothing runs;
//! - the runner and every hook keep **only `CAP_NET_ADMIN`** (bounding, permitted
//!   and effective sets): uid 0 with that is what `ip` needs to configure the
//!   interface, and an exec cannot regain anything else.
//!
//! It answers each request with the hook's status word and ends when the socket
//! closes, that is when the daemon exits; it then removes the pidfile if it still
//! holds the daemon's PID (the daemon, no longer root, may not unlink it, and a new
//! instance may own the path by then).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use daemon::privileges::Capability;
use daemon::ratelimit::{Admit, RateLimit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::hook::request::{self, Header, RequestError, HEADER_LEN, STATUS_REFUSED};
use crate::hook::HookEvent;

/// The only capability the runner and its hooks keep.
pub const RUNNER_CAPS: &[Capability] = &[Capability::CAP_NET_ADMIN];

/// What the runner is told once, at start-up, by the still-root daemon.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The hook script, for the runner's whole life.
    pub hook: PathBuf,
    /// Removed at exit if it still holds `daemon_pid`.
    pub pidfile: Option<PathBuf>,
    /// The daemon's PID (the one in the pidfile).
    pub daemon_pid: u32,
}

/// The daemon's end of the runner.
pub struct PrivProc {
    stream: tokio::sync::Mutex<Option<tokio::net::UnixStream>>,
    std_stream: std::sync::Mutex<Option<UnixStream>>,
    child: nix::unistd::Pid,
    hook: PathBuf,
}

/// Forks the runner and returns the daemon's end of its socket and its PID.
/// Must be called while single-threaded (no runtime yet, no other thread) and
/// still root. [`PrivProc::spawn`] wraps it; tests use it to speak the protocol
/// directly, as a compromised daemon would.
pub fn fork_runner(cfg: RunnerConfig) -> Result<(UnixStream, nix::unistd::Pid)> {
    let (ours, theirs) = UnixStream::pair().context("socketpair for the hook runner")?;
    // SAFETY: the process is single-threaded at this point (documented
    // precondition), so the child may run arbitrary code after fork.
    match unsafe { nix::unistd::fork() }.context("fork of the hook runner")? {
        nix::unistd::ForkResult::Child => {
            drop(ours);
            std::process::exit(runner_main(theirs, &cfg));
        }
        nix::unistd::ForkResult::Parent { child } => Ok((ours, child)),
    }
}

impl PrivProc {
    /// Forks the runner (see [`fork_runner`] for the preconditions).
    pub fn spawn(cfg: RunnerConfig) -> Result<PrivProc> {
        let hook = cfg.hook.clone();
        let (ours, child) = fork_runner(cfg)?;
        Ok(PrivProc {
            stream: tokio::sync::Mutex::new(None),
            std_stream: std::sync::Mutex::new(Some(ours)),
            child,
            hook,
        })
    }

    /// The script the runner runs (fixed at start-up).
    pub fn hook_path(&self) -> &Path {
        &self.hook
    }

    /// Runs the hook for `ev` and waits for it. Call from within the runtime.
    pub async fn run(&self, ev: &HookEvent) -> Result<i32> {
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
        stream.write_all(&request::encode(ev)).await?;
        let status = stream.read_i32().await.context("hook runner died")?;
        if status == STATUS_REFUSED {
            anyhow::bail!("the hook runner refused the request (see its log)");
        }
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

/// The runner process: confine, serve, clean up. Returns its exit code.
fn runner_main(stream: UnixStream, cfg: &RunnerConfig) -> i32 {
    // Confinement failing means hooks would run with more than they need:
    // refuse every request instead (the daemon keeps running; the pidfile
    // is still cleaned up).
    let confined = match daemon::privileges::confine_root(RUNNER_CAPS) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!("hook runner: cannot restrict capabilities, no hook will run: {e}");
            false
        }
    };
    let code = serve(stream, &cfg.hook, confined);
    if let Some(p) = &cfg.pidfile {
        remove_pidfile_if_ours(p, cfg.daemon_pid);
    }
    code
}

/// Removes `path` only if it holds `pid`: after a restart the path may already be
/// a new instance's.
pub fn remove_pidfile_if_ours(path: &Path, pid: u32) {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim() == pid.to_string() => {
            let _ = std::fs::remove_file(path);
        }
        Ok(_) => tracing::info!(
            "{}: holds another PID than {pid}: left in place",
            path.display()
        ),
        Err(_) => {}
    }
}

/// Reads one frame: `Ok(None)` at a clean end of stream. The whole body is
/// consumed even when the request will be refused, so the next one starts in
/// step.
fn read_request(stream: &mut UnixStream) -> io::Result<Option<Result<HookEvent, RequestError>>> {
    let mut head = [0u8; HEADER_LEN];
    match stream.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let h = Header::parse(head);
    // At most 64 KiB (a u16 length).
    let mut body = vec![0u8; h.len];
    stream.read_exact(&mut body)?;
    Ok(Some(request::decode_body(h, &body)))
}

/// Why the runner refuses an event's interface.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum InterfaceMismatch {
    /// The name cannot be passed to the C library.
    #[error("NUL in name")]
    Nul,
    /// The name is not (or no longer) the daemon's interface.
    #[error("interface {iface} has index {index}, not IFINDEX {ifindex}")]
    Index {
        iface: String,
        index: u32,
        ifindex: u32,
    },
}

/// Checks what only the runner can: that `IFACE` names interface `IFINDEX` now.
fn check_interface(ev: &HookEvent) -> Result<(), InterfaceMismatch> {
    let name = std::ffi::CString::new(ev.iface.as_str()).map_err(|_| InterfaceMismatch::Nul)?;
    // SAFETY: a valid NUL-terminated string; no other memory is passed.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == ev.ifindex {
        Ok(())
    } else {
        Err(InterfaceMismatch::Index {
            iface: ev.iface.clone(),
            index,
            ifindex: ev.ifindex,
        })
    }
}

/// Refusal log lines per minute: a compromised daemon must not flood the log.
const REFUSALS_LOGGED: u32 = 20;

/// Logs a refusal (rate-limited) and gives the status to answer.
fn refuse(limit: &mut RateLimit<()>, why: &dyn std::fmt::Display) -> i32 {
    if let Admit::Yes { suppressed } = limit.check(Instant::now(), &()) {
        if suppressed > 0 {
            tracing::error!("hook runner: request refused: {why} (and {suppressed} more)");
        } else {
            tracing::error!("hook runner: request refused: {why}");
        }
    }
    STATUS_REFUSED
}

/// The runner's loop; returns its exit code.
fn serve(mut stream: UnixStream, hook: &Path, confined: bool) -> i32 {
    let mut limit = RateLimit::new(Duration::from_secs(60), REFUSALS_LOGGED, 1);
    loop {
        let status = match read_request(&mut stream) {
            Ok(None) => return 0,
            Err(e) => {
                tracing::error!("hook runner: reading a request: {e}");
                return 1;
            }
            Ok(Some(Err(e))) => refuse(&mut limit, &e),
            Ok(Some(Ok(ev))) => match check_interface(&ev) {
                Err(e) => refuse(&mut limit, &e),
                Ok(()) if !confined => STATUS_REFUSED,
                Ok(()) => crate::hook::run_script(hook, &ev.env()),
            },
        };
        if stream.write_all(&status.to_be_bytes()).is_err() {
            return 1;
        }
    }
}
