//! What `cella image import` reads: a `docker save` archive (its
//! `manifest.json`, in the older form and the OCI-layout form newer
//! docker writes), an OCI image layout (a directory, or a tar of one as
//! `podman save --format oci-archive` writes), or a plain root file system
//! tar; any of the archives may be gzip-compressed. Layers are tar,
//! uncompressed or gzip; zstd is refused with a message.

use super::stream::{Range, Res, Stream, errno as sys};
use super::tar::Reader;
use crate::json::Value;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use std::path::Path;

/// JSON documents of an image (manifests, configs) are small.
const MAX_JSON: u64 = 4 << 20;

fn bad(why: impl Into<String>) -> String {
    why.into()
}

/// An opened archive or layout.
pub struct Archive {
    /// A tar (a compressed one's decompressed copy), and its size.
    file: Option<(OwnedFd, u64)>,
    /// Members of the tar: path, data offset, size.
    members: Vec<(String, u64, u64)>,
    /// An OCI layout directory, its files opened beneath it.
    dir: Option<OwnedFd>,
}

/// One layer: where its blob is, and the digest of its uncompressed tar
/// the image's config names (`rootfs.diff_ids`), hex.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    path: String,
    pub diff_id: Option<String>,
}

impl LayerBlob {
    /// The same blob, to be checked against the same digest.
    pub fn same_blob(&self, other: &LayerBlob) -> bool {
        self.path == other.path && self.diff_id == other.diff_id
    }
}

/// What an archive holds.
pub struct Found {
    pub name: Option<String>,
    pub layers: Vec<LayerBlob>,
    /// The image's config (JSON) as the archive has it.
    pub config: Option<Vec<u8>>,
}

/// `len` bytes of `fd` from `offset`, read through a descriptor of its own.
fn range(fd: &OwnedFd, offset: u64, len: u64) -> Res<Range> {
    let own = rustix::io::fcntl_dupfd_cloexec(fd, 0).map_err(sys)?;
    Ok(Range::new(own, offset, len))
}

