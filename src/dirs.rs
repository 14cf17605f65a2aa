//! Directories as cella lists, removes and copies them: the state store's
//! records, the cgroup trees, the image store's layers, the image's
//! directory a `tmpcopyup` tmpfs starts with.
//!
//! One listing is one `open`, the `getdents64` calls and one `close`, into
//! a buffer on the stack: libc's `opendir` (which std's `read_dir` uses)
//! adds an `fcntl` and a heap buffer of its own, which musl maps and unmaps
//! for each listing. On the path of every `cella run` (the store's and the
//! cgroups' sweeps, the record's removal) those were about a tenth of its
//! system calls, each a page-table change. Removal never follows a
//! symbolic link: each directory is opened below its parent's descriptor
//! with `O_NOFOLLOW`, so a link swapped in meanwhile is unlinked, not
//! entered.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir};
use rustix::io::{Errno, Result};
use std::ffi::OsString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

/// The entries of the directory `fd` (without `.` and `..`): name and
/// type, the type asked of the file system where the listing has none.
fn list(fd: impl AsFd) -> Result<Vec<(OsString, FileType)>> {
    let fd = fd.as_fd();
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    let mut dir = RawDir::new(fd, &mut buf);
    let mut out = Vec::new();
    while let Some(entry) = dir.next() {
        let entry = entry?;
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::Unknown => rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW)
                .map_or(FileType::Unknown, |st| FileType::from_raw_mode(st.st_mode)),
            kind => kind,
        };
        out.push((OsString::from_vec(name.to_bytes().to_vec()), kind));
    }
    Ok(out)
}

fn open_dir(at: impl AsFd, path: impl rustix::path::Arg) -> Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(at, path, flags, Mode::empty())
}

/// The entries of the directory `dir`; none if it cannot be read.
pub fn entries(dir: &Path) -> Vec<(OsString, FileType)> {
    open_dir(rustix::fs::CWD, dir)
        .and_then(list)
        .unwrap_or_default()
}

/// The subdirectories of `dir` (what the sweeps look for: container
/// records, cgroups); none if it cannot be read. A directory's link count
/// is 2 plus its subdirectories on the file systems these live on (tmpfs,
/// ext4, cgroupfs): at 2 one `stat` answers, and the common case of no
/// container left over costs no listing. (btrfs counts 1: listed.)
pub fn subdirs(dir: &Path) -> Vec<OsString> {
    if rustix::fs::stat(dir).is_ok_and(|st| st.st_nlink == 2) {
        return Vec::new();
    }
    entries(dir)
        .into_iter()
        .filter(|(_, kind)| *kind == FileType::Directory)
        .map(|(name, _)| name)
        .collect()
}

/// Remove `path`: a file, a symbolic link, or a directory with everything
/// in it. Gone already counts as removed.
pub fn remove(path: &Path) -> Result<()> {
    // Opened as a directory first (what is removed is mostly one); a file
    // or a symbolic link refuses (ENOTDIR, ELOOP) and is unlinked.
    match open_dir(rustix::fs::CWD, path) {
        Ok(fd) => empty(&fd)?,
        Err(Errno::NOENT) => return Ok(()),
        Err(Errno::NOTDIR | Errno::LOOP) => {
            return match rustix::fs::unlink(path) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(e),
            };
        }
        Err(e) => return Err(e),
    }
    match rustix::fs::rmdir(path) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Remove everything in the directory `fd`.
