//! The client hook (miredo's `/etc/miredo/client-hook`, docs/compat.md "Client hook").
//!
//! - [`HookEvent`] is one hook invocation: exactly the variables privproc
//!   sets ([`HookEvent::env`]);
//! - [`HookTracker`] turns the client's up/down transitions into the
//!   sequence of events miredo produces, stale values included;
//! - [`ScriptHook`] runs an executable with that environment and nothing
//!   else; [`run_script`] is the same for the forked privileged helper;
//! - [`BuiltinHook`] does with netlink what Debian's iproute2 hook does,
//!   for systems without the script;
//! - [`Hook`] picks one of the two at each call, by whether the script exists;
//! - [`request`] is what the daemon may ask of the root hook runner: one
//!   event in typed fields, checked before anything runs.

mod builtin;
pub mod request;
mod script;
mod tracker;

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

pub use builtin::BuiltinHook;
pub use script::{run_script, run_script_with_timeout, ScriptHook, DEFAULT_TIMEOUT};
pub use tracker::HookTracker;

/// miredo's compiled-in hook path.
pub const DEFAULT_HOOK_PATH: &str = "/etc/miredo/client-hook";

/// `STATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookState {
    Up,
    Down,
    Destroy,
}

impl HookState {
    pub fn as_str(self) -> &'static str {
        match self {
            HookState::Up => "up",
            HookState::Down => "down",
            HookState::Destroy => "destroy",
        }
    }
}

/// `OLD_STATE` (never `destroy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OldState {
    Up,
    Down,
}

impl OldState {
    pub fn as_str(self) -> &'static str {
        match self {
            OldState::Up => "up",
            OldState::Down => "down",
        }
    }
}

/// What an `up` carries: the Teredo address, the link-local address and the MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HookParams {
    pub address: Ipv6Addr,
    pub lladdress: Ipv6Addr,
    pub mtu: u32,
}

impl HookParams {
    /// The link-local address every 1.2.6 client uses (no cone flag).
    pub const LLADDRESS: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xffff, 0xffff, 0xffff);

    /// `address` with the usual link-local address.
    pub fn new(address: Ipv6Addr, mtu: u32) -> HookParams {
        HookParams {
            address,
            lladdress: HookParams::LLADDRESS,
            mtu,
        }
    }
}

/// One hook invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEvent {
    pub state: HookState,
    pub old_state: OldState,
    /// `IFACE`: the interface name, looked up from the index at call time.
    pub iface: String,
    pub ifindex: u32,
    /// `ADDRESS`, `LLADDRESS`, `MTU`: present exactly when `state` is up.
    pub current: Option<HookParams>,
    /// `OLD_ADDRESS`, `OLD_LLADDRESS`, `OLD_MTU`: the previous `up`'s
    /// values, when the previous invocation was up (stale in the final
    /// down/destroy pair, like miredo's).
    pub old: Option<HookParams>,
}

impl HookEvent {
    /// The complete environment of the hook, in privproc's variable
    /// names. Nothing else is passed (no PATH, no HOME).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("IFINDEX".to_string(), self.ifindex.to_string()),
            ("OLD_STATE".to_string(), self.old_state.as_str().to_string()),
            ("STATE".to_string(), self.state.as_str().to_string()),
        ];
        if let Some(p) = &self.current {
            env.push(("ADDRESS".to_string(), p.address.to_string()));
            env.push(("LLADDRESS".to_string(), p.lladdress.to_string()));
            env.push(("MTU".to_string(), p.mtu.to_string()));
        }
        if let Some(p) = &self.old {
            env.push(("OLD_ADDRESS".to_string(), p.address.to_string()));
            env.push(("OLD_LLADDRESS".to_string(), p.lladdress.to_string()));
            env.push(("OLD_MTU".to_string(), p.mtu.to_string()));
        }
        env.push(("IFACE".to_string(), self.iface.clone()));
        env
    }
}

/// How a hook call ended. miredo ignores it; we log it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookOutcome {
    /// The script exited with this code.
    Exited(i32),
    /// The script was killed by this signal (not by us).
    Signaled(i32),
    /// The script could not be started (logged as `Could not execute`).
    ExecFailed,
    /// The script outlived the timeout and was killed.
    TimedOut,
    /// The built-in configuration ran; `failures` steps failed (logged).
    Builtin { failures: usize },
}

impl HookOutcome {
    /// privproc's status word: the exit code, 1 when the exec failed (as
    /// miredo's child exits 1), -1 when killed.
    pub fn status(self) -> i32 {
        match self {
            HookOutcome::Exited(c) => c,
            HookOutcome::ExecFailed => 1,
            HookOutcome::Signaled(_) | HookOutcome::TimedOut => -1,
            HookOutcome::Builtin { failures } => i32::from(failures != 0),
        }
    }
}

/// The hook as the daemon uses it: the script at `path` when it exists at
/// the time of the call, otherwise the built-in equivalent.
#[derive(Debug, Clone)]
pub struct Hook {
    script: ScriptHook,
    builtin: BuiltinHook,
}

impl Hook {
    /// Script at `path` (with the default timeout), built-in fallback with
    /// Debian's defaults.
    pub fn new(path: impl Into<PathBuf>) -> Hook {
        Hook {
            script: ScriptHook::new(path),
            builtin: BuiltinHook::default(),
        }
    }

    /// Choose the script runner and the fallback.
    pub fn with_parts(script: ScriptHook, builtin: BuiltinHook) -> Hook {
        Hook { script, builtin }
    }

    /// The script path.
    pub fn path(&self) -> &Path {
        self.script.path()
    }

    /// Run the hook for `ev`: the script if it exists now, the built-in
    /// otherwise. Never fails; problems are logged.
    pub async fn run(&self, ev: &HookEvent) -> HookOutcome {
        // A dangling symlink or a non-executable file still counts as
        // "exists": the exec then fails and is logged, as with miredo.
        if std::fs::symlink_metadata(self.script.path()).is_ok() {
            self.script.run(ev).await
        } else {
            tracing::debug!(
                path = %self.script.path().display(),
                "no client hook script: using the built-in configuration"
            );
            self.builtin.run(ev).await
        }
    }
}
