//! Reading the files cella is pointed at (config.json, process.json,
//! seccomp profiles, `update --resources`, the init configuration, state
//! files) and the system's own (`/proc`, cgroup files, which it also
//! writes): one place, so none of them can make cella hang or grow.
//!
//! A path must name a regular file: opening is non-blocking (a FIFO with no
//! writer would otherwise hold cella for ever) and anything else (a FIFO,
//! `/dev/zero`, a directory) is refused before a byte is read. Nothing is
//! read past the caller's limit; a larger file is refused, not truncated.

use crate::error::{Error, Result, strerror};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use std::path::Path;

/// The whole of `path`, at most `limit` bytes.
pub fn read(path: &Path, limit: usize) -> Result<Vec<u8>> {
    let (fd, size) = open_regular(path)?;
    let result = if size > limit as u64 {
        Err(None)
    } else {
        read_bounded(fd.as_fd(), limit)
    };
    result.map_err(|e| match e {
        None => too_large(&path.display().to_string(), limit),
        Some(e) => failed(path, e),
    })
}

/// `path` opened for reading, with its size, if it is a regular file.
pub fn open_regular(path: &Path) -> Result<(OwnedFd, u64)> {
    open_file(path).map_err(|e| match e {
        Some(e) => failed(path, e),
        None => Error::usage(format!("{}: not a regular file", path.display())),
    })
}

/// [`open_regular`] for callers with their own messages: `Err(None)` if
/// `path` is not a regular file.
pub fn open_file(path: &Path) -> std::result::Result<(OwnedFd, u64), Option<Errno>> {
    regular(rustix::fs::open(path, FILE_FLAGS, Mode::empty())?)
}

const FILE_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);

/// [`open_file`] of `path` beneath the directory `dir`, through no
/// symlink: a file of a directory someone else made (an OCI layout's
/// blobs) that must not lead out of it.
#[cfg(feature = "image")]
pub fn open_file_beneath(
    dir: BorrowedFd<'_>,
    path: &str,
) -> std::result::Result<(OwnedFd, u64), Option<Errno>> {
    use rustix::fs::ResolveFlags;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
    regular(rustix::fs::openat2(
        dir,
        path,
        FILE_FLAGS,
        Mode::empty(),
        resolve,
    )?)
}

/// `fd` with its size if it is a regular file.
fn regular(fd: OwnedFd) -> std::result::Result<(OwnedFd, u64), Option<Errno>> {
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(None);
    }
    Ok((fd, st.st_size as u64))
}

fn failed(path: &Path, e: Errno) -> Error {
    Error::usage(format!("{}: {}", path.display(), strerror(e)))
}

/// A file of the system's own (`/proc`, `/sys`, a cgroup's interface
/// files, `/etc/passwd`) as text, through the same open as every other
/// file and never more than 1 MiB; `None` if it cannot be read.
pub fn system_text(path: impl AsRef<Path>) -> Option<String> {
    let (fd, _) = open_regular(path.as_ref()).ok()?;
    bounded_text(fd.as_fd())
}

/// A container's root as cella reads it before the container exists (its
/// passwd and group, its command): its layers, top first. One for a
/// directory; for an overlay, its persistent upper directory over the
/// image or directory below.
pub struct RootView {
    layers: Vec<OwnedFd>,
}

impl RootView {
    /// The directory at `path`; one that cannot be opened has nothing
    /// (every file in it is missing).
    pub fn dir(path: &Path) -> RootView {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        RootView::layers(
            rustix::fs::open(path, flags, Mode::empty())
                .into_iter()
                .collect(),
        )
    }

    pub fn layers(layers: Vec<OwnedFd>) -> RootView {
        RootView { layers }
    }