impl Archive {
    /// Open `source`: a directory, or a (gzip-compressed) tar file, which
    /// is decompressed into `tmp` first (members are read by offset).
    #[inline(never)] // see the module docs of crate::image
    pub fn open(source: &Path, tmp: &Path) -> Res<Archive> {
        let st = rustix::fs::stat(source).map_err(sys)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            return Ok(Archive {
                file: None,
                members: Vec::new(),
                dir: Some(rustix::fs::open(source, flags, Mode::empty()).map_err(sys)?),
            });
        }
        let (mut fd, mut size) = crate::input::open_file(source)
            .map_err(|e| e.map_or_else(|| bad("not a file or a directory"), sys))?;
        let mut stream = Stream::open(range(&fd, 0, size)?)?;
        if stream.is_gzip() {
            // Written out once, to be read by offset.
            let path = tmp.join("archive.tar");
            fd = rustix::fs::open(
                &path,
                OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(sys)?;
            size = 0;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                crate::input::write_all(fd.as_fd(), &buf[..n]).map_err(sys)?;
                size += n as u64;
            }
        }
        let mut members = Vec::new();
        let mut reader = Reader::new(Stream::plain(range(&fd, 0, size)?));
        while let Some(e) = reader.next_entry()? {
            if e.kind == super::tar::Kind::File {
                let path = super::tar::components(&e.path)
                    .map(|c| c.join("/"))
                    .unwrap_or_default();
                members.push((path, reader.offset(), e.size));
            }
        }
        Ok(Archive {
            file: Some((fd, size)),
            members,
            dir: None,
        })
    }

    fn has(&self, path: &str) -> bool {
        match &self.dir {
            Some(d) => crate::input::open_file_beneath(d.as_fd(), path).is_ok(),
            None => self.members.iter().any(|(p, _, _)| p == path),
        }
    }

    /// A member (or a file of the layout).
    fn open_member(&self, path: &str) -> Res<Range> {
        let Some(want) = super::tar::components(path).map(|c| c.join("/")) else {
            return Err(bad(format!("'{path}': an absolute path or one with '..'")));
        };
        match (&self.dir, &self.file) {
            (Some(d), _) => {
                let (fd, size) = crate::input::open_file_beneath(d.as_fd(), path).map_err(|e| {
                    let why = match e {
                        Some(rustix::io::Errno::LOOP | rustix::io::Errno::XDEV) => {
                            "a symlink (refused: it could lead out of the layout)".into()
                        }
                        e => e.map_or_else(|| bad("not a regular file"), sys),
                    };
                    format!("{path}: {why}")
                })?;
                Ok(Range::new(fd, 0, size))
            }
            // A plain root file system tar: the archive is the layer.
            (None, Some((fd, size))) if path.is_empty() => range(fd, 0, *size),
            (None, Some((fd, _))) => {
                let (_, offset, size) = self
                    .members
                    .iter()
                    .rev()
                    .find(|(p, _, _)| *p == want)
                    .ok_or_else(|| bad(format!("{path}: not in the archive")))?;
                range(fd, *offset, *size)
            }
            (None, None) => Err(bad("no archive")),
        }
    }

    /// A JSON document of the archive: parsed, and as it is.
    fn json(&self, path: &str) -> Res<(Value, Vec<u8>)> {
        let member = self.open_member(path)?;
        if member.left() > MAX_JSON {
            return Err(format!("{path}: too large for a manifest"));
        }
        let mut bytes = vec![0u8; member.left() as usize];
        Stream::plain(member).read_exact(&mut bytes)?;
        // A blob is named by its digest: one whose bytes are not what its
        // name says is refused (a damaged or altered layout), as podman
        // and skopeo do. (Layers are checked against their diff_ids.)
        if let Some(hex) = path.strip_prefix("blobs/sha256/")
            && super::sha256::Sha256::hex_of(&bytes) != hex
        {
            return Err(format!("{path}: its content does not match its digest"));
        }
        let value = crate::json::parse(&bytes).map_err(|e| format!("{path}: {e}"))?;
        Ok((value, bytes))
    }

    /// A layer's tar stream, decompressed.
    pub fn layer(&self, blob: &LayerBlob) -> Res<Stream> {
        Stream::open(self.open_member(&blob.path)?)
    }

    /// Its name, layers and config: docker's manifest.json, else an OCI
    /// layout's index.json, else a plain root file system (one layer).
    pub fn describe(&self) -> Res<Found> {
        if self.has("manifest.json") {
            return self.docker();
        }
        if self.has("index.json") && self.has("oci-layout") {
            return self.oci();
        }
        if self.dir.is_some() {
            return Err(
                "a directory without index.json and oci-layout: not an OCI image layout".into(),
            );
        }
        Ok(Found {
            name: None,
            layers: vec![LayerBlob {
                path: String::new(),
                diff_id: None,
            }],
            config: None,
        })
    }

    /// `docker save`'s older form: manifest.json names the config and
    /// the layers' tar files.
    fn docker(&self) -> Res<Found> {
        let doc = "manifest.json";
        let (manifest, _) = self.json(doc)?;
        let first = first(Some(&manifest)).ok_or_else(|| lacks(doc, "image"))?;
        let name = first_str(first.get("RepoTags"));
        let config = str_at(first, "Config").ok_or_else(|| lacks(doc, "Config"))?;
        let layers =
            crate::json::strings(first.get("Layers")).ok_or_else(|| lacks(doc, "Layers"))?;
        self.found(name, layers, self.json(config)?)
    }

    /// An OCI layout: index.json, a manifest (or an index of platforms:
    /// this machine's, else the first), its config and layers by digest.
    #[inline(never)] // see the module docs of crate::image
    fn oci(&self) -> Res<Found> {
        let (index, _) = self.json("index.json")?;
        let entry =
            first(index.get("manifests")).ok_or_else(|| lacks("index.json", "manifests"))?;
        let name = [
            "io.containerd.image.name",
            "org.opencontainers.image.ref.name",
        ]
        .iter()
        .find_map(|k| str_at(entry.get("annotations")?, k))
        .map(str::to_owned);
        let (mut manifest, _) = self.json(&blob_path(entry)?)?;
        if let Some(list) = manifest.get("manifests").and_then(Value::as_array) {
            let mine = |m: &&Value| {
                m.get("platform").and_then(|p| str_at(p, "architecture")) == Some(ARCH)
            };
            let pick = list
                .iter()
                .find(mine)
                .or(list.first())
                .ok_or_else(|| lacks("an image index", "manifests"))?;
            manifest = self.json(&blob_path(pick)?)?.0;
        }
        let config = manifest
            .get("config")
            .ok_or_else(|| lacks("a manifest", "config"))?;
        let config = self.json(&blob_path(config)?)?;
        let mut layers = Vec::new();
        for l in manifest
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| lacks("a manifest", "layers"))?
        {
            if str_at(l, "mediaType").is_some_and(|m| m.contains("zstd")) {
                return Err(
                    "a zstd-compressed layer: not supported (save the image with gzip or uncompressed layers)".into(),
                );
            }
            layers.push(blob_path(l)?);
        }
        self.found(name, layers, config)
    }

    /// The layers with the config's `rootfs.diff_ids` (sha256 only), which
    /// must be one per layer.
    fn found(
        &self,
        name: Option<String>,
        paths: Vec<String>,
        config: (Value, Vec<u8>),
    ) -> Res<Found> {
        let ids = config
            .0
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .and_then(Value::as_array)
            .unwrap_or_default();
        if !ids.is_empty() && ids.len() != paths.len() {
            return Err(format!(
                "the config names {} layers, the manifest {}",
                ids.len(),
                paths.len()
            ));
        }
        // Each layer is checked against its diff_id: one that cannot be
        // checked is refused, not skipped.
        let diff_id = |i: usize| match ids.get(i) {
            None => Ok(None),
            Some(id) => id
                .as_str()
                .and_then(sha256_hex)
                .map(|h| Some(h.to_owned()))
                .ok_or_else(|| format!("rootfs.diff_ids[{i}] is not a sha256 digest")),
        };
        let mut layers = Vec::with_capacity(paths.len());
        for (i, path) in paths.into_iter().enumerate() {
            layers.push(LayerBlob {
                path,
                diff_id: diff_id(i)?,
            });
        }
        Ok(Found {
            name,
            layers,
            config: Some(config.1),
        })
    }
}

/// The architecture as image indexes name it.
const ARCH: &str = if cfg!(target_arch = "x86_64") {
    "amd64"
} else if cfg!(target_arch = "aarch64") {
    "arm64"
} else {
    std::env::consts::ARCH
};

fn lacks(doc: &str, what: &str) -> String {
    format!("{doc}: no {what} in it")
}

fn first(v: Option<&Value>) -> Option<&Value> {
    v?.as_array()?.first()
}

fn first_str(v: Option<&Value>) -> Option<String> {
    first(v)?.as_str().map(str::to_owned)
}

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key)?.as_str()
}

/// `blobs/sha256/HEX` of a descriptor's `digest`: sha256, the algorithm
/// images use, is the only one cella can check a blob by, so it is the
/// only one taken.
fn blob_path(descriptor: &Value) -> Res<String> {
    let digest = str_at(descriptor, "digest").unwrap_or("");
    sha256_hex(digest)
        .map(|hex| format!("blobs/sha256/{hex}"))
        .ok_or_else(|| format!("'{digest}': not a sha256 digest"))
}

/// The hex of a `sha256:` digest, in the one form the image spec allows
/// (64 lowercase hex digits).
fn sha256_hex(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
}
