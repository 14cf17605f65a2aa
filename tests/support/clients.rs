//! The real OCI clients, podman (through conmon) and containerd (through
//! containerd-shim-runc-v2), driving the runtime under test: cella by
//! default, or any runc-compatible binary named by `CELLA_OCI_RUNTIME`
//! (`CELLA_OCI_RUNTIME=/usr/sbin/runc` validates this harness against runc).
//!
//! Everything the clients keep lives in a scratch directory per test under
//! /tmp (podman's store, containerd's root, state and socket, the runtime
//! root the shim passes with `--root`), removed when the wrapper is dropped.
//! Every external command runs under `timeout`, so a hang fails the test.
//! [`assert_no_leftovers`] checks from outside, after a container is gone,
//! that no cgroup, mount, runtime state directory or process mentions it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Time limit of one client command (podman, ctr, script).
pub const LIMIT: Duration = Duration::from_secs(60);

/// The busybox image podman imports from the tests' rootfs.
pub const IMAGE: &str = "localhost/bb";

// ---------------------------------------------------------------------------
// The runtime under test.

/// The runtime binary, its name for podman and the state directory it uses
/// when no `--root` is given (podman passes none).
#[derive(Clone, Debug)]
pub struct Runtime {
    pub path: PathBuf,
    /// Its key in containers.conf `[engine.runtimes]`: the file name.
    pub name: String,
    /// The runtime's default state root: `/run/runc`, `/run/crun`, `/run/cella`;
    /// `CELLA_OCI_STATE_ROOT` overrides it (a wrapper script, say).
    pub default_root: PathBuf,
}

/// `CELLA_OCI_RUNTIME` if set, else the cella binary cargo built for these tests.
pub fn runtime_under_test() -> Runtime {
    let path = match std::env::var_os("CELLA_OCI_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(super::cella_bin()),
    };
    assert!(
        path.is_absolute() && path.is_file(),
        "CELLA_OCI_RUNTIME must name an existing binary by its absolute path, not {}",
        path.display()
    );
    let name: String = path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let default_root = match std::env::var_os("CELLA_OCI_STATE_ROOT") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => match name.as_str() {
            "runc" => PathBuf::from("/run/runc"),
            "crun" => PathBuf::from("/run/crun"),
            _ => PathBuf::from("/run/cella"),
        },
    };
    Runtime {
        path,
        name,
        default_root,
    }
}

