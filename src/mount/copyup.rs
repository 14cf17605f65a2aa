//! `tmpcopyup` (runc's and crun's extension, which podman asks for on the
//! tmpfs of `--read-only` and `--tmpfs`): a new tmpfs starts with what the
//! directory it covers held in the image. The copy goes from the directory
//! (opened inside the container's root) into the detached mount before it
//! is attached, entry by entry through descriptors: a symbolic link is
//! copied as a link and never followed.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Directories deeper than this are refused (ELOOP): an image's tree is
/// never so deep, and the recursion stays bounded.
const MAX_DEPTH: u32 = 64;

/// Copy the contents of directory `from` into directory `to` (the new
/// mount's root): directories, regular files, symbolic links, device
/// nodes and FIFOs (sockets are left out, as runc does), each with its
/// mode and owner; `to` takes `from`'s mode and owner too.
pub fn copy_tree(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> rustix::io::Result<()> {
    // (Both may be `O_PATH` descriptors, which own and mode no change
    // goes through: the directories themselves, opened.)
    let source = fs::openat(from, c".", dir_flags(), Mode::empty())?;
    let target = fs::openat(to, c".", dir_flags(), Mode::empty())?;
    let st = fs::fstat(&source)?;
    fs::fchown(&target, Some(uid(&st)), Some(gid(&st)))?;
    fs::fchmod(&target, mode(&st))?;
    copy_dir(&source, target.as_fd(), 0)
}

fn copy_dir(from: &OwnedFd, to: BorrowedFd<'_>, depth: u32) -> rustix::io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(Errno::LOOP);
    }
    let mut entries = fs::Dir::read_from(from)?;
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let st = fs::statat(from, name, AtFlags::SYMLINK_NOFOLLOW)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                fs::mkdirat(to, name, Mode::from_raw_mode(0o700))?;
                let sub_from = fs::openat(from, name, dir_flags(), Mode::empty())?;
                let sub_to = fs::openat(to, name, dir_flags(), Mode::empty())?;
                copy_dir(&sub_from, sub_to.as_fd(), depth + 1)?;
            }
            FileType::RegularFile => {
                let input = fs::openat(from, name, file_flags(OFlags::RDONLY), Mode::empty())?;
                let create = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL;
                let output = fs::openat(to, name, file_flags(create), Mode::from_raw_mode(0o600))?;
                while rustix::fs::sendfile(&output, &input, None, 1 << 20)? > 0 {}
            }
            FileType::Symlink => {
                let target = fs::readlinkat(from, name, Vec::new())?;
                fs::symlinkat(&*target, to, name)?;
            }
            kind @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                fs::mknodat(to, name, kind, Mode::from_raw_mode(0o600), st.st_rdev)?;
            }
            _ => continue,
        }
        // The owner first: a chown clears the set-user-ID bit a mode sets.
        fs::chownat(
            to,
            name,
            Some(uid(&st)),
            Some(gid(&st)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
            fs::chmodat(to, name, mode(&st), AtFlags::empty())?;
        }
    }
    Ok(())
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn file_flags(access: OFlags) -> OFlags {
    access | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC
}

fn mode(st: &fs::Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode & 0o7777)
}

fn uid(st: &fs::Stat) -> rustix::process::Uid {
    rustix::process::Uid::from_raw(st.st_uid)
}

fn gid(st: &fs::Stat) -> rustix::process::Gid {
    rustix::process::Gid::from_raw(st.st_gid)
}
