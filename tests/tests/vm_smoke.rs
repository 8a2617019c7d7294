//! The Mobile IPv6 VM rig (`scripts/vm.sh`, docs/vm.md): the guest kernel has the MIPv6
//! datapath the host kernel lacks, the lab of `scripts/vm/guest-lib.sh` comes up in it,
//! and the rig's contract holds (the guest's output streams out, its exit status comes
//! back, a hung guest is killed at the time-out).
//!
//! Needs root and `scripts/deps.sh` (qemu-system-x86, busybox-static, radvd); fails,
//! never skips, without them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use e2e::{repo_root, require_root};

/// What one `scripts/vm.sh run` printed and returned.
struct VmRun {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl VmRun {
    fn transcript(&self) -> String {
        format!(
            "exit status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Boots the VM and runs `script` in it. vm.sh bounds the run itself (`VM_TIMEOUT`,
/// default 300 s) and kills its qemu when that passes.
fn vm_run(script: &Path, args: &[&str], timeout_s: u32) -> Result<VmRun> {
    require_root()?;
    let vm = repo_root().join("scripts/vm.sh");
    let started = Instant::now();
    let out = Command::new(&vm)
        .arg("run")
        .arg(script)
        .args(args)
        .env("VM_TIMEOUT", timeout_s.to_string())
        .current_dir(repo_root())
        .output()
        .with_context(|| format!("cannot run {}", vm.display()))?;
    let run = VmRun {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!(
        "vm.sh run {} took {:.1}s",
        script.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(run)
}

/// A guest script written for one test into a directory under /tmp, which the guest
/// sees through its read-only view of the host's /.
struct GuestScript {
    dir: PathBuf,
    path: PathBuf,
}

impl GuestScript {
    fn new(name: &str, body: &str) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("vm-smoke-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        let path = dir.join(format!("{name}.sh"));
        fs::write(&path, body).with_context(|| format!("write {}", path.display()))?;
        Ok(GuestScript { dir, path })
    }
}

impl Drop for GuestScript {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The guest kernel does what the host's cannot (RO XFRM states, ip6ip6, MH socket)
/// and the lab works: SLAAC from the access router on link A, MN -> CN across the
/// router, the guest library's process and kernel-state helpers, the home agent's RA
/// (H flag, router address, HA information), a move to link B with a new address and
/// working routing.
#[test]
fn vm_smoke_mip6_kernel_and_lab() -> Result<()> {
    let smoke = repo_root().join("scripts/vm/smoke.sh");
    let run = vm_run(&smoke, &[], 300)?;
    let transcript = run.transcript();
    ensure!(
        run.status == Some(0),
        "the VM smoke test failed (a status of 124 is vm.sh's time-out, 125 a guest that \
         did not boot or qemu failing):\n{transcript}"
    );
    for line in [
        "smoke: kernel 6.1.",
        "smoke: ok modules ip6_tunnel tunnel6 xfrm_user loaded",
        "smoke: ok xfrm route2 and hao states in mode ro",
        "smoke: ok ip6ip6 tunnel created",
        "smoke: ok raw socket for protocol 135 opened",
        "smoke: ok mn slaac on link A: 2001:db8:a:",
        "smoke: ok ping mn -> cn from link A",
        "smoke: ok background process: cn -> mn ping answered, stopped by SIGINT",
        "smoke: ok kernel state dump sees tunnel, rule and xfrm state, and is equal once they are gone",
        "smoke: home ra: prefix 2001:db8:1::2/64 L=1 A=1 R=1",
        "smoke: home ra: ha-info preference 10 lifetime 1800",
        "smoke: ok home agent RA with H flag, router address and HA info",
        "smoke: ok mn slaac on link B after the move: 2001:db8:b:",
        "smoke: ok ping mn -> cn from link B",
        "smoke: ok lab torn down",
        "smoke: all checks passed",
    ] {
        ensure!(
            run.stdout.lines().any(|l| l.starts_with(line)),
            "no line starting {line:?} in the smoke output:\n{transcript}"
        );
    }
    ensure!(
        run.stderr.contains("vm.sh: guest exited with status 0"),
        "vm.sh did not report the guest's status:\n{transcript}"
    );
    Ok(())
}

/// The guest script's stdout and stderr reach our stdout byte for byte (no CR added
/// by the serial line), its arguments and working directory arrive as given, and its
/// exit status is vm.sh's.
#[test]
fn vm_passes_output_args_and_exit_status() -> Result<()> {
    let script = GuestScript::new(
        "status",
        "#!/bin/bash\n\
         echo \"args: $# [$1] [$2]\"\n\
         echo \"cwd: $PWD\"\n\
         echo \"kernel: $(uname -r)\" >&2\n\
         test -w / && echo 'root: writable'\n\
         exit 3\n",
    )?;
    let run = vm_run(&script.path, &["one", "two words"], 120)?;
    let transcript = run.transcript();
    ensure!(
        run.status == Some(3),
        "expected the guest's exit status 3:\n{transcript}"
    );
    ensure!(
        run.stdout.contains("args: 2 [one] [two words]\n"),
        "arguments did not arrive intact:\n{transcript}"
    );
    let cwd = format!("cwd: {}\n", repo_root().display());
    ensure!(
        run.stdout.contains(&cwd),
        "the working directory is not the caller's ({cwd:?}):\n{transcript}"
    );
    ensure!(
        run.stdout.contains("kernel: 6.1."),
        "the guest did not run Debian 12's kernel:\n{transcript}"
    );
    ensure!(
        run.stdout.contains("root: writable\n"),
        "the guest's root is not writable (overlay):\n{transcript}"
    );
    ensure!(
        !run.stdout.contains('\r'),
        "the serial line added carriage returns:\n{transcript}"
    );
    Ok(())
}

/// A guest that never finishes is killed at VM_TIMEOUT with status 124 and a message
/// that says so.
#[test]
fn vm_kills_a_hung_guest_at_the_timeout() -> Result<()> {
    let script = GuestScript::new("hang", "#!/bin/bash\necho hanging\nexec sleep 100000\n")?;
    let started = Instant::now();
    let run = vm_run(&script.path, &[], 20)?;
    let transcript = run.transcript();
    ensure!(
        run.status == Some(124),
        "expected vm.sh's time-out status 124:\n{transcript}"
    );
    ensure!(
        run.stderr.contains("TIMEOUT") && run.stderr.contains("20s"),
        "the time-out message is missing:\n{transcript}"
    );
    ensure!(
        started.elapsed().as_secs() < 60,
        "vm.sh took {:?} to give up on a 20 s time-out",
        started.elapsed()
    );
    Ok(())
}
