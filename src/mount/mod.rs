//! The container's file system view: planned as data, applied with the new
//! mount API.
//!
//! [`plan`] turns the [`Filesystem`] every front end describes into an
//! ordered list of [`MountOp`]s (pure, unit tested). [`enter_root`],
//! [`apply`] and [`switch_root`] run in the child, in its new mount
//! namespace. Every mount target inside the new root is
//! opened with `openat2(RESOLVE_IN_ROOT)` and mounted onto by file
//! descriptor (`move_mount`), so a symlink in the image can never send a
//! mount outside the rootfs.

use crate::cgroup::Cgroup;
use crate::error::{Ctx, Error, Result, Step};
use crate::sys;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{CWD, FileType};
use rustix::io::Errno;
use rustix::mount::{MoveMountFlags, OpenTreeFlags, move_mount, open_tree};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

mod apply;
#[cfg(feature = "image")]
pub mod layers;
mod paths;
mod plan;

pub use apply::{apply, new_fs, open_bind_sources, verify_procfs};
pub use paths::make_dir;
pub use plan::{DeviceNode, Filesystem, cpath, plan};

const NOSUID: u64 = linux_raw_sys::general::MOUNT_ATTR_NOSUID as u64;
const NODEV: u64 = linux_raw_sys::general::MOUNT_ATTR_NODEV as u64;
const NOEXEC: u64 = linux_raw_sys::general::MOUNT_ATTR_NOEXEC as u64;
pub const RDONLY: u64 = linux_raw_sys::general::MOUNT_ATTR_RDONLY as u64;

/// One mount (or device setup) inside the new root, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct MountOp {
    /// The step reported if this op fails.
    pub step: Step,
    /// Target relative to the new root, e.g. `dev/pts`.
    pub target: String,
    pub kind: Kind,
    /// OCI's `shared`, `slave`, `unbindable` (`MS_*`), and whether for
    /// the whole tree (their `r*` forms); `None`: private, as every mount
    /// in the container starts.
    pub propagation: Option<(u64, bool)>,
    /// Skipped where its mount point is missing and cannot be made (a
    /// read-only or foreign-owned `/etc` of a rootless container): the
    /// name resolution files, which a container can do without.
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A fresh file system instance: type, `fsconfig` options, mount
    /// attributes; `copy_up`: it starts with a copy of what the directory
    /// it covers holds (`tmpcopyup`, runc's and crun's extension, which
    /// podman asks for on the tmpfs of `--read-only` and `--tmpfs`; see
    /// [`crate::dirs::copy`]).
    Fs {
        fstype: String,
        options: Vec<(String, String)>,
        attrs: u64,
        copy_up: bool,
    },
    /// The device nodes and symlinks of a minimal `/dev` (the target is
    /// `dev`), but those `listed` (bit `i` for the `i`th of [`DEV_NAMES`]):
    /// a config's own node of that name is made instead, as
    /// runc makes it.
    DevNodes { listed: u16 },
    /// A bind of a host path: recursive or not, with mount attributes for
    /// its top mount (`attrs`) and for every mount of the tree
    /// (`tree_attrs`: OCI's `rro` and the other `r*` options, `cella run`'s
    /// `:ro`).
    Bind {
        source: CString,
        is_dir: bool,
        recursive: bool,
        attrs: u64,
        tree_attrs: u64,
    },
    /// A device node (`linux.devices`, `--device`): type, device number,
    /// mode, owner.
    Node {
        kind: FileType,
        dev: u64,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// Write `value` to a file under a verified procfs (a sysctl).
    ProcWrite { value: Vec<u8> },
    /// A directory, made (with its parents) where missing: the working
    /// directory, as docker and runc make it.
    Dir,
    /// Make an existing path read-only (bind it over itself); absent paths
    /// are skipped.
    ReadOnly,
    /// Make the mount at the target read-only, itself only: a read-only
    /// file system (`/dev` with `ro`) whose mount points and device nodes
    /// had to be made in it first.
    Seal,
    /// Hide an existing path: `/dev/null` over a file, an empty read-only
    /// tmpfs over a directory; absent paths are skipped.
    Mask,
    /// A read-only view of the container's own cgroup: a tmpfs with one
    /// bind per v1 hierarchy (name, host directory), or on v2 the one
    /// directory bound directly.
    Cgroup {
        dirs: Vec<(String, CString)>,
        v2: bool,
        read_only: bool,
    },
}

/// The names in the minimal `/dev`: its character devices ([`DEV_NUMBERS`],
/// in this order), then its symbolic links ([`DEV_LINK_TARGETS`]). (Strings
/// and numbers, not a table of names: no relocation per name.)
pub const DEV_NAMES: &str = "null zero full random urandom tty fd stdin stdout stderr ptmx";

/// The devices' (major, minor).
pub const DEV_NUMBERS: [(u32, u32); 6] = [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0)];

/// The links' targets.
pub const DEV_LINK_TARGETS: &str =
    "/proc/self/fd /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2 pts/ptmx";

/// A view of the container's own cgroup at `target` (see [`Kind::Cgroup`]):
/// planned before the cgroup exists, its directories filled in by
/// [`show_cgroup`] once it does.
pub fn cgroup_view(target: &str, read_only: bool) -> MountOp {
    MountOp {
        step: Step::Mount,
        propagation: None,
        optional: false,
        target: target.to_owned(),
        kind: Kind::Cgroup {
            dirs: Vec::new(),
            v2: false,
            read_only,
        },
    }
}

