//! The container's file system view: planned as data, applied with the new
//! mount API.
//!
//! [`plan`] turns the spec into an ordered list of [`MountOp`]s (pure, unit
//! tested). [`enter_root`], [`apply`] and [`switch_root`] run in the child,
//! in its new mount namespace. Every mount target inside the new root is
//! opened with `openat2(RESOLVE_IN_ROOT)` and mounted onto by file
//! descriptor (`move_mount`), so a symlink in the image can never send a
//! mount outside the rootfs.

use crate::cgroup::Cgroup;
use crate::error::{Ctx, Error, Result, Step};
use crate::spec::Spec;
use crate::sys;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{CWD, FileType};
use rustix::io::Errno;
use rustix::mount::{MoveMountFlags, OpenTreeFlags, move_mount, open_tree};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

mod apply;
mod paths;

pub use apply::{apply, verify_procfs};
pub use paths::make_dir;

const NOSUID: u64 = linux_raw_sys::general::MOUNT_ATTR_NOSUID as u64;
const NODEV: u64 = linux_raw_sys::general::MOUNT_ATTR_NODEV as u64;
const NOEXEC: u64 = linux_raw_sys::general::MOUNT_ATTR_NOEXEC as u64;
const RDONLY: u64 = linux_raw_sys::general::MOUNT_ATTR_RDONLY as u64;

