//! A container's record: what the state store keeps of it (the `state`
//! file's fields, its network and published ports), written and read as
//! text, and its status derived from its process.

use super::{FORMAT, MAX_STATE, STATE, check_id, dir, fifo, write_private};
use crate::cgroup::Cgroup;
use crate::error::{Error, Result, Step};
use rustix::fd::AsFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::Pid;
use std::path::{Path, PathBuf};

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
    /// namespace left behind its PID 1 goes with it) unless the cgroup
    /// held others' processes before (see [`Cgroup::kill_all`]), then
    /// wait (up to 10 s) until PID 1 has exited.
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
    pub(super) fn to_text(&self) -> String {
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
        for path in &self.cgroup.existing {
            line("cgroup-existing", &path.to_string_lossy());
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

    pub(super) fn from_text(text: &str) -> std::result::Result<Record, &'static str> {
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
                "cgroup-existing" => r.cgroup.existing.push(v.into()),
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
        rustix::fs::rename(&tmp, &file).map_err(failed(&file))
    }

    /// As [`Record::save`], but written into `room`, a file of the
    /// record's directory made large enough beforehand: overwritten in
    /// place, then cut to length, it needs no new space on the file
    /// system. Without that file, as `save`.
    pub fn save_into(&self, root: &Path, room: &str) -> Result<()> {
        let d = dir(root, &self.id);
        let (tmp, file) = (d.join(room), d.join(STATE));
        let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::open(&tmp, flags, Mode::empty()) {
            Err(Errno::NOENT) => return self.save(root),
            opened => opened.map_err(failed(&tmp))?,
        };
        let text = self.to_text();
        crate::input::write_all(fd.as_fd(), text.as_bytes()).map_err(failed(&tmp))?;
        rustix::fs::ftruncate(&fd, text.len() as u64).map_err(failed(&tmp))?;
        rustix::fs::rename(&tmp, &file).map_err(failed(&file))
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

/// A failed call on `path` of the store's.
fn failed(path: &Path) -> impl Fn(Errno) -> Error + '_ {
    move |e| Error::new(Step::State, e).at(path.display().to_string())
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
