//! cgroups, for every container cella makes (`cella run`, `cella init`,
//! the OCI verbs): creation with limits and device rules, join, freeze,
//! kill, list, remove; on cgroup v2, v1 and hybrid hosts.
//!
//! A hybrid host (v1 controllers, plus a cgroup2 mount that holds few or no
//! controllers) is driven as v1, as runc does. A container's cgroup is
//! [`Cgroup`]: plain data (one directory per v1 hierarchy, or the one v2
//! directory), saved in OCI state files. [`create`] makes the directories,
//! sets the device rules ([`devices`]) and writes the limits before the
//! container exists, so its payload never runs unlimited or with every
//! device; on failure it leaves nothing. The front ends turn their options
//! into [`Write`]s: `cella run`'s in [`limits`], the OCI runtime's in
//! `oci::cgroups`.
//!
//! `cella run` and `cella init` containers live at `cella/ctr-NAME` (the
//! prefix keeps a name such as `tasks` from meeting an interface file) and
//! are [`Owned`]: their cella holds an `flock` on each directory for the
//! container's whole life. The kernel drops the lock when that cella dies,
//! however it dies, so an unlocked, empty `cella/ctr-*` directory is known
//! to be abandoned: [`sweep`] removes such leftovers, and a new container
//! reclaims its name from one.

mod create;
pub mod devices;
pub mod limits;
mod owned;
#[cfg(feature = "oci")]
pub mod stats;

pub use create::{Created, Hierarchies, Request, attach_device_filter, create, plan, sweep};
pub use owned::{Owned, Plan};

use crate::error::{Error, Result, Step};
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::path::{Path, PathBuf};

pub const ROOT: &str = "/sys/fs/cgroup";
/// The parent of `cella run` and `cella init` containers' cgroups.
pub const PARENT: &str = "cella";
/// Before each container's name in its leaf directory.
pub const LEAF_PREFIX: &str = "ctr-";
/// A hybrid host's cgroup2 mount, below the root; an OCI container gets a
/// directory there too, as with runc (`0::/PATH` in `/proc/PID/cgroup`).
const HYBRID: &str = "unified";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One unified hierarchy at the root.
    V2,
    /// One hierarchy per controller at `<root>/<controller>` (also hybrid hosts).
    V1,
}

/// v2 when the root is a cgroup2 mount; v1 when it is a directory of
/// per-controller mounts (including hybrid hosts); `None` without cgroups.
pub fn detect(root: &Path) -> Option<Layout> {
    let st = rustix::fs::statfs(root).ok()?;
    if st.f_type as i64 == CGROUP2_SUPER_MAGIC {
        Some(Layout::V2)
    } else if root.join("pids").exists()
        || root.join("memory").exists()
        || root.join("cpu").exists()
    {
        Some(Layout::V1)
    } else {
        None
    }
}

/// One cgroup interface file write.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// v1 hierarchy (`memory`, `cpu`, ...); ignored on v2.
    pub controller: &'static str,
    /// (file, value): the first file that exists takes its value (kernels
    /// and I/O schedulers differ: `blkio.weight` or `blkio.bfq.weight`).
    pub choices: Vec<(String, String)>,
    /// The option or config field that asked for it, for errors.
    pub what: &'static str,
    /// A missing file is an error (false: best effort, e.g. swap on a
    /// kernel without swap accounting).
    pub required: bool,
}

impl Write {
    pub fn new(controller: &'static str, file: &str, value: String, what: &'static str) -> Write {
        Write {
            controller,
            choices: vec![(file.to_owned(), value)],
            what,
            required: true,
        }
    }

    /// The same write, skipped where the file does not exist.
    pub fn optional(self) -> Write {
        Write {
            required: false,
            ..self
        }
    }

    /// Another file to write `value` to when the first is missing.
    pub fn or(mut self, file: &str, value: String) -> Write {
        self.choices.push((file.to_owned(), value));
        self
    }

    /// The first file (for messages and tests).
    pub fn file(&self) -> &str {
        &self.choices[0].0
    }
}

/// A container's cgroup directories: one per v1 hierarchy, or one on v2.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cgroup {
    pub v2: bool,
    /// (hierarchy name, directory); the name is empty on v2.
    pub dirs: Vec<(String, PathBuf)>,
    /// Those of `dirs` that existed before the container with processes
    /// in them (an OCI `cgroupsPath` someone uses): not ours to empty or
    /// remove. (An empty one is taken as the container's, as runc does.)
    pub existing: Vec<PathBuf>,
}

impl Cgroup {
    /// The directory that holds `controller`'s files.
    pub fn dir_for(&self, controller: &str) -> Option<&Path> {
        if self.v2 {
            return self.dirs.first().map(|(_, d)| d.as_path());
        }
        self.dirs
            .iter()
            .find(|(n, _)| holds(n, controller))
            .map(|(_, d)| d.as_path())
    }

    /// One directory to list the container's processes from.
    pub fn any(&self) -> Option<&Path> {
        self.dir_for("pids")
            .or_else(|| self.dir_for("memory"))
            .or_else(|| self.dirs.first().map(|(_, d)| d.as_path()))
    }

