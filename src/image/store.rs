//! The image store (default `/var/lib/cella`, 0700; `CELLA_IMAGES`
//! elsewhere): imported images and their layers, unpacked.
//!
//! ```text
//! /var/lib/cella/
//!   .lock                  flock: one import or removal at a time
//!   layers/HEX/            a layer's tree, named by the SHA-256 of its
//!                          uncompressed tar (the image config's diff_id):
//!                          a layer two images share is stored once
//!   images/HEX.json        an image: {"Name", "Layers" (bottom first),
//!                          "Config" (the image's own config, kept whole)},
//!                          HEX the SHA-256 of its name; written, then
//!                          renamed into place
//!   tmp/                   what an import is making; gone when it ends
//! ```
//!
//! An import that fails leaves nothing: its temporary files go, and so
//! do the layers it added. A running container holds its image's record
//! and layers shared-locked ([`hold`]): `rmi` refuses the image, and a
//! name imported again leaves the old layers until no container runs on
//! them.

use super::archive::{Archive, LayerBlob};
use super::sha256::Sha256;
use crate::error::{Error, Result, Step};
use crate::json::Value;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/var/lib/cella";
/// The most layers an image may have: docker's limit, and what the
/// overlay's options hold.
const MAX_LAYERS: usize = 127;

/// The store's directory.
pub fn root() -> PathBuf {
    std::env::var_os("CELLA_IMAGES")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_ROOT), PathBuf::from)
}

fn fail(what: String) -> Error {
    Error::usage(what)
}

/// A failed call of the store's own on `path` (as `Ctx::ctx_at`, but the
/// path shown only on failure).
fn at(path: &Path) -> impl Fn(Errno) -> Error + '_ {
    move |e| Error::new(Step::State, e).at(path.display().to_string())
}

fn is_dir(path: &Path) -> bool {
    rustix::fs::stat(path)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
}

/// An imported image.
#[derive(Debug)]
pub struct Image {
    pub name: String,
    /// Layer digests (hex), bottom first.
    pub layers: Vec<String>,
    /// The image's config, if it had one.
    config: Option<Value>,
    /// Its record as stored: what `cella image inspect` prints.
    pub record: Vec<u8>,
}

impl Image {
    /// The layers' directories, top first (overlayfs's lowerdir order).
    pub fn layer_dirs(&self, root: &Path) -> Vec<PathBuf> {
        self.layers
            .iter()
            .rev()
            .map(|l| root.join("layers").join(l))
            .collect()
    }

    /// A string list of the config (`Entrypoint`, `Cmd`, `Env`).
    pub fn strings(&self, key: &str) -> Vec<String> {
        crate::json::strings(self.field(key)).unwrap_or_default()
    }