/// Point every cgroup view of `ops` at `cgroup`, the container's, now made;
/// without one (rootless, no cgroup file system) there is nothing to show,
/// and the views go.
pub fn show_cgroup(ops: &mut Vec<MountOp>, cgroup: &Cgroup) {
    ops.retain(|op| !matches!(op.kind, Kind::Cgroup { .. }) || !cgroup.dirs.is_empty());
    for op in ops.iter_mut() {
        if let Kind::Cgroup { dirs, v2, .. } = &mut op.kind {
            *v2 = cgroup.v2;
            *dirs = cgroup
                .dirs
                .iter()
                .map(|(name, dir)| {
                    let dir = CString::new(dir.as_os_str().as_bytes()).unwrap_or_default();
                    (name.clone(), dir)
                })
                .collect();
        }
    }
}

/// What docker makes read-only in `/proc`: the kernel's knobs and triggers.
pub const READ_ONLY_PATHS: &str = "proc/bus proc/fs proc/irq proc/sys proc/sysrq-trigger";

/// What docker hides: kernel memory, keys, timers and firmware.
pub const MASKED_PATHS: &str = concat!(
    "proc/acpi proc/asound proc/kcore proc/keys proc/latency_stats proc/timer_list ",
    "proc/timer_stats proc/sched_debug proc/scsi sys/firmware ",
    "sys/devices/virtual/powercap",
);

/// Clone the root tree, attach it over its own source, and make it the
/// current directory. Returns the tree's fd, which every later step
/// resolves paths from.
///
/// For the host root the clone is stacked on `/` itself: it needs no scratch
/// directory, and the old root is detached in [`switch_root`] all the same.
///
/// `host_root`: the source is the host's `/`, whose own submounts (/home,
/// /boot, ...) become read-only too; cella's mounts, made later, are not
/// affected.
pub fn enter_root(source: &CString, host_root: bool) -> Result<OwnedFd> {
    let read_only = host_root;
    let tree = open_tree(
        CWD,
        source.as_c_str(),
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::AT_RECURSIVE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .ctx(Step::CloneRoot)?;
    if read_only {
        sys::mount_setattr(&tree, RDONLY, true).ctx(Step::ReadOnlyRoot)?;
    }
    move_mount(
        &tree,
        c"",
        CWD,
        source.as_c_str(),
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .ctx(Step::AttachRoot)?;
    rustix::process::fchdir(&tree).ctx(Step::EnterRoot)?;
    Ok(tree)
}

/// Make the current directory (the new root) `/` and detach the old root,
/// so nothing of the host stays reachable (`pivot_root(".", ".")`, the
/// sequence runc and crun use). Where pivot_root is impossible (the old root
/// is the initramfs, which has no parent mount: EINVAL), move the new root
/// over `/` and chroot into it instead, as switch_root does.
///
/// `on_slash` says the tree is already attached over `/` (the host-root
/// default), so the fallback has nothing to move. `covers` mounts of ours
/// are stacked over the old root (a layered root's scratch tmpfs): after
/// the pivot they are on top of it at `.`, and go first.
pub fn switch_root(
    tree: BorrowedFd<'_>,
    read_only: bool,
    on_slash: bool,
    covers: usize,
) -> Result<()> {
    if read_only {
        // Only the root mount itself: /proc, /dev, tmpfs and binds keep theirs.
        sys::mount_setattr(tree, RDONLY, false).ctx(Step::ReadOnlyRoot)?;
    }
    match rustix::process::pivot_root(c".", c".") {
        Ok(()) => {
            for _ in 0..=covers {
                rustix::mount::unmount(c".", rustix::mount::UnmountFlags::DETACH)
                    .ctx(Step::DetachOldRoot)?;
            }
        }
        Err(Errno::INVAL) => {
            if !on_slash {
                rustix::mount::mount_move(c".", c"/").ctx(Step::Chroot)?;
            }
            rustix::process::chroot(c".").ctx(Step::Chroot)?;
        }
        Err(e) => return Err(Error::new(Step::PivotRoot, e)),
    }
    rustix::process::chdir(c"/").ctx(Step::PivotRoot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup_view_shows_the_cgroup_made_or_goes() {
        let planned = || vec![cgroup_view("sys/fs/cgroup", true), cgroup_view("x", false)];
        let mut ops = planned();
        let cgroup = Cgroup {
            v2: true,
            dirs: vec![(String::new(), "/sys/fs/cgroup/cella/ctr-c".into())],
            existing: Vec::new(),
        };
        show_cgroup(&mut ops, &cgroup);
        assert_eq!(
            ops[0].kind,
            Kind::Cgroup {
                dirs: vec![(String::new(), c"/sys/fs/cgroup/cella/ctr-c".to_owned())],
                v2: true,
                read_only: true,
            }
        );
        let mut none = planned();
        show_cgroup(&mut none, &Cgroup::default());
        assert!(none.is_empty());
    }

    #[test]
    fn split_paths() {
        assert_eq!(paths::split("a/b/c"), ("a/b", "c"));
        assert_eq!(paths::split("a"), ("", "a"));
    }
}
