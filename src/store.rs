//! The state store: cella's record of every container between commands,
//! `cella run` and `cella init` containers and OCI ones alike.
//!
//! One directory per container under the root (`--root`, default
//! `/run/cella` for root; for another user `$XDG_RUNTIME_DIR/cella`, or a
//! 0700 directory of its own under `/tmp` when that is unset), 0700, holding
//! `state` (this record, 0600), and for OCI containers the copy of
//! `config.json` taken at create and the `exec.fifo` a created container
//! waits on. Files are replaced whole (written, then renamed over).
//!
//! Locks are `flock`s, which the kernel drops when their holder dies
//! however it dies: `lock` on the directory serializes the commands that change a
//! container; the file `owner` is held by the cella process that supervises
//! a `cella run` or `cella init` container for its whole life, so a record
//! whose owner lock is free and whose process is gone was left by a killed
//! cella, and is repaired (removed) by the next command that meets it.
//!
//! `state` is text, a line each `key value` (values escaped: `\\`, `\n`),
//! starting with the format version, so the smallest build reads it without
//! a JSON parser. A container's status is never stored: it is derived from
//! its process (alive, and the same process: the start time must match),
//! the fifo and the freezer.

use crate::cgroup::Cgroup;
use crate::error::{Error, Result, Step};
use rustix::fd::OwnedFd;
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use rustix::process::Pid;
use std::path::{Path, PathBuf};

/// The state format this cella writes and reads.
pub const FORMAT: u32 = 1;
pub const DEFAULT_ROOT: &str = "/run/cella";
const STATE: &str = "state";
const OWNER: &str = "owner";
/// The largest state file read.
const MAX_STATE: usize = 1 << 20;

/// Which front end made the container (what may be done to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `cella create` / `cella run --bundle` (podman, containerd).
    Oci,
    /// `cella run` or `cella init`: supervised by the cella that made it.
    Run,
}

/// A container's record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub kind: Kind,
    pub pid: i32,
    /// `starttime` from `/proc/PID/stat`: tells our process from a later
    /// one that reused its pid.
    pub pid_start: u64,
    /// The OCI bundle (empty for `cella run`).
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    pub created: String,
    pub annotations: Vec<(String, String)>,
    pub cgroup: Cgroup,
    /// The container has its own pid namespace: killing PID 1 ends it.
    pub own_pid_ns: bool,
    /// `cella run -d` without `--rm`: the record stays, with the exit
    /// status, once the container has ended (until `cella rm`).
    pub keep: bool,
    /// How it ended (kept records), as `cella run` would exit.
    pub exit_code: Option<i32>,
    /// When it ended (RFC 3339, UTC), for kept records.
    pub finished: String,
    /// The command, for listings.
    pub command: String,
    /// `cella run`: its options as typed, for `exec` into it.
    pub options: Vec<String>,
    /// `--net bridge`: its place on the bridge. While the container's cella
    /// holds the record, the address is leased.
    pub network: Option<Network>,
}

/// A bridge container's address and links.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub bridge: String,
    pub address: std::net::Ipv4Addr,
    pub prefix: u8,
    /// The host end of its veth pair.
    pub veth: String,
    /// The network namespace the bridge is in (its inode): cella
    /// instances in other namespaces sharing the store keep their rules
    /// and ports apart.
    pub netns: u64,
    /// `-p`: its published ports.
    pub ports: Vec<Port>,
}

/// A published port: `-p [HOST_IP:]HOST_PORT:PORT[/PROTO]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    /// `true` for UDP, else TCP.
    pub udp: bool,
    /// Only connections to this host address (else any of the host's).
    pub host_ip: Option<std::net::Ipv4Addr>,
    pub host_port: u16,
    /// The container's port.
    pub port: u16,
}