    /// A string of the config (`WorkingDir`, `User`, `StopSignal`).
    pub fn string(&self, key: &str) -> Option<String> {
        self.field(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    fn field(&self, key: &str) -> Option<&Value> {
        self.config.as_ref()?.get("config")?.get(key)
    }

    /// The record read back: {"Name", "Layers" (bottom first, by
    /// digest), "Config" (the image's own, as it came)}.
    fn from_record(record: Vec<u8>) -> Option<Image> {
        let Value::Object(members) = crate::json::parse(&record).ok()? else {
            return None;
        };
        let (mut name, mut layers, mut config) = (None, None, None);
        for (key, value) in members {
            match (key.as_str(), value) {
                ("Name", Value::String(s)) => name = Some(s),
                ("Layers", v) => layers = crate::json::strings(Some(&v)),
                ("Config", v) if !v.is_null() => config = Some(v),
                _ => {}
            }
        }
        let mut digests = Vec::new();
        for l in layers? {
            digests.push(l.strip_prefix("sha256:")?.to_owned());
        }
        let layers = digests;
        Some(Image {
            name: name?,
            layers,
            config,
            record,
        })
    }
}

/// An image's record (see [`Image::from_record`]).
fn record(name: &str, layers: &[String], config: Option<&[u8]>) -> Vec<u8> {
    let mut out = String::from("{\"Name\":");
    crate::json::write_str(&mut out, name);
    out.push_str(",\"Layers\":[");
    for (i, l) in layers.iter().enumerate() {
        out.push_str(if i > 0 { ",\"sha256:" } else { "\"sha256:" });
        out.push_str(l);
        out.push('"');
    }
    out.push_str("],\"Config\":");
    let mut out = out.into_bytes();
    out.extend_from_slice(config.unwrap_or(b"null"));
    out.extend_from_slice(b"}\n");
    out
}

fn record_path(root: &Path, name: &str) -> PathBuf {
    root.join("images")
        .join(format!("{}.json", Sha256::hex_of(name.as_bytes())))
}

/// The store, made if missing (0700: images carry setuid files and device
/// nodes, for containers only), and its lock taken.
fn open_locked(root: &Path) -> Result<OwnedFd> {
    // Each ours alone (made so, or refused): what another user could
    // change, a container would run on.
    for dir in ["", "layers", "images", "tmp"] {
        crate::store::prepare_dir(&root.join(dir), "images")?;
    }
    let path = root.join(".lock");
    let lock = rustix::fs::open(
        &path,
        OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(at(&path))?;
    rustix::fs::flock(&lock, FlockOperation::LockExclusive).map_err(at(&path))?;
    Ok(lock)
}

/// Every image of the store, in no order.
pub fn list(root: &Path) -> Vec<Image> {
    let dir = root.join("images");
    crate::dirs::entries(&dir)
        .into_iter()
        .filter_map(|(name, _)| {
            let path = dir.join(name);
            if path.extension()? != "json" {
                return None;
            }
            Image::from_record(crate::input::read(&path, crate::json::MAX_INPUT).ok()?)
        })
        .collect()
}

/// Image `name` (or `name:latest`), with its record open and
/// shared-locked: held while a container runs on it, `rmi` refuses it.
pub fn find(root: &Path, name: &str) -> Option<(Image, OwnedFd)> {
    let names = [name.to_owned(), format!("{name}:latest")];
    names.iter().find_map(|n| {
        let path = record_path(root, n);
        let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
        rustix::fs::flock(&fd, FlockOperation::LockShared).ok()?;
        // The file locked, not its path again (a new record may be
        // renamed over it meanwhile).
        let bytes = crate::input::read_bounded(fd.as_fd(), crate::json::MAX_INPUT).ok()?;
        let image = Image::from_record(bytes).filter(|i| &i.name == n)?;
        Some((image, fd))
    })
}

/// Image `name` for a container to run on: [`find`]'s, with its record
/// and each of its layers shared-locked for the container's life, so
/// `rmi` refuses the image meanwhile and no import or removal takes a
/// layer away under it (a name imported again leaves the old layers to
/// the containers on them; the next garbage collection after them takes
/// them). Found under the store's lock: what the record names is there.
/// `None` without a store or such an image.
pub fn hold(root: &Path, name: &str) -> Result<Option<(Image, Vec<OwnedFd>)>> {
    let path = root.join(".lock");
    let store = match rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
        Err(Errno::NOENT) => return Ok(None),
        opened => opened.map_err(at(&path))?,
    };
    rustix::fs::flock(&store, FlockOperation::LockShared).map_err(at(&path))?;
    for dir in [root.to_owned(), root.join("layers"), root.join("images")] {
        if crate::store::owned_dir(&dir, "images")?.st_mode & 0o022 != 0 {
            return Err(Error::invalid(
                Step::State,
                format!(
                    "{}: writable by others: refusing to run its images",
                    dir.display()
                ),
            ));
        }
    }
    let Some((image, record)) = find(root, name) else {
        return Ok(None);
    };
    let mut held = vec![record];
    for layer in &image.layers {
        let dir = root.join("layers").join(layer);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::open(&dir, flags, Mode::empty()).map_err(at(&dir))?;
        rustix::fs::flock(&fd, FlockOperation::LockShared).map_err(at(&dir))?;
        held.push(fd);
    }
    Ok(Some((image, held)))
}

/// Remove image `name` and the layers no other image uses.
pub fn remove(root: &Path, name: &str) -> Result<()> {
    let _lock = open_locked(root)?;
    let Some((image, held)) = find(root, name) else {
        return Err(fail(format!("rmi {name}: no such image")));
    };
    // Our shared lock made exclusive: refused while a container holds one.
    if rustix::fs::flock(&held, FlockOperation::NonBlockingLockExclusive).is_err() {
        return Err(fail(format!(
            "rmi {}: a container is running on it",
            image.name
        )));
    }
    let path = record_path(root, &image.name);
    rustix::fs::unlink(&path).map_err(at(&path))?;
    collect_garbage(root);
    Ok(())
}

/// Remove the layers no image names and no container runs on (see
/// [`hold`]), and everything in tmp/ (what an import made, or a killed
/// one left). Called with the store's lock held.
fn collect_garbage(root: &Path) {
    let used: Vec<String> = list(root).into_iter().flat_map(|i| i.layers).collect();
    for (dir, keep) in [("layers", &used[..]), ("tmp", &[])] {
        let dir = root.join(dir);
        for (name, _) in crate::dirs::entries(&dir) {
            if keep.iter().any(|k| name == k.as_str()) {
                continue;
            }
            let path = dir.join(name);
            if !in_use(&path) {
                let _ = crate::dirs::remove(&path);
            }
        }
    }
}

/// Whether a container holds the layer at `dir` ([`hold`]'s lock).
fn in_use(dir: &Path) -> bool {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::open(dir, flags, Mode::empty()).is_ok_and(|fd| {
        rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) == Err(Errno::WOULDBLOCK)
    })
}

/// Import the archive or OCI layout at `source` as `name` (else the name
/// it carries, else the file's name); returns the name.
pub fn import(root: &Path, source: &Path, name: Option<&str>) -> Result<String> {
    let _lock = open_locked(root)?;
    // What a killed import left, before this one adds to it.
    collect_garbage(root);
    let result = import_locked(root, source, name);
    // Its temporary files; and, had it failed, the layers it added,
    // which no image names.
    collect_garbage(root);
    result
}

fn import_locked(root: &Path, source: &Path, name: Option<&str>) -> Result<String> {
    let tmp = &root.join("tmp");
    let shown = source.display().to_string();
    let archive = Archive::open(source, tmp).map_err(|e| fail(format!("{shown}: {e}")))?;
    let found = archive
        .describe()
        .map_err(|e| fail(format!("{shown}: {e}")))?;
    let name = match name.map(str::to_owned).or(found.name) {
        Some(n) => n,
        None => source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into()),
    };
    check_name(&name)?;
    if found.layers.len() > MAX_LAYERS {
        return Err(fail(format!(
            "{shown}: {} layers (cella runs images of at most {MAX_LAYERS}, as docker does)",
            found.layers.len()
        )));
    }
    let mut layers: Vec<String> = Vec::with_capacity(found.layers.len());
    for (i, blob) in found.layers.iter().enumerate() {
        // A blob named twice is unpacked once.
        if let Some(j) = found.layers[..i].iter().position(|b| b.same_blob(blob)) {
            layers.push(layers[j].clone());
            continue;
        }
        let digest = layer(&archive, blob, i, root, tmp).map_err(|e| {
            fail(format!(
                "{shown}: layer {} of {}: {e}",
                i + 1,
                found.layers.len()
            ))
        })?;
        layers.push(digest);
    }
    // Kept only if it reads back as it will be read (its config within
    // the JSON parser's limits): else the image would be invisible.
    let bytes = record(&name, &layers, found.config.as_deref());
    if bytes.len() > crate::json::MAX_INPUT || Image::from_record(bytes.clone()).is_none() {
        return Err(fail(format!(
            "{shown}: its config is too large or nested too deeply to keep (at most {} bytes, {} levels)",
            crate::json::MAX_INPUT - 4096,
            crate::json::MAX_DEPTH - 1
        )));
    }
    // Written in tmp/, then renamed into place.
    let staged = tmp.join("record.json");
    std::fs::write(&staged, bytes)
        .map_err(|e| Error::from_io(Step::State, e).at(staged.display().to_string()))?;
    let path = record_path(root, &name);
    rustix::fs::rename(&staged, &path).map_err(at(&path))?;
    Ok(name)
}

