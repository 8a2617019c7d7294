//! Running the hook script.
//!
//! Like miredo's privproc: the script gets exactly the hook variables (no
//! PATH, no HOME), runs in `/`, with stdin on /dev/null and stdout and
//! stderr on our stderr, and is waited for synchronously. Its exit status
//! is only logged (debug). A failed exec logs `Could not execute <path>:
//! <error>`.
//!
//! Our fix: miredo waits forever for a hung hook, stalling the tunnel; we
//! kill the script's whole process group after a timeout (30 s by default)
//! and log a warning. The script runs in its own process group for that.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{HookEvent, HookOutcome};

/// How long a hook may run before it is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts at starting a script that is busy being written (`ETXTBSY`).
const SPAWN_ATTEMPTS: u32 = 5;
const SPAWN_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Runs an executable as the client hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptHook {
    path: PathBuf,
    timeout: Duration,
}

impl ScriptHook {
    /// The script at `path`, with [`DEFAULT_TIMEOUT`].
    pub fn new(path: impl Into<PathBuf>) -> ScriptHook {
        ScriptHook {
            path: path.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Change the timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> ScriptHook {
        self.timeout = timeout;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Run the script for `ev` and wait for it (without blocking the
    /// runtime). The script is started from the calling thread, so it lives
    /// in that thread's network namespace.
    pub async fn run(&self, ev: &HookEvent) -> HookOutcome {
        self.run_env(&ev.env()).await
    }

    /// Run the script with exactly `env`.
    pub async fn run_env(&self, env: &[(String, String)]) -> HookOutcome {
        let mut attempt = 1;
        let mut child = loop {
            let mut cmd = tokio::process::Command::from(command(&self.path, env));
            cmd.kill_on_drop(true);
            match cmd.spawn() {
                Ok(c) => break c,
                Err(e) if retryable(&e, attempt) => {
                    attempt += 1;
                    tokio::time::sleep(SPAWN_RETRY_PAUSE).await;
                }
                Err(e) => return exec_failed(&self.path, &e),
            }
        };
        let pid = child.id();
        match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) => outcome(&self.path, status),
            Ok(Err(e)) => {
                tracing::warn!("{}: cannot wait for the hook: {e}", self.path.display());
                HookOutcome::ExecFailed
            }
            Err(_) => {
                kill_group(pid);
                // SIGKILL to the child itself too, and reap it.
                let _ = child.kill().await;
                timed_out(&self.path, self.timeout)
            }
        }
    }

    /// The same as [`ScriptHook::run`], blocking the calling thread.
    pub fn run_blocking(&self, ev: &HookEvent) -> HookOutcome {
        run_script_with_timeout(&self.path, &ev.env(), self.timeout)
    }
}

/// Run `path` with exactly `env`, blocking, with [`DEFAULT_TIMEOUT`];
/// returns privproc's status word (see [`HookOutcome::status`]). This is
/// the entry point of the forked privileged helper (no runtime there).
pub fn run_script(path: &Path, env: &[(String, String)]) -> i32 {
    run_script_with_timeout(path, env, DEFAULT_TIMEOUT).status()
}

/// Run `path` with exactly `env`, blocking, killing it after `timeout`.
pub fn run_script_with_timeout(
    path: &Path,
    env: &[(String, String)],
    timeout: Duration,
) -> HookOutcome {
    let mut attempt = 1;
    let mut child = loop {
        match command(path, env).spawn() {
            Ok(c) => break c,
            Err(e) if retryable(&e, attempt) => {
                attempt += 1;
                std::thread::sleep(SPAWN_RETRY_PAUSE);
            }
            Err(e) => return exec_failed(path, &e),
        }
    };
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return outcome(path, status),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("{}: cannot wait for the hook: {e}", path.display());
                return HookOutcome::ExecFailed;
            }
        }
        if Instant::now() >= deadline {
            kill_group(Some(child.id()));
            let _ = child.kill();
            let _ = child.wait();
            return timed_out(path, timeout);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

fn command(path: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(path);
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(stdout_to_stderr())
        .stderr(Stdio::inherit())
        .process_group(0);
    cmd
}

/// The script's stdout goes where our stderr goes (the journal under
/// systemd, /dev/null in the background).
fn stdout_to_stderr() -> Stdio {
    match io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::null(),
    }
}

fn retryable(e: &io::Error, attempt: u32) -> bool {
    e.raw_os_error() == Some(libc::ETXTBSY) && attempt < SPAWN_ATTEMPTS
}

/// miredo's log line for a failed exec (`%m` text, no "(os error N)").
fn exec_failed_message(path: &Path, e: &io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(errno) => netcfg::strerror(errno),
        None => e.to_string(),
    };
    format!("Could not execute {}: {}", path.display(), text)
}

fn exec_failed(path: &Path, e: &io::Error) -> HookOutcome {
    tracing::error!("{}", exec_failed_message(path, e));
    HookOutcome::ExecFailed
}

fn timed_out(path: &Path, timeout: Duration) -> HookOutcome {
    tracing::warn!(
        "{} still running after {} s: killed",
        path.display(),
        timeout.as_secs_f32()
    );
    HookOutcome::TimedOut
}

/// SIGKILL the script's process group (it is the group leader), so that
/// what it started dies with it.
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    if pid > 0 {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn outcome(path: &Path, status: ExitStatus) -> HookOutcome {
    if let Some(code) = status.code() {
        tracing::debug!("{} exited with code {code}", path.display());
        HookOutcome::Exited(code)
    } else {
        let sig = status.signal().unwrap_or(0);
        tracing::debug!("{} killed by signal {sig}", path.display());
        HookOutcome::Signaled(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failure_reads_like_privproc() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            exec_failed_message(Path::new("/etc/miredo/client-hook"), &e),
            "Could not execute /etc/miredo/client-hook: No such file or directory"
        );
    }
}
