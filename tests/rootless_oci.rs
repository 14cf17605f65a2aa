//! The OCI runtime run by an unprivileged user (issue 11, point 11), as
//! runc's users and rootless podman run it: `--rootless` found or given,
//! state under `$XDG_RUNTIME_DIR/cella` (a 0700 directory of the user's
//! own without it), no cgroup where the user may make none (and a clear
//! refusal when limits need one), and podman with `--runtime cella`.
#![cfg(feature = "oci")]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::bundle::refused;
use support::clients::{shell_quote, tools_or_skip};
use support::users::*;
use support::*;

/// A directory tree for `tag` owned by the test user: home, runtime dir,
/// a bundle made by `cella spec --rootless` with a busybox rootfs.
struct Space {
    dir: PathBuf,
    uid: u32,
    gid: u32,
}

impl Space {
    fn new(tag: &str) -> Space {
        let (uid, gid, _) = user_with_range();
        let dir = Path::new("/tmp").join(format!("cella-rl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["home", "run", "bundle"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::rename(rootfs(&format!("rl-{tag}")), dir.join("bundle/rootfs")).unwrap();
        std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        chown_tree(&dir, uid, gid);
        Space { dir, uid, gid }
    }

    /// cella as the user, from the bundle, with `xdg` as XDG_RUNTIME_DIR.
    /// Its stdout and stderr are files (a detached container keeps what
    /// it is given, and a pipe would not end before it).
    fn cella(&self, xdg: bool, args: &[&str]) -> Output {
        let mut env = vec![
            format!("HOME={}", self.dir.join("home").display()),
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        ];
        if xdg {
            env.push(format!(
                "XDG_RUNTIME_DIR={}",
                self.dir.join("run").display()
            ));
        }
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let (out, err) = (
            self.dir.join(format!("{n}.out")),
            self.dir.join(format!("{n}.err")),
        );
        let status = Command::new("timeout")
            .arg("60")
            .args([
                "setpriv",
                "--reuid",
                &self.uid.to_string(),
                "--regid",
                &self.gid.to_string(),
            ])
            .args(["--init-groups", "env", "-i"])
            .args(&env)
            .arg(cella_bin())
            .args(args)
            .current_dir(self.dir.join("bundle"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: std::fs::read(out).unwrap(),
            stderr: std::fs::read(err).unwrap(),
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("bundle/config.json")
    }
}

impl Drop for Space {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) {
    let ok = Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn a_rootless_spec_bundle_runs_as_an_unprivileged_user() {
    let _g = serial();
    let s = Space::new("spec");
    ok(s.cella(true, &["spec", "--rootless"]));
    let config = std::fs::read_to_string(s.config()).unwrap();
    let config = config
        .replace("\"terminal\": true", "\"terminal\": false")
        .replace(
            "\"args\": [\"sh\"]",
            "\"args\": [\"sh\", \"-c\", \"cat /proc/self/uid_map; id -u; sleep 2\"]",
        );
    std::fs::write(s.config(), config).unwrap();
    let id = format!("rl-spec-{}", std::process::id());
    // Detached, to look at its record meanwhile.
    let out = s.cella(true, &["run", "-d", "--bundle", ".", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let record = s.dir.join("run/cella").join(&id);
    assert!(
        record.is_dir(),
        "the state is the user's, under XDG_RUNTIME_DIR"
    );
    assert!(!Path::new("/run/cella").join(&id).exists());
    let list = stdout(&s.cella(true, &["list", "-q"]));
    assert_eq!(list.trim(), id);
    let state = stdout(&s.cella(true, &["state", &id]));
    assert!(state.contains("\"status\":\"running\""), "{state}");
    // The container has no cgroup of its own here (none is delegated).
    let pid: String = state
        .split("\"pid\":")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(!own.contains(&id), "{own}");
    ok(s.cella(true, &["kill", &id, "KILL"]));
    let deleted = s.cella(true, &["delete", "--force", &id]);
    assert_eq!(code(&deleted), 0, "{}", stderr(&deleted));
    assert!(!record.exists());
    // In the foreground: root inside, the user outside.
    let out = s.cella(true, &["run", "--bundle", ".", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let map: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(map, ["0", &s.uid.to_string(), "1"], "{text}");
    assert_eq!(text.lines().nth(1), Some("0"), "{text}");
    // Without XDG_RUNTIME_DIR: a 0700 directory of the user's own.
    let out = s.cella(false, &["run", "-d", "--bundle", ".", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let fallback = PathBuf::from(format!("/tmp/cella-{}", s.uid));
    let meta = std::fs::metadata(&fallback).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.mode() & 0o777), (s.uid, 0o700));
    assert!(fallback.join(&id).is_dir());
    ok(s.cella(false, &["delete", "--force", &id]));
    assert!(!fallback.join(&id).exists());
}

#[test]
fn rootless_limits_without_a_delegated_cgroup_are_refused_and_leave_nothing() {
    let _g = serial();
    let s = Space::new("limits");
    ok(s.cella(true, &["spec", "--rootless"]));
    let config = std::fs::read_to_string(s.config())
        .unwrap()
        .replace("\"terminal\": true", "\"terminal\": false")
        .replace(
            "\"linux\": {",
            "\"linux\": {\n    \"resources\": {\"pids\": {\"limit\": 10}},",
        );
    std::fs::write(s.config(), config).unwrap();
    let id = format!("rl-limits-{}", std::process::id());
    let out = s.cella(true, &["create", "--bundle", ".", &id]);
    refused(
        &out,
        "rootless limits",
        "rootless: the limits need a cgroup this user may make",
    );
    assert!(!s.dir.join("run/cella").join(&id).exists());
    // Said as root: refused by cella, not run unlimited.
    let out = s.cella(
        true,
        &["--rootless", "false", "create", "--bundle", ".", &id],
    );
    assert_eq!(code(&out), 125);
    assert!(!s.dir.join("run/cella").join(&id).exists());
}

#[test]
fn rootless_podman_runs_execs_and_stops_with_cella() {
    let _g = serial();
    if tools_or_skip(
        "rootless_podman_runs_execs_and_stops_with_cella",
        &["podman", "script"],
    )
    .is_none()
    {
        return;
    }
    let s = Space::new("podman");
    let rootfs = s.dir.join("bundle/rootfs");
    let podman = |args: &[&str]| -> Output {
        let line = format!(
            "setpriv --reuid {} --regid {} --init-groups env -i HOME={} XDG_RUNTIME_DIR={} \
             PATH=/usr/sbin:/usr/bin:/sbin:/bin podman --runtime {} --cgroup-manager cgroupfs \
             --events-backend none {}",
            s.uid,
            s.gid,
            s.dir.join("home").display(),
            s.dir.join("run").display(),
            cella_bin(),
            shell_quote(args),
        );
        // The terminal's input stays open until podman is done (at its
        // end, `-it` may detach before the output came, with runc too).
        let log = s.dir.join("podman.out");
        let mut child = Command::new("timeout")
            .args(["120", "script", "-qec", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let input = child.stdin.take();
        let status = child.wait().unwrap();
        drop(input);
        Output {
            status,
            stdout: std::fs::read(&log).unwrap(),
            stderr: Vec::new(),
        }
    };
    // script(1) shows the end of its empty input as ^@, with runc too.
    let text = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .replace('\r', "")
            .replace("^@", "")
    };
    let name = format!("rl-podman-{}", std::process::id());
    let r = rootfs.to_str().unwrap();
    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--rootfs",
        r,
        "sh",
        "-c",
        "id -u; echo run-ok",
    ]);
    assert!(text(&out).contains("0\nrun-ok"), "{}", text(&out));
    let out = podman(&[
        "run",
        "--rm",
        "-it",
        "--network",
        "none",
        "--rootfs",
        r,
        "sh",
        "-c",
        "tty; echo it-ok",
    ]);
    assert!(text(&out).contains("/dev/pts/0\nit-ok"), "{}", text(&out));
    let out = podman(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--rootfs",
        r,
        "sleep",
        "1000",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = podman(&["exec", &name, "sh", "-c", "echo exec-ok"]);
    assert!(text(&out).contains("exec-ok"), "{}", text(&out));
    let out = podman(&["exec", "-it", &name, "sh", "-c", "tty; echo exec-it-ok"]);
    assert!(text(&out).contains("exec-it-ok"), "{}", text(&out));
    let out = podman(&["stop", "-t", "2", &name]);
    assert!(out.status.success(), "{}", text(&out));
    let out = podman(&["rm", &name]);
    assert!(out.status.success(), "{}", text(&out));
    let left: Vec<_> = std::fs::read_dir(s.dir.join("run/cella"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "records left: {left:?}");
    let _ = podman(&["system", "reset", "--force"]);
}