    /// `path` opened inside the root, as the container will see it: its
    /// symlinks resolved inside the root, never to the host's files. With
    /// layers, as overlayfs merges them: each component is looked up in
    /// the layers top first, the first that has it wins, a whiteout
    /// there (overlayfs's 0:0 character device) hides the layers below;
    /// a symlink in one layer may lead into another (a usrmerged base's
    /// `bin -> usr/bin`, a command a later layer put in `/usr/bin`).
    pub fn open<P: rustix::path::Arg + Copy>(
        &self,
        path: P,
        flags: OFlags,
    ) -> rustix::io::Result<OwnedFd> {
        use rustix::fs::ResolveFlags;
        let [layer] = self.layers.as_slice() else {
            // Several layers come only with images.
            #[cfg(feature = "image")]
            return self.merged(path.into_c_str()?.to_bytes(), flags);
            #[cfg(not(feature = "image"))]
            return Err(Errno::NOENT);
        };
        rustix::fs::openat2(
            layer,
            path,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    }

    /// [`RootView::open`] across layers.
    #[cfg(feature = "image")]
    fn merged(&self, path: &[u8], flags: OFlags) -> rustix::io::Result<OwnedFd> {
        use rustix::fs::ResolveFlags;
        let beneath =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let open_in = |layer: &OwnedFd, path: &[u8], flags: OFlags| {
            let p = if path.is_empty() { &b"."[..] } else { path };
            rustix::fs::openat2(layer, p, flags | OFlags::CLOEXEC, Mode::empty(), beneath)
        };
        // Resolved components (no symlink among them), and what is left.
        let mut done: Vec<u8> = Vec::new();
        let mut todo: Vec<Vec<u8>> = path
            .split(|c| *c == b'/')
            .rev()
            .map(<[u8]>::to_vec)
            .collect();
        let mut links = 0;
        // Below an opaque directory, the layers under it do not count.
        let mut floor = self.layers.len();
        while let Some(c) = todo.pop() {
            match c.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    let cut = done.iter().rposition(|c| *c == b'/').unwrap_or(0);
                    done.truncate(cut);
                    floor = self.layers.len();
                    continue;
                }
                _ => {}
            }
            let last = todo.iter().all(|t| t.is_empty() || t == b".");
            let mut candidate = done.clone();
            if !candidate.is_empty() {
                candidate.push(b'/');
            }
            candidate.extend_from_slice(&c);
            let mut found = None;
            for (i, layer) in self.layers[..floor].iter().enumerate() {
                match open_in(layer, &candidate, OFlags::PATH | OFlags::NOFOLLOW) {
                    Ok(fd) => {
                        found = Some((i, fd));
                        break;
                    }
                    Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                    Err(e) => return Err(e),
                }
            }
            let (i, fd) = found.ok_or(Errno::NOENT)?;
            let st = rustix::fs::fstat(&fd)?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::CharacterDevice if st.st_rdev == 0 => return Err(Errno::NOENT),
                FileType::Symlink if !(last && flags.contains(OFlags::NOFOLLOW)) => {
                    links += 1;
                    if links > 40 {
                        return Err(Errno::LOOP);
                    }
                    let target = rustix::fs::readlinkat(&fd, c"", Vec::new())?;
                    let target = target.as_bytes();
                    if target.starts_with(b"/") {
                        done.clear();
                        floor = self.layers.len();
                    }
                    todo.extend(target.split(|c| *c == b'/').rev().map(<[u8]>::to_vec));
                }
                FileType::Directory => {
                    let opaque = open_in(
                        &self.layers[i],
                        &candidate,
                        OFlags::RDONLY | OFlags::DIRECTORY,
                    )
                    .and_then(|d| {
                        let mut v = [0u8; 1];
                        rustix::fs::fgetxattr(&d, "trusted.overlay.opaque", &mut v)
                            .map(|n| n == 1 && v[0] == b'y')
                    })
                    .unwrap_or(false);
                    if opaque {
                        floor = floor.min(i + 1);
                    }
                    done = candidate;
                }
                _ if !last => return Err(Errno::NOTDIR),
                _ => done = candidate,
            }
        }
        for layer in &self.layers[..floor] {
            match open_in(layer, &done, flags | OFlags::NOFOLLOW) {
                Ok(fd) if is_whiteout(&fd) => return Err(Errno::NOENT),
                Ok(fd) => return Ok(fd),
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Errno::NOENT)
    }
}

#[cfg(feature = "image")]
fn is_whiteout(fd: &OwnedFd) -> bool {
    rustix::fs::fstat(fd).is_ok_and(|st| {
        FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
    })
}

/// A container's file (`etc/passwd`) as text, read inside its root
/// ([`RootView::open`]), through the same checks and limit as
/// [`system_text`]; `None` if it cannot be read.
pub fn text_inside(root: &RootView, path: &str) -> Option<String> {
    let fd = root
        .open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)
        .ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    bounded_text(fd.as_fd())
}

