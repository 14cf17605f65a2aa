//! The container's root: a directory, the host's `/`, an image file or an
//! imported image under an overlay (the `image` feature); how it is seen
//! before the container exists (its passwd, its command); what makes one
//! unusable.

#[cfg(feature = "image")]
use crate::cli::RunArgs;
use crate::error::{Error, Result, Step};
use rustix::io::Errno;
#[cfg(feature = "image")]
use std::ffi::OsString;
use std::ffi::{CString, OsStr};
use std::path::{Path, PathBuf};

/// The container's root file system.
#[derive(Debug)]
pub struct Root {
    /// Absolute, symlink-free path of the rootfs, or `/` for the host's root.
    pub source: PathBuf,
    /// No `--rootfs`: the host's `/`, recursively read-only, with private
    /// `/proc`, `/dev` and `/tmp`.
    pub is_host: bool,
    pub read_only: bool,
    /// An image file, or `--overlay` over a directory: the overlay's
    /// layers (`source` is then the image file or the directory).
    #[cfg(feature = "image")]
    pub layers: Option<crate::image::Layers>,
}

impl Root {
    /// The root as the payload will find it, for reading its passwd and
    /// looking for its command before it exists.
    pub(super) fn view(&self, inside_of: Option<u32>) -> Result<crate::input::RootView> {
        use crate::input::RootView;
        if let Some(pid) = inside_of {
            return Ok(RootView::dir(Path::new(&format!("/proc/{pid}/root"))));
        }
        #[cfg(feature = "image")]
        if let Some(layers) = &self.layers {
            return layers
                .view()
                .map_err(|e| Error::new(Step::Rootfs, e).at(self.source.display().to_string()));
        }
        Ok(RootView::dir(&self.source))
    }
}

/// A command the rootfs does not have is refused before anything is made
/// in it: a mistyped `--rootfs` (a data directory) must not get `dev/`,
/// `proc/` and `sys/` created in it. A candidate under a `--bind` or
/// `--tmpfs` target may come with that mount: it is not looked for.
pub(super) fn command_in_rootfs(
    view: &crate::input::RootView,
    root: &Path,
    candidates: &[CString],
    command: &OsStr,
    mounted: &[&str],
) -> Result<()> {
    use rustix::fs::OFlags;
    for c in candidates {
        let path = c.to_string_lossy();
        let under_a_mount = mounted.iter().any(|m| {
            path.strip_prefix(m.trim_end_matches('/'))
                .is_some_and(|r| r.starts_with('/'))
        });
        match view.open(c.as_c_str(), OFlags::PATH) {
            _ if under_a_mount => return Ok(()),
            Ok(_) => return Ok(()),
            // Not there, or not to be run: exec says which.
            Err(Errno::NOENT | Errno::NOTDIR | Errno::ACCESS | Errno::LOOP) => {}
            // A damaged image (EUCLEAN, EIO) is not a missing command.
            Err(e) => {
                return Err(Error::new(Step::Rootfs, e).at(format!("{}: {path}", root.display())));
            }
        }
    }
    let command = command.to_string_lossy();
    let looks_like_one = ["bin", "etc", "usr"]
        .iter()
        .any(|d| view.open(*d, OFlags::PATH | OFlags::NOFOLLOW).is_ok());
    Err(Error::new(Step::Exec, Errno::NOENT).at(if looks_like_one {
        command.into_owned()
    } else {
        format!(
            "{command} (--rootfs {} has no bin/, etc/ or usr/: is it a root file system?)",
            root.display()
        )
    }))
}

/// `--rootfs`: a directory, or (the `image` feature) an image file or a
/// directory under an overlay.
pub(super) fn root_at(
    given: &OsStr,
    overlay: bool,
    overlay_upper: Option<&OsStr>,
    read_only: bool,
) -> Result<Root> {
    let shown = given.to_string_lossy();
    let path =
        std::fs::canonicalize(given).map_err(|e| Error::from_io(Step::Rootfs, e).at(&*shown))?;
    let meta = rustix::fs::stat(&path).map_err(|e| Error::new(Step::Rootfs, e).at(&*shown))?;
    let kind = rustix::fs::FileType::from_raw_mode(meta.st_mode);
    let overlay = overlay || overlay_upper.is_some();
    let image = kind == rustix::fs::FileType::RegularFile;
    if !image && kind != rustix::fs::FileType::Directory {
        return Err(Error::new(Step::Rootfs, rustix::io::Errno::NOTDIR).at(&*shown));
    }
    if !(image || overlay) {
        return Ok(Root {
            source: path,
            is_host: false,
            read_only,
            #[cfg(feature = "image")]
            layers: None,
        });
    }
    #[cfg(not(feature = "image"))]
    return Err(Error::usage(if image {
        format!("--rootfs {shown}: image files need cella's 'image' feature")
    } else {
        "--overlay: this cella is built without its 'image' feature".to_owned()
    }));
    #[cfg(feature = "image")]
    {
        use crate::image::Lower;
        refuse_rootless(&path)?;
        let lower = if image {
            Lower::Image(crate::image::mount(&path)?)
        } else {
            Lower::Dirs(vec![crate::mount::cpath(&path)?])
        };
        layered(path, lower, overlay_upper, read_only, Vec::new())
    }
}

