//! OCI bundles for the end-to-end tests: a busybox rootfs plus a
//! config.json built from a template, and cella driven the way conmon and
//! containerd's shim drive it (`--root`, stdio to files), with a check that
//! a container left nothing on the host.
#![allow(dead_code)]

use super::*;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run cella as conmon does: stdout and stderr are files, not pipes we
/// wait on (a created container keeps create's stdio open).
pub fn runtime(args: &[&str]) -> Output {
    runtime_with(args, Stdio::null(), Duration::from_secs(60))
}

/// [`runtime`] with `stdin`, failing the test if it takes longer than `limit`.
pub fn runtime_with(args: &[&str], stdin: Stdio, limit: Duration) -> Output {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    // In the test process's scratch directory, which the next run sweeps.
    let dir = super::scratch_dir().join("oci-io");
    std::fs::create_dir_all(&dir).unwrap();
    let n = N.fetch_add(1, Ordering::Relaxed);
    let (out_path, err_path) = (dir.join(format!("{n}.out")), dir.join(format!("{n}.err")));
    let child = Command::new(cella_bin())
        .args(args)
        .stdin(stdin)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let done = wait_output(child, limit);
    let out = Output {
        status: done.status,
        stdout: std::fs::read(&out_path).unwrap(),
        stderr: std::fs::read(&err_path).unwrap(),
    };
    let _ = std::fs::remove_file(out_path);
    let _ = std::fs::remove_file(err_path);
    out
}

/// [`runtime`] on a thread of its own (while the test answers it, on a
/// console socket).
pub fn runtime_in_background(args: &[&str]) -> std::thread::JoinHandle<Output> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        runtime(&args)
    })
}

/// A bundle: a busybox rootfs and a config.json.
pub struct Bundle {
    pub dir: PathBuf,
    pub state: PathBuf,
    pub id: String,
}

#[derive(Default)]
pub struct Cfg<'a> {
    pub terminal: bool,
    /// Extra members of `linux`, e.g. `"resources": {...},`.
    pub linux: &'a str,
    /// Extra top-level members, e.g. `"hooks": {...},`.
    pub top: &'a str,
    /// Extra members of `process`.
    pub process: &'a str,
    pub readonly_root: bool,
}

