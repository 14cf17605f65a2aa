//! Image files as container roots, and overlays over a root (the `image`
//! feature): what the parent prepares before the fork.
//!
//! `--rootfs FILE` takes a squashfs or erofs image, recognised by its
//! magic (never its name). It is mounted read-only as a detached mount
//! (fsopen/fsmount: nowhere in the host's tree): erofs straight from the
//! file where the kernel can (6.12+), else either from a loop device
//! attached read-only with autoclear ([`crate::sys::loopdev`]), which the
//! kernel detaches once the mount is gone. The child puts it under an
//! overlay in its own mount namespace ([`crate::mount::layers`]), so
//! nothing of it outlives the container, whatever kills cella.
//!
//! The overlay's upper layer is a tmpfs by default (writes vanish with the
//! container) or `--overlay-upper DIR`'s `upper/` and `work/` (writes
//! persist: a board's data partition). One container at a time writes a
//! DIR: its lock (`flock` on DIR, which the kernel drops with its holder)
//! is held for the container's life.

use crate::error::{Ctx, Error, Result, Step};
use crate::input::RootView;
use crate::mount::layers::{LayerPlan, Lower as LowerRef};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::ffi::CString;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Squashfs,
    Erofs,
}

impl Format {
    fn fstype(self) -> &'static str {
        match self {
            Format::Squashfs => "squashfs",
            Format::Erofs => "erofs",
        }
    }
}

/// The bytes [`format`] needs from the start of a file.
pub const HEAD: usize = 1028;

/// The image format whose magic `head` (a file's first bytes) carries:
/// squashfs's `hsqs` at 0, erofs's 0xE0F5E1E2 (little-endian) at 1024.
pub fn format(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"hsqs") {
        return Some(Format::Squashfs);
    }
    (head.get(1024..1028) == Some(&0xE0F5_E1E2u32.to_le_bytes()[..])).then_some(Format::Erofs)
}

/// A root of layers, as the parent holds it until the child has it.
#[derive(Debug)]
pub struct Layers {
    pub lower: Lower,
    pub persistent_upper: Option<Upper>,
    /// An imported image's record and layers, shared-locked while the
    /// container runs on them (see `crate::image::store::hold`).
    pub image_locks: Vec<OwnedFd>,
}

#[derive(Debug)]
pub enum Lower {
    /// The image's read-only file system, a detached mount.
    Image(OwnedFd),
    /// Directories, top first: `--overlay`'s one, an imported image's
    /// layers.
    Dirs(Vec<CString>),
}

/// `--overlay-upper DIR`: the directory, open and locked. The child
/// mounts it by its path (a mount of the parent's namespace cannot be
/// cloned in the child's), checked to be this very directory.
#[derive(Debug)]
pub struct Upper {
    pub dir: CString,
    pub lock: OwnedFd,
}

impl Layers {
    /// Every descriptor they hold (the image's mount, the locks), which a
    /// fork that closes the others must keep.
    pub fn fds(&self) -> Vec<i32> {
        use rustix::fd::AsRawFd;
        let image = match &self.lower {
            Lower::Image(fd) => Some(fd.as_raw_fd()),
            Lower::Dirs(_) => None,
        };
        let upper = self.persistent_upper.as_ref().map(|u| u.lock.as_raw_fd());
        let locked = self.image_locks.iter().map(|l| l.as_raw_fd());
        [image, upper].into_iter().flatten().chain(locked).collect()
    }

    /// The locks held for the container's life: `--overlay-upper`'s (one
    /// container at a time writes there), the imported image's (`rmi`
    /// refuses it meanwhile; its layers stay while it runs).
    pub fn into_locks(self) -> Vec<OwnedFd> {
        let upper = self.persistent_upper.map(|u| u.lock);
        upper.into_iter().chain(self.image_locks).collect()
    }

    /// What the child needs of them.
    pub fn plan(&self) -> LayerPlan<'_> {
        LayerPlan {
            lower: match &self.lower {
                Lower::Image(fd) => LowerRef::Image(fd.as_fd()),
                Lower::Dirs(dirs) => LowerRef::Dirs(dirs),
            },
            persistent_upper: self
                .persistent_upper
                .as_ref()
                .map(|u| (u.dir.as_c_str(), u.lock.as_fd())),
        }
    }

    /// The root as it will look: the persistent upper layer over the lower
    /// ones (a tmpfs upper starts empty).
    pub fn view(&self) -> rustix::io::Result<RootView> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut layers = Vec::with_capacity(2);
        if let Some(u) = &self.persistent_upper {
            match rustix::fs::openat(&u.lock, "upper", flags | OFlags::NOFOLLOW, Mode::empty()) {
                Ok(upper) => layers.push(upper),
                Err(Errno::NOENT) => {} // its first container: nothing written yet
                Err(e) => return Err(e),
            }
        }
        match &self.lower {
            Lower::Image(fd) => layers.push(rustix::fs::openat(fd, ".", flags, Mode::empty())?),
            Lower::Dirs(dirs) => {
                for dir in dirs {
                    layers.push(rustix::fs::open(dir.as_c_str(), flags, Mode::empty())?);
                }
            }
        }
        Ok(RootView::layers(layers))
    }
}