/// Layers need root (a loop device, an overlay of the host's): refused
/// rootless before anything is mounted.
#[cfg(feature = "image")]
fn refuse_rootless(source: &Path) -> Result<()> {
    if crate::rootless::active() {
        return Err(Error::usage(format!(
            "{}: image files, imported images and --overlay need root (a loop device, an overlay of the host's)",
            source.display()
        )));
    }
    Ok(())
}

/// A root of layers under an overlay (an image file, `--overlay`, an
/// imported image): the lower layers (after [`refuse_rootless`]), then
/// `--overlay-upper`'s locked directory.
#[cfg(feature = "image")]
fn layered(
    source: PathBuf,
    lower: crate::image::Lower,
    overlay_upper: Option<&OsStr>,
    read_only: bool,
    image_locks: Vec<rustix::fd::OwnedFd>,
) -> Result<Root> {
    let persistent_upper = match overlay_upper {
        Some(dir) => Some(crate::image::persistent_upper(Path::new(dir))?),
        None => None,
    };
    if let (Some(upper), crate::image::Lower::Dirs(dirs)) = (&persistent_upper, &lower) {
        refuse_overlap(upper.dir.as_bytes(), dirs)?;
    }
    Ok(Root {
        source,
        is_host: false,
        read_only,
        layers: Some(crate::image::Layers {
            lower,
            persistent_upper,
            image_locks,
        }),
    })
}

/// `--overlay-upper DIR` must be apart from the directories below it: the
/// kernel accepts one inside the other, and the container then sees its
/// own upper layer change under it (overlayfs leaves that undefined).
/// Both paths are canonical.
#[cfg(feature = "image")]
pub(super) fn refuse_overlap(upper: &[u8], lower: &[std::ffi::CString]) -> Result<()> {
    let within = |inner: &[u8], outer: &[u8]| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest[0] == b'/' || outer.last() == Some(&b'/'))
    };
    match lower
        .iter()
        .find(|l| within(upper, l.as_bytes()) || within(l.as_bytes(), upper))
    {
        Some(dir) => Err(Error::usage(format!(
            "--overlay-upper {}: overlaps the layer below it, {} (keep the two apart)",
            String::from_utf8_lossy(upper),
            dir.to_string_lossy()
        ))),
        None => Ok(()),
    }
}

/// `cella run NAME [ARG...]` without `--rootfs`, NAME an imported image
/// (or `NAME:latest`): its layers under an overlay are the root, and its
/// config gives what the options do not, as docker's does: the command
/// (its Entrypoint, then the ARGs or else its Cmd), the environment (first,
/// before `--env-file` and `-e`), the working directory, the user, the
/// stop signal. `None`: NAME is a command in the host's root.
#[cfg(feature = "image")]
pub(super) fn from_image(args: &mut RunArgs) -> Result<Option<(Root, Vec<OsString>)>> {
    use crate::image::{Lower, store};
    if args.rootfs.is_some() || args.inside_of.is_some() {
        return Ok(None);
    }
    let Some(first) = args.command.first().and_then(|c| c.to_str()) else {
        return Ok(None);
    };
    let store_root = store::root();
    let Some((image, locks)) = store::hold(&store_root, first)? else {
        return Ok(None);
    };
    let strings = |key| image.strings(key).into_iter().map(OsString::from);
    let entrypoint = args.entrypoint.take();
    let own_cmd = entrypoint.is_none();
    let mut command: Vec<OsString> = match entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.into()],
        None => strings("Entrypoint").collect(),
    };
    if args.command.len() > 1 {
        command.extend(args.command.drain(1..));
    } else if own_cmd {
        command.extend(strings("Cmd"));
    }
    if command.is_empty() {
        return Err(Error::usage(format!(
            "{}: the image has no Entrypoint or Cmd: give a command after its name",
            image.name
        )));
    }
    args.command = command;
    args.workdir = args.workdir.take().or_else(|| image.string("WorkingDir"));
    args.user = args.user.take().or_else(|| image.string("User"));
    if args.stop_signal.is_none() {
        args.stop_signal = image
            .string("StopSignal")
            .and_then(|s| crate::cli::docker::signal(&s));
    }
    let source = PathBuf::from(&image.name);
    refuse_rootless(&source)?;
    let mut dirs = Vec::new();
    for d in image.layer_dirs(&store_root) {
        dirs.push(crate::mount::cpath(&d)?);
    }
    let root = layered(
        source,
        Lower::Dirs(dirs),
        args.overlay_upper.as_deref(),
        args.read_only,
        locks,
    )?;
    Ok(Some((root, strings("Env").collect())))
}

/// The root's `/proc`, `/sys` and `/dev` must not be symlinks: a symlinked
/// `/proc` would redirect cella's procfs mount (and later writes) to
/// wherever the image points (CVE-2019-19921 class).
pub(super) fn no_symlinked_specials(view: &crate::input::RootView, shown: &OsStr) -> Result<()> {
    use rustix::fs::{FileType, OFlags};
    for special in ["proc", "sys", "dev"] {
        let is_symlink = view
            .open(special, OFlags::PATH | OFlags::NOFOLLOW)
            .and_then(|fd| rustix::fs::fstat(&fd))
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
        if is_symlink {
            return Err(Error::invalid(
                Step::Rootfs,
                format!(
                    "{}: /{special} is a symlink, refusing to mount over it",
                    shown.to_string_lossy()
                ),
            ));
        }
    }
    Ok(())
}
