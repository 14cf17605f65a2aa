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

pub mod devices;
pub mod limits;

use crate::error::{Error, Result, Step};
use devices::DeviceRule;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::path::{Path, PathBuf};

pub const ROOT: &str = "/sys/fs/cgroup";
/// The parent of `cella run` and `cella init` containers' cgroups.
pub const PARENT: &str = "cella";
/// Before each container's name in its leaf directory.
pub const LEAF_PREFIX: &str = "ctr-";
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
}

/// Which v1 hierarchies a container gets a directory in.
pub enum Hierarchies<'a> {
    /// Every hierarchy of the host (the OCI runtime, as runc does).
    All,
    /// These controllers; `Some(option)` marks one an option needs (its
    /// absence is an error naming the option), `None` one taken only when
    /// the host has it.
    Wanted(&'a [(&'static str, Option<&'static str>)]),
}

/// What [`create`] makes.
pub struct Request<'a> {
    /// Relative to each hierarchy (`cella/ctr-web`, an OCI `cgroupsPath`).
    pub path: &'a str,
    pub hierarchies: Hierarchies<'a>,
    pub writes: &'a [Write],
    /// Device rules in the order they apply; empty: the cgroup restricts
    /// no device.
    pub devices: &'a [DeviceRule],
    /// Lock each leaf for the life of the caller (see [`Owned`]), and take
    /// over an abandoned leaf of the same path.
    pub owned: bool,
}

/// A created cgroup with the locks that mark it as ours.
pub struct Created {
    pub cgroup: Cgroup,
    pub locks: Vec<OwnedFd>,
    /// An abandoned cgroup of the same name was removed to make room.
    pub reclaimed: bool,
}

/// The directories [`create`] would make for `req`, made or not.
pub fn plan(root: &Path, req: &Request<'_>) -> Result<Cgroup> {
    let Some(layout) = detect(root) else {
        return Ok(Cgroup::default());
    };
    Ok(Cgroup {
        v2: layout == Layout::V2,
        dirs: bases(root, layout, req)?
            .into_iter()
            .map(|(name, base)| {
                let leaf = leaf_of(&base, req.path);
                (name, leaf)
            })
            .collect(),
    })
}

/// `base` joined with the relative `path`, empty components dropped.
fn leaf_of(base: &Path, path: &str) -> PathBuf {
    let mut leaf = base.to_path_buf();
    leaf.extend(path.split('/').filter(|p| !p.is_empty()));
    leaf
}

/// Make the cgroup `req.path` in each hierarchy `req.hierarchies` names,
/// set its device rules and write `req.writes`. On any failure nothing
/// made here is left. Without any cgroup file system, a container that
/// asks for no limit and no device rule gets no cgroup.
pub fn create(root: &Path, req: &Request<'_>) -> Result<Created> {
    let none = || Created {
        cgroup: Cgroup::default(),
        locks: Vec::new(),
        reclaimed: false,
    };
    let Some(layout) = detect(root) else {
        if req.writes.is_empty() && req.devices.is_empty() {
            return Ok(none());
        }
        return Err(Error::invalid(
            Step::CgroupSetup,
            format!("{}: no cgroup file system mounted", root.display()),
        ));
    };
    let v2 = layout == Layout::V2;
    let bases = bases(root, layout, req)?;
    let mut made: Vec<PathBuf> = Vec::new();
    let mut out = Created {
        cgroup: Cgroup {
            v2,
            dirs: Vec::new(),
        },
        locks: Vec::new(),
        reclaimed: false,
    };
    let result = (|| {
        let enable = if v2 {
            v2_controllers(root, req)?
        } else {
            Vec::new()
        };
        for (name, base) in &bases {
            let leaf = make_path(base, req.path, name, &enable, &mut made)?;
            let (lock, reclaimed) = make_leaf(&leaf, req.owned)?;
            made.push(leaf.clone());
            if holds(name, "cpuset") {
                inherit_cpuset(&leaf);
            }
            out.reclaimed |= reclaimed;
            out.locks.extend(lock);
            out.cgroup.dirs.push((name.clone(), leaf));
        }
        if !req.devices.is_empty() {
            if v2 {
                attach_device_filter(&out.cgroup.dirs[0].1, req.devices)?;
            } else {
                out.cgroup.apply(&devices::v1_writes(req.devices))?;
            }
        }
        out.cgroup.apply(req.writes)
    })();
    if let Err(e) = result {
        for dir in made.iter().rev() {
            let _ = rustix::fs::rmdir(dir);
        }
        return Err(e);
    }
    Ok(out)
}