pub fn quoted(args: &[&str]) -> String {
    args.iter()
        .map(|a| format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(",")
}

impl Bundle {
    /// A socket of this bundle's test (a console socket, a seccomp
    /// agent's), in the temporary directory rather than the bundle's: a
    /// socket's path holds 107 bytes, and a CI checkout can be deep.
    pub fn socket(&self, name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("{}-{name}", self.id));
        let _ = std::fs::remove_file(&path);
        path
    }

    pub fn new(tag: &str, args: &[&str], c: Cfg<'_>) -> Bundle {
        let root = rootfs(tag);
        let dir = root.parent().unwrap().join(format!("{tag}-bundle"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::rename(&root, dir.join("rootfs")).unwrap();
        let id = format!("cella-oci-{tag}-{}", std::process::id());
        let config = format!(
            r#"{{
  "ociVersion": "1.0.2",
  "process": {{ "terminal": {terminal}, "user": {{"uid": 0, "gid": 0}}, "args": [{args}],
    "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/", {process}
    "capabilities": {{"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL", "CAP_CHOWN"], "permitted": ["CAP_KILL", "CAP_CHOWN"]}},
    "noNewPrivileges": true }},
  "root": {{"path": "rootfs", "readonly": {ro}}},
  "hostname": "oci-{tag}",
  {top}
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}},
    {{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}},
    {{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}},
    {{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}}
  ],
  "linux": {{ {linux}
    "cgroupsPath": "/cella-oci-test/{id}",
    "namespaces": [{{"type": "pid"}}, {{"type": "network"}}, {{"type": "ipc"}}, {{"type": "uts"}}, {{"type": "mount"}}],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
    "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
  }}
}}"#,
            terminal = c.terminal,
            args = quoted(args),
            process = c.process,
            ro = c.readonly_root,
            top = c.top,
            linux = c.linux,
        );
        std::fs::write(dir.join("config.json"), config).unwrap();
        let state = dir.join("state");
        Bundle { dir, state, id }
    }

    /// Rewrite config.json through `f`.
    pub fn edit_config(&self, f: impl FnOnce(String) -> String) {
        let file = self.dir.join("config.json");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, f(text)).unwrap();
    }

    /// Remove the template's mounts whose destination starts with `prefix`
    /// (`/dev` drops /dev and /dev/pts; `/dev"` only /dev itself).
    pub fn drop_mounts(&self, prefix: &str) {
        let needle = format!("\"destination\": \"{prefix}");
        self.edit_config(|c| {
            c.lines()
                .filter(|l| !l.contains(&needle))
                .collect::<Vec<_>>()
                .join("\n")
        });
    }

    pub fn oci(&self, args: &[&str]) -> Output {
        let mut all = vec!["--root", self.state.to_str().unwrap()];
        all.extend_from_slice(args);
        runtime(&all)
    }

    pub fn create(&self, extra: &[&str]) -> Output {
        let mut args = vec!["create", "--bundle", self.dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(&self.id);
        self.oci(&args)
    }

    pub fn status(&self) -> String {
        let out = self.oci(&["state", &self.id]);
        let text = ok(out);
        let key = "\"status\":\"";
        let start = text.find(key).expect("status in state JSON") + key.len();
        text[start..].split('"').next().unwrap().to_owned()
    }

    pub fn wait_status(&self, want: &str) {
        let start = Instant::now();
        loop {
            let s = self.status();
            if s == want {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "status stayed {s}, wanted {want}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The container's pid, from its state.
    pub fn pid(&self) -> i32 {
        let state = self.oci(&["state", &self.id]);
        let text = String::from_utf8_lossy(&state.stdout);
        let pid = text.split("\"pid\":").nth(1).expect("a pid in the state");
        pid.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Nothing of the container is left on the host.
    pub fn assert_gone(&self) {
        assert!(
            !self.state.join(&self.id).exists(),
            "state directory left behind"
        );
        for cg in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let leaf = cg.path().join("cella-oci-test").join(&self.id);
            assert!(!leaf.exists(), "cgroup {} left behind", leaf.display());
        }
        let mounts = host_mounts();
        assert!(
            !mounts.contains(self.rootfs().to_str().unwrap()),
            "a mount of the rootfs is left on the host"
        );
        let leftover: Vec<u32> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/cgroup"))
                    .is_ok_and(|c| c.contains(&self.id))
            })
            // A killed process its reaper has not reaped yet still names
            // its cgroup v2 directory (a hybrid host's too); it is gone.
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .is_ok_and(|s| s.rsplit(") ").next().is_some_and(|r| !r.starts_with('Z')))
            })
            .collect();
        assert!(
            leftover.is_empty(),
            "processes left in the container's cgroup: {leftover:?}"
        );
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = self.oci(&["delete", "--force", &self.id]);
        let sockets = self.socket("");
        for entry in std::fs::read_dir(std::env::temp_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry
                .path()
                .to_string_lossy()
                .starts_with(&*sockets.to_string_lossy())
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        // `delete` removes the container's own cgroup, not the parent its
        // cgroupsPath names (as runc): the tests' shared parent goes when
        // empty.
        if let Ok(dir) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in dir.flatten() {
                let _ = std::fs::remove_dir(h.path().join("cella-oci-test"));
            }
        }
    }
}

/// Exit 125 and exactly one line on stderr containing `expected`.
pub fn refused(o: &Output, what: &str, expected: &str) {
    let err = stderr(o);
    assert_eq!(
        code(o),
        125,
        "{what}: expected a refusal\nstdout: {}\nstderr: {err}",
        stdout(o)
    );
    assert!(
        err.contains(expected),
        "{what}: stderr should contain {expected:?}: {err:?}"
    );
    assert_eq!(
        err.lines().count(),
        1,
        "{what}: one line on stderr: {err:?}"
    );
}

/// Receive one fd over a unix socket (what conmon and the shim do).
pub fn receive_fd(listener: &std::os::unix::net::UnixListener) -> rustix::fd::OwnedFd {
    receive_message(listener).1
}

/// Accept one connection and receive one message: its data and the fd it
/// carried (what a seccomp agent does).
pub fn receive_message(
    listener: &std::os::unix::net::UnixListener,
) -> (Vec<u8>, rustix::fd::OwnedFd) {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::mem::MaybeUninit;
    let (conn, _) = listener.accept().unwrap();
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = vec![0u8; 64 * 1024];
    let got = rustix::net::recvmsg(
        &conn,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .unwrap();
    buf.truncate(got.bytes);
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
            return (buf, fds.next().unwrap());
        }
    }
    panic!("no fd received with {:?}", String::from_utf8_lossy(&buf));
}
