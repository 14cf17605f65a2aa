//! The container's cgroup: one directory per container under `cella/`, on
//! cgroup v2, v1 and hybrid hosts.
//!
//! A hybrid host (v1 controllers, plus a cgroup2 mount that holds few or no
//! controllers) is driven as v1, as runc does. [`plan`] turns limits into
//! file writes (pure, unit tested); [`Cgroup::create`] makes the
//! directories and writes the limits before the container exists, so the
//! payload never runs unlimited. The child joins as late as possible (v1,
//! or v2 without clone3) or is born inside (v2, `CLONE_INTO_CGROUP`), so
//! cella's own setup is charged to the container as little as possible.
//! Everything takes the cgroup root as a parameter.

use crate::error::{Error, Result, Step};
use crate::spec::Limits;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::path::{Path, PathBuf};

pub const ROOT: &str = "/sys/fs/cgroup";
const PARENT: &str = "cella";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const PERIOD_US: u64 = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One unified hierarchy at the root.
    V2,
    /// One hierarchy per controller at `<root>/<controller>` (also hybrid hosts).
    V1,
}

/// One limit: which controller, and the file(s) it may be written to; the
/// first file that exists wins (kernels and I/O schedulers differ).
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub controller: &'static str,
    pub choices: Vec<(&'static str, String)>,
    /// The option that asked for it; `None` for a best-effort companion
    /// setting (swap) that some kernels do not have.
    pub option: Option<&'static str>,
}