impl Port {
    pub fn proto(&self) -> &'static str {
        if self.udp { "udp" } else { "tcp" }
    }

    /// Whether two ports cannot both be published (the same host port and
    /// protocol on an address both would take).
    pub fn clashes(&self, other: &Port) -> bool {
        self.udp == other.udp
            && self.host_port == other.host_port
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
    }

    /// docker's way of showing it: `0.0.0.0:8080->80/tcp`.
    pub fn shown(&self) -> String {
        format!(
            "{}:{}->{}/{}",
            self.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            self.host_port,
            self.port,
            self.proto()
        )
    }

    /// `-p` as docker takes it: `[HOST_IP:]HOST_PORT:PORT[/tcp|udp]`.
    pub fn parse(v: &str) -> Option<Port> {
        let (rest, udp) = match v.rsplit_once('/') {
            Some((r, "tcp")) => (r, false),
            Some((r, "udp")) => (r, true),
            Some(_) => return None,
            None => (v, false),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (host_ip, host_port, port) = match parts.as_slice() {
            [h, c] => (None, h, c),
            // 0.0.0.0: every address, as docker takes it.
            [ip, h, c] => (
                Some(ip.parse::<std::net::Ipv4Addr>().ok()?).filter(|a| !a.is_unspecified()),
                h,
                c,
            ),
            _ => return None,
        };
        let number = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0);
        Some(Port {
            udp,
            host_ip,
            host_port: number(host_port)?,
            port: number(port)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The root for this user: `/run/cella` for root; otherwise
/// `$XDG_RUNTIME_DIR/cella`, or `/tmp/cella-UID` when that is unset. Root
/// of a user namespace that is not the host's root (rootless podman runs
/// its runtime so, with no `--root`) is a user too, as with runc.
pub fn default_root() -> PathBuf {
    let uid = rustix::process::geteuid();
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    let user_is_root = std::env::var_os("USER").is_some_and(|u| u == "root");
    if uid.is_root() && !(xdg.is_some() && !user_is_root && in_user_namespace()) {
        return PathBuf::from(DEFAULT_ROOT);
    }
    match xdg {
        Some(dir) => PathBuf::from(dir).join("cella"),
        None => PathBuf::from(format!("/tmp/cella-{}", uid.as_raw())),
    }
}

/// Whether we run in a user namespace other than the host's (whose
/// `uid_map` maps every id to itself).
pub fn in_user_namespace() -> bool {
    crate::input::system_text("/proc/self/uid_map")
        .is_some_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}

/// Container ids become directory names: refuse anything that could
/// leave the state root or confuse a listing.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!("invalid container id '{id}'")))
    }
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

pub fn fifo(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("exec.fifo")
}

/// Whether `id` has a state directory but no state file: what a `create`
/// killed in its first steps leaves.
pub fn is_unrecorded(root: &Path, id: &str) -> bool {
    let d = dir(root, id);
    check_id(id).is_ok() && d.is_dir() && !d.join(STATE).exists()
}

/// `starttime` (field 22) of `/proc/PID/stat`, or `None` if the process is gone.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = crate::input::system_text(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses: fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ')' come field 3 (state) ... field 22 (starttime): index 19.
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

impl Record {
    pub fn status(&self, root: &Path) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if fifo(root, &self.id).exists() {
            return Status::Created;
        }
        if self.cgroup.frozen() {
            return Status::Paused;
        }
        Status::Running
    }

    /// SIGKILL to PID 1 (it may not have joined its cgroup yet) and to
    /// everything in the cgroup (what a container sharing our pid
    /// namespace left behind its PID 1 goes with it), then wait (up to
    /// 10 s) until PID 1 has exited.
    pub fn kill(&self) {
        if self.alive()
            && let Some(pid) = Pid::from_raw(self.pid)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        self.cgroup.kill_all();
        self.wait_gone();
    }

    /// Wait (up to 10 s) until PID 1 has exited.
    pub fn wait_gone(&self) {
        let Some(pid) = Pid::from_raw(self.pid) else {
            return;
        };
        if let Ok(fd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
            if self.alive() {
                let mut fds = [rustix::event::PollFd::new(
                    &fd,
                    rustix::event::PollFlags::IN,
                )];
                let limit = rustix::time::Timespec {
                    tv_sec: 10,
                    tv_nsec: 0,
                };
                let _ = rustix::event::poll(&mut fds, Some(&limit));
            }
            return;
        }
        for _ in 0..2000 {
            if !self.alive() {
                return;
            }
            crate::cgroup::sleep_ms(5);
        }
    }

    /// Whether the container's process is still the one we started.
    pub fn alive(&self) -> bool {
        self.pid > 0 && start_time(self.pid) == Some(self.pid_start)
    }

    /// The saved form.
    fn to_text(&self) -> String {
        let mut s = format!("cella-state {FORMAT}\n");
        let mut line = |key: &str, value: &str| {
            s.push_str(key);
            s.push(' ');
            escape_into(&mut s, value);
            s.push('\n');
        };
        line(
            "kind",
            match self.kind {
                Kind::Oci => "oci",
                Kind::Run => "run",
            },
        );
        line("id", &self.id);
        line("pid", &self.pid.to_string());
        line("pid-start", &self.pid_start.to_string());
        line("bundle", &self.bundle.to_string_lossy());
        line("rootfs", &self.rootfs.to_string_lossy());
        line("created", &self.created);
        line("own-pid-ns", if self.own_pid_ns { "yes" } else { "no" });
        line("keep", if self.keep { "yes" } else { "no" });
        if let Some(code) = self.exit_code {
            line("exit-code", &code.to_string());
        }
        line("finished", &self.finished);
        line("command", &self.command);
        for o in &self.options {
            line("option", o);
        }
        line("cgroup-v2", if self.cgroup.v2 { "yes" } else { "no" });
        for (name, path) in &self.cgroup.dirs {
            // The hierarchy's name has no space; the path may.
            line("cgroup", &format!("{name} {}", path.to_string_lossy()));
        }
        if let Some(n) = &self.network {
            line(
                "network",
                &format!(
                    "{} {}/{} {} {}",
                    n.bridge, n.address, n.prefix, n.veth, n.netns
                ),
            );
            for p in &n.ports {
                line("port", &p.shown());
            }
        }
        for (k, v) in &self.annotations {
            line("annotation-key", k);
            line("annotation-value", v);
        }
        s
    }

    fn from_text(text: &str) -> std::result::Result<Record, &'static str> {
        let mut lines = text.lines();
        match lines.next().and_then(|l| l.strip_prefix("cella-state ")) {
            Some(v) if v == FORMAT.to_string() => {}
            Some(_) => return Err("written by another version of cella"),
            None => return Err("not a cella state file"),
        }
        let mut r = Record {
            id: String::new(),
            kind: Kind::Oci,
            pid: 0,
            pid_start: 0,
            bundle: PathBuf::new(),
            rootfs: PathBuf::new(),
            created: String::new(),
            annotations: Vec::new(),
            cgroup: Cgroup::default(),
            own_pid_ns: false,
            keep: false,
            exit_code: None,
            finished: String::new(),
            command: String::new(),
            options: Vec::new(),
            network: None,
        };
        let mut key = None;
        for l in lines {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            let v = unescape(v);
            const NOT_A_NUMBER: &str = "a number is not one";
            match k {
                "kind" => r.kind = if v == "run" { Kind::Run } else { Kind::Oci },
                "id" => r.id = v,
                "pid" => r.pid = v.parse().map_err(|_| NOT_A_NUMBER)?,
                "pid-start" => r.pid_start = v.parse().map_err(|_| NOT_A_NUMBER)?,
                "bundle" => r.bundle = v.into(),
                "rootfs" => r.rootfs = v.into(),
                "created" => r.created = v,
                "own-pid-ns" => r.own_pid_ns = v == "yes",
                "keep" => r.keep = v == "yes",
                "exit-code" => r.exit_code = Some(v.parse().map_err(|_| NOT_A_NUMBER)?),
                "finished" => r.finished = v,
                "command" => r.command = v,
                "option" => r.options.push(v),
                "cgroup-v2" => r.cgroup.v2 = v == "yes",
                "cgroup" => {
                    let (name, path) = v.split_once(' ').ok_or("a cgroup line has no path")?;
                    r.cgroup.dirs.push((name.to_owned(), path.into()));
                }
                "network" => r.network = Some(network(&v).ok_or("a network line is not one")?),
                "port" => {
                    let port = v
                        .split_once("->")
                        .and_then(|(host, c)| Port::parse(&format!("{host}:{c}")))
                        .ok_or("a port line is not one")?;
                    r.network
                        .as_mut()
                        .ok_or("a port line before the network line")?
                        .ports
                        .push(port);
                }
                "annotation-key" => key = Some(v),
                "annotation-value" => {
                    let k = key.take().ok_or("an annotation has no key")?;
                    r.annotations.push((k, v));
                }
                // Keys of a later format revision: not ours to judge.
                _ => {}
            }
        }
        if r.id.is_empty() {
            return Err("no id");
        }
        Ok(r)
    }

    /// Write the record whole or not at all (a reader never sees half).
    pub fn save(&self, root: &Path) -> Result<()> {
        let d = dir(root, &self.id);
        let tmp = d.join("state.tmp");
        let file = d.join(STATE);
        write_private(&tmp, self.to_text().as_bytes())?;
        rustix::fs::rename(&tmp, &file)
            .map_err(|e| Error::new(Step::State, e).at(file.display().to_string()))
    }

    /// The record of container `id`; a missing one is reported as runc does
    /// ("does not exist"), which containerd's shim recognises.
    pub fn load(root: &Path, id: &str) -> Result<Record> {
        check_id(id)?;
        let file = dir(root, id).join(STATE);
        if !file.exists() {
            return Err(Error::usage(format!("container {id} does not exist")));
        }
        let bytes = crate::input::read(&file, MAX_STATE)?;
        let text = String::from_utf8(bytes).map_err(|_| corrupt(&file, "not UTF-8"))?;
        Record::from_text(&text).map_err(|why| corrupt(&file, why))
    }
}

