//! Paths inside an attacker-controlled rootfs: opened with
//! `openat2(RESOLVE_IN_ROOT)`, created one component at a time relative to
//! a directory fd, symlinks followed only as if the rootfs were `/`.

use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{self, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::mem::MaybeUninit;

/// Open `path` under `root` as if `root` were `/`: `..` and absolute
/// symlinks cannot leave it, and magic links (`/proc/*/fd`) are refused.
pub(super) fn resolve(
    root: BorrowedFd<'_>,
    path: &str,
    flags: OFlags,
) -> rustix::io::Result<OwnedFd> {
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
pub(super) fn make_file(root: BorrowedFd<'_>, path: &str) -> rustix::io::Result<OwnedFd> {
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
    let want = if dir {
        OFlags::PATH | OFlags::DIRECTORY
    } else {
        OFlags::PATH
    };
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

pub(super) fn split(path: &str) -> (&str, &str) {
    match path.bytes().rposition(|b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}