/// Docker's reference grammar, loosely: what `cella run NAME` can name.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-/:@".contains(&c))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(fail(format!(
            "'{name}': not an image name (letters, digits and . _ - / : @, starting with a letter or digit)"
        )))
    }
}

/// Unpack one layer (unless the store has it); its digest.
#[inline(never)] // see the module docs of crate::image
fn layer(
    archive: &Archive,
    blob: &LayerBlob,
    index: usize,
    root: &Path,
    tmp: &Path,
) -> std::result::Result<String, String> {
    let layers = root.join("layers");
    if let Some(d) = &blob.diff_id
        && is_dir(&layers.join(d))
    {
        return Ok(d.clone());
    }
    // Named for this import: a leftover no removal could take never
    // stands in the way of the next.
    let dir = tmp.join(format!(
        "layer-{}-{index}",
        rustix::process::getpid().as_raw_nonzero()
    ));
    let _ = crate::dirs::remove(&dir);
    rustix::fs::mkdir(&dir, Mode::from_raw_mode(0o755)).map_err(super::stream::errno)?;
    let dirfd = rustix::fs::open(
        &dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(super::stream::errno)?;
    let mut stream = archive.layer(blob)?;
    stream.hash = Some(Sha256::default());
    let mut reader = super::tar::Reader::new(stream);
    super::unpack::unpack(&mut reader, dirfd.as_fd())?;
    // Whatever follows the end of the archive is part of its digest.
    let mut stream = reader.into_stream();
    stream.drain()?;
    let digest = stream.hash.map(Sha256::hex).unwrap_or_default();
    if let Some(want) = &blob.diff_id
        && *want != digest
    {
        return Err(format!(
            "its content's digest is sha256:{digest}, not the sha256:{want} its image names (damaged?)"
        ));
    }
    // A layer the store has already (no diff_id said so) stays as it
    // is; this copy goes at once, not with tmp/ at the end (an archive
    // naming many copies of one layer must not fill the disk).
    let dest = layers.join(&digest);
    if is_dir(&dest) {
        let _ = crate::dirs::remove(&dir);
    } else {
        rustix::fs::rename(&dir, &dest).map_err(super::stream::errno)?;
    }
    Ok(digest)
}