/// (hierarchy name, base directory) of each hierarchy the container gets.
fn bases(root: &Path, layout: Layout, req: &Request<'_>) -> Result<Vec<(String, PathBuf)>> {
    if layout == Layout::V2 {
        return Ok(vec![(String::new(), root.to_path_buf())]);
    }
    let mut out: Vec<(String, PathBuf)> = match req.hierarchies {
        Hierarchies::All => hierarchies(root)
            .into_iter()
            .map(|h| {
                let base = root.join(&h);
                (h, base)
            })
            .collect(),
        Hierarchies::Wanted(wanted) => {
            let mut out = Vec::new();
            for &(controller, option) in wanted {
                let base = root.join(controller);
                if base.join("cgroup.procs").exists() {
                    out.push((controller.to_owned(), base));
                } else if let Some(opt) = option {
                    return Err(missing_controller(opt, controller));
                }
            }
            out
        }
    };
    // Device rules need the devices hierarchy: never a container without them.
    if !req.devices.is_empty() && !out.iter().any(|(n, _)| holds(n, "devices")) {
        let base = root.join("devices");
        if !base.join("cgroup.procs").exists() {
            return Err(missing_controller("device rules", "devices"));
        }
        out.push(("devices".to_owned(), base));
    }
    Ok(out)
}

/// v2: the controllers the container's writes need, checked to exist, or
/// every controller the root offers.
fn v2_controllers(root: &Path, req: &Request<'_>) -> Result<Vec<String>> {
    let available = read_small(&root.join("cgroup.controllers"));
    let offered: Vec<&str> = available.split_whitespace().collect();
    let Hierarchies::Wanted(wanted) = req.hierarchies else {
        return Ok(offered.iter().map(|c| (*c).to_owned()).collect());
    };
    let mut enable = Vec::new();
    for &(controller, option) in wanted {
        if offered.contains(&controller) {
            enable.push(controller.to_owned());
        } else if let Some(opt) = option {
            return Err(missing_controller(opt, controller));
        }
    }
    Ok(enable)
}

/// Create the directories of `rel` below `base` up to (not including) the
/// leaf; return the leaf's path. Intermediate directories this call made
/// are added to `made`; on v2 they pass `enable` on to their children.
fn make_path(
    base: &Path,
    rel: &str,
    hierarchy: &str,
    enable: &[String],
    made: &mut Vec<PathBuf>,
) -> Result<PathBuf> {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    let Some((_, parents)) = parts.split_last() else {
        return Err(Error::new(Step::CgroupCreate, Errno::EXIST).at(base.display().to_string()));
    };
    let mut dir = base.to_path_buf();
    enable_controllers(&dir, enable);
    for part in parents {
        dir.push(part);
        match rustix::fs::mkdir(&dir, Mode::from_raw_mode(0o755)) {
            Ok(()) => {
                made.push(dir.clone());
                if holds(hierarchy, "cpuset") {
                    inherit_cpuset(&dir);
                }
            }
            Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::new(Step::CgroupCreate, e).at(dir.display().to_string())),
        }
        enable_controllers(&dir, enable);
    }
    Ok(leaf_of(base, rel))
}

