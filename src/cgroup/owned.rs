//! The cgroup of a `cella run` or `cella init` container: created under
//! `cella/`, locked by its cella for the container's life, emptied and
//! removed when the container ends (or when this process drops it).

use super::devices::DeviceRule;
use super::{
    Cgroup, Hierarchies, LEAF_PREFIX, PARENT, Request, Write, create, detect, open_dir, sweep,
};
use crate::error::{Error, Result, Step};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

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
    /// pids (accounting, OOM reports) and freezer (`pause`, and killing
    /// everything in it) where the host has them.
    pub fn create(
        root: &Path,
        name: &str,
        writes: &[Write],
        devices: &[DeviceRule],
    ) -> Result<Owned> {
        let leaf = format!("{LEAF_PREFIX}{name}");
        let swept_ours = detect(root).is_some_and(|layout| sweep(root, layout).contains(&leaf));
        let mut wanted: Vec<(&'static str, Option<&'static str>)> =
            vec![("memory", None), ("pids", None), ("freezer", None)];
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

    /// The membership files the child writes `0` ("me") to.
    pub fn join_fds(&self) -> &[OwnedFd] {
        &self.join_fds
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