    /// The cgroups below these that `exec --cgroup` names: `(controllers,
    /// path)`, the path relative to the container's and inside it; with
    /// controllers (`memory,pids`), for their hierarchies only.
    pub fn below(&self, subs: &[(Option<String>, String)]) -> Result<Cgroup> {
        let mut out = self.clone();
        for (controllers, path) in subs {
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            if parts.is_empty() || parts.iter().any(|p| *p == "." || *p == "..") {
                return Err(Error::usage(format!(
                    "--cgroup: '{path}' is not a path below the container's cgroup"
                )));
            }
            for (name, dir) in &mut out.dirs {
                let named = controllers
                    .as_deref()
                    .is_none_or(|c| self.v2 || c.split(',').any(|c| holds(name, c)));
                if named {
                    dir.extend(&parts);
                }
            }
        }
        Ok(out)
    }

    /// The directories, for messages and tests.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|(_, p)| p.as_path())
    }

    /// Write `writes`, in order. Errors name the option or field and the file.
    pub fn apply(&self, writes: &[Write]) -> Result<()> {
        // The file last written stays open: consecutive writes to one file
        // (a device rule a write, in `devices.allow`) share one open.
        let mut last: Option<(PathBuf, OwnedFd)> = None;
        for wr in writes {
            let Some(dir) = self.dir_for(wr.controller) else {
                if wr.required {
                    return Err(missing_controller(wr.what, wr.controller));
                }
                continue;
            };
            // The first of the files the host has (memory.max or
            // memory.limit_in_bytes...), found by opening it: a missing one
            // is ENOENT, as a stat would say, for one call less.
            let mut chosen = None;
            for (file, value) in &wr.choices {
                let path = dir.join(file);
                let mut opened = Ok(());
                if last.as_ref().is_none_or(|(p, _)| *p != path) {
                    match rustix::fs::open(&path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()) {
                        Ok(fd) => last = Some((path.clone(), fd)),
                        Err(rustix::io::Errno::NOENT) => continue,
                        Err(e) => opened = Err(e),
                    }
                }
                chosen = Some((path, value, opened));
                break;
            }
            let Some((path, value, opened)) = chosen else {
                if !wr.required {
                    continue;
                }
                // (Not the host's doing when the directory itself is gone:
                // something removed the cgroup while it was set up.)
                if !dir.exists() {
                    return Err(Error::new(Step::CgroupLimit, rustix::io::Errno::NOENT)
                        .at(format!("{} ({} vanished)", wr.what, dir.display())));
                }
                return Err(Error::invalid(
                    Step::CgroupLimit,
                    format!(
                        "{}: this host's {} controller cannot enforce it (no {})",
                        wr.what,
                        wr.controller,
                        wr.file()
                    ),
                ));
            };
            let failed = |e| {
                Error::new(Step::CgroupLimit, e).at(format!(
                    "{} ({} = {value})",
                    wr.what,
                    path.display()
                ))
            };
            opened.map_err(failed)?;
            if let Some((_, fd)) = &last {
                rustix::io::write(fd, value.as_bytes()).map_err(failed)?;
            }
        }
        Ok(())
    }

    /// The files a process writes `0` to in order to join (v1: `tasks`:
    /// moving a single thread, pid 0, lets the kernel skip the global
    /// threadgroup lock, whose RCU grace period made a `cgroup.procs` write
    /// cost about 8 ms on the build hosts; v2: `cgroup.procs`).
    pub fn join_files(&self) -> Result<Vec<OwnedFd>> {
        let mut files = Vec::with_capacity(self.dirs.len());
        for (name, d) in &self.dirs {
            let v2 = self.v2 || name == HYBRID;
            let p = d.join(if v2 { "cgroup.procs" } else { "tasks" });
            files.push(
                rustix::fs::open(&p, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|e| Error::new(Step::CgroupCreate, e).at(p.display().to_string()))?,
            );
        }
        Ok(files)
    }

    /// PIDs of every process in the container's cgroup and the cgroups
    /// its payload made below it.
    pub fn pids(&self) -> Vec<i32> {
        self.any().map(tree_pids).unwrap_or_default()
    }

    /// Freeze or thaw every process (`pause`, `resume`, and [`kill_all`]).
    ///
    /// [`kill_all`]: Cgroup::kill_all
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        let (dir, file, value) = if self.v2 {
            (
                self.dirs.first().map(|(_, d)| d.as_path()),
                "cgroup.freeze",
                if frozen { "1" } else { "0" },
            )
        } else {
            (
                self.dir_for("freezer"),
                "freezer.state",
                if frozen { "FROZEN" } else { "THAWED" },
            )
        };
        let Some(dir) = dir else {
            return Err(Error::invalid(
                Step::CgroupLimit,
                "this host has no freezer cgroup",
            ));
        };
        let path = dir.join(file);
        write_file(&path, value)
            .map_err(|e| Error::new(Step::CgroupLimit, e).at(path.display().to_string()))?;
        if frozen {
            // Until every task has stopped (v1 FREEZING, v2 "frozen 0").
            for _ in 0..1000 {
                if self.frozen() {
                    return Ok(());
                }
                sleep_ms(1);
            }
        }
        Ok(())
    }

    /// Whether the container is frozen.
    pub fn frozen(&self) -> bool {
        if self.v2 {
            self.dirs.first().is_some_and(|(_, d)| {
                read_small(&d.join("cgroup.events"))
                    .lines()
                    .any(|l| l == "frozen 1")
            })
        } else {
            self.dir_for("freezer")
                .is_some_and(|d| read_small(&d.join("freezer.state")).trim() == "FROZEN")
        }
    }

    /// Kill every process of the cgroup, including those that fork while
    /// we look (v2 `cgroup.kill`; elsewhere freeze, SIGKILL each, thaw, until
    /// none is left), and wait (up to about 5 s) until the cgroup is empty.
    /// Not in a cgroup that held processes before the container: they are
    /// not the container's (runc would kill them).
    pub fn kill_all(&self) {
        use rustix::process::{Pid, Signal, kill_process};
        if self.dirs.is_empty() || !self.existing.is_empty() || self.pids().is_empty() {
            return;
        }
        let kill_file = self
            .dirs
            .first()
            .filter(|_| self.v2)
            .map(|(_, d)| d.join("cgroup.kill"));
        let killed_by_kernel = kill_file.is_some_and(|f| f.exists() && write_file(&f, "1").is_ok());
        for _ in 0..1000 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            if !killed_by_kernel {
                // Frozen, nobody can fork a process we would miss.
                let frozen = self.freeze(true).is_ok();
                for p in pids {
                    if let Some(pid) = Pid::from_raw(p) {
                        let _ = kill_process(pid, Signal::KILL);
                    }
                }
                if frozen {
                    let _ = self.freeze(false);
                }
            }
            sleep_ms(5);
        }
    }

    /// How many times the OOM killer has killed in the container.
    pub fn oom_kills(&self) -> u64 {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        self.dir_for("memory").map_or(0, |d| {
            keyed(&read_small(&d.join(file)))
                .find(|(k, _)| *k == "oom_kill")
                .map_or(0, |(_, v)| v)
        })
    }

    /// The directories made for the container (not those that existed).
    pub fn made(&self) -> impl Iterator<Item = &Path> {
        self.paths()
            .filter(|p| !self.existing.iter().any(|e| e == p))
    }

    /// Remove the directories made for the container (the leaves only:
    /// parents such as `libpod_parent` belong to the caller). Processes
    /// just killed may take a moment to leave.
    pub fn remove(&self) -> Result<()> {
        let mut first = None;
        // A leaf without cgroups below it (the usual case) goes at once;
        // otherwise the payload's own cgroups below it first, deepest first.
        let removed = |leaf: &&Path| matches!(rustix::fs::rmdir(*leaf), Ok(()) | Err(Errno::NOENT));
        let left = self.made().filter(|leaf| !removed(leaf));
        for dir in left.flat_map(tree) {
            let mut tries = 0;
            loop {
                match rustix::fs::rmdir(&dir) {
                    Ok(()) | Err(Errno::NOENT) => break,
                    Err(Errno::BUSY) if tries < 400 => {
                        tries += 1;
                        sleep_ms(5);
                    }
                    Err(e) => {
                        first.get_or_insert(
                            Error::new(Step::CgroupRemove, e).at(dir.display().to_string()),
                        );
                        break;
                    }
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// The `key value` lines of a cgroup stat file.
pub fn keyed(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.lines().filter_map(|l| {
        let (k, v) = l.split_once(' ')?;
        Some((k, v.trim().parse().ok()?))
    })
}

/// PIDs of every process in the cgroup `dir` and those below it.
fn tree_pids(dir: &Path) -> Vec<i32> {
    tree(dir)
        .iter()
        .flat_map(|d| {
            read_small(&d.join("cgroup.procs"))
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// `dir` and every cgroup below it, each after its children (the order
/// they can be removed in). Symbolic links are not followed.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for name in crate::dirs::subdirs(dir) {
        out.extend(tree(&dir.join(name)));
    }
    out.push(dir.to_path_buf());
    out
}

/// Whether hierarchy `name` (`cpu,cpuacct`) holds `controller`.
fn holds(name: &str, controller: &str) -> bool {
    name.split(',').any(|c| c == controller)
}

fn missing_controller(what: &str, controller: &str) -> Error {
    Error::invalid(
        Step::CgroupSetup,
        format!("{what}: the {controller} cgroup controller is not available on this host"),
    )
}

fn open_dir(dir: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// A cgroup interface file's text; empty if unreadable.
fn read_small(path: &Path) -> String {
    crate::input::system_text(path).unwrap_or_default()
}

fn write_file(path: &Path, value: &str) -> rustix::io::Result<()> {
    crate::input::write_system(path, value)
}

pub fn sleep_ms(ms: u64) {
    let _ = rustix::thread::nanosleep(&rustix::time::Timespec {
        tv_sec: (ms / 1000) as _,
        tv_nsec: ((ms % 1000) * 1_000_000) as _,
    });
}

#[cfg(test)]
mod tests;
