//! Making a container's cgroup: the directories in each hierarchy (or the
//! one v2 directory), its device rules and limits, undone on failure; and
//! for [`super::Owned`] cgroups the lock that marks them alive, the
//! take-over of a killed cella's leftover and the sweep of the others.

use super::devices::{self, DeviceRule};
use super::{
    Cgroup, LEAF_PREFIX, Layout, PARENT, Write, detect, holds, missing_controller, open_dir,
    read_small, write_file,
};
use crate::error::{Error, Result, Step};
use rustix::fd::OwnedFd;
use rustix::fs::{FlockOperation, Mode};
use rustix::io::Errno;
use std::path::{Path, PathBuf};

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
    /// Lock each leaf for the life of the caller (see [`super::Owned`]), and take
    /// over an abandoned leaf of the same path.
    pub owned: bool,
}

/// A created cgroup with the locks that mark it as ours.
pub struct Created {
    pub cgroup: Cgroup,
    pub locks: Vec<OwnedFd>,
    /// An abandoned cgroup of the same name was removed to make room.
    pub reclaimed: bool,
    /// Processes already in an existing cgroup taken as it is (an OCI
    /// `cgroupsPath` someone made beforehand; runc warns of them).
    pub found_processes: usize,
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
        existing: Vec::new(),
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
        found_processes: 0,
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
    // (Only the OCI runtime takes an existing cgroup.)
    if cfg!(feature = "oci") && !req.owned {
        refuse_frozen(&bases, req.path, v2)?;
    }
    let mut made: Vec<PathBuf> = Vec::new();
    let mut out = Created {
        cgroup: Cgroup {
            v2,
            ..Cgroup::default()
        },
        locks: Vec::new(),
        reclaimed: false,
        found_processes: 0,
    };
    let result = (|| {
        let enable = if v2 {
            v2_controllers(root, req)?
        } else {
            Vec::new()
        };
        for (name, base) in &bases {
            let leaf = make_path(base, req.path, name, &enable, &mut made)?;
            let (lock, reclaimed, fresh) = make_leaf(&leaf, req.owned)?;
            if fresh {
                made.push(leaf.clone());
            } else if !super::tree_pids(&leaf).is_empty() {
                out.cgroup.existing.push(leaf.clone());
            }
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
        if cfg!(feature = "oci") && !req.owned {
            out.found_processes = out.cgroup.pids().len();
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
        Hierarchies::All => {
            let mut all: Vec<(String, PathBuf)> = hierarchies(root)
                .into_iter()
                .map(|h| {
                    let base = root.join(&h);
                    (h, base)
                })
                .collect();
            let hybrid = root.join(super::HYBRID);
            if detect(&hybrid) == Some(Layout::V2) {
                all.push((super::HYBRID.to_owned(), hybrid));
            }
            all
        }
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
            Ok(()) => made.push(dir.clone()),
            Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::new(Step::CgroupCreate, e).at(dir.display().to_string())),
        }
        // A parent made by someone else may be just as empty as a new one.
        if holds(hierarchy, "cpuset") {
            inherit_cpuset(&dir);
        }
        enable_controllers(&dir, enable);
    }
    Ok(leaf_of(base, rel))
}

/// Make the leaf itself. `owned`: lock it, and take over a leftover of the
/// same path whose owner is gone (unlocked) and which holds no process;
/// returns the lock, whether a leftover was taken over and whether the
/// leaf is new. Another container's leaf (locked or populated) is a
/// clash. Not `owned` (OCI), an existing leaf is used as it is, as runc
/// does.
fn make_leaf(leaf: &Path, owned: bool) -> Result<(Option<OwnedFd>, bool, bool)> {
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
            Err(Errno::EXIST) => return Ok((None, false, false)),
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
            return Ok((None, reclaimed, true));
        }
        let lock = open_dir(leaf)
            .and_then(|fd| rustix::fs::flock(&fd, FlockOperation::LockExclusive).map(|()| fd));
        match lock {
            // Still ours once locked: the path still leads to the directory
            // we locked (a sweep did not remove it meanwhile).
            Ok(fd) if same_file(&fd, leaf) => return Ok((Some(fd), reclaimed, true)),
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

/// The v1 hierarchies an [`super::Owned`] cgroup can have a directory in (what
/// `cella run`'s options and device rules need): where [`sweep`] looks.
const OWNED_CONTROLLERS: &str = "memory pids devices freezer cpu blkio";

/// Remove every abandoned leaf under `cella/` in each hierarchy (what a
/// killed `cella run` or `cella init` could not remove itself). Returns
/// the names of the leaves removed (once per hierarchy).
pub fn sweep(root: &Path, layout: Layout) -> Vec<String> {
    let parents: Vec<PathBuf> = match layout {
        Layout::V2 => vec![root.join(PARENT)],
        Layout::V1 => OWNED_CONTROLLERS
            .split(' ')
            .map(|h| root.join(h).join(PARENT))
            .collect(),
    };
    let mut removed = Vec::new();
    for parent in parents {
        for name in crate::dirs::subdirs(&parent) {
            let Some(name) = name.to_str().filter(|n| n.starts_with(LEAF_PREFIX)) else {
                continue;
            };
            if remove_if_abandoned(&parent.join(name)) {
                removed.push(name.to_owned());
            }
        }
    }
    removed
}

/// The v1 hierarchies of this host (real directories with `cgroup.procs`;
/// `cpu` and `cpuacct` are symlinks to `cpu,cpuacct` and are skipped), not
/// the hybrid cgroup2 mount.
fn hierarchies(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for name in crate::dirs::subdirs(root) {
        let name = name.to_string_lossy().into_owned();
        if name != "unified" && root.join(&name).join("cgroup.procs").exists() {
            out.push(name);
        }
    }
    crate::heapsort::sort(&mut out);
    out
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

/// A new v1 cpuset cgroup starts with no CPUs and no memory nodes: an
/// empty one gets its parent's (set first, top down), or nothing could
/// join it.
fn inherit_cpuset(dir: &Path) {
    let Some(parent) = dir.parent() else { return };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read_small(&dir.join(file)).trim().is_empty() {
            let v = read_small(&parent.join(file));
            let _ = write_file(&dir.join(file), v.trim());
        }
    }
}

/// An existing cgroup at `path` that is frozen cannot take a container
/// (its process would never run): refused before anything is made, with
/// runc's message.
fn refuse_frozen(bases: &[(String, PathBuf)], path: &str, v2: bool) -> Result<()> {
    let (file, frozen) = if v2 {
        ("cgroup.freeze", "1")
    } else {
        ("freezer.state", "FROZEN")
    };
    let freezer = bases.iter().find(|(n, _)| v2 || holds(n, "freezer"));
    if let Some((_, base)) = freezer
        && read_small(&leaf_of(base, path).join(file)).trim() == frozen
    {
        return Err(Error::invalid(
            Step::CgroupCreate,
            "container's cgroup unexpectedly frozen",
        ));
    }
    Ok(())
}

fn same_file(fd: &OwnedFd, path: &Path) -> bool {
    match (rustix::fs::fstat(fd), rustix::fs::stat(path)) {
        (Ok(a), Ok(b)) => a.st_ino == b.st_ino && a.st_dev == b.st_dev,
        _ => false,
    }
}
