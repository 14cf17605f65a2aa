//! Shared by the end-to-end tests: a real busybox root file system built
//! from Debian's busybox-static, the probe binary copied into it, a lock
//! that runs containers one at a time (tests compare host-wide state such
//! as the mount table and the cgroup tree), and helpers to run cella with a
//! time limit and to look at the host from outside.
#![allow(dead_code)]

use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub mod bundle;
pub mod clients;
pub mod guest;
pub mod tarball;
pub mod terminal;
pub mod users;

pub const BUSYBOX: &str = "/bin/busybox";

pub fn cella_bin() -> &'static str {
    env!("CARGO_BIN_EXE_cella")
}

pub fn probe_bin() -> PathBuf {
    Path::new(cella_bin())
        .parent()
        .unwrap()
        .join("examples/probe")
}

/// Serialise every test that starts a container or looks at host-wide state.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    require_root();
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// These tests need root (CI is root). Fail loudly rather than pass.
pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the end-to-end tests need root: run them as root (CI does)"
    );
}

/// This test process's scratch directory (`e2e-PID`). The first call
/// removes those of test processes that have ended: each holds root file
/// systems, and runs add up to gigabytes (a full disk fails everything).
fn scratch_dir() -> PathBuf {
    static SWEPT: OnceLock<()> = OnceLock::new();
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    SWEPT.get_or_init(|| {
        for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("e2e-"))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    let dir = base.join(format!("e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh busybox rootfs (each test may change its own).
pub fn rootfs(tag: &str) -> PathBuf {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install Debian's busybox-static (.ci/run does)"
    );
    let root = scratch_dir().join(tag);
    if root.exists() {
        std::fs::remove_dir_all(&root).unwrap();
    }
    for dir in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    for applet in applets() {
        if applet != "busybox" {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    std::fs::copy(probe_bin(), root.join("bin/probe")).expect("probe example built by cargo test");
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    root
}

fn applets() -> &'static [String] {
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        let out = Command::new(BUSYBOX).arg("--list").output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    })
}

/// Run cella with `args`, no stdin, killed if it takes longer than `limit`.
pub fn cella_timed(args: &[&str], limit: Duration) -> Output {
    spawn(args).output(limit)
}

pub fn cella(args: &[&str]) -> Output {
    cella_timed(args, Duration::from_secs(60))
}

/// Wait for `child` with a deadline; on timeout kill it and fail the test.
/// Its output is drained while it runs, so a child that writes more than a
/// pipe holds is not held up by the test itself.
pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    set_nonblocking(&child, true);
    let drain = |pipe: Option<&mut dyn Read>, into: &mut Vec<u8>| {
        if let Some(pipe) = pipe {
            let mut buf = [0u8; 64 << 10];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                into.extend_from_slice(&buf[..n]);
            }
        }
    };
    loop {
        drain(
            child.stdout.as_mut().map(|s| s as &mut dyn Read),
            &mut stdout,
        );
        drain(
            child.stderr.as_mut().map(|s| s as &mut dyn Read),
            &mut stderr,
        );
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            for pid in children(child.id()) {
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_raw(pid as i32).unwrap(),
                    rustix::process::Signal::KILL,
                );
            }
            std::thread::sleep(Duration::from_millis(200));
            let _ = child.kill();
            let _ = child.wait();
            panic!("cella did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // The rest to the end, as before: blocking again.
    set_nonblocking(&child, false);
    child.stdout.take().map(|mut s| s.read_to_end(&mut stdout));
    child.stderr.take().map(|mut s| s.read_to_end(&mut stderr));
    let status = child.wait().unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

fn set_nonblocking(child: &Child, on: bool) {
    use std::os::fd::AsFd;
    let flags = if on {
        rustix::fs::OFlags::NONBLOCK
    } else {
        rustix::fs::OFlags::empty()
    };
    let out = child.stdout.as_ref().map(|s| s.as_fd());
    let err = child.stderr.as_ref().map(|s| s.as_fd());
    for fd in [out, err].into_iter().flatten() {
        rustix::fs::fcntl_setfl(fd, flags).unwrap();
    }
}

/// A cella started in the background; killed (with its container) if the
/// test fails before waiting for it, so a failure leaves nothing running.
pub struct Running(Option<Child>);

impl Running {
    pub fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }
    pub fn wait(mut self) -> std::process::ExitStatus {
        let out = wait_output(self.0.take().unwrap(), Duration::from_secs(60));
        out.status
    }
    pub fn output(mut self, limit: Duration) -> Output {
        wait_output(self.0.take().unwrap(), limit)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            // Kill the container's PID 1 first so cella can still clean up.
            for pid in children(child.id()) {
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_raw(pid as i32).unwrap(),
                    rustix::process::Signal::KILL,
                );
            }
            let _ = wait_output(child, Duration::from_secs(10));
        }
    }
}

pub fn spawn(args: &[&str]) -> Running {
    spawn_command(Command::new(cella_bin()).args(args))
}