/// Make the leaf itself. `owned`: lock it, and take over a leftover of the
/// same path whose owner is gone (unlocked) and which holds no process;
/// returns the lock and whether a leftover was taken over. Another
/// container's leaf (locked or populated) is a clash.
fn make_leaf(leaf: &Path, owned: bool) -> Result<(Option<OwnedFd>, bool)> {
    let clash = || Error::new(Step::CgroupCreate, Errno::EXIST).at(leaf.display().to_string());
    let mut reclaimed = false;
    // A concurrent sweep may remove the leaf between our mkdir and our lock
    // (it was empty and unlocked): then make it again.
    for _ in 0..10 {
        match rustix::fs::mkdir(leaf, Mode::from_raw_mode(0o755)) {
            Ok(()) => {}
            Err(Errno::EXIST) if owned => {
                if !remove_if_abandoned(leaf) {
                    return Err(clash());
                }
                reclaimed = true;
                continue;
            }
            Err(Errno::EXIST) => return Err(clash()),
            // A parent removed by another container's cleanup meanwhile.
            Err(Errno::NOENT) => {
                if let Some(parent) = leaf.parent() {
                    let _ = rustix::fs::mkdir(parent, Mode::from_raw_mode(0o755));
                }
                continue;
            }
            Err(e) => return Err(Error::new(Step::CgroupCreate, e).at(leaf.display().to_string())),
        }
        if !owned {
            return Ok((None, reclaimed));
        }
        let lock = open_dir(leaf)
            .and_then(|fd| rustix::fs::flock(&fd, FlockOperation::LockExclusive).map(|()| fd));
        match lock {
            // Still ours once locked: the path still leads to the directory
            // we locked (a sweep did not remove it meanwhile).
            Ok(fd) if same_file(&fd, leaf) => return Ok((Some(fd), reclaimed)),
            Ok(_) | Err(Errno::NOENT) => continue,
            Err(e) => return Err(Error::new(Step::CgroupCreate, e).at(leaf.display().to_string())),
        }
    }
    Err(clash())
}

/// Remove `leaf` if nobody holds its lock and no process is in it.
fn remove_if_abandoned(leaf: &Path) -> bool {
    let Ok(fd) = open_dir(leaf) else {
        // Gone already: as good as removed.
        return !leaf.exists();
    };
    if rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err() {
        return false;
    }
    if !read_small(&leaf.join("cgroup.procs")).trim().is_empty() {
        return false;
    }
    matches!(rustix::fs::rmdir(leaf), Ok(()) | Err(Errno::NOENT))
}

/// The v1 hierarchies an [`Owned`] cgroup can have a directory in (what
/// `cella run`'s options and device rules need): where [`sweep`] looks.
const OWNED_CONTROLLERS: [&str; 6] = ["memory", "pids", "devices", "freezer", "cpu", "blkio"];

