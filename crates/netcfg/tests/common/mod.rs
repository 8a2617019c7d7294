//! Shared helpers of netcfg's integration tests. Every test runs in a
//! fresh network namespace; as a non-root user the namespace cannot be
//! created and the test fails (it never skips).

#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::process::Command;

/// Run an async test body in a new network namespace.
pub fn netns<F, Fut>(f: F) -> Fut::Output
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future,
    Fut::Output: Send + 'static,
{
    netcfg::netns::block_on_in_new_netns(f)
        .expect("cannot create a network namespace: these tests must run as root")
}

/// Run `ip ARGS` in the current thread's namespace and return stdout.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The non-empty lines of `ip` output, trimmed.
pub fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}