/// One mount (or device setup) inside the new root, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct MountOp {
    /// The step reported if this op fails.
    pub step: Step,
    /// Target relative to the new root, e.g. `dev/pts`.
    pub target: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A fresh file system instance: type, `fsconfig` options, mount attributes.
    Fs {
        fstype: String,
        options: Vec<(String, String)>,
        attrs: u64,
    },
    /// A bind of a host path (recursive), optionally read-only.
    Bind {
        source: CString,
        read_only: bool,
        is_dir: bool,
    },
    /// The device nodes and symlinks of a minimal `/dev` (the target is `dev`).
    DevNodes,
    /// An OCI bind: recursive or not, with mount attributes (applied to
    /// every mount of the tree when recursive).
    BindWith {
        source: CString,
        is_dir: bool,
        recursive: bool,
        attrs: u64,
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
    /// Make an existing path read-only (bind it over itself); absent paths
    /// are skipped.
    ReadOnly,
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

/// Character devices of the minimal `/dev`: name, major, minor.
pub const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Symlinks of the minimal `/dev`: name, target.
pub const DEV_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

fn fs(
    step: Step,
    target: &str,
    fstype: &'static str,
    options: &[(&'static str, &str)],
    attrs: u64,
) -> MountOp {
    MountOp {
        step,
        target: target.to_owned(),
        kind: Kind::Fs {
            fstype: fstype.to_owned(),
            options: options
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            attrs,
        },
    }
}

/// A view of the container's own cgroup at `target` (see [`Kind::Cgroup`]):
/// planned before the cgroup exists, its directories filled in by
/// [`show_cgroup`] once it does.
pub fn cgroup_view(target: &str, read_only: bool) -> MountOp {
    MountOp {
        step: Step::Mount,
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

/// The mounts of a container, in the order they must happen: `/dev` before
/// what lives in it, cella's own mounts before the user's so a user mount
/// can shadow them (as with docker's `-v`). `cgroup` is the container's,
/// shown at `/sys/fs/cgroup` (read-only unless `--privileged`), so programs
/// can read their limits (JVMs, Go's and Node's runtimes size themselves
/// from them).
pub fn plan(spec: &Spec) -> Vec<MountOp> {
    let mut ops = vec![
        fs(
            Step::MountProc,
            "proc",
            "proc",
            &[],
            NOSUID | NODEV | NOEXEC,
        ),
        fs(
            Step::MountSys,
            "sys",
            "sysfs",
            &[],
            RDONLY | NOSUID | NODEV | NOEXEC,
        ),
        fs(
            Step::MountDev,
            "dev",
            "tmpfs",
            &[("mode", "755"), ("size", "65536k")],
            NOSUID | NOEXEC,
        ),
        MountOp {
            step: Step::MakeDevice,
            target: "dev".into(),
            kind: Kind::DevNodes,
        },
        fs(
            Step::MountDevPts,
            "dev/pts",
            "devpts",
            &[
                ("newinstance", ""),
                ("ptmxmode", "0666"),
                ("mode", "0620"),
                ("gid", "5"),
            ],
            NOSUID | NOEXEC,
        ),
        fs(
            Step::MountShm,
            "dev/shm",
            "tmpfs",
            &[("mode", "1777"), ("size", "65536k")],
            NOSUID | NODEV | NOEXEC,
        ),
        fs(
            Step::MountMqueue,
            "dev/mqueue",
            "mqueue",
            &[],
            NOSUID | NODEV | NOEXEC,
        ),
    ];
    if spec.rootless.is_some() {
        // gid 5 (tty) is not mapped in a rootless user namespace.
        if let Some(MountOp {
            kind: Kind::Fs { options, .. },
            ..
        }) = ops.iter_mut().find(|o| o.step == Step::MountDevPts)
        {
            options.retain(|(k, _)| k != "gid");
        }
    }
    ops.push(cgroup_view("sys/fs/cgroup", spec.confine_proc));
    // `--device` nodes, made in the container's /dev; rootless, where
    // mknod is refused, the host's node is bound instead.
    for d in &spec.devices {
        let source = CString::new(d.host.as_os_str().as_bytes()).unwrap_or_default();
        ops.push(MountOp {
            step: Step::MakeDevice,
            target: d.target.clone(),
            kind: if spec.rootless.is_some() {
                Kind::Bind {
                    source,
                    read_only: false,
                    is_dir: false,
                }
            } else {
                Kind::Node {
                    kind: d.kind,
                    dev: rustix::fs::makedev(d.major, d.minor),
                    mode: d.mode,
                    uid: 0,
                    gid: 0,
                }
            },
        });
    }
    if spec.root.is_host {
        ops.push(fs(
            Step::MountTmpfs,
            "tmp",
            "tmpfs",
            &[("mode", "1777")],
            NOSUID | NODEV,
        ));
    }
    for t in &spec.tmpfs {
        ops.push(fs(
            Step::MountTmpfs,
            t,
            "tmpfs",
            &[("mode", "1777")],
            NOSUID | NODEV,
        ));
    }
    for b in &spec.binds {
        let source = CString::new(b.source.as_os_str().as_bytes()).unwrap_or_default();
        ops.push(MountOp {
            step: Step::BindMount,
            target: b.target.clone(),
            kind: Kind::Bind {
                source,
                read_only: b.read_only,
                is_dir: b.is_dir,
            },
        });
    }
    if spec.confine_proc {
        for p in READ_ONLY_PATHS {
            ops.push(MountOp {
                step: Step::ReadOnlyPath,
                target: p.into(),
                kind: Kind::ReadOnly,
            });
        }
        for p in MASKED_PATHS {
            ops.push(MountOp {
                step: Step::MaskPath,
                target: p.into(),
                kind: Kind::Mask,
            });
        }
    }
    ops
}

/// What docker makes read-only in `/proc`: the kernel's knobs and triggers.
pub const READ_ONLY_PATHS: [&str; 5] = [
    "proc/bus",
    "proc/fs",
    "proc/irq",
    "proc/sys",
    "proc/sysrq-trigger",
];

/// What docker hides: kernel memory, keys, timers and firmware.
pub const MASKED_PATHS: [&str; 11] = [
    "proc/acpi",
    "proc/asound",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
    "proc/scsi",
    "sys/firmware",
    "sys/devices/virtual/powercap",
];

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
/// default), so the fallback has nothing to move.
pub fn switch_root(tree: BorrowedFd<'_>, read_only: bool, on_slash: bool) -> Result<()> {
    if read_only {
        // Only the root mount itself: /proc, /dev, tmpfs and binds keep theirs.
        sys::mount_setattr(tree, RDONLY, false).ctx(Step::ReadOnlyRoot)?;
    }
    match rustix::process::pivot_root(c".", c".") {
        Ok(()) => {
            rustix::mount::unmount(c".", rustix::mount::UnmountFlags::DETACH)
                .ctx(Step::DetachOldRoot)?;
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

/// The root source as a C string (`/` for the host's root).
pub fn root_source(spec: &Spec) -> CString {
    CString::new(spec.root.source.as_os_str().as_bytes()).unwrap_or_else(|_| c"/".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Net;
    use crate::process::Payload;
    use crate::spec::{BindMount, Limits, Root, Spec};
    use std::path::PathBuf;

    fn spec(is_host: bool) -> Spec {
        Spec {
            name: "t".into(),
            hostname: "t".into(),
            root: Root {
                source: PathBuf::from("/r"),
                is_host,
                read_only: false,
            },
            net: Net::None,
            pid_host: false,
            limits: Limits::default(),
            tmpfs: vec!["run".into()],
            devices: vec![],
            device_rules: vec![],
            binds: vec![BindMount {
                source: "/data".into(),
                target: "srv/data".into(),
                read_only: true,
                is_dir: true,
            }],
            payload: Payload::default(),
            confine_proc: false,
            detach: false,
            remove: false,
            options: vec![],
            rootless: None,
        }
    }

    #[test]
    fn dev_comes_before_what_lives_in_it_and_user_mounts_come_last() {
        let ops = plan(&spec(false));
        let targets: Vec<&str> = ops.iter().map(|o| o.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "proc",
                "sys",
                "dev",
                "dev",
                "dev/pts",
                "dev/shm",
                "dev/mqueue",
                "sys/fs/cgroup",
                "run",
                "srv/data"
            ]
        );
        assert_eq!(ops[3].kind, Kind::DevNodes);
        assert!(matches!(
            &ops[9].kind,
            Kind::Bind {
                read_only: true,
                is_dir: true,
                ..
            }
        ));
    }

    #[test]
    fn sysfs_is_read_only_and_proc_is_noexec() {
        let ops = plan(&spec(false));
        let attrs = |i: usize| match &ops[i].kind {
            Kind::Fs { attrs, .. } => *attrs,
            _ => unreachable!(),
        };
        assert_ne!(attrs(1) & RDONLY, 0);
        assert_ne!(attrs(0) & NOEXEC, 0);
        assert_eq!(attrs(2) & NODEV, 0, "/dev must allow device nodes");
    }

    #[test]
    fn devpts_is_a_new_instance() {
        let ops = plan(&spec(false));
        match &ops[4].kind {
            Kind::Fs {
                fstype, options, ..
            } if fstype == "devpts" => {
                assert!(options.contains(&("newinstance".into(), String::new())))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn host_root_gets_a_private_tmp() {
        let host = plan(&spec(true));
        assert!(
            host.iter()
                .any(|o| o.target == "tmp" && o.step == Step::MountTmpfs)
        );
        assert!(!plan(&spec(false)).iter().any(|o| o.target == "tmp"));
    }

    #[test]
    fn the_cgroup_view_shows_the_cgroup_made_or_goes() {
        let mut ops = plan(&spec(false));
        let cgroup = Cgroup {
            v2: true,
            dirs: vec![(String::new(), "/sys/fs/cgroup/cella/ctr-c".into())],
        };
        show_cgroup(&mut ops, &cgroup);
        let view = ops.iter().find(|o| o.target == "sys/fs/cgroup").unwrap();
        assert_eq!(
            view.kind,
            Kind::Cgroup {
                dirs: vec![(String::new(), c"/sys/fs/cgroup/cella/ctr-c".to_owned())],
                v2: true,
                read_only: false,
            }
        );
        let mut none = plan(&spec(false));
        show_cgroup(&mut none, &Cgroup::default());
        assert!(!none.iter().any(|o| matches!(o.kind, Kind::Cgroup { .. })));
        assert_eq!(none.len(), ops.len() - 1);
    }

    #[test]
    fn split_paths() {
        assert_eq!(paths::split("a/b/c"), ("a/b", "c"));
        assert_eq!(paths::split("a"), ("", "a"));
    }
}
