//! A container's cgroup while the cella that made it holds it: what every
//! front end asks for ([`Plan`]), made by [`Owned::create`], and removed
//! when the container ends or creation fails (dropping it), or kept past
//! this process ([`Owned::release`], OCI `create`).
//!
//! A supervised container's (`cella run`, `cella init`) lives at
//! `cella/ctr-NAME`, locked by its cella for the container's whole life.
//! The `cella/` parents stay once made, as docker's `docker/` does: making
//! and removing them for every container cost four cgroup creations and
//! removals (about 0.3 ms of a 4 ms `cella run`), and a parent removed
//! under a container being made sent it back to make it again.

use super::devices::DeviceRule;
use super::{
    Cgroup, Hierarchies, LEAF_PREFIX, PARENT, Request, Write, create, detect, open_dir, sweep,
};
use crate::error::{Error, Result, Step};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use std::path::Path;

/// The cgroup a container is to get, as data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// A supervised container's name (its cgroup is `cella/ctr-NAME` in the
    /// hierarchies its writes need, plus memory, pids and freezer where the
    /// host has them); `None`: an OCI container's, at `path` in every
    /// hierarchy, as runc makes it.
    pub supervised: Option<String>,
    /// Relative to each hierarchy (an OCI `cgroupsPath`).
    pub path: String,
    pub writes: Vec<Write>,
    /// Device rules in the order they apply; empty: every device.
    pub devices: Vec<DeviceRule>,
    /// OCI rootless (runc's rootless cgroup manager): where this user may
    /// not make it, no cgroup at all, unless limits are asked for. Its
    /// device rules are then moot: a user namespace can make no device
    /// node, and the host's are bound in with the host's permissions.
    pub only_where_permitted: bool,
}

impl Plan {
    fn path(&self) -> String {
        match &self.supervised {
            Some(name) => format!("{PARENT}/{LEAF_PREFIX}{name}"),
            None => self.path.clone(),
        }
    }

    /// Besides what the writes need, a supervised container gets memory and
    /// pids (accounting, OOM reports) and freezer (`pause`, and killing
    /// everything in it).
    fn wanted(&self) -> Vec<(&'static str, Option<&'static str>)> {
        let mut wanted: Vec<(&'static str, Option<&'static str>)> =
            vec![("memory", None), ("pids", None), ("freezer", None)];
        for w in &self.writes {
            let option = w.required.then_some(w.what);
            match wanted.iter_mut().find(|(c, _)| *c == w.controller) {
                Some(entry) => entry.1 = entry.1.or(option),
                None => wanted.push((w.controller, option)),
            }
        }
        wanted
    }

    fn request<'a>(
        &'a self,
        path: &'a str,
        wanted: &'a [(&'static str, Option<&'static str>)],
    ) -> Request<'a> {
        Request {
            path,
            // Only the OCI runtime makes unsupervised ones.
            hierarchies: match self.supervised {
                None if cfg!(feature = "oci") => Hierarchies::All,
                _ => Hierarchies::Wanted(wanted),
            },
            writes: &self.writes,
            devices: &self.devices,
            owned: self.supervised.is_some(),
        }
    }

    /// The directories [`Owned::create`] would make, made or not (recorded
    /// before they exist, so a killed cella's are found).
    #[cfg(feature = "oci")]
    pub fn dirs(&self, root: &Path) -> Result<Cgroup> {
        let (path, wanted) = (self.path(), self.wanted());
        super::plan(root, &self.request(&path, &wanted))
    }
}

/// A container's cgroup, for as long as this process holds it: locked if
/// supervised (see the module docs), with what the child needs to join.
/// Removing it (or dropping it) kills whatever is left in it first.
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
    /// See [`super::Created::found_processes`].
    pub found_processes: usize,
}

impl Owned {
    /// Create the cgroup `plan` describes with its device rules and limits
    /// (a supervised one after sweeping leftovers of killed cellas).
    pub fn create(root: &Path, plan: &Plan) -> Result<Owned> {
        let path = plan.path();
        let leaf = path.rsplit('/').next().unwrap_or_default();
        let swept_ours = plan.supervised.is_some()
            && detect(root).is_some_and(|layout| sweep(root, layout).iter().any(|s| s == leaf));
        let wanted = plan.wanted();
        let created = match create(root, &plan.request(&path, &wanted)) {
            Err(e)
                if plan.only_where_permitted
                    && matches!(e.errno, Some(Errno::PERM | Errno::ACCESS | Errno::ROFS)) =>
            {
                if plan.writes.is_empty() {
                    return Ok(Owned::none());
                }
                return Err(Error::invalid(
                    Step::CgroupCreate,
                    format!("rootless: the limits need a cgroup this user may make ({e})"),
                ));
            }
            other => other?,
        };
        let mut owned = Owned {
            join_fds: Vec::new(),
            dir_fd: None,
            reclaimed: created.reclaimed || swept_ours,
            found_processes: created.found_processes,
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
            found_processes: 0,
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

    /// Keep the cgroup past this process (an OCI container, which `delete`
    /// removes).
    pub fn release(mut self) -> Cgroup {
        self.join_fds.clear();
        self.dir_fd = None;
        std::mem::take(&mut self.cgroup)
    }

    /// Kill what is left in the cgroup (processes the payload started and
    /// left behind), remove the leaves.
    pub fn remove(mut self) -> Result<()> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> Result<()> {
        self.join_fds.clear();
        self.dir_fd = None;
        let cgroup = std::mem::take(&mut self.cgroup);
        // Usually the payload left nothing behind and the directory its
        // processes are listed from removes at once, sparing the search
        // for processes (a walk and a read per cgroup). Otherwise that
        // directory is still whole for the search.
        let empty = cgroup.any().is_some_and(|d| rustix::fs::rmdir(d).is_ok());
        if !empty {
            cgroup.kill_all();
        }
        cgroup.remove()
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.remove_all();
    }
}
