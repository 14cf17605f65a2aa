//! Applying the mount plan inside the new root: each [`Kind`] of op, done
//! by file descriptor with the new mount API, plus the device nodes and
//! the procfs check. Runs in the forked child: no allocation.

use super::paths::{make_dir, make_file, resolve, split};
use super::{
    DEV_LINK_TARGETS, DEV_NAMES, DEV_NUMBERS, Kind, MountOp, NODEV, NOEXEC, NOSUID, RDONLY,
};
use crate::error::{Ctx, Error, Result, Step};
use crate::sys;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{self, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags, fsconfig_create,
    fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount, open_tree,
};
use std::ffi::CString;

/// Perform the planned mounts under `root`. On failure, returns the failed
/// op's index with the error, so the parent can name its path.
/// `opened`: the binds' sources cloned before the user namespace was
/// entered (see [`open_bind_sources`]), by op index.
pub fn apply(
    root: BorrowedFd<'_>,
    ops: &[MountOp],
    opened: &[(usize, OwnedFd)],
) -> std::result::Result<(), (usize, Error)> {
    for (i, op) in ops.iter().enumerate() {
        let source = opened.iter().find(|(at, _)| *at == i).map(|(_, fd)| fd);
        apply_one(root, op, source).map_err(|e| (i, e))?;
    }
    Ok(())
}

/// The source trees of `ops`' binds, cloned now by the caller (root of
/// the host) for a child that enters a user namespace: there it may not
/// reach a source under a directory only host root may enter (podman's
/// volumes under a 0700 storage), as runc's mount fds do. The clones are
/// detached and private (nothing mounted in them reaches their origin).
pub fn open_bind_sources(ops: &[MountOp]) -> Result<Vec<(usize, OwnedFd)>> {
    let mut opened = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Kind::Bind {
            source, recursive, ..
        } = &op.kind
        {
            let tree = match clone_tree(source, *recursive) {
                // Not ours to clone (an unprivileged caller, rootless
                // `cella run`): the child opens them, as the same user.
                Err(Errno::PERM) => return Ok(Vec::new()),
                other => other.ctx_at(op.step, &source.to_string_lossy())?,
            };
            sys::mount_propagation(&tree, u64::from(linux_raw_sys::general::MS_PRIVATE), true)
                .ctx_at(op.step, &source.to_string_lossy())?;
            opened.push((i, tree));
        }
    }
    Ok(opened)
}

/// A new instance of file system `fstype` with `options` (`fsconfig`
/// strings; an empty value sets a flag), as a detached mount with mount
/// attributes `attrs`.
pub fn new_fs<'a>(
    fstype: &str,
    options: impl Iterator<Item = (&'a str, &'a str)>,
    attrs: u64,
) -> rustix::io::Result<OwnedFd> {
    let fsfd = fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    for (key, value) in options {
        if value.is_empty() {
            fsconfig_set_flag(&fsfd, key)?;
        } else {
            fsconfig_set_string(&fsfd, key, value)?;
        }
    }
    fsconfig_create(&fsfd)?;
    fsmount(
        &fsfd,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::from_bits_retain(attrs as u32),
    )
}

fn clone_tree(source: &CString, recursive: bool) -> rustix::io::Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    open_tree(CWD, source.as_c_str(), flags)
}

fn apply_one(root: BorrowedFd<'_>, op: &MountOp, opened: Option<&OwnedFd>) -> Result<()> {
    make(root, op, opened)?;
    if let Some((propagation, recursive)) = op.propagation {
        let mounted = resolve(root, &op.target, OFlags::PATH).ctx(op.step)?;
        sys::mount_propagation(&mounted, propagation, recursive).ctx(op.step)?;
    }
    Ok(())
}

fn make(root: BorrowedFd<'_>, op: &MountOp, opened: Option<&OwnedFd>) -> Result<()> {
    match &op.kind {
        Kind::Fs {
            fstype,
            options,
            attrs,
            copy_up,
        } => {
            let target = make_dir(root, &op.target).ctx(Step::MakeMountpoint)?;
            let options = options.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            if !copy_up {
                let mnt = new_fs(fstype, options, *attrs).ctx(op.step)?;
                return attach(&mnt, &target).ctx(op.step);
            }
            // Filled while still detached and writable, sealed after.
            let mnt = new_fs(fstype, options, *attrs & !RDONLY).ctx(op.step)?;
            crate::dirs::copy(&target, &mnt).ctx(Step::CopyUp)?;
            if *attrs & RDONLY != 0 {
                sys::mount_setattr(&mnt, RDONLY, false).ctx(op.step)?;
            }
            attach(&mnt, &target).ctx(op.step)
        }
        Kind::DevNodes { listed } => {
            let dev = resolve(root, &op.target, OFlags::PATH | OFlags::DIRECTORY).ctx(op.step)?;
            // The image's umask must not weaken 0666 device modes.
            let old = rustix::process::umask(Mode::empty());
            let made = make_devices(&dev, *listed);
            rustix::process::umask(old);
            made.ctx(op.step)
        }
        Kind::Bind {
            source,
            is_dir,
            recursive,
            attrs,
            tree_attrs,
        } => {
            let target = match if *is_dir {
                make_dir(root, &op.target)
            } else {
                make_file(root, &op.target)
            } {
                Ok(target) => target,
                Err(Errno::ACCESS | Errno::PERM | Errno::ROFS) if op.optional => return Ok(()),
                Err(e) => return Err(e).ctx(Step::MakeMountpoint),
            };
            let cloned;
            let tree = match opened {
                Some(tree) => tree,
                None => {
                    cloned = clone_tree(source, *recursive).ctx(op.step)?;
                    &cloned
                }
            };
            if *tree_attrs != 0 {
                sys::mount_setattr(tree, *tree_attrs, *recursive).ctx(op.step)?;
            }
            if *attrs != 0 {
                sys::mount_setattr(tree, *attrs, false).ctx(op.step)?;
            }
            attach(tree, &target).ctx(op.step)
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
            let made =
                match fs::mknodat(&dir, name, *kind, Mode::from_raw_mode(*mode & 0o7777), *dev) {
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
        Kind::Seal => {
            let mounted = resolve(root, &op.target, OFlags::PATH).ctx(op.step)?;
            sys::mount_setattr(&mounted, RDONLY, false).ctx(op.step)
        }
        Kind::Dir => make_dir(root, &op.target).map(drop).ctx(op.step),
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
                let at = fs::openat(
                    &tmp,
                    name.as_str(),
                    OFlags::PATH | OFlags::CLOEXEC,
                    Mode::empty(),
                )
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

fn make_devices(dev: &OwnedFd, listed: u16) -> rustix::io::Result<()> {
    let mode = Mode::from_raw_mode(0o666);
    // An image's own /dev (no tmpfs over it) may have them already.
    let fresh = |r: rustix::io::Result<()>| match r {
        Err(Errno::EXIST) => Ok(()),
        other => other,
    };
    let wanted = |i: usize| listed & 1 << i == 0;
    let mut names = DEV_NAMES.split(' ');
    let devices = DEV_NUMBERS.iter().zip(names.by_ref()).enumerate();
    for (_, (&(major, minor), name)) in devices.filter(|(i, _)| wanted(*i)) {
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
    let links = DEV_LINK_TARGETS.split(' ').zip(names).enumerate();
    for (_, (target, name)) in links.filter(|(i, _)| wanted(DEV_NUMBERS.len() + i)) {
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