/// `cella ARGS` in the background with no pipes to it (stdio on
/// /dev/null): for a cella the test kills, whose survivors would hold
/// pipes open.
pub fn spawn_silent<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Child {
    Command::new(cella_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// [`spawn`] of a command made by the caller (its environment, say).
pub fn spawn_command(cmd: &mut Command) -> Running {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Running(Some(child))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status
        .code()
        .unwrap_or_else(|| panic!("cella was killed: {:?}", o.status))
}

/// Assert success and return stdout.
pub fn ok(o: Output) -> String {
    assert_eq!(
        code(&o),
        0,
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// The host's mount table, without the per-mount ids that change on reads.
pub fn host_mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

pub fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap()
}

/// `<cgroup root>/<controller>/cella` on v1, `<cgroup root>/cella` on v2.
pub fn cgroup_parent(controller: &str) -> PathBuf {
    if cgroup_v2() {
        PathBuf::from("/sys/fs/cgroup/cella")
    } else {
        Path::new("/sys/fs/cgroup").join(controller).join("cella")
    }
}

pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Every directory under any `cella/` cgroup parent (the parents stay once
/// made, as docker's `docker/` does), for before/after checks.
pub fn cella_cgroups() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let roots: Vec<PathBuf> = if cgroup_v2() {
        vec![PathBuf::from("/sys/fs/cgroup")]
    } else {
        std::fs::read_dir("/sys/fs/cgroup")
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    for root in roots {
        let parent = root.join("cella");
        if parent.exists() {
            for e in std::fs::read_dir(&parent).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    found.push(p);
                }
            }
        }
    }
    found.sort();
    found
}

/// No cgroup under `cella/` that was not in `before` (a run may sweep
/// leftovers of killed cellas, so fewer is fine), but those of containers
/// a live cella supervises: other containers may run on the machine
/// meanwhile, and every cella this test started has ended by now.
pub fn assert_no_new_cgroups(before: &[PathBuf]) {
    let new: Vec<PathBuf> = cella_cgroups()
        .into_iter()
        .filter(|c| !before.contains(c))
        .filter(|c| {
            let name = c.file_name().unwrap().to_string_lossy();
            !name.strip_prefix("ctr-").is_some_and(supervised)
        })
        .collect();
    assert!(new.is_empty(), "cgroups left behind: {new:?}");
}

/// Whether a live cella supervises container `name` of the default store
/// (holds its `owner` lock).
fn supervised(name: &str) -> bool {
    use rustix::fs::{FlockOperation, Mode, OFlags};
    let owner = Path::new("/run/cella").join(name).join("owner");
    rustix::fs::open(&owner, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .is_ok_and(|fd| rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared).is_err())
}

/// The cgroup directory of the container named `name` in `controller`.
pub fn container_cgroup(controller: &str, name: &str) -> PathBuf {
    cgroup_parent(controller).join(format!("ctr-{name}"))
}

/// Host pids whose executable is the cella binary under test.
pub fn cella_processes() -> Vec<u32> {
    let me = std::fs::canonicalize(cella_bin()).unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == me))
        .collect()
}

/// Wait until `path` exists (a container signalling readiness through a
/// bind-mounted or rootfs directory).
pub fn wait_for(path: &Path, limit: Duration) {
    wait_until(&path.display().to_string(), limit, || path.exists());
}

/// Wait until `done` says so, polling; fail the test after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The host pids of `pid`'s children.
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

pub fn kill(pid: u32, sig: rustix::process::Signal) {
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), sig)
        .unwrap();
}

/// `cella run --rootfs ROOT --name NAME -- sh -c 'touch /tmp/ready; SCRIPT'`
/// in the background, returned once the container has made `/tmp/ready`.
pub fn spawn_ready(root: &Path, name: &str, script: &str) -> Running {
    let ready = root.join("tmp/ready");
    let _ = std::fs::remove_file(&ready);
    let script = format!("touch /tmp/ready; {script}");
    let run = spawn(&[
        "run",
        "--rootfs",
        root.to_str().unwrap(),
        "--name",
        name,
        "--",
        "sh",
        "-c",
        &script,
    ]);
    wait_for(&ready, Duration::from_secs(20));
    run
}

/// `cella init --config CONFIG` as PID 1 of new PID, mount and UTS
/// namespaces (`unshare`), so it takes the path of a real machine's PID 1
/// (`reboot()` then ends the namespace).
pub fn init_command(config: &Path) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--fork",
        "--pid",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        cella_bin(),
    ])
    .args(["init", "--config", config.to_str().unwrap()])
    .stdin(Stdio::null());
    cmd
}

/// `cella run --rootfs ROOT EXTRA... -- CMD...` with the default time limit.
pub fn run_in(root: &Path, extra: &[&str], cmd: &[&str]) -> Output {
    let mut args = vec!["run", "--rootfs", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(cmd);
    cella(&args)
}

/// [`run_in`] with `sh -c SCRIPT`.
pub fn sh(root: &Path, extra: &[&str], script: &str) -> Output {
    run_in(root, extra, &["sh", "-c", script])
}