/// Remove every abandoned leaf under `cella/` in each hierarchy (what a
/// killed `cella run` or `cella init` could not remove itself), then the
/// `cella/` parents if they are empty. Returns the names of the leaves
/// removed (once per hierarchy).
pub fn sweep(root: &Path, layout: Layout) -> Vec<String> {
    let parents: Vec<PathBuf> = match layout {
        Layout::V2 => vec![root.join(PARENT)],
        Layout::V1 => OWNED_CONTROLLERS
            .iter()
            .map(|h| root.join(h).join(PARENT))
            .collect(),
    };
    let mut removed = Vec::new();
    for parent in parents {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let is_leaf = entry.file_name().to_str().is_some_and(|n| {
                n.starts_with(LEAF_PREFIX) && entry.file_type().is_ok_and(|t| t.is_dir())
            });
            if is_leaf && remove_if_abandoned(&entry.path()) {
                removed.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        let _ = rustix::fs::rmdir(&parent);
    }
    removed
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

    /// The directories, for messages and tests.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|(_, p)| p.as_path())
    }

    /// Write `writes`, in order. Errors name the option or field and the file.
    pub fn apply(&self, writes: &[Write]) -> Result<()> {
        for wr in writes {
            let Some(dir) = self.dir_for(wr.controller) else {
                if wr.required {
                    return Err(missing_controller(wr.what, wr.controller));
                }
                continue;
            };
            let Some((path, value)) = wr
                .choices
                .iter()
                .map(|(file, value)| (dir.join(file), value))
                .find(|(path, _)| path.exists())
            else {
                if !wr.required {
                    continue;
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
            write_file(&path, value).map_err(|e| {
                Error::new(Step::CgroupLimit, e).at(format!(
                    "{} ({} = {value})",
                    wr.what,
                    path.display()
                ))
            })?;
        }
        Ok(())
    }

    /// The files a process writes `0` to in order to join (v1: `tasks`:
    /// moving a single thread, pid 0, lets the kernel skip the global
    /// threadgroup lock, whose RCU grace period made a `cgroup.procs` write
    /// cost about 8 ms on the build hosts; v2: `cgroup.procs`).
    pub fn join_files(&self) -> Result<Vec<OwnedFd>> {
        let file = if self.v2 { "cgroup.procs" } else { "tasks" };
        self.dirs
            .iter()
            .map(|(_, d)| {
                let p = d.join(file);
                rustix::fs::open(&p, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|e| Error::new(Step::CgroupCreate, e).at(p.display().to_string()))
            })
            .collect()
    }

    /// PIDs of every process in the container's cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let Some(dir) = self.any() else {
            return Vec::new();
        };
        read_small(&dir.join("cgroup.procs"))
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
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
    pub fn kill_all(&self) {
        use rustix::process::{Pid, Signal, kill_process};
        if self.dirs.is_empty() || self.pids().is_empty() {
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

    /// Whether the OOM killer fired in the container.
    pub fn oom_killed(&self) -> bool {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        self.dir_for("memory").is_some_and(|d| {
            read_small(&d.join(file))
                .lines()
                .filter_map(|l| l.strip_prefix("oom_kill "))
                .any(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0))
        })
    }

    /// Remove the directories (the leaves only: parents such as
    /// `libpod_parent` belong to the caller). Processes just killed may
    /// take a moment to leave.
    pub fn remove(&self) -> Result<()> {
        let mut first = None;
        for (_, dir) in &self.dirs {
            let mut tries = 0;
            loop {
                match rustix::fs::rmdir(dir) {
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

/// The cgroup of a `cella run` or `cella init` container, for as long as
/// this process lives: locked (see the module docs), with what the child
/// needs to join. Removing it (or dropping it) kills whatever is left in
/// it first.
pub struct Owned {
    pub cgroup: Cgroup,
    /// Held until the directories are gone; the kernel releases them if
    /// we are killed.
    _locks: Vec<OwnedFd>,
    join_fds: Vec<OwnedFd>,
    /// The v2 leaf directory, for `CLONE_INTO_CGROUP`.
    dir_fd: Option<OwnedFd>,
    /// An abandoned cgroup of the same name was taken over.
    pub reclaimed: bool,
}

impl Owned {
    /// Create `cella/ctr-NAME` with `writes` and `devices` (empty: no
    /// device rules, `--privileged`), after sweeping leftovers of killed
    /// cellas. Besides what the writes need, the container gets memory and
    /// pids (accounting, OOM reports) where the host has them, and freezer
    /// when its processes can `outlive_pid1` (no PID namespace of its own:
    /// freezing is how they are all killed; otherwise the kernel kills them
    /// with PID 1, and a hierarchy less makes every start cheaper).
    pub fn create(
        root: &Path,
        name: &str,
        writes: &[Write],
        devices: &[DeviceRule],
        outlive_pid1: bool,
    ) -> Result<Owned> {
        let leaf = format!("{LEAF_PREFIX}{name}");
        let swept_ours = detect(root).is_some_and(|layout| sweep(root, layout).contains(&leaf));
        let mut wanted: Vec<(&'static str, Option<&'static str>)> =
            vec![("memory", None), ("pids", None)];
        if outlive_pid1 {
            wanted.push(("freezer", None));
        }
        for w in writes {
            let option = w.required.then_some(w.what);
            match wanted.iter_mut().find(|(c, _)| *c == w.controller) {
                Some(entry) => entry.1 = entry.1.or(option),
                None => wanted.push((w.controller, option)),
            }
        }
        let path = format!("{PARENT}/{leaf}");
        let created = create(
            root,
            &Request {
                path: &path,
                hierarchies: Hierarchies::Wanted(&wanted),
                writes,
                devices,
                owned: true,
            },
        )?;
        let mut owned = Owned {
            join_fds: Vec::new(),
            dir_fd: None,
            reclaimed: created.reclaimed || swept_ours,
            cgroup: created.cgroup,
            _locks: created.locks,
        };
        owned.join_fds = owned.cgroup.join_files()?;
        if let (true, Some((_, leaf))) = (owned.cgroup.v2, owned.cgroup.dirs.first()) {
            owned.dir_fd =
                Some(open_dir(leaf).map_err(|e| {
                    Error::new(Step::CgroupCreate, e).at(leaf.display().to_string())
                })?);
        }
        Ok(owned)
    }

    /// No cgroup at all (rootless: the host delegates none to users).
    pub fn none() -> Owned {
        Owned {
            cgroup: Cgroup::default(),
            _locks: Vec::new(),
            join_fds: Vec::new(),
            dir_fd: None,
            reclaimed: false,
        }
    }

    /// The directory to pass to clone3 with `CLONE_INTO_CGROUP` (v2 only).
    pub fn clone_target(&self) -> Option<BorrowedFd<'_>> {
        self.dir_fd.as_ref().map(|fd| fd.as_fd())
    }

    /// In the child: move this process into every leaf (`0` means "me").
    pub fn join(&self) -> rustix::io::Result<()> {
        for fd in &self.join_fds {
            rustix::io::write(fd, b"0")?;
        }
        Ok(())
    }

    /// Kill what is left in the cgroup (processes the payload started and
    /// left behind), remove the leaves, then the `cella/` parents if no
    /// other container uses them.
    pub fn remove(mut self) -> Result<()> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> Result<()> {
        self.join_fds.clear();
        self.dir_fd = None;
        let cgroup = std::mem::take(&mut self.cgroup);
        cgroup.kill_all();
        let result = cgroup.remove();
        for dir in cgroup.paths() {
            if let Some(parent) = dir.parent() {
                // Shared by all containers: only the last one out removes it.
                let _ = rustix::fs::rmdir(parent);
            }
        }
        result
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.remove_all();
    }
}

/// The v1 hierarchies of this host (real directories with `cgroup.procs`;
/// `cpu` and `cpuacct` are symlinks to `cpu,cpuacct` and are skipped), not
/// the hybrid cgroup2 mount.
fn hierarchies(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(root) else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_dir() && name != "unified" && entry.path().join("cgroup.procs").exists() {
            out.push(name);
        }
    }
    out.sort();
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

/// v2: the device rules as an eBPF program attached to `dir`.
pub fn attach_device_filter(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let fail = |e: Errno| {
        Error::new(Step::CgroupLimit, e)
            .at(format!("device rules (eBPF filter on {})", dir.display()))
    };
    let prog = devices::program(rules);
    let fd = crate::sys::bpf::load_device_program(&prog).map_err(fail)?;
    let dir_fd = open_dir(dir).map_err(fail)?;
    crate::sys::bpf::attach_device_program(&dir_fd, &fd).map_err(fail)
}

/// v2: let children of `dir` use `controllers` (what cannot be enabled
/// shows later as a limit the host cannot enforce).
fn enable_controllers(dir: &Path, controllers: &[String]) {
    for c in controllers {
        let _ = write_file(&dir.join("cgroup.subtree_control"), &format!("+{c}"));
    }
}

/// A new v1 cpuset cgroup starts with no CPUs and no memory nodes: copy
/// the parent's, or nothing could join it.
fn inherit_cpuset(dir: &Path) {
    let Some(parent) = dir.parent() else { return };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let v = read_small(&parent.join(file));
        let _ = write_file(&dir.join(file), v.trim());
    }
}

fn same_file(fd: &OwnedFd, path: &Path) -> bool {
    match (rustix::fs::fstat(fd), rustix::fs::stat(path)) {
        (Ok(a), Ok(b)) => a.st_ino == b.st_ino && a.st_dev == b.st_dev,
        _ => false,
    }
}

fn open_dir(dir: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// A cgroup interface file's text (they are small); empty if unreadable.
fn read_small(path: &Path) -> String {
    let Ok(fd) = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
        return String::new();
    };
    // Most are a line or two; `cgroup.procs` of a busy container is longer.
    let mut small = [0u8; 512];
    let mut text = Vec::new();
    loop {
        match rustix::io::read(&fd, &mut small) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&small[..n]),
        }
    }
    String::from_utf8(text).unwrap_or_default()
}

fn write_file(path: &Path, value: &str) -> rustix::io::Result<()> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    rustix::io::write(&fd, value.as_bytes()).map(|_| ())
}

pub fn sleep_ms(ms: u64) {
    let _ = rustix::thread::nanosleep(&rustix::time::Timespec {
        tv_sec: (ms / 1000) as _,
        tv_nsec: ((ms % 1000) * 1_000_000) as _,
    });
}

#[cfg(test)]
mod tests;