fn write(
    controller: &'static str,
    option: Option<&'static str>,
    choices: &[(&'static str, String)],
) -> Write {
    Write {
        controller,
        choices: choices.to_vec(),
        option,
    }
}

/// The writes that enforce `limits` on `layout`, in order.
pub fn plan(layout: Layout, l: &Limits) -> Vec<Write> {
    let mut w = Vec::new();
    match layout {
        Layout::V2 => {
            if let Some(m) = l.memory {
                w.push(write(
                    "memory",
                    Some("--memory"),
                    &[("memory.max", m.to_string())],
                ));
                // Without this the limit would only push the container into swap.
                w.push(write("memory", None, &[("memory.swap.max", "0".into())]));
            }
            if let Some(p) = l.pids {
                w.push(write(
                    "pids",
                    Some("--pids"),
                    &[("pids.max", p.to_string())],
                ));
            }
            if let Some(q) = l.cpu_quota {
                w.push(write(
                    "cpu",
                    Some("--cpus"),
                    &[("cpu.max", format!("{q} {PERIOD_US}"))],
                ));
            }
            if let Some(weight) = l.cpu_weight {
                w.push(write(
                    "cpu",
                    Some("--cpu-weight"),
                    &[("cpu.weight", weight.to_string())],
                ));
            }
            if let Some(weight) = l.io_weight {
                w.push(write(
                    "io",
                    Some("--io-weight"),
                    &[
                        ("io.weight", format!("default {weight}")),
                        ("io.bfq.weight", v1_io_weight(weight).to_string()),
                    ],
                ));
            }
        }
        Layout::V1 => {
            if let Some(m) = l.memory {
                w.push(write(
                    "memory",
                    Some("--memory"),
                    &[("memory.limit_in_bytes", m.to_string())],
                ));
                w.push(write(
                    "memory",
                    None,
                    &[("memory.memsw.limit_in_bytes", m.to_string())],
                ));
            }
            if let Some(p) = l.pids {
                w.push(write(
                    "pids",
                    Some("--pids"),
                    &[("pids.max", p.to_string())],
                ));
            }
            if let Some(q) = l.cpu_quota {
                w.push(write(
                    "cpu",
                    Some("--cpus"),
                    &[("cpu.cfs_period_us", PERIOD_US.to_string())],
                ));
                w.push(write(
                    "cpu",
                    Some("--cpus"),
                    &[("cpu.cfs_quota_us", q.to_string())],
                ));
            }
            if let Some(weight) = l.cpu_weight {
                w.push(write(
                    "cpu",
                    Some("--cpu-weight"),
                    &[("cpu.shares", cpu_shares(weight).to_string())],
                ));
            }
            if let Some(weight) = l.io_weight {
                let v = v1_io_weight(weight).to_string();
                w.push(write(
                    "blkio",
                    Some("--io-weight"),
                    &[("blkio.weight", v.clone()), ("blkio.bfq.weight", v)],
                ));
            }
        }
    }
    w
}

/// cgroup v2 weight (1-10000) to v1 `cpu.shares` (2-262144), the inverse of
/// the conversion runc and crun use.
pub fn cpu_shares(weight: u64) -> u64 {
    2 + (weight - 1) * 262_142 / 9_999
}

/// cgroup v2 weight (1-10000) to v1 `blkio.weight` (10-1000).
pub fn v1_io_weight(weight: u64) -> u64 {
    10 + (weight - 1) * 990 / 9_999
}

/// Controllers a container gets a cgroup in: those its limits need, plus
/// memory and pids when the host has them (for OOM reporting and so every
/// container process is accounted).
fn controllers(writes: &[Write]) -> Vec<(&'static str, Option<&'static str>)> {
    let mut c: Vec<(&'static str, Option<&'static str>)> = vec![("memory", None), ("pids", None)];
    for w in writes {
        match c.iter_mut().find(|(name, _)| *name == w.controller) {
            Some(entry) => entry.1 = entry.1.or(w.option),
            None => c.push((w.controller, w.option)),
        }
    }
    c
}

/// A container's cgroup directories. Dropping it removes them.
pub struct Cgroup {
    layout: Layout,
    root: PathBuf,
    /// (controller, leaf directory) pairs that this container created.
    leaves: Vec<(&'static str, PathBuf)>,
    /// The membership file of each leaf, for a late join by the child.
    join_fds: Vec<OwnedFd>,
    /// The v2 leaf directory, for `CLONE_INTO_CGROUP`.
    dir_fd: Option<OwnedFd>,
}

impl Cgroup {
    /// Create the cgroup `name` and write `limits`; on any failure, remove
    /// what was created and report the first error.
    pub fn create(root: &Path, name: &str, limits: &Limits) -> Result<Cgroup> {
        let layout = match detect(root) {
            Some(layout) => layout,
            None if *limits == Limits::default() => return Ok(Cgroup::none(root)),
            None => {
                return Err(Error::invalid(
                    Step::CgroupSetup,
                    format!("{}: no cgroup file system mounted", root.display()),
                ));
            }
        };
        let writes = plan(layout, limits);
        let mut cg = Cgroup {
            layout,
            root: root.to_owned(),
            leaves: Vec::new(),
            join_fds: Vec::new(),
            dir_fd: None,
        };
        cg.make_dirs(name, &controllers(&writes))?;
        for w in &writes {
            cg.apply(w)?;
        }
        cg.open_handles()?;
        Ok(cg)
    }

    /// No cgroup at all (rootless: the host delegates none to users).
    pub fn none(root: &Path) -> Cgroup {
        Cgroup {
            layout: Layout::V1,
            root: root.to_owned(),
            leaves: Vec::new(),
            join_fds: Vec::new(),
            dir_fd: None,
        }
    }

    fn make_dirs(
        &mut self,
        name: &str,
        wanted: &[(&'static str, Option<&'static str>)],
    ) -> Result<()> {
        match self.layout {
            Layout::V1 => {
                for &(controller, option) in wanted {
                    let base = self.root.join(controller);
                    if !base.join("cgroup.procs").exists() {
                        match option {
                            Some(opt) => return Err(missing_controller(opt, controller)),
                            None => continue,
                        }
                    }
                    let leaf = make_leaf(&base, name)?;
                    self.leaves.push((controller, leaf));
                }
            }
            Layout::V2 => {
                let available = read_small(&self.root.join("cgroup.controllers"));
                let mut enable = Vec::new();
                for &(controller, option) in wanted {
                    if available.split_whitespace().any(|c| c == controller) {
                        enable.push(controller);
                    } else if let Some(opt) = option {
                        return Err(missing_controller(opt, controller));
                    }
                }
                let parent = self.root.join(PARENT);
                for dir in [self.root.as_path(), parent.as_path()] {
                    if dir == parent {
                        mkdir_parent(&parent)?;
                    }
                    for c in &enable {
                        let file = dir.join("cgroup.subtree_control");
                        write_file(&file, &format!("+{c}"))
                            .map_err(|e| e.at(file.display().to_string()))?;
                    }
                }
                let leaf = make_leaf(&self.root, name)?;
                self.leaves.push(("", leaf));
            }
        }
        Ok(())
    }

    /// Open what the child needs to join: done last, after the limits.
    fn open_handles(&mut self) -> Result<()> {
        for (_, leaf) in &self.leaves {
            // v1: join through `tasks`. Moving a single thread (we are
            // single-threaded) with pid 0 lets the kernel skip the global
            // threadgroup lock, whose RCU grace period made a `cgroup.procs`
            // write cost about 8 ms here. v2 has no `tasks`; it joins at
            // clone time when it can.
            let file = if self.layout == Layout::V1 {
                "tasks"
            } else {
                "cgroup.procs"
            };
            let procs = leaf.join(file);
            let fd = rustix::fs::open(&procs, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| Error::new(Step::CgroupCreate, e).at(procs.display().to_string()))?;
            self.join_fds.push(fd);
        }
        if let (Layout::V2, Some((_, leaf))) = (self.layout, self.leaves.first()) {
            let fd = rustix::fs::open(
                leaf,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::new(Step::CgroupCreate, e).at(leaf.display().to_string()))?;
            self.dir_fd = Some(fd);
        }
        Ok(())
    }

    fn apply(&self, w: &Write) -> Result<()> {
        let leaf = match self.layout {
            Layout::V2 => self.leaves.first().map(|(_, l)| l),
            Layout::V1 => self
                .leaves
                .iter()
                .find(|(c, _)| *c == w.controller)
                .map(|(_, l)| l),
        };
        let Some(leaf) = leaf else { return Ok(()) };
        for (file, value) in &w.choices {
            let path = leaf.join(file);
            if !path.exists() {
                continue;
            }
            return write_file(&path, value)
                .map_err(|e| e.at(format!("{} = {value}", path.display())));
        }
        match w.option {
            None => Ok(()),
            Some(opt) => Err(Error::invalid(
                Step::CgroupLimit,
                format!(
                    "{opt}: this host's {} controller cannot enforce it (no {})",
                    w.controller, w.choices[0].0
                ),
            )),
        }
    }

    /// The directory to pass to clone3 with `CLONE_INTO_CGROUP` (v2 only).
    pub fn clone_target(&self) -> Option<BorrowedFd<'_>> {
        use rustix::fd::AsFd;
        self.dir_fd.as_ref().map(|fd| fd.as_fd())
    }

    /// In the child: move this process into every leaf (`0` means "me").
    pub fn join(&self) -> rustix::io::Result<()> {
        for fd in &self.join_fds {
            rustix::io::write(fd, b"0")?;
        }
        Ok(())
    }

    /// Whether the kernel's OOM killer has killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        let (file, dir) = match self.layout {
            Layout::V2 => ("memory.events", self.leaves.first()),
            Layout::V1 => (
                "memory.oom_control",
                self.leaves.iter().find(|(c, _)| *c == "memory"),
            ),
        };
        let Some((_, dir)) = dir else { return false };
        let text = read_small(&dir.join(file));
        text.lines()
            .filter_map(|l| l.strip_prefix("oom_kill "))
            .any(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0))
    }

    /// The leaf directories, for messages and tests.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.leaves.iter().map(|(_, p)| p.as_path())
    }

    /// Remove the leaves, then the `cella/` parents if no other container
    /// uses them. Processes that were just killed may take a moment to leave
    /// the cgroup, hence the short retry on EBUSY.
    pub fn remove(mut self) -> Result<()> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> Result<()> {
        self.join_fds.clear();
        self.dir_fd = None;
        let mut first_error = None;
        for (_, leaf) in std::mem::take(&mut self.leaves) {
            let mut tries = 0;
            let result = loop {
                match rustix::fs::rmdir(&leaf) {
                    Err(Errno::BUSY) if tries < 200 => {
                        tries += 1;
                        let _ = rustix::thread::nanosleep(&rustix::time::Timespec {
                            tv_sec: 0,
                            tv_nsec: 5_000_000,
                        });
                    }
                    Err(Errno::NOENT) => break Ok(()),
                    other => break other,
                }
            };
            if let Err(e) = result {
                first_error.get_or_insert(
                    Error::new(Step::CgroupRemove, e).at(leaf.display().to_string()),
                );
            }
            if let Some(parent) = leaf.parent() {
                // Shared by all containers: only the last one out removes it.
                let _ = rustix::fs::rmdir(parent);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = self.remove_all();
    }
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

fn missing_controller(option: &str, controller: &str) -> Error {
    Error::invalid(
        Step::CgroupSetup,
        format!("{option}: the {controller} cgroup controller is not available on this host"),
    )
}

/// Create `<base>/cella/<name>`. The shared parent may be removed by another
/// container's cleanup between our two mkdirs, so retry that race.
fn make_leaf(base: &Path, name: &str) -> Result<PathBuf> {
    let parent = base.join(PARENT);
    let leaf = parent.join(name);
    for _ in 0..10 {
        mkdir_parent(&parent)?;
        match rustix::fs::mkdir(&leaf, Mode::from_raw_mode(0o755)) {
            Ok(()) => return Ok(leaf),
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(Error::new(Step::CgroupCreate, e).at(leaf.display().to_string())),
        }
    }
    Err(Error::new(Step::CgroupCreate, Errno::NOENT).at(leaf.display().to_string()))
}

fn mkdir_parent(parent: &Path) -> Result<()> {
    match rustix::fs::mkdir(parent, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(Error::new(Step::CgroupCreate, e).at(parent.display().to_string())),
    }
}

/// A cgroup interface file's text (they are small); empty if unreadable.
fn read_small(path: &Path) -> String {
    let mut buf = [0u8; 4096];
    let Ok(fd) = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
        return String::new();
    };
    let n = rustix::io::read(&fd, &mut buf).unwrap_or(0);
    core::str::from_utf8(&buf[..n])
        .unwrap_or_default()
        .to_owned()
}

fn write_file(path: &Path, value: &str) -> Result<()> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::new(Step::CgroupLimit, e))?;
    rustix::io::write(&fd, value.as_bytes()).map_err(|e| Error::new(Step::CgroupLimit, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            memory: Some(16 << 20),
            pids: Some(20),
            cpu_quota: Some(50_000),
            cpu_weight: Some(100),
            io_weight: Some(500),
        }
    }

    fn files(ws: &[Write]) -> Vec<(&str, &str)> {
        ws.iter()
            .map(|w| (w.choices[0].0, w.choices[0].1.as_str()))
            .collect()
    }

    #[test]
    fn v2_writes() {
        let ws = plan(Layout::V2, &limits());
        assert_eq!(
            files(&ws),
            [
                ("memory.max", "16777216"),
                ("memory.swap.max", "0"),
                ("pids.max", "20"),
                ("cpu.max", "50000 100000"),
                ("cpu.weight", "100"),
                ("io.weight", "default 500"),
            ]
        );
        assert_eq!(ws[1].option, None, "swap is best effort");
        assert_eq!(ws[5].choices[1].0, "io.bfq.weight");
    }

    #[test]
    fn v1_writes_period_before_quota() {
        let ws = plan(Layout::V1, &limits());
        assert_eq!(
            files(&ws),
            [
                ("memory.limit_in_bytes", "16777216"),
                ("memory.memsw.limit_in_bytes", "16777216"),
                ("pids.max", "20"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpu.shares", "2597"),
                ("blkio.weight", "59"),
            ]
        );
    }

    #[test]
    fn no_limits_no_writes_but_memory_and_pids_cgroups() {
        let ws = plan(Layout::V1, &Limits::default());
        assert!(ws.is_empty());
        assert_eq!(controllers(&ws), [("memory", None), ("pids", None)]);
        let ws = plan(
            Layout::V1,
            &Limits {
                cpu_weight: Some(1),
                memory: Some(1 << 20),
                ..Limits::default()
            },
        );
        assert_eq!(
            controllers(&ws),
            [
                ("memory", Some("--memory")),
                ("pids", None),
                ("cpu", Some("--cpu-weight"))
            ]
        );
    }

    #[test]
    fn weight_conversions_hit_both_ends() {
        assert_eq!((cpu_shares(1), cpu_shares(10_000)), (2, 262_144));
        assert_eq!((v1_io_weight(1), v1_io_weight(10_000)), (10, 1000));
    }

    #[test]
    fn failed_create_in_a_fake_v1_root_leaves_nothing_behind() {
        // A plain directory stands in for /sys/fs/cgroup: memory and pids
        // "controllers". mkdir there creates no interface files, so a limit
        // write must report that the host cannot enforce it.
        let root = std::env::temp_dir().join(format!("cella-cg-test-{}", std::process::id()));
        for c in ["memory", "pids"] {
            std::fs::create_dir_all(root.join(c)).unwrap();
            std::fs::write(root.join(c).join("cgroup.procs"), "").unwrap();
        }
        let err = Cgroup::create(
            &root,
            "c1",
            &Limits {
                pids: Some(5),
                ..Limits::default()
            },
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("--pids: this host's pids controller cannot enforce it"),
            "{err}"
        );
        assert!(!root.join("pids/cella").exists() && !root.join("memory/cella").exists());
        // A name in use is refused; the existing cgroup is left alone and the
        // half-made one is removed.
        std::fs::create_dir_all(root.join("pids/cella/c1")).unwrap();
        let err = Cgroup::create(&root, "c1", &Limits::default())
            .err()
            .unwrap();
        assert_eq!(err.errno, Some(Errno::EXIST), "{err}");
        assert!(root.join("pids/cella/c1").is_dir());
        assert!(!root.join("memory/cella").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn missing_controller_is_an_error_naming_the_option() {
        let root = std::env::temp_dir().join(format!("cella-cg-test2-{}", std::process::id()));
        std::fs::create_dir_all(root.join("memory")).unwrap();
        std::fs::write(root.join("memory/cgroup.procs"), "").unwrap();
        let err = Cgroup::create(
            &root,
            "c",
            &Limits {
                pids: Some(5),
                ..Limits::default()
            },
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("--pids: the pids cgroup controller is not available"),
            "{err}"
        );
        assert!(!root.join("memory/cella").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