/// `BRIDGE ADDRESS/PREFIX VETH`, as [`Record::to_text`] writes it.
fn network(v: &str) -> Option<Network> {
    let mut words = v.split(' ');
    let bridge = words.next()?.to_owned();
    let (address, prefix) = words.next()?.split_once('/')?;
    let veth = words.next()?.to_owned();
    let netns = words.next().map_or(Some(0), |n| n.parse().ok())?;
    Some(Network {
        bridge,
        address: address.parse().ok()?,
        prefix: prefix.parse().ok().filter(|p| *p <= 32)?,
        veth,
        netns,
        ports: Vec::new(),
    })
}

fn corrupt(file: &Path, why: &str) -> Error {
    Error::usage(format!("{}: corrupt state file ({why})", file.display()))
}

fn escape_into(s: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Make the state root if needed, readable by its owner only: a
/// container's saved config holds its environment (passwords, tokens).
/// A root we own is tightened to 0700; a root owned by anyone else could
/// be changed under us, and is refused.
pub fn prepare_root(root: &Path) -> Result<()> {
    let shown = || root.display().to_string();
    let made = match rustix::fs::mkdir(root, Mode::from_raw_mode(0o700)) {
        Err(Errno::NOENT) => {
            // Its parents as runc makes them (containerd names a root whose
            // parents may not exist yet).
            let mut ancestors: Vec<&Path> = root.ancestors().skip(1).collect();
            ancestors.reverse();
            for dir in ancestors {
                match rustix::fs::mkdir(dir, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(Error::new(Step::State, e).at(shown())),
                }
            }
            rustix::fs::mkdir(root, Mode::from_raw_mode(0o700))
        }
        other => other,
    };
    match made {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(Error::new(Step::State, e).at(shown())),
    }
    let st = rustix::fs::lstat(root).map_err(|e| Error::new(Step::State, e).at(shown()))?;
    let me = rustix::process::geteuid().as_raw();
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory
        || st.st_uid != me
    {
        return Err(Error::invalid(
            Step::State,
            format!(
                "{}: not a directory owned by uid {me}: refusing to keep container state there",
                shown()
            ),
        ));
    }
    if st.st_mode & 0o077 != 0 {
        rustix::fs::chmod(root, Mode::from_raw_mode(0o700))
            .map_err(|e| Error::new(Step::State, e).at(shown()))?;
    }
    Ok(())
}

/// Write `bytes` to a new file readable by its owner only.
pub fn write_private(file: &Path, bytes: &[u8]) -> Result<()> {
    write_file(file, bytes, 0o600)
}

/// Write `file` whole, created with `mode` (less the umask).
fn write_file(file: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use rustix::fd::AsFd;
    let flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::open(file, flags, Mode::from_raw_mode(mode))
        .and_then(|fd| crate::input::write_all(fd.as_fd(), bytes))
        .map_err(|e| Error::new(Step::State, e).at(file.display().to_string()))
}

/// Serialize the commands that change container `id`: an exclusive lock on
/// its directory, held until the returned fd is dropped (a second `delete`
/// waits for the first, then finds nothing). `None` without a directory.
pub fn lock(root: &Path, id: &str) -> Option<OwnedFd> {
    check_id(id).ok()?;
    let fd = rustix::fs::open(
        dir(root, id),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    rustix::fs::flock(&fd, FlockOperation::LockExclusive).ok()?;
    Some(fd)
}

/// The lock under which bridge addresses are leased (and bridges made):
/// held from choosing an address until the record that holds it is in
/// place. (`.network`: not a container's name, and no `.ID.PID` scratch
/// directory either, which [`sweep`] would remove.)
pub fn lock_network(root: &Path) -> Result<OwnedFd> {
    lock_file(&root.join(".network"), FlockOperation::LockExclusive)
}

/// Create `file` and hold an exclusive lock on it (`how`: waiting for it
/// or not).
fn lock_file(file: &Path, how: FlockOperation) -> Result<OwnedFd> {
    let fd = rustix::fs::open(
        file,
        OFlags::CREATE | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| Error::new(Step::State, e).at(file.display().to_string()))?;
    rustix::fs::flock(&fd, how)
        .map_err(|e| Error::new(Step::State, e).at(file.display().to_string()))?;
    Ok(fd)
}

/// Whether a cella process supervises container `id` (holds its owner lock).
pub fn owned(root: &Path, id: &str) -> bool {
    locked(&dir(root, id))
}

/// Whether the owner lock in directory `d` is held.
fn locked(d: &Path) -> bool {
    let Ok(fd) = rustix::fs::open(
        d.join(OWNER),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared).is_err()
}

/// A file kept in a container's directory from its creation.
#[derive(Debug)]
pub struct File {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// Bound into the container (its `/etc/hosts`): readable by its users.
    /// Otherwise the caller's alone (0600).
    pub readable: bool,
}

/// A container's directory while the cella that made it holds it: taken
/// whole, removed with the container (or on drop: a failed create leaves
/// nothing), or kept (an OCI container once created; a detached one that
/// exited). A supervised container's (`cella run`, `cella init`) also
/// holds the owner lock, which tells other commands it is supervised.
pub struct Held {
    root: PathBuf,
    id: String,
    _owner: Option<OwnedFd>,
    /// The record outlives this process: not removed on drop.
    kept: bool,
}

impl Held {
    /// Take the id `first.id` under `root`: its directory appears whole,
    /// already recorded (no process yet), with `files` (name, contents) and,
    /// for a supervised container, its owner lock held. It is made under a
    /// temporary name, then renamed into place without replacing anything,
    /// so no other command ever sees it half made. A leftover of a killed
    /// cella (a run record nobody holds, whose process is gone) is removed
    /// first; any other container with the id is a clash.
    pub fn take(root: &Path, first: &Record, files: &[File]) -> Result<Held> {
        let id = first.id.as_str();
        prepare_root(root)?;
        check_id(id)?;
        let tmp = scratch(root, id);
        let _ = crate::dirs::remove(&tmp);
        rustix::fs::mkdir(&tmp, Mode::from_raw_mode(0o700))
            .map_err(|e| Error::new(Step::State, e).at(tmp.display().to_string()))?;
        let made = (|| {
            let owner = match first.kind {
                Kind::Run => Some(lock_file(
                    &tmp.join(OWNER),
                    FlockOperation::NonBlockingLockExclusive,
                )?),
                Kind::Oci => None,
            };
            for f in files {
                let mode = if f.readable { 0o644 } else { 0o600 };
                write_file(&tmp.join(f.name), &f.bytes, mode)?;
            }
            write_private(&tmp.join(STATE), first.to_text().as_bytes())?;
            Ok(owner)
        })();
        let owner = match made {
            Ok(owner) => owner,
            Err(e) => {
                let _ = crate::dirs::remove(&tmp);
                return Err(e);
            }
        };
        for _ in 0..3 {
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &tmp,
                rustix::fs::CWD,
                dir(root, id),
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => {
                    return Ok(Held {
                        root: root.to_owned(),
                        id: id.to_owned(),
                        _owner: owner,
                        kept: false,
                    });
                }
                Err(Errno::EXIST) if remove_if_stale(root, id) => continue,
                Err(Errno::EXIST) => break,
                Err(e) => {
                    let _ = crate::dirs::remove(&tmp);
                    return Err(Error::new(Step::State, e).at(dir(root, id).display().to_string()));
                }
            }
        }
        let _ = crate::dirs::remove(&tmp);
        Err(Error::usage(match first.kind {
            // runc's words, which orchestrators may look for.
            Kind::Oci => format!("container {id} already exists"),
            Kind::Run => format!("a container named {id} exists (see 'cella list')"),
        }))
    }

    /// Record `r` (its id is ours).
    pub fn save(&self, r: &Record) -> Result<()> {
        r.save(&self.root)
    }

    /// Remove the record: the container is gone.
    pub fn remove(self) {}

    /// Keep the record after this process: the container is made (OCI).
    pub fn keep(mut self) {
        self.kept = true;
    }

    /// The container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The record's directory.
    pub fn dir(&self) -> PathBuf {
        dir(&self.root, &self.id)
    }

    /// The container ended with `code` and its record is kept (`cella run
    /// -d` without `--rm`): say so in it, and stop holding it.
    pub fn exited(mut self, code: i32) {
        if let Ok(mut r) = Record::load(&self.root, &self.id) {
            r.exit_code = Some(code);
            r.finished = now_rfc3339();
            self.kept = r.save(&self.root).is_ok();
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.kept {
            let _ = remove_dir(&self.root, &self.id);
        }
    }
}

/// `.ID.PID`: where this process makes or removes container `id`'s
/// directory out of sight ([`sweep`] removes it if the process dies first).
fn scratch(root: &Path, id: &str) -> PathBuf {
    root.join(format!(
        ".{id}.{}",
        rustix::process::getpid().as_raw_nonzero()
    ))
}

/// Remove container `id`'s directory: first renamed out of the way (to
/// [`scratch`]), so it is never seen half removed. `Ok(false)`: it was
/// gone already.
pub fn remove_dir(root: &Path, id: &str) -> Result<bool> {
    let gone = scratch(root, id);
    let _ = crate::dirs::remove(&gone);
    match rustix::fs::rename(dir(root, id), &gone) {
        Ok(()) => {}
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(Error::new(Step::State, e).at(dir(root, id).display().to_string())),
    }
    crate::dirs::remove(&gone)
        .map_err(|e| Error::new(Step::State, e).at(gone.display().to_string()))?;
    Ok(true)
}

/// Remove `id` if it is what a killed cella left of a supervised container
/// (its record nobody holds, its process gone); true if removed.
pub fn remove_if_stale(root: &Path, id: &str) -> bool {
    // A kept record that says how its container ended waits for `rm`.
    // (The lock first: it is the cheap answer for every live container.)
    let stale = !owned(root, id)
        && Record::load(root, id)
            .is_ok_and(|r| r.kind == Kind::Run && r.exit_code.is_none() && !r.alive());
    stale && remove_dir(root, id).unwrap_or(false)
}

/// Remove every record a killed cella left of a supervised container.
pub fn sweep(root: &Path) {
    for name in crate::dirs::subdirs(root) {
        let path = root.join(&name);
        let Ok(name) = name.into_string() else {
            continue;
        };
        // Only supervised containers have an owner file; OCI ones stay
        // until `delete`. A `.NAME.PID` directory is one being made or
        // removed by process PID, or left by it if it was killed meanwhile.
        if let Some(maker) = name.strip_prefix('.') {
            // (Only `.ID.PID`: other dot files, such as the network lock,
            // are not scratch directories.)
            let Some(pid) = maker
                .rsplit_once('.')
                .and_then(|(_, p)| p.parse().ok())
                .and_then(rustix::process::Pid::from_raw)
            else {
                continue;
            };
            if rustix::process::test_kill_process(pid).is_err() {
                let _ = crate::dirs::remove(&path);
            }
        } else if path.join(OWNER).exists() {
            remove_if_stale(root, &name);
        }
    }
}

/// The ids of every container under `root`, sorted.
pub fn ids(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = crate::dirs::subdirs(root)
        .into_iter()
        // `.ID.PID`: one being made or removed, not yet or no longer there.
        .filter(|name| {
            !name.as_encoded_bytes().starts_with(b".") && root.join(name).join(STATE).exists()
        })
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    crate::heapsort::sort(&mut out);
    out
}

pub fn io_error(e: std::io::Error) -> Error {
    Error::from_io(Step::State, e)
}

/// Now as RFC 3339 UTC with nanoseconds, as runc writes `created` and log times.
pub fn now_rfc3339() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(t.as_secs() as i64, t.subsec_nanos())
}

fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_escape_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "a b", "x\0", "a\nb"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        for good in ["c1", "628ceaf5094f", "a.b_c-d+e"] {
            assert!(check_id(good).is_ok());
        }
    }

    #[test]
    fn a_directory_being_made_or_removed_is_not_listed() {
        let root = std::env::temp_dir().join(format!("cella-store-ids-{}", std::process::id()));
        for d in ["web", ".web.123", "db"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
            std::fs::write(root.join(d).join(STATE), "x").unwrap();
        }
        std::fs::create_dir_all(root.join("no-record")).unwrap();
        assert_eq!(ids(&root), ["db", "web"]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn published_ports_as_docker_writes_them() {
        let p = Port::parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(p.shown(), "127.0.0.1:8080->80/udp");
        assert_eq!(
            Port::parse("8080:80").unwrap().shown(),
            "0.0.0.0:8080->80/tcp"
        );
        assert_eq!(Port::parse("0.0.0.0:8080:80"), Port::parse("8080:80"));
        for bad in [
            "80",
            "0:80",
            "8080:0",
            "8080:80/sctp",
            "x:1:2",
            "1:2:3:4",
            "70000:80",
            "",
        ] {
            assert_eq!(Port::parse(bad), None, "{bad}");
        }
        let any = Port::parse("8080:80").unwrap();
        let local = Port::parse("127.0.0.1:8080:81").unwrap();
        let other = Port::parse("127.0.0.2:8080:81").unwrap();
        assert!(any.clashes(&local) && local.clashes(&any));
        assert!(!local.clashes(&other));
        assert!(!any.clashes(&Port::parse("8080:80/udp").unwrap()));
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_795_910_400, 5), "2026-11-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn records_round_trip_and_refuse_other_formats() {
        let r = Record {
            id: "c1".into(),
            kind: Kind::Run,
            pid: 42,
            pid_start: 7,
            bundle: "/b b".into(),
            rootfs: "/b/root\nfs".into(),
            created: rfc3339(0, 0),
            annotations: vec![("k \\x".into(), "v\"\n".into())],
            cgroup: Cgroup {
                v2: false,
                dirs: vec![("memory".into(), "/sys/fs/cgroup/memory/x y".into())],
            },
            own_pid_ns: true,
            keep: true,
            exit_code: Some(137),
            finished: rfc3339(1, 0),
            command: "sh -c 'echo\nx'".into(),
            options: vec!["--name".into(), "a b\\c".into()],
            network: Some(Network {
                bridge: "cella0".into(),
                address: "10.88.0.5".parse().unwrap(),
                prefix: 16,
                veth: "veth0abcdef".into(),
                netns: 4026531840,
                ports: vec![
                    Port::parse("8080:80").unwrap(),
                    Port::parse("127.0.0.1:53:5353/udp").unwrap(),
                ],
            }),
        };
        let text = r.to_text();
        assert!(text.contains(
            "\nnetwork cella0 10.88.0.5/16 veth0abcdef 4026531840\n\
             port 0.0.0.0:8080->80/tcp\nport 127.0.0.1:53->5353/udp\n"
        ));
        assert_eq!(text.lines().next(), Some("cella-state 1"));
        assert_eq!(Record::from_text(&text), Ok(r.clone()));
        let later = text.replace("cella-state 1", "cella-state 2");
        assert_eq!(
            Record::from_text(&later),
            Err("written by another version of cella")
        );
        assert!(Record::from_text("{\"id\":\"c1\"}").is_err());
        // Keys a later revision may add are skipped.
        let more = format!("{text}future-key value\n");
        assert_eq!(Record::from_text(&more), Ok(r));
    }

    #[test]
    fn our_own_start_time_is_readable() {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        assert!(start_time(me).is_some());
        assert_eq!(start_time(i32::MAX), None);
    }
}