fn empty(fd: &OwnedFd) -> Result<()> {
    for (name, kind) in list(fd)? {
        if kind == FileType::Directory {
            match open_dir(fd, name.as_os_str()) {
                Ok(sub) => empty(&sub)?,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e),
            }
        }
        let flags = if kind == FileType::Directory {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        match rustix::fs::unlinkat(fd, name.as_os_str(), flags) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Directories deeper than this are not copied (ELOOP): an image's tree
/// is never so deep, and the recursion stays bounded.
const MAX_COPY_DEPTH: u32 = 64;

/// Copy what directory `from` holds into directory `to` (a new mount's
/// root; either may be an `O_PATH` descriptor): directories, regular
/// files, symbolic links (as links, never followed), device nodes and
/// FIFOs (sockets are left out, as runc does), each with its mode and
/// owner; `to` takes `from`'s mode and owner too.
pub fn copy(from: impl AsFd, to: impl AsFd) -> Result<()> {
    let (from, to) = (open_dir(from, c".")?, open_dir(to, c".")?);
    let st = rustix::fs::fstat(&from)?;
    let (uid, gid) = owner(&st);
    rustix::fs::fchown(&to, Some(uid), Some(gid))?;
    rustix::fs::fchmod(&to, Mode::from_raw_mode(st.st_mode & 0o7777))?;
    copy_entries(&from, &to, 0)
}

/// (In the forked child of a container's start, which allocates nothing:
/// the listing and a link's target are read into buffers on the stack.)
fn copy_entries(from: &OwnedFd, to: &OwnedFd, depth: u32) -> Result<()> {
    use rustix::fs::{self as fs, openat};
    if depth > MAX_COPY_DEPTH {
        return Err(Errno::LOOP);
    }
    let file = |access| access | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
    let private = Mode::from_raw_mode(0o600);
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    let mut listing = RawDir::new(from.as_fd(), &mut buf);
    while let Some(entry) = listing.next() {
        let entry = entry?;
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let st = fs::statat(from, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let kind = FileType::from_raw_mode(st.st_mode);
        match kind {
            FileType::Directory => {
                fs::mkdirat(to, name, Mode::from_raw_mode(0o700))?;
                copy_entries(&open_dir(from, name)?, &open_dir(to, name)?, depth + 1)?;
            }
            FileType::RegularFile => {
                let input = openat(from, name, file(OFlags::RDONLY), Mode::empty())?;
                let create = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL;
                let output = openat(to, name, file(create), private)?;
                while fs::sendfile(&output, &input, None, 1 << 20)? > 0 {}
            }
            FileType::Symlink => {
                // PATH_MAX bytes at most, then the NUL the zeroes leave.
                let mut target = [0u8; 4097];
                let len = fs::readlinkat_raw(from, name, &mut target[..4096])?;
                let target = std::ffi::CStr::from_bytes_until_nul(&target[..=len.min(4096)])
                    .map_err(|_| Errno::NAMETOOLONG)?;
                fs::symlinkat(target, to, name)?;
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                fs::mknodat(to, name, kind, private, st.st_rdev)?;
            }
            _ => continue,
        }
        // The owner first: a chown clears the set-user-ID bit a mode sets.
        let (uid, gid) = owner(&st);
        fs::chownat(to, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
        if kind != FileType::Symlink {
            fs::chmodat(
                to,
                name,
                Mode::from_raw_mode(st.st_mode & 0o7777),
                AtFlags::empty(),
            )?;
        }
    }
    Ok(())
}

fn owner(st: &rustix::fs::Stat) -> (rustix::process::Uid, rustix::process::Gid) {
    (
        rustix::process::Uid::from_raw(st.st_uid),
        rustix::process::Gid::from_raw(st.st_gid),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cella-dirs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn lists_names_and_types_without_dot_entries() {
        let dir = scratch("list");
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("file"), "x").unwrap();
        std::os::unix::fs::symlink("/", dir.join("link")).unwrap();
        let mut got: Vec<(String, FileType)> = entries(&dir)
            .into_iter()
            .map(|(n, k)| (n.into_string().unwrap(), k))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            [
                ("file".into(), FileType::RegularFile),
                ("link".into(), FileType::Symlink),
                ("sub".into(), FileType::Directory),
            ]
        );
        assert!(entries(&dir.join("missing")).is_empty());
        assert_eq!(subdirs(&dir), ["sub"]);
        assert!(subdirs(&dir.join("sub")).is_empty());
        assert!(subdirs(&dir.join("missing")).is_empty());
        remove(&dir).unwrap();
    }

    #[test]
    fn a_listing_larger_than_its_buffer_is_whole() {
        let dir = scratch("many");
        for i in 0..300 {
            std::fs::write(dir.join(format!("a-rather-long-file-name-{i:04}")), "").unwrap();
        }
        assert_eq!(entries(&dir).len(), 300);
        remove(&dir).unwrap();
        assert!(!dir.exists());
    }

    #[test]
    fn removal_takes_the_tree_and_never_follows_a_link() {
        let dir = scratch("remove");
        let outside = scratch("outside");
        std::fs::write(outside.join("keep"), "x").unwrap();
        let deep = dir.join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("f"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("a/out")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("a/b/out")).unwrap();
        remove(&dir).unwrap();
        assert!(!dir.exists());
        assert!(outside.join("keep").exists(), "a link was followed");
        // A file, a link to a directory (the link goes, not its target),
        // and what is not there.
        std::fs::write(dir.with_extension("f"), "x").unwrap();
        remove(&dir.with_extension("f")).unwrap();
        assert!(!dir.with_extension("f").exists());
        std::os::unix::fs::symlink(&outside, &dir).unwrap();
        remove(&dir).unwrap();
        assert!(std::fs::symlink_metadata(&dir).is_err());
        assert!(outside.join("keep").exists());
        remove(&dir).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }
}