fn bounded_text(fd: BorrowedFd<'_>) -> Option<String> {
    String::from_utf8(read_bounded(fd, 1 << 20).ok()?).ok()
}

/// Write `value` to a file of the system's own (a cgroup interface file,
/// `/proc/PID/uid_map`, a sysctl) in one write, as the kernel requires.
pub fn write_system(path: impl AsRef<Path>, value: &str) -> rustix::io::Result<()> {
    let fd = rustix::fs::open(
        path.as_ref(),
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::io::write(&fd, value.as_bytes()).map(|_| ())
}

/// Write all of `bytes` to `fd` (a short write is continued).
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> rustix::io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(Errno::IO),
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Standard input (`-` where a verb takes it), at most `limit` bytes: a
/// pipe is fine, but no more than the limit is ever read.
pub fn read_stdin(what: &str, limit: usize) -> Result<Vec<u8>> {
    read_bounded(rustix::stdio::stdin(), limit).map_err(|e| match e {
        None => too_large(what, limit),
        Some(e) => Error::usage(format!("{what}: {}", strerror(e))),
    })
}

fn too_large(what: &str, limit: usize) -> Error {
    Error::usage(format!("{what}: larger than the limit of {limit} bytes"))
}

/// Read to the end; `Err(None)` once more than `limit` bytes came.
pub fn read_bounded(
    fd: BorrowedFd<'_>,
    limit: usize,
) -> std::result::Result<Vec<u8>, Option<Errno>> {
    // Most files are small (a cgroup file, /proc/PID/stat, a record): read
    // on the stack first, so they cost one small allocation of their size
    // (a page-sized buffer is mapped and unmapped by musl's malloc: two
    // more system calls); then double, never past the limit.
    let mut first = [0u8; 1024];
    let mut len = 0;
    while len < first.len() {
        match rustix::io::read(fd, &mut first[len..]) {
            Ok(0) if len <= limit => return Ok(first[..len].to_vec()),
            Ok(0) => return Err(None),
            Ok(n) => len += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(Some(e)),
        }
    }
    let mut buf = first.to_vec();
    loop {
        if len == buf.len() {
            if len > limit {
                return Err(None);
            }
            buf.resize((len * 2).min(limit + 1), 0);
        }
        match rustix::io::read(fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(Some(e)),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// Bytes as text; invalid UTF-8 is an error naming `origin`'s line.
pub fn text(bytes: Vec<u8>, origin: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        Error::usage(format!("{origin}:{line}: not valid UTF-8"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("cella-input-{name}-{}", std::process::id()))
    }

    #[test]
    fn regular_files_within_the_limit_only() {
        let f = tmp("ok");
        std::fs::write(&f, b"{}").unwrap();
        assert_eq!(read(&f, 2).unwrap(), b"{}");
        let e = read(&f, 1).unwrap_err().to_string();
        assert!(e.ends_with("larger than the limit of 1 bytes"), "{e}");
        std::fs::remove_file(&f).unwrap();
        let e = read(Path::new("/dev/zero"), 10).unwrap_err().to_string();
        assert_eq!(e, "/dev/zero: not a regular file");
        let e = read(Path::new("/"), 10).unwrap_err().to_string();
        assert_eq!(e, "/: not a regular file");
        let fifo = tmp("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Nobody writes to it: refused at once, not waited on.
        let e = read(&fifo, 10).unwrap_err().to_string();
        assert!(e.ends_with("not a regular file"), "{e}");
        std::fs::remove_file(&fifo).unwrap();
        let e = read(&tmp("missing"), 10).unwrap_err().to_string();
        assert!(e.ends_with("No such file or directory"), "{e}");
    }

    #[test]
    fn a_stream_is_cut_at_the_limit() {
        let zero =
            rustix::fs::open("/dev/zero", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        assert_eq!(read_bounded(zero.as_fd(), 100_000), Err(None));
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let e = text(b"a\nb\n\xffc".to_vec(), "init.conf").unwrap_err();
        assert_eq!(e.to_string(), "init.conf:3: not valid UTF-8");
        assert_eq!(text(b"ok".to_vec(), "x").unwrap(), "ok");
    }
}
