//! One layer's tar unpacked into its directory of the image store, as
//! overlayfs will read it: the OCI image spec's whiteouts (`.wh.NAME`)
//! become overlayfs's own (a 0:0 character device), its opaque marker
//! (`.wh..wh..opq`) the directory's `trusted.overlay.opaque` xattr.
//!
//! A hostile layer cannot write outside its directory: an absolute path
//! or one with `..` is refused; every directory on the way is opened beneath the layer's
//! root with no symlink followed (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`,
//! so a symlink planted by an earlier entry cannot redirect a later one);
//! files are created with `O_EXCL | O_NOFOLLOW`; a hard link's source is
//! resolved the same way and must be a file of the layer. The layer's own
//! symlinks are written as they are (never followed here).

use super::stream::Res;
use super::tar::{self, Entry, Kind, Reader};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timestamps};
use rustix::io::Errno;
use std::ffi::{CStr, CString};

const MAX_PATH: usize = 4096;
/// The deepest directory a layer may make: removing a tree takes a
/// descriptor per level (`crate::dirs::remove`), which the usual limit of
/// 1024 open files must allow. Real images nest a few dozen deep.
const MAX_DEPTH: usize = 512;

/// `path`'s components as C strings (converted once, not at every call);
/// `None` if it is absolute or has a `..` (or a NUL).
fn c_components(path: &str) -> Option<Vec<CString>> {
    let mut out = Vec::new();
    for c in tar::components(path)? {
        out.push(CString::new(c).ok()?);
    }
    Some(out)
}

fn sys(what: &str, e: Errno) -> String {
    let why = if e == Errno::LOOP {
        "goes through a symlink (refused: it could lead out of the layer)"
    } else {
        crate::error::strerror(e)
    };
    format!("'{what}': {why}")
}

/// Unpack the layer `reader` reads into the empty directory `root`.
pub fn unpack(reader: &mut Reader, root: BorrowedFd<'_>) -> Res<()> {
    while let Some(entry) = reader.next_entry()? {
        // No path a container could open is longer (PATH_MAX); a longer
        // one would only make thousands of nested directories.
        if entry.path.len() > MAX_PATH || entry.link.len() > MAX_PATH {
            return Err(format!(
                "an entry's name is over {MAX_PATH} bytes ({} bytes)",
                entry.path.len().max(entry.link.len())
            ));
        }
        let comps = c_components(&entry.path).ok_or_else(|| {
            format!(
                "'{}': an absolute path or one with '..' (outside the layer)",
                entry.path
            )
        })?;
        if comps.len() > MAX_DEPTH {
            return Err(format!(
                "an entry is nested over {MAX_DEPTH} directories deep ({})",
                comps.len()
            ));
        }
        let Some((name, parents)) = comps.split_last() else {
            continue; // the root itself
        };
        let parent = dir_at(root, parents).map_err(|e| sys(&entry.path, e))?;
        if let Some(hidden) = name.to_bytes_with_nul().strip_prefix(b".wh.") {
            let hidden = CStr::from_bytes_with_nul(hidden).unwrap_or_default();
            whiteout(&parent, hidden).map_err(|e| sys(&entry.path, e))?;
            continue;
        }
        make(reader, &entry, root, &parent, name)?;
    }
    Ok(())
}

