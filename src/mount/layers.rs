//! A root made of layers: an overlay whose lower layer is an image file's
//! read-only file system (mounted by the parent, handed over as a detached
//! mount) or a directory, and whose upper layer is a tmpfs of the
//! container's own (writes vanish with it) or `--overlay-upper`'s
//! directory (writes persist there).
//!
//! Assembled in the child, in its new mount namespace: overlayfs takes its
//! layers only from the caller's namespace (6.1), and whatever is mounted
//! there goes with the namespace, so a killed cella leaves no mount (and,
//! the image's loop device being autoclear, no loop device).

use super::apply::new_fs;
use crate::error::{Ctx, Error, Result, Step};
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{CWD, Mode, OFlags, fstat};
use rustix::mount::{MoveMountFlags, OpenTreeFlags, move_mount, open_tree};
use std::ffi::CStr;

/// The child's view of [`crate::image::Layers`].
pub struct LayerPlan<'a> {
    pub lower: Lower<'a>,
    /// `--overlay-upper DIR`, its path and the directory opened: its
    /// `upper/` and `work/` hold the writes.
    pub persistent_upper: Option<(&'a CStr, BorrowedFd<'a>)>,
}

pub enum Lower<'a> {
    /// An image's file system, mounted read-only by the parent.
    Image(BorrowedFd<'a>),
    /// Directories, top first (`--overlay`'s, an imported image's
    /// layers), never written.
    Dirs(&'a [std::ffi::CString]),
}

/// Build the overlay in a scratch tmpfs stacked on `/` (its `0/`, `1/`...
/// for the lower layers, `upper/`, `work/`, `root/`, `data/`: short names)
/// and make its root the current directory.
/// Returns the overlay's root, as [`super::enter_root`] returns the tree.
///
/// The overlay is mounted with mount(2), whose options may fill a page:
/// `fsconfig` takes values of at most 255 bytes, which `lowerdir=0:1:...`
/// passes at about 90 layers (docker allows 127), and overlayfs before 6.8
/// has no `lowerdir+` to give them one by one.
pub fn enter_layers(plan: &LayerPlan<'_>) -> Result<OwnedFd> {
    let step = Step::MountOverlay;
    let scratch = new_fs("tmpfs", [("mode", "0755")].into_iter(), 0).ctx(step)?;
    for dir in ["upper", "work", "root", "data"] {
        rustix::fs::mkdirat(&scratch, dir, Mode::from_raw_mode(0o755)).ctx(step)?;
    }
    attach_at(&scratch, c"/").ctx(step)?;
    rustix::process::fchdir(&scratch).ctx(step)?;
    // The options, built in a buffer (the child allocates nothing).
    let mut options = Options {
        buf: [0u8; 4096],
        len: 0,
    };
    options.push(b"lowerdir=").ctx(step)?;
    // The lower layers as `0`, `1`, ... (top first).
    let count = match plan.lower {
        Lower::Image(_) => 1,
        Lower::Dirs(dirs) => dirs.len(),
    };
    for i in 0..count {
        let mut buf = [0u8; 4];
        let name = layer_name(i, &mut buf);
        if i > 0 {
            options.push(b":").ctx(step)?;
        }
        options.push(name.to_bytes()).ctx(step)?;
        rustix::fs::mkdir(name, Mode::from_raw_mode(0o755)).ctx(step)?;
        match plan.lower {
            Lower::Image(fd) => attach_at(&fd, name).ctx(Step::MountImage)?,
            Lower::Dirs(dirs) => {
                attach_at(&clone(&dirs[i]).ctx(Step::CloneRoot)?, name).ctx(step)?
            }
        }
    }
    let upper_and_work: &[u8] = match plan.persistent_upper {
        Some((dir, opened)) => {
            let data = clone(dir).ctx(step)?;
            // The path still leads to the directory the parent checked
            // and locked, not to one swapped in since.
            let (a, b) = (fstat(&data).ctx(step)?, fstat(opened).ctx(step)?);
            if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
                return Err(Error::new(step, rustix::io::Errno::STALE));
            }
            attach_at(&data, c"data").ctx(step)?;
            for sub in ["data/upper", "data/work"] {
                match rustix::fs::mkdir(sub, Mode::from_raw_mode(0o755)) {
                    Ok(()) => {}
                    // Checked before (image::file::persistent_upper), and
                    // again here: the overlay must not follow a symlink.
                    Err(rustix::io::Errno::EXIST) => {
                        let st = rustix::fs::lstat(sub).ctx(step)?;
                        if !rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() {
                            return Err(Error::new(step, rustix::io::Errno::NOTDIR));
                        }
                    }
                    Err(e) => return Err(Error::new(step, e)),
                }
            }
            b",upperdir=data/upper,workdir=data/work\0"
        }
        None => b",upperdir=upper,workdir=work\0",
    };
    options.push(upper_and_work).ctx(step)?;
    let options = CStr::from_bytes_with_nul(&options.buf[..options.len])
        .map_err(|_| Error::new(step, rustix::io::Errno::INVAL))?;
    rustix::mount::mount(
        c"overlay",
        c"root",
        c"overlay",
        rustix::mount::MountFlags::empty(),
        options,
    )
    .ctx(step)?;
    let overlay = rustix::fs::open(
        c"root",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(step)?;
    rustix::process::fchdir(&overlay).ctx(Step::EnterRoot)?;
    Ok(overlay)
}

/// Mount options in a fixed buffer.
struct Options {
    buf: [u8; 4096],
    len: usize,
}

impl Options {
    fn push(&mut self, bytes: &[u8]) -> rustix::io::Result<()> {
        let end = self.len + bytes.len();
        if end > self.buf.len() {
            return Err(rustix::io::Errno::TOOBIG);
        }
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

/// Layer `i`'s mount point in the scratch tmpfs: its decimal digits.
fn layer_name(i: usize, buf: &mut [u8; 4]) -> &CStr {
    let digits = if i >= 100 {
        3
    } else if i >= 10 {
        2
    } else {
        1
    };
    let mut v = i.min(999);
    for d in (0..digits).rev() {
        buf[d] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    buf[digits] = 0;
    CStr::from_bytes_with_nul(&buf[..=digits]).unwrap_or(c"0")
}

/// A private copy of the mount at `dir` (its top mount only: overlayfs
/// reads no layer's submounts).
fn clone(dir: &CStr) -> rustix::io::Result<OwnedFd> {
    open_tree(
        CWD,
        dir,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
}

/// Attach the detached mount `mnt` at `path` (relative to the current
/// directory, or `/`).
fn attach_at(mnt: &impl rustix::fd::AsFd, path: &CStr) -> rustix::io::Result<()> {
    move_mount(mnt, c"", CWD, path, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
}