/// Where `name` is: searched in PATH and the usual bin dirs, or taken as is
/// when absolute.
pub fn which(name: &str) -> Option<PathBuf> {
    if name.starts_with('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The harness's own tools (every Debian has them): missing is a failure.
fn require_tools(tools: &[&str]) {
    for t in tools {
        assert!(
            which(t).is_some(),
            "`{t}` is not installed (the harness needs it)"
        );
    }
}

/// `None` after printing a `SKIP:` line if any of the client `tools` is missing.
pub fn tools_or_skip(test: &str, tools: &[&str]) -> Option<()> {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| which(t).is_none())
        .collect();
    if missing.is_empty() {
        Some(())
    } else {
        println!(
            "SKIP: {test}: {} not installed (Debian: apt-get install podman conmon containerd uidmap; .ci/run does)",
            missing.join(", ")
        );
        None
    }
}

// ---------------------------------------------------------------------------
// Running external commands with a deadline.

/// What a finished command left: exit code, stdout, stderr.
#[derive(Debug)]
pub struct Out {
    pub what: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Assert exit status 0 and return stdout.
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "{self}");
        self.stdout
    }
    /// stdout with a terminal's `\r` removed, and the `^@` the terminal
    /// echoes for a NUL byte reaching its input (seen with podman and ctr).
    pub fn tty_text(&self) -> String {
        self.stdout.replace(['\r', '\0'], "").replace("^@", "")
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

fn scratch_base() -> PathBuf {
    let dir = PathBuf::from(format!("/tmp/cella-clients-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn counter() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A command started in the background, under `timeout`, its stdout and
/// stderr going to files (no pipe a daemonised grandchild could hold open).
/// Dropped unwaited, it is killed.
pub struct Bg {
    child: Option<Child>,
    what: String,
    out: PathBuf,
    err: PathBuf,
    limit: Duration,
    started: Instant,
}

impl Bg {
    pub fn spawn(argv: &[&str], env: &[(&str, &str)], limit: Duration) -> Bg {
        let n = counter();
        let base = scratch_base();
        let out = base.join(format!("cmd-{n}.out"));
        let err = base.join(format!("cmd-{n}.err"));
        let secs = limit.as_secs().max(1).to_string();
        let mut cmd = Command::new("timeout");
        // In the scratch base: conmon drops files (an `oom` marker) in its
        // working directory, which must not be the source tree.
        cmd.args(["--kill-after=10", &secs])
            .args(argv)
            .current_dir(&base)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `timeout` for {argv:?}: {e}"));
        Bg {
            child: Some(child),
            what: argv.join(" "),
            out,
            err,
            limit,
            started: Instant::now(),
        }
    }

    /// What it has written to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.out).unwrap_or_default()).into_owned()
    }

    /// Wait until its stdout contains `text`; fail after `limit`.
    pub fn wait_stdout(&self, text: &str, limit: Duration) {
        let start = Instant::now();
        while !self.stdout_so_far().contains(text) {
            if start.elapsed() > limit {
                panic!(
                    "`{}` did not print {text:?} within {limit:?}; stdout so far:\n{}\nstderr:\n{}",
                    self.what,
                    self.stdout_so_far(),
                    String::from_utf8_lossy(&fs::read(&self.err).unwrap_or_default())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    pub fn wait(mut self) -> Out {
        let mut child = self.child.take().unwrap();
        // `timeout` ends it at `limit` (+10 s for SIGKILL); this is the backstop.
        let backstop = self.limit + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if self.started.elapsed() > backstop {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{}` still running after {backstop:?}", self.what);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = self.started.elapsed();
        let stdout = String::from_utf8_lossy(&fs::read(&self.out).unwrap()).into_owned();
        let stderr = String::from_utf8_lossy(&fs::read(&self.err).unwrap()).into_owned();
        let _ = fs::remove_file(&self.out);
        let _ = fs::remove_file(&self.err);
        let code = status
            .code()
            .unwrap_or_else(|| panic!("`timeout {}` killed by {status:?}", self.what));
        let out = Out {
            what: self.what.clone(),
            code,
            stdout,
            stderr,
        };
        assert!(
            !(elapsed >= self.limit && (code == 124 || code == 137)),
            "TIMED OUT after {:?}: {out}",
            self.limit
        );
        out
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `timeout` forwards SIGTERM to the command, then SIGKILLs it.
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
                rustix::process::Signal::TERM,
            );
            let start = Instant::now();
            while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(15) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = fs::remove_file(&self.out);
            let _ = fs::remove_file(&self.err);
        }
    }
}

/// Run `argv` to completion under `timeout`, stdin /dev/null.
pub fn run(argv: &[&str], env: &[(&str, &str)], limit: Duration) -> Out {
    Bg::spawn(argv, env, limit).wait()
}

/// Quote for `sh -c`.
pub fn shell_quote(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
            {
                a.to_string()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `argv` on a new pseudo-terminal (`script -qec ... /dev/null`), as an
/// interactive user would; stdout is what the terminal showed. The exit
/// status is the command's (script -e).
pub fn run_on_tty(argv: &[&str], env: &[(&str, &str)]) -> Out {
    let line = shell_quote(argv);
    let mut out = run(&["script", "-qec", &line, "/dev/null"], env, LIMIT);
    out.what = format!("script -qec {line:?} /dev/null");
    out
}

// ---------------------------------------------------------------------------
// The busybox root file system.

/// A fresh busybox rootfs: the shared builder when its probe example is built
/// (`cargo test` builds it), else the same tree without the probe (a
/// `cargo test --test oci_clients` does not build examples; these tests
/// do not use the probe).
pub fn busybox_rootfs(tag: &str) -> PathBuf {
    if super::probe_bin().exists() {
        return super::rootfs(tag);
    }
    assert!(
        Path::new(super::BUSYBOX).exists(),
        "{} is missing: install Debian's busybox-static (.ci/run does)",
        super::BUSYBOX
    );
    let root = scratch_base().join(format!("rootfs-{tag}"));
    if root.exists() {
        fs::remove_dir_all(&root).unwrap();
    }
    for dir in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::copy(super::BUSYBOX, root.join("bin/busybox")).unwrap();
    let list = Command::new(super::BUSYBOX).arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    root
}

// ---------------------------------------------------------------------------
// Looking at the host from outside.

/// Host cgroup of `pid` for a v1 `controller` (or the v2 path when the
/// host has no such v1 hierarchy), as a directory under /sys/fs/cgroup.
pub fn cgroup_dir(pid: u32, controller: &str) -> PathBuf {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/cgroup: {e}"));
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        if ctrls.split(',').any(|c| c == controller) {
            let base = Path::new("/sys/fs/cgroup").join(controller);
            return base.join(path.trim_start_matches('/'));
        }
    }
    let v2 = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("pid {pid}: no {controller} cgroup in {text}"));
    let root = if super::cgroup_v2() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        PathBuf::from("/sys/fs/cgroup/unified")
    };
    root.join(v2.trim_start_matches('/'))
}

/// Whether the cgroup freezer holds `pid` frozen.
pub fn frozen(pid: u32) -> bool {
    let dir = cgroup_dir(pid, "freezer");
    if let Ok(state) = fs::read_to_string(dir.join("freezer.state")) {
        return state.trim() == "FROZEN";
    }
    fs::read_to_string(dir.join("cgroup.freeze"))
        .unwrap_or_else(|e| panic!("{}: no freezer.state or cgroup.freeze: {e}", dir.display()))
        .trim()
        == "1"
}

/// `/proc/PID/cmdline` with NULs as spaces ("" for a kernel thread or a gone pid).
pub fn cmdline(pid: u32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .replace('\0', " ")
        .trim_end()
        .to_string()
}

/// Cgroup directories (any hierarchy, 6 levels deep) whose name contains `needle`.
fn cgroups_named(needle: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: u32, needle: &str, found: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let p = e.path();
            if e.file_name().to_string_lossy().contains(needle) {
                found.push(p.clone());
            }
            if depth > 0 {
                walk(&p, depth - 1, needle, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), 6, needle, &mut found);
    found
}

/// What a gone container must not have left behind.
pub struct Leftovers<'a> {
    /// Container ids and names: no cgroup directory, mount, process
    /// (command line or cgroup) and state directory may mention them.
    pub ids: &'a [&'a str],
    /// Runtime state roots: `ROOT/<id>` must not exist for any id.
    pub state_roots: &'a [&'a Path],
    /// Directories under which no mount may remain (the clients' scratch dirs).
    pub mount_prefixes: &'a [&'a Path],
    /// Mount points under those that are the client's own, not a
    /// container's (podman's storage binds its overlay home on itself and
    /// may keep it after the last container).
    pub client_mounts: &'a [&'a Path],
}

/// Everything found that mentions one of the ids; empty when clean.
pub fn leftovers(l: &Leftovers<'_>) -> Vec<String> {
    let mut found = Vec::new();
    let me = std::process::id();
    for id in l.ids {
        assert!(id.len() >= 8, "id {id:?} too short for a host-wide search");
        for cg in cgroups_named(id) {
            found.push(format!("cgroup {}", cg.display()));
        }
        for root in l.state_roots {
            let p = root.join(id);
            if p.exists() {
                found.push(format!("runtime state {}", p.display()));
            }
        }
    }
    for line in fs::read_to_string("/proc/self/mountinfo").unwrap().lines() {
        let point = line.split(' ').nth(4).unwrap_or("");
        if l.client_mounts.iter().any(|m| Path::new(point) == *m) {
            continue;
        }
        let by_id = l.ids.iter().any(|id| line.contains(id));
        let by_dir = l
            .mount_prefixes
            .iter()
            .any(|d| line.contains(&format!(" {}/", d.display())));
        if by_id || by_dir {
            found.push(format!("mount {line}"));
        }
    }
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmd = cmdline(pid);
        let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        for id in l.ids {
            if cmd.contains(id) {
                found.push(format!("process {pid} `{cmd}`"));
            } else if cg.contains(id) {
                found.push(format!(
                    "process {pid} `{cmd}` in cgroup {}",
                    cg.lines().next().unwrap_or("")
                ));
            }
        }
    }
    found
}

/// Assert [`leftovers`] is empty. The clients finish asynchronously (the
/// shim and conmon exit after the delete; conmon's exit command, `podman
/// container cleanup`, may still run), so allow them 30 s.
pub fn assert_no_leftovers(l: &Leftovers<'_>) {
    let start = Instant::now();
    loop {
        let found = leftovers(l);
        if found.is_empty() {
            return;
        }
        if start.elapsed() > Duration::from_secs(30) {
            panic!(
                "container {:?} left behind (30 s after it was removed):\n  {}",
                l.ids,
                found.join("\n  ")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Remove a scratch dir, unless something is still mounted under it (then
/// say so and keep it: removing through a mount could reach outside).
fn remove_scratch(dir: &Path) {
    let prefix = format!(" {}/", dir.display());
    let mounted: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&prefix))
        .map(str::to_owned)
        .collect();
    if mounted.is_empty() {
        let _ = fs::remove_dir_all(dir);
        // The per-process base, once its last scratch dir is gone.
        let _ = fs::remove_dir(dir.parent().unwrap());
    } else {
        eprintln!(
            "keeping {}: still mounted under it:\n{}",
            dir.display(),
            mounted.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// podman.

/// A private podman: its own containers.conf, storage.conf, root, runroot and
/// tmpdir under a scratch dir, the runtime under test as the default runtime,
/// the busybox image imported as `localhost/bb`.
pub struct Podman {
    pub dir: PathBuf,
    pub rt: Runtime,
    pub driver: &'static str,
    conf: String,
    storage_conf: String,
}

impl Podman {
    /// `None` (with a SKIP line) when podman or conmon is not installed.
    pub fn new(tag: &str) -> Option<Podman> {
        tools_or_skip(tag, &["podman", "conmon"])?;
        require_tools(&["script", "timeout", "tar"]);
        let rt = runtime_under_test();
        let dir = scratch_base().join(format!("podman-{tag}"));
        if dir.exists() {
            remove_scratch(&dir);
        }
        fs::create_dir_all(&dir).unwrap();
        // overlay when the kernel has it (root needs no fuse-overlayfs), else vfs.
        let driver = if fs::read_to_string("/proc/filesystems")
            .unwrap()
            .lines()
            .any(|l| l.split_whitespace().last() == Some("overlay"))
        {
            "overlay"
        } else {
            "vfs"
        };
        let conmon = which("conmon").unwrap();
        let conf = dir.join("containers.conf");
        // default_ulimits: this VM lacks CAP_SYS_RESOURCE and its hard
        //   RLIMIT_NOFILE is 20000, so podman's defaults (nofile 1048576,
        //   nproc = podman's own) make every runtime's setrlimit fail.
        // netns none: no network backend (netavark, CNI) is needed.
        // runtime_supports_json: podman then passes --log-format=json --log,
        //   as it does for runc and crun.
        // lock_type file: the locks live in tmpdir, not in the host-wide
        //   /dev/shm/libpod_lock.
        fs::write(
            &conf,
            format!(
                r#"[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
log_driver = "k8s-file"

[engine]
runtime = "{name}"
runtime_supports_json = ["{name}", "cella", "runc", "crun"]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
conmon_path = ["{conmon}"]

[engine.runtimes]
{name} = ["{path}"]
"#,
                name = rt.name,
                conmon = conmon.display(),
                path = rt.path.display()
            ),
        )
        .unwrap();
        let storage = dir.join("storage.conf");
        fs::write(
            &storage,
            format!(
                "[storage]\ndriver = \"{driver}\"\nrunroot = \"{d}/runroot\"\ngraphroot = \"{d}/root\"\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let p = Podman {
            conf: conf.to_str().unwrap().to_owned(),
            storage_conf: storage.to_str().unwrap().to_owned(),
            dir,
            rt,
            driver,
        };
        // The image: the tests' busybox rootfs as one layer.
        let root = busybox_rootfs(&format!("podman-{tag}"));
        let tar = p.dir.join("bb.tar");
        run(
            &[
                "tar",
                "-C",
                root.to_str().unwrap(),
                "-cf",
                tar.to_str().unwrap(),
                ".",
            ],
            &[],
            LIMIT,
        )
        .ok();
        p.ok(&["import", "-q", tar.to_str().unwrap(), IMAGE]);
        let _ = fs::remove_dir_all(&root);
        let _ = fs::remove_file(&tar);
        // Podman must really use the runtime under test.
        let info = p.ok(&[
            "info",
            "--format",
            "{{.Host.OCIRuntime.Path}} {{.Store.GraphDriverName}}",
        ]);
        assert_eq!(
            info.trim(),
            format!("{} {driver}", p.rt.path.display()),
            "podman does not use the runtime and storage driver configured in {}",
            p.conf
        );
        Some(p)
    }

    fn env(&self) -> [(&str, &str); 2] {
        [
            ("CONTAINERS_CONF", self.conf.as_str()),
            ("CONTAINERS_STORAGE_CONF", self.storage_conf.as_str()),
        ]
    }

    /// The full podman command line for `args`.
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let d = self.dir.display();
        let mut v: Vec<String> = vec![
            "podman".into(),
            "--root".into(),
            format!("{d}/root"),
            "--runroot".into(),
            format!("{d}/runroot"),
            "--tmpdir".into(),
            format!("{d}/tmp"),
            "--storage-driver".into(),
            self.driver.into(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    pub fn run(&self, args: &[&str]) -> Out {
        let argv = self.argv(args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        run(&argv, &self.env(), LIMIT)
    }

    /// [`Podman::run`], asserting exit status 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.run(args).ok()
    }

    pub fn spawn(&self, args: &[&str]) -> Bg {
        let argv = self.argv(args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        Bg::spawn(&argv, &self.env(), LIMIT)
    }

    /// `podman ARGS` on a pseudo-terminal (for -it).
    pub fn on_tty(&self, args: &[&str]) -> Out {
        let argv = self.argv(args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        run_on_tty(&argv, &self.env())
    }

    /// A path for `--cidfile` (must not exist yet).
    pub fn cidfile(&self, tag: &str) -> String {
        let p = self.dir.join(format!("{tag}.cid"));
        let _ = fs::remove_file(&p);
        p.to_str().unwrap().to_owned()
    }

    /// `podman inspect -f FORMAT NAME`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).trim().to_owned()
    }

    /// The container's full id.
    pub fn id_of(&self, name: &str) -> String {
        let id = self.inspect(name, "{{.Id}}");
        assert_eq!(id.len(), 64, "podman id of {name}: {id:?}");
        id
    }

    /// Poll `podman inspect` until `format` gives `want`.
    pub fn wait_inspect(&self, name: &str, format: &str, want: &str) {
        let start = Instant::now();
        loop {
            let got = self.inspect(name, format);
            if got == want {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{name}: {format} is {got:?}, not {want:?} after 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Assert the store holds no container and nothing is left of `ids`
    /// (container ids and names) on the host.
    pub fn assert_gone(&self, ids: &[&str]) {
        let left = self.ok(&["ps", "-a", "-q", "--no-trunc"]);
        assert!(
            left.trim().is_empty(),
            "podman still lists containers: {left}"
        );
        let root = self.rt.default_root.clone();
        let overlay_home = self.dir.join("root/overlay");
        assert_no_leftovers(&Leftovers {
            ids,
            state_roots: &[&root],
            mount_prefixes: &[&self.dir],
            client_mounts: &[&overlay_home],
        });
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // After a failed test: remove whatever is left, with the same runtime.
        let _ = self.run(&["rm", "--all", "--force", "--time", "0"]);
        // A podman that failed half-way can leave its storage mounts (the
        // overlay home bound on itself, a container's merged dir): they are
        // all under the scratch dir, so detach them, deepest first.
        let prefix = format!("{}/", self.dir.display());
        let mut points: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        points.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in points {
            let _ = rustix::mount::unmount(m.as_str(), rustix::mount::UnmountFlags::DETACH);
        }
        remove_scratch(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// containerd.

/// A private containerd: config, root, state and socket under a scratch dir,
/// the CRI plugin off; `ctr run --rootfs` needs no image. The runtime under
/// test reaches containerd-shim-runc-v2 through `ctr run --runc-binary`, with
/// `--runc-root` in the scratch dir (the shim appends the namespace:
/// `<runc-root>/default`).
pub struct Containerd {
    pub dir: PathBuf,
    pub sock: String,
    pub rt: Runtime,
    pub runc_root: PathBuf,
    pub fifo_dir: PathBuf,
    daemon: Option<Child>,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Containerd {
    /// `None` (with a SKIP line) when containerd, ctr or the shim is not installed.
    pub fn start(tag: &str) -> Option<Containerd> {
        tools_or_skip(tag, &["containerd", "ctr", "containerd-shim-runc-v2"])?;
        require_tools(&["script", "timeout"]);
        let rt = runtime_under_test();
        let dir = scratch_base().join(format!("ctrd-{tag}"));
        if dir.exists() {
            remove_scratch(&dir);
        }
        fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let sock = format!("{d}/containerd.sock");
        let conf = dir.join("config.toml");
        // The opt plugin would create /opt/containerd; keep it in scratch too.
        fs::write(
            &conf,
            format!(
                r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
            ),
        )
        .unwrap();
        let log = fs::File::create(dir.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .args(["--config", conf.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let mut c = Containerd {
            runc_root: dir.join("runc-root"),
            fifo_dir: dir.join("fifo"),
            sock,
            dir,
            rt,
            daemon: Some(daemon),
            ids: Default::default(),
        };
        let start = Instant::now();
        loop {
            if let Some(status) = c.daemon.as_mut().unwrap().try_wait().unwrap() {
                c.daemon = None;
                panic!("containerd exited ({status}):\n{}", c.log());
            }
            if Path::new(&c.sock).exists() && c.ctr(&["version"]).code == 0 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "containerd did not answer on {} within 30 s:\n{}",
                c.sock,
                c.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(c)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// A fresh busybox rootfs in the scratch dir (removed with it).
    pub fn rootfs(&self, tag: &str) -> PathBuf {
        let built = busybox_rootfs(&format!("ctrd-{tag}"));
        let dest = self.dir.join(format!("rootfs-{tag}"));
        match fs::rename(&built, &dest) {
            Ok(()) => dest,
            Err(_) => built, // another file system: use it where it is
        }
    }

    /// A container id unique on the host (test tag and our pid).
    pub fn id(&self, tag: &str) -> String {
        let id = format!("cella-ct-{tag}-{}", std::process::id());
        self.ids.borrow_mut().push(id.clone());
        id
    }

    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec!["ctr".into(), "--address".into(), self.sock.clone()];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    pub fn ctr(&self, args: &[&str]) -> Out {
        let argv = self.argv(args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        run(&argv, &[], LIMIT)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.ctr(args).ok()
    }

    /// `ctr run FLAGS --rootfs --runc-binary RT --runc-root R ROOTFS ID CMD...` arguments.
    pub fn run_args(&self, flags: &[&str], rootfs: &Path, id: &str, cmd: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec!["run".into()];
        v.extend(flags.iter().map(|s| s.to_string()));
        v.extend([
            "--fifo-dir".into(),
            self.fifo_dir.to_str().unwrap().into(),
            "--rootfs".into(),
            "--runc-binary".into(),
            self.rt.path.to_str().unwrap().into(),
            "--runc-root".into(),
            self.runc_root.to_str().unwrap().into(),
            rootfs.to_str().unwrap().into(),
            id.into(),
        ]);
        v.extend(cmd.iter().map(|s| s.to_string()));
        v
    }

    /// `ctr run` to completion.
    pub fn run(&self, flags: &[&str], rootfs: &Path, id: &str, cmd: &[&str]) -> Out {
        let args = self.run_args(flags, rootfs, id, cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ctr(&args)
    }

    /// `ctr run` in the background (foreground mode: it exits with the task).
    pub fn spawn_run(&self, flags: &[&str], rootfs: &Path, id: &str, cmd: &[&str]) -> Bg {
        let args = self.run_args(flags, rootfs, id, cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let argv = self.argv(&args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        Bg::spawn(&argv, &[], LIMIT)
    }

    /// `ctr run` on a pseudo-terminal (for -t).
    pub fn run_on_tty(&self, flags: &[&str], rootfs: &Path, id: &str, cmd: &[&str]) -> Out {
        let args = self.run_args(flags, rootfs, id, cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let argv = self.argv(&args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        run_on_tty(&argv, &[])
    }

    /// `ctr ARGS` on a pseudo-terminal (task exec -t).
    pub fn on_tty(&self, args: &[&str]) -> Out {
        let argv = self.argv(args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        run_on_tty(&argv, &[])
    }

    /// `(pid, status)` of the task from `ctr task ls`, None if there is none.
    pub fn task(&self, id: &str) -> Option<(u32, String)> {
        let ls = self.ok(&["task", "ls"]);
        ls.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0] == id).then(|| (f[1].parse().unwrap(), f[2].to_owned()))
        })
    }

    pub fn wait_status(&self, id: &str, want: &str) {
        let start = Instant::now();
        loop {
            let got = self.task(id).map(|t| t.1);
            if got.as_deref() == Some(want) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "task {id}: status {got:?}, not {want} after 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The host pids `ctr task ps` lists (the runtime's `ps --format json`).
    pub fn task_pids(&self, id: &str) -> Vec<u32> {
        self.ok(&["task", "ps", id])
            .lines()
            .skip(1)
            .map(|l| {
                l.split_whitespace()
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap_or_else(|e| panic!("ctr task ps line {l:?}: {e}"))
            })
            .collect()
    }

    /// The runtime's state dirs for a container id: `<runc-root>/default/<id>`
    /// and containerd's task dir.
    pub fn state_roots(&self) -> [PathBuf; 2] {
        [
            self.runc_root.join("default"),
            self.dir.join("state/io.containerd.runtime.v2.task/default"),
        ]
    }

    /// Assert containerd knows no task or container `id`, and nothing of it
    /// is left on the host.
    pub fn assert_gone(&self, id: &str) {
        assert!(self.task(id).is_none(), "ctr task ls still lists {id}");
        let cs = self.ok(&["container", "ls", "-q"]);
        assert!(
            !cs.lines().any(|l| l.trim() == id),
            "ctr container ls still lists {id}"
        );
        let [a, b] = self.state_roots();
        assert_no_leftovers(&Leftovers {
            ids: &[id],
            state_roots: &[&a, &b],
            mount_prefixes: &[&self.dir],
            client_mounts: &[],
        });
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            // After a failed test: take down what it left, then containerd.
            for id in self.ids.borrow().iter() {
                if self.task(id).is_some() {
                    let _ = self.ctr(&["task", "kill", "--all", "--signal", "SIGKILL", id]);
                    std::thread::sleep(Duration::from_millis(300));
                    let _ = self.ctr(&["task", "delete", "--force", id]);
                }
                let _ = self.ctr(&["container", "delete", id]);
            }
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(daemon.id() as i32).unwrap(),
                rustix::process::Signal::TERM,
            );
            let start = Instant::now();
            while daemon.try_wait().unwrap().is_none() {
                if start.elapsed() > Duration::from_secs(10) {
                    let _ = daemon.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = daemon.wait();
        }
        remove_scratch(&self.dir);
    }
}