/// A directory beneath `root`, each missing component made (0755).
fn dir_at(root: BorrowedFd<'_>, comps: &[CString]) -> rustix::io::Result<OwnedFd> {
    let mut dir = rustix::fs::openat(root, c".", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
    for c in comps {
        dir = match beneath(&dir, c, OFlags::PATH | OFlags::DIRECTORY) {
            Err(Errno::NOTDIR) if existing(&dir, c) == Some(FileType::Symlink) => {
                return Err(Errno::LOOP);
            }
            Err(Errno::NOENT) => {
                rustix::fs::mkdirat(&dir, c.as_c_str(), Mode::from_raw_mode(0o755))?;
                beneath(&dir, c, OFlags::PATH | OFlags::DIRECTORY)?
            }
            other => other?,
        };
    }
    Ok(dir)
}

/// `name` in `dir`, no symlink followed, nothing outside `dir` reached.
fn beneath(dir: &OwnedFd, name: &CStr, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(
        dir,
        name,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

/// What is at `name` in `dir`, if anything.
fn existing(dir: &OwnedFd, name: &CStr) -> Option<FileType> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .ok()
        .map(|st| FileType::from_raw_mode(st.st_mode))
}

/// Make room for a new `name` (a later entry replaces an earlier one): a
/// file goes, an empty directory goes; a directory stays for a directory.
fn clear(dir: &OwnedFd, name: &CStr, keep_dir: bool) -> rustix::io::Result<()> {
    let flags = match existing(dir, name) {
        None => return Ok(()),
        Some(FileType::Directory) if keep_dir => return Ok(()),
        Some(FileType::Directory) => AtFlags::REMOVEDIR,
        Some(_) => AtFlags::empty(),
    };
    rustix::fs::unlinkat(dir, name, flags)
}

fn whiteout(dir: &OwnedFd, hidden: &CStr) -> rustix::io::Result<()> {
    if hidden == c".wh..opq" {
        let me = rustix::fs::openat(
            dir,
            c".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        return rustix::fs::fsetxattr(
            &me,
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        );
    }
    if hidden.is_empty() {
        return Err(Errno::INVAL);
    }
    if existing(dir, hidden).is_some() {
        let _ = rustix::fs::unlinkat(dir, hidden, AtFlags::empty());
    }
    rustix::fs::mknodat(dir, hidden, FileType::CharacterDevice, Mode::empty(), 0)
}

#[inline(never)] // see the module docs of crate::image
fn make(
    reader: &mut Reader,
    e: &Entry,
    root: BorrowedFd<'_>,
    dir: &OwnedFd,
    name: &CStr,
) -> Res<()> {
    let at = |err: Errno| sys(&e.path, err);
    let mode = Mode::from_raw_mode(e.mode);
    clear(dir, name, e.kind == Kind::Dir).map_err(at)?;
    match e.kind {
        Kind::Dir => {
            if existing(dir, name).is_none() {
                rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)).map_err(at)?;
            }
        }
        Kind::File => {
            let file = rustix::fs::openat(
                dir,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(at)?;
            let mut buf = [0u8; 32 * 1024];
            loop {
                match reader.data(&mut buf)? {
                    0 => break,
                    n => crate::input::write_all(file.as_fd(), &buf[..n]).map_err(at)?,
                }
            }
        }
        Kind::Symlink => rustix::fs::symlinkat(e.link.as_str(), dir, name).map_err(at)?,
        Kind::Hardlink => {
            let comps = c_components(&e.link).ok_or_else(|| {
                format!(
                    "'{}': a hard link to an absolute path or one with '..'",
                    e.path
                )
            })?;
            let (source_name, source_parents) = comps
                .split_last()
                .ok_or_else(|| format!("'{}': a link to the root", e.path))?;
            let source_dir = dir_at(root, source_parents).map_err(at)?;
            let source = beneath(&source_dir, source_name, OFlags::PATH).map_err(at)?;
            let st = rustix::fs::fstat(&source).map_err(at)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                return Err(format!("'{}': a hard link to a directory", e.path));
            }
            rustix::fs::linkat(&source, "", dir, name, AtFlags::EMPTY_PATH).map_err(at)?;
            return Ok(()); // the source's owner, mode and times are the link's
        }
        Kind::Char | Kind::Block | Kind::Fifo => {
            let kind = match e.kind {
                Kind::Char => FileType::CharacterDevice,
                Kind::Block => FileType::BlockDevice,
                _ => FileType::Fifo,
            };
            let dev = rustix::fs::makedev(e.dev.0, e.dev.1);
            rustix::fs::mknodat(dir, name, kind, mode, dev).map_err(at)?;
        }
    }
    let nofollow = AtFlags::SYMLINK_NOFOLLOW;
    let (uid, gid) = (
        Some(rustix::fs::Uid::from_raw(e.uid)),
        Some(rustix::fs::Gid::from_raw(e.gid)),
    );
    rustix::fs::chownat(dir, name, uid, gid, nofollow).map_err(at)?;
    if e.kind != Kind::Symlink {
        // After chown, which clears set-user-ID and set-group-ID bits.
        rustix::fs::chmodat(dir, name, mode, AtFlags::empty()).map_err(at)?;
        xattrs(dir, name, e).map_err(at)?;
    }
    let time = rustix::fs::Timespec {
        tv_sec: e.mtime,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: time,
        last_modification: time,
    };
    rustix::fs::utimensat(dir, name, &times, nofollow).map_err(at)?;
    Ok(())
}

/// The entry's extended attributes a container may rely on (file
/// capabilities, `user.*`); never overlayfs's own (`trusted.overlay.*`
/// would forge opaque directories and redirects) or other `trusted.*`.
fn xattrs(dir: &OwnedFd, name: &CStr, e: &Entry) -> rustix::io::Result<()> {
    let wanted: Vec<&(String, Vec<u8>)> = e
        .xattrs
        .iter()
        .filter(|(k, _)| k == "security.capability" || k.starts_with("user."))
        .collect();
    if wanted.is_empty() || !matches!(e.kind, Kind::File | Kind::Dir) {
        return Ok(());
    }
    let flags = if e.kind == Kind::Dir {
        OFlags::RDONLY | OFlags::DIRECTORY
    } else {
        OFlags::RDONLY
    };
    let fd = beneath(dir, name, flags)?;
    for (key, value) in wanted {
        rustix::fs::fsetxattr(
            fd.as_fd(),
            key.as_str(),
            value,
            rustix::fs::XattrFlags::empty(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pax header naming the next entry `path`, then that entry.
    fn pax_named(path: &str) -> Vec<u8> {
        use crate::image::tar::build::{archive, data, header};
        let body = format!(" path={path}\n");
        // The record's length counts its own digits.
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        let record = format!("{len}{body}");
        archive(&[
            header("pax", b'x', record.len() as u64, ""),
            data(record.as_bytes()),
            header("f", b'0', 0, ""),
        ])
    }

    #[test]
    fn an_overlong_path_is_refused_before_any_directory_is_made() {
        let dir = std::env::temp_dir().join(format!("cella-unpack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let root = rustix::fs::open(&dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let deep = "a/".repeat(3000) + "f";
        let reader = |bytes: &[u8]| {
            let range = crate::image::stream::range_of(bytes);
            Reader::new(crate::image::stream::Stream::plain(range))
        };
        let err = unpack(&mut reader(&pax_named(&deep)), root.as_fd()).unwrap_err();
        assert!(err.contains("over 4096 bytes"), "{err}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        // A name within the limit, through pax, is unpacked.
        unpack(&mut reader(&pax_named("x/y/z")), root.as_fd()).unwrap();
        assert!(dir.join("x/y/z").is_file());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