/// Mount the image file at `path` (canonical), read-only, detached.
#[inline(never)] // see the module docs of crate::image
pub fn mount(path: &Path) -> Result<OwnedFd> {
    let shown = || path.display().to_string();
    // Opened without waiting and checked again: the path was checked
    // before (spec::root), but a FIFO swapped in since must not block us.
    let (file, _) = crate::input::open_file(path).map_err(|e| match e {
        Some(e) => Error::new(Step::Rootfs, e).at(shown()),
        None => Error::invalid(Step::Rootfs, format!("{}: not a regular file", shown())),
    })?;
    let mut head = [0u8; HEAD];
    let n = rustix::io::pread(&file, &mut head, 0).ctx_at(Step::Rootfs, &shown())?;
    let Some(format) = format(&head[..n]) else {
        return Err(Error::invalid(
            Step::Rootfs,
            format!(
                "{}: neither a directory nor a squashfs or erofs image",
                shown()
            ),
        ));
    };
    let ro = crate::mount::RDONLY;
    // fsconfig's values are at most 256 bytes: the file by its descriptor.
    let by_fd = format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&file));
    if format == Format::Erofs {
        let options = [("source", by_fd.as_str()), ("ro", "")];
        if let Ok(mnt) = crate::mount::new_fs("erofs", options.into_iter(), ro) {
            return Ok(mnt);
        }
    }
    let (device, device_path) =
        crate::sys::loopdev::attach_read_only(file.as_fd()).ctx_at(Step::AttachImage, &shown())?;
    let options = [("source", device_path.as_str()), ("ro", "")];
    let mnt = crate::mount::new_fs(format.fstype(), options.into_iter(), ro)
        .ctx_at(Step::MountImage, &shown())?;
    // The mount holds the device now; ours closing leaves it to autoclear.
    drop(device);
    Ok(mnt)
}

/// `--overlay-upper DIR`: an existing directory, locked for this
/// container (its `upper/` and `work/` are made by the child, once
/// nothing can refuse the container any more).
pub fn persistent_upper(dir: &Path) -> Result<Upper> {
    let shown = || format!("--overlay-upper {}", dir.display());
    let canonical =
        std::fs::canonicalize(dir).map_err(|e| Error::from_io(Step::Rootfs, e).at(shown()))?;
    let lock = rustix::fs::open(
        &canonical,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx_at(Step::Rootfs, &shown())?;
    match rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            return Err(Error::usage(format!(
                "{}: in use by another container (one at a time writes an upper layer)",
                shown()
            )));
        }
        Err(e) => return Err(Error::new(Step::Rootfs, e).at(shown())),
    }
    // Its `upper/` and `work/` are the overlay's, written and emptied by
    // the kernel: a symlink there would have it write, or empty, whatever
    // the link names (and two directories share one upper layer).
    for sub in ["upper", "work"] {
        match rustix::fs::statat(&lock, sub, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => {}
            Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() => {}
            Ok(_) => {
                return Err(Error::invalid(
                    Step::Rootfs,
                    format!(
                        "{}: its {sub} is not a directory (a symlink is refused)",
                        shown()
                    ),
                ));
            }
            Err(e) => return Err(Error::new(Step::Rootfs, e).at(format!("{}/{sub}", shown()))),
        }
    }
    Ok(Upper {
        dir: crate::mount::cpath(&canonical)?,
        lock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_known_by_their_magic() {
        let mut erofs = vec![0u8; 2048];
        erofs[1024..1028].copy_from_slice(&[0xe2, 0xe1, 0xf5, 0xe0]);
        assert_eq!(format(&erofs), Some(Format::Erofs));
        assert_eq!(format(b"hsqs\x10\x00\x00\x00"), Some(Format::Squashfs));
        assert_eq!(
            format(b"sqsh"),
            None,
            "big-endian squashfs: not made since 4.0"
        );
        assert_eq!(format(&erofs[..1027]), None);
        assert_eq!(format(b""), None);
        assert_eq!(format(&[0u8; 4096]), None);
    }

    /// The root's path is checked before the image is mounted; a FIFO
    /// swapped in between must be refused, not waited on for a writer.
    #[test]
    fn a_fifo_where_the_image_was_is_refused_without_waiting() {
        let dir = std::env::temp_dir().join(format!("cella-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("image.sqfs");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let (done, waited) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || done.send(mount(&path).map(drop).map_err(|e| e.to_string())));
        let result = waited
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("mount waited on a FIFO");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            result,
            Err(format!("rootfs {}: not a regular file", fifo.display()))
        );
    }
}
