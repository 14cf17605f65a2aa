//! The container's file system view: planned as data, applied with the new
//! mount API.
//!
//! [`plan`] turns the spec into an ordered list of [`MountOp`]s (pure, unit
//! tested). [`enter_root`], [`apply`] and [`switch_root`] run in the child,
//! in its new mount namespace. Every mount target inside the new root is
//! opened with `openat2(RESOLVE_IN_ROOT)` and mounted onto by file
//! descriptor (`move_mount`), so a symlink in the image can never send a
//! mount outside the rootfs.

use crate::error::{Ctx, Error, Result, Step};
use crate::spec::Spec;
use crate::sys;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{self, CWD, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags, fsconfig_create,
    fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount, open_tree,
};
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;

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
#[cfg_attr(not(feature = "oci"), allow(dead_code))]
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
    /// A device node (`linux.devices`): type, device number, mode, owner.
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

/// The mounts of a container, in the order they must happen: `/dev` before
/// what lives in it, cella's own mounts before the user's so a user mount
/// can shadow them (as with docker's `-v`).
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
    if spec.security.confine_proc {
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
pub fn enter_root(spec: &Spec, source: &CString) -> Result<OwnedFd> {
    if !spec.root.is_host {
        return enter_root_at(source);
    }
    let tree = open_tree(
        CWD,
        source.as_c_str(),
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::AT_RECURSIVE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .ctx(Step::CloneRoot)?;
    if spec.root.is_host {
        // The host's own submounts (/home, /boot, ...) become read-only too;
        // cella's mounts, made later, are not affected.
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

/// [`enter_root`] for a rootfs directory (the OCI bundle's root).
pub fn enter_root_at(source: &CString) -> Result<OwnedFd> {
    let tree = open_tree(
        CWD,
        source.as_c_str(),
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::AT_RECURSIVE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .ctx(Step::CloneRoot)?;
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

/// Perform the planned mounts under `root`. On failure, returns the failed
/// op's index with the error, so the parent can name its path.
pub fn apply(root: BorrowedFd<'_>, ops: &[MountOp]) -> std::result::Result<(), (usize, Error)> {
    for (i, op) in ops.iter().enumerate() {
        apply_one(root, op).map_err(|e| (i, e))?;
    }
    Ok(())
}

fn apply_one(root: BorrowedFd<'_>, op: &MountOp) -> Result<()> {
    match &op.kind {
        Kind::Fs {
            fstype,
            options,
            attrs,
        } => {
            let target = make_dir(root, &op.target).ctx(Step::MakeMountpoint)?;
            let fsfd = fsopen(fstype.as_str(), FsOpenFlags::FSOPEN_CLOEXEC).ctx(op.step)?;
            for (key, value) in options {
                if value.is_empty() {
                    fsconfig_set_flag(&fsfd, key.as_str()).ctx(op.step)?;
                } else {
                    fsconfig_set_string(&fsfd, key.as_str(), value.as_str()).ctx(op.step)?;
                }
            }
            fsconfig_create(&fsfd).ctx(op.step)?;
            let mnt = fsmount(
                &fsfd,
                FsMountFlags::FSMOUNT_CLOEXEC,
                MountAttrFlags::from_bits_retain(*attrs as u32),
            )
            .ctx(op.step)?;
            attach(&mnt, &target).ctx(op.step)
        }
        Kind::Bind {
            source,
            read_only,
            is_dir,
        } => {
            let target = if *is_dir {
                make_dir(root, &op.target)
            } else {
                make_file(root, &op.target)
            }
            .ctx(Step::MakeMountpoint)?;
            let tree = open_tree(
                CWD,
                source.as_c_str(),
                OpenTreeFlags::OPEN_TREE_CLONE
                    | OpenTreeFlags::AT_RECURSIVE
                    | OpenTreeFlags::OPEN_TREE_CLOEXEC,
            )
            .ctx(op.step)?;
            if *read_only {
                sys::mount_setattr(&tree, RDONLY, true).ctx(op.step)?;
            }
            attach(&tree, &target).ctx(op.step)
        }
        Kind::DevNodes => {
            let dev = resolve(root, &op.target, OFlags::PATH | OFlags::DIRECTORY).ctx(op.step)?;
            // The image's umask must not weaken 0666 device modes.
            let old = rustix::process::umask(Mode::empty());
            let made = make_devices(&dev);
            rustix::process::umask(old);
            made.ctx(op.step)
        }
        Kind::BindWith {
            source,
            is_dir,
            recursive,
            attrs,
        } => {
            let target = if *is_dir {
                make_dir(root, &op.target)
            } else {
                make_file(root, &op.target)
            }
            .ctx(Step::MakeMountpoint)?;
            let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
            if *recursive {
                flags |= OpenTreeFlags::AT_RECURSIVE;
            }
            let tree = open_tree(CWD, source.as_c_str(), flags).ctx(op.step)?;
            if *attrs != 0 {
                sys::mount_setattr(&tree, *attrs, *recursive).ctx(op.step)?;
            }
            attach(&tree, &target).ctx(op.step)
        }
        Kind::Node {
            kind,
            dev,
            mode,
            uid,
            gid,
        } => {
            let (parent, name) = split(&op.target);
            let dir = make_dir(root, parent).ctx(Step::MakeMountpoint)?;
            let old = rustix::process::umask(Mode::empty());
            let made = match fs::mknodat(&dir, name, *kind, Mode::from_raw_mode(*mode & 0o7777), *dev) {
                Err(Errno::EXIST) => Ok(()),
                other => other,
            };
            rustix::process::umask(old);
            made.ctx(op.step)?;
            fs::chownat(
                &dir,
                name,
                Some(rustix::process::Uid::from_raw(*uid)),
                Some(rustix::process::Gid::from_raw(*gid)),
                fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .ctx(op.step)
        }
        Kind::ProcWrite { value } => {
            let file = resolve(root, &op.target, OFlags::WRONLY).ctx(op.step)?;
            verify_procfs(&file).ctx(op.step)?;
            rustix::io::write(&file, value).ctx(op.step).map(|_| ())
        }
        Kind::ReadOnly => {
            let target = match resolve(root, &op.target, OFlags::PATH) {
                Err(Errno::NOENT) => return Ok(()),
                other => other.ctx(op.step)?,
            };
            let tree = open_tree(
                &target,
                c"",
                OpenTreeFlags::OPEN_TREE_CLONE
                    | OpenTreeFlags::AT_RECURSIVE
                    | OpenTreeFlags::OPEN_TREE_CLOEXEC
                    | OpenTreeFlags::AT_EMPTY_PATH,
            )
            .ctx(op.step)?;
            sys::mount_setattr(&tree, RDONLY | NOSUID | NODEV | NOEXEC, true).ctx(op.step)?;
            attach(&tree, &target).ctx(op.step)
        }
        Kind::Mask => {
            let target = match resolve(root, &op.target, OFlags::PATH) {
                Err(Errno::NOENT) => return Ok(()),
                other => other.ctx(op.step)?,
            };
            let st = fs::fstat(&target).ctx(op.step)?;
            let mnt = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                let fsfd = fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC).ctx(op.step)?;
                fsconfig_set_string(&fsfd, "size", "0").ctx(op.step)?;
                fsconfig_create(&fsfd).ctx(op.step)?;
                fsmount(
                    &fsfd,
                    FsMountFlags::FSMOUNT_CLOEXEC,
                    MountAttrFlags::from_bits_retain((RDONLY | NOSUID | NODEV | NOEXEC) as u32),
                )
                .ctx(op.step)?
            } else {
                // The runtime's own /dev/null (the host's, resolved before
                // pivot_root), never the image's (CVE-2025-31133), and
                // read-only: a masked file takes no writes.
                let null = open_tree(
                    CWD,
                    c"/dev/null",
                    OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
                )
                .ctx(op.step)?;
                sys::mount_setattr(&null, RDONLY | NOSUID | NOEXEC, false).ctx(op.step)?;
                null
            };
            attach(&mnt, &target).ctx(op.step)
        }
        Kind::Cgroup {
            dirs,
            v2,
            read_only,
        } => {
            let attrs = if *read_only { RDONLY } else { 0 } | NOSUID | NODEV | NOEXEC;
            let target = make_dir(root, &op.target).ctx(Step::MakeMountpoint)?;
            let bind_into = |source: &CString, at: &OwnedFd| -> rustix::io::Result<()> {
                let tree = open_tree(
                    CWD,
                    source.as_c_str(),
                    OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
                )?;
                sys::mount_setattr(&tree, attrs, false)?;
                attach(&tree, at)
            };
            if *v2 {
                if let Some((_, dir)) = dirs.first() {
                    bind_into(dir, &target).ctx(op.step)?;
                }
                return Ok(());
            }
            let fsfd = fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC).ctx(op.step)?;
            fsconfig_set_string(&fsfd, "mode", "755").ctx(op.step)?;
            fsconfig_create(&fsfd).ctx(op.step)?;
            let tmp = fsmount(
                &fsfd,
                FsMountFlags::FSMOUNT_CLOEXEC,
                MountAttrFlags::from_bits_retain((NOSUID | NODEV | NOEXEC) as u32),
            )
            .ctx(op.step)?;
            for (name, dir) in dirs {
                fs::mkdirat(&tmp, name.as_str(), Mode::from_raw_mode(0o755)).ctx(op.step)?;
                let at = fs::openat(&tmp, name.as_str(), OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                    .ctx(op.step)?;
                bind_into(dir, &at).ctx(op.step)?;
                // `cpu` and `cpuacct` lead to `cpu,cpuacct`, as on the host.
                if name.contains(',') {
                    for part in name.split(',') {
                        let _ = fs::symlinkat(name.as_str(), &tmp, part);
                    }
                }
            }
            if *read_only {
                sys::mount_setattr(&tmp, RDONLY, false).ctx(op.step)?;
            }
            attach(&tmp, &target).ctx(op.step)
        }
    }
}

/// A write meant for `/proc/sys` must land on the container's own procfs,
/// not on whatever a hostile image mounted or linked there.
pub fn verify_procfs(file: &OwnedFd) -> rustix::io::Result<()> {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    let st = fs::fstatfs(file)?;
    if st.f_type as i64 == PROC_SUPER_MAGIC {
        Ok(())
    } else {
        Err(Errno::XDEV)
    }
}

fn make_devices(dev: &OwnedFd) -> rustix::io::Result<()> {
    let mode = Mode::from_raw_mode(0o666);
    // An image's own /dev (no tmpfs over it) may have them already.
    let fresh = |r: rustix::io::Result<()>| match r {
        Err(Errno::EXIST) => Ok(()),
        other => other,
    };
    for (name, major, minor) in DEVICES {
        match fs::mknodat(
            dev,
            name,
            FileType::CharacterDevice,
            mode,
            fs::makedev(major, minor),
        ) {
            // In a user namespace mknod is refused: bind the host's node.
            Err(Errno::PERM) => bind_host_node(dev, name)?,
            other => fresh(other)?,
        }
    }
    for (name, target) in DEV_LINKS {
        fresh(fs::symlinkat(target, dev, name))?;
    }
    Ok(())
}

/// `/dev/NAME` of the host bound onto an empty file `dev/NAME`: how a
/// container in a user namespace gets its device nodes. Only the six
/// standard nodes, whose names are fixed here, come this way.
fn bind_host_node(dev: &OwnedFd, name: &str) -> rustix::io::Result<()> {
    let mut host = [0u8; 16];
    let path = b"/dev/";
    let len = path.len() + name.len();
    if len >= host.len() {
        return Err(Errno::NAMETOOLONG);
    }
    host[..path.len()].copy_from_slice(path);
    host[path.len()..len].copy_from_slice(name.as_bytes());
    let host = std::ffi::CStr::from_bytes_until_nul(&host).map_err(|_| Errno::INVAL)?;
    let target = fs::openat(
        dev,
        name,
        OFlags::CREATE | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    )?;
    let tree = open_tree(
        CWD,
        host,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    attach(&tree, &target)
}

fn attach(mnt: &OwnedFd, target: &OwnedFd) -> rustix::io::Result<()> {
    move_mount(
        mnt,
        c"",
        target,
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
}

/// Open `path` under `root` as if `root` were `/`: `..` and absolute
/// symlinks cannot leave it, and magic links (`/proc/*/fd`) are refused.
fn resolve(root: BorrowedFd<'_>, path: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    let path = if path.is_empty() { "." } else { path };
    fs::openat2(
        root,
        path,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// `mkdir -p` inside `root`, then an `O_PATH` fd of the directory.
pub fn make_dir(root: BorrowedFd<'_>, path: &str) -> rustix::io::Result<OwnedFd> {
    make_at(root, path, true, 0)
}

/// Like [`make_dir`] for a file mount point (bind of a single file).
fn make_file(root: BorrowedFd<'_>, path: &str) -> rustix::io::Result<OwnedFd> {
    make_at(root, path, false, 0)
}

/// Symlinks followed while creating one mount point, as the kernel's MAXSYMLINKS.
const MAX_LINKS: u32 = 40;

/// Create the missing part of `path` inside `root` (directories, then a
/// directory or an empty file at the end). A dangling symlink on the way
/// (an image's `/etc/resolv.conf -> ../run/resolv.conf`) is followed as
/// if `root` were `/`, so its target is created inside the rootfs, never
/// on the host (CVE-2019-18837, CVE-2024-45310). Every step is relative
/// to a directory fd, without following links; the link text is read
/// into a stack buffer (the child does not allocate).
fn make_at(root: BorrowedFd<'_>, path: &str, dir: bool, links: u32) -> rustix::io::Result<OwnedFd> {
    let want = if dir { OFlags::PATH | OFlags::DIRECTORY } else { OFlags::PATH };
    match resolve(root, path, want) {
        Err(Errno::NOENT) => {}
        other => return other,
    }
    let (parent_path, name) = split(path);
    let parent = make_at(root, parent_path, true, links)?;
    if name.is_empty() || name == "." || name == ".." {
        return Err(Errno::INVAL);
    }
    let made = if dir {
        match fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => fs::openat2(
                &parent,
                name,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
            ),
            Err(e) => Err(e),
        }
    } else {
        fs::openat2(
            &parent,
            name,
            OFlags::CREATE | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
        )
    };
    match made {
        // `name` is a symlink to something that does not exist yet.
        Err(Errno::LOOP | Errno::NOTDIR) if links < MAX_LINKS => {}
        other => return other,
    }
    const LINK_BUF: usize = 1024;
    let mut link = [MaybeUninit::<u8>::uninit(); LINK_BUF];
    let (text, _) = fs::readlinkat_raw(&parent, name, &mut link)?;
    if text.len() == LINK_BUF {
        return Err(Errno::NAMETOOLONG);
    }
    // The target, relative to the root: an absolute link starts over at
    // the root, a relative one from the link's directory.
    let mut joined = [0u8; 2048];
    let mut len = 0;
    let mut push = |bytes: &[u8]| -> rustix::io::Result<()> {
        let end = len + bytes.len();
        if end > joined.len() {
            return Err(Errno::NAMETOOLONG);
        }
        joined[len..end].copy_from_slice(bytes);
        len = end;
        Ok(())
    };
    if text.first() != Some(&b'/') {
        push(parent_path.as_bytes())?;
        push(b"/")?;
    }
    push(text)?;
    let target = core::str::from_utf8(&joined[..len]).map_err(|_| Errno::INVAL)?;
    make_at(root, target.trim_matches('/'), dir, links + 1)
}

fn split(path: &str) -> (&str, &str) {
    match path.bytes().rposition(|b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
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
    use crate::spec::{BindMount, Exec, Limits, Root, Security, Spec};
    use crate::sys::CStrArray;
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
            binds: vec![BindMount {
                source: "/data".into(),
                target: "srv/data".into(),
                read_only: true,
                is_dir: true,
            }],
            exec: Exec {
                candidates: vec![],
                argv: CStrArray::new(vec![]),
                envp: CStrArray::new(vec![]),
                workdir: None,
                user: None,
                init: false,
            },
            security: Security::default(),
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
                "run",
                "srv/data"
            ]
        );
        assert_eq!(ops[3].kind, Kind::DevNodes);
        assert!(matches!(
            &ops[8].kind,
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
    fn split_paths() {
        assert_eq!(split("a/b/c"), ("a/b", "c"));
        assert_eq!(split("a"), ("", "a"));
    }
}
