//! What `cella image import` reads: a `docker save` archive (its
//! `manifest.json`, in the older form and the OCI-layout form newer
//! docker writes), an OCI image layout (a directory, or a tar of one as
//! `podman save --format oci-archive` writes), or a plain root file system
//! tar; any of the archives may be gzip-compressed. Layers are tar,
//! uncompressed or gzip; zstd is refused with a message.

use super::stream::{Range, Res, Stream};
use super::tar::Reader;
use crate::json::Value;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use std::path::{Path, PathBuf};

/// JSON documents of an image (manifests, configs) are small.
const MAX_JSON: u64 = 4 << 20;

fn bad(why: impl Into<String>) -> String {
    why.into()
}

fn sys(e: rustix::io::Errno) -> String {
    crate::error::strerror(e).into()
}

/// `path` if it is a regular file, with its size.
fn open_file(path: &Path) -> Res<(OwnedFd, u64)> {
    crate::input::open_file(path).map_err(|e| e.map_or_else(|| bad("not a regular file"), sys))
}

/// An opened archive or layout.
pub struct Archive {
    /// A tar (a compressed one's decompressed copy), and its size.
    file: Option<(OwnedFd, u64)>,
    /// Members of the tar: path, data offset, size.
    members: Vec<(String, u64, u64)>,
    /// An OCI layout directory.
    dir: Option<PathBuf>,
}

/// One layer: where its blob is, and the digest of its uncompressed tar
/// the image's config names (`rootfs.diff_ids`), hex.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    path: String,
    pub diff_id: Option<String>,
}

/// What an archive holds.
pub struct Found {
    pub name: Option<String>,
    pub layers: Vec<LayerBlob>,
    pub config: Option<Value>,
}

/// `len` bytes of `fd` from `offset`, read through a descriptor of its own.
fn range(fd: &OwnedFd, offset: u64, len: u64) -> Res<Range> {
    let own = rustix::io::fcntl_dupfd_cloexec(fd, 0).map_err(sys)?;
    Ok(Range::new(own, offset, len))
}

impl Archive {
    /// Open `source`: a directory, or a (gzip-compressed) tar file, which
    /// is decompressed into `tmp` first (members are read by offset).
    pub fn open(source: &Path, tmp: &Path) -> Res<Archive> {
        let st = rustix::fs::stat(source).map_err(sys)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            return Ok(Archive {
                file: None,
                members: Vec::new(),
                dir: Some(source.to_owned()),
            });
        }
        let (mut fd, mut size) = open_file(source).map_err(|_| bad("not a file or a directory"))?;
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
            Some(d) => d.join(path).is_file(),
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
                let (fd, size) = open_file(&d.join(path)).map_err(|e| format!("{path}: {e}"))?;
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

    fn json(&self, path: &str) -> Res<Value> {
        let member = self.open_member(path)?;
        if member.left() > MAX_JSON {
            return Err(bad(format!("{path}: too large for a manifest")));
        }
        let mut bytes = vec![0u8; member.left() as usize];
        Stream::plain(member).read_exact(&mut bytes)?;
        crate::json::parse(&bytes).map_err(|e| bad(format!("{path}: {e}")))
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
            return Err(bad(
                "a directory without index.json and oci-layout: not an OCI image layout",
            ));
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

    fn docker(&self) -> Res<Found> {
        let manifest = self.json("manifest.json")?;
        let first = manifest
            .as_array()
            .and_then(|a| a.first())
            .ok_or_else(|| bad("manifest.json: no image in it"))?;
        let config_path = first
            .get("Config")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("manifest.json: no Config"))?;
        let config = self.json(config_path)?;
        let paths: Vec<&str> = first
            .get("Layers")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("manifest.json: no Layers"))?
            .iter()
            .map(|l| {
                l.as_str()
                    .ok_or_else(|| bad("manifest.json: a layer is not a path"))
            })
            .collect::<Res<_>>()?;
        let name = first
            .get("RepoTags")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .and_then(Value::as_str)
            .map(str::to_owned);
        let layers = with_diff_ids(paths.into_iter().map(str::to_owned).collect(), &config)?;
        Ok(Found {
            name,
            layers,
            config: Some(config),
        })
    }

    fn oci(&self) -> Res<Found> {
        let index = self.json("index.json")?;
        let entry = index
            .get("manifests")
            .and_then(Value::as_array)
            .and_then(|m| m.first())
            .ok_or_else(|| bad("index.json: no manifest in it"))?;
        let annotation = |key: &str| {
            entry
                .get("annotations")
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let name = annotation("io.containerd.image.name")
            .or_else(|| annotation("org.opencontainers.image.ref.name"));
        let mut manifest = self.json(&blob_path(entry)?)?;
        // An index of platforms: this machine's, else the first.
        if let Some(list) = manifest.get("manifests").and_then(Value::as_array) {
            let arch = match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                "arm" => "arm",
                other => other,
            };
            let pick = list
                .iter()
                .find(|m| {
                    m.get("platform")
                        .and_then(|p| p.get("architecture"))
                        .and_then(Value::as_str)
                        == Some(arch)
                })
                .or_else(|| list.first())
                .ok_or_else(|| bad("an empty image index"))?;
            manifest = self.json(&blob_path(pick)?)?;
        }
        let config = self.json(&blob_path(
            manifest
                .get("config")
                .ok_or_else(|| bad("a manifest without config"))?,
        )?)?;
        let mut paths = Vec::new();
        for l in manifest
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("a manifest without layers"))?
        {
            if l.get("mediaType")
                .and_then(Value::as_str)
                .is_some_and(|m| m.contains("zstd"))
            {
                return Err(bad(
                    "a zstd-compressed layer: not supported (save the image with gzip or uncompressed layers)",
                ));
            }
            paths.push(blob_path(l)?);
        }
        let layers = with_diff_ids(paths, &config)?;
        Ok(Found {
            name,
            layers,
            config: Some(config),
        })
    }
}

/// `blobs/ALG/HEX` of a descriptor's `digest`.
fn blob_path(descriptor: &Value) -> Res<String> {
    let digest = descriptor
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a descriptor without a digest"))?;
    let (alg, hex) = digest
        .split_once(':')
        .filter(|(a, h)| {
            !a.is_empty()
                && !h.is_empty()
                && (a.bytes().chain(h.bytes())).all(|c| c.is_ascii_alphanumeric())
        })
        .ok_or_else(|| bad(format!("'{digest}': not a digest")))?;
    Ok(format!("blobs/{alg}/{hex}"))
}

/// The layers with the config's `rootfs.diff_ids` (sha256 only), which
/// must be one per layer.
fn with_diff_ids(paths: Vec<String>, config: &Value) -> Res<Vec<LayerBlob>> {
    let ids: Vec<&str> = config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !ids.is_empty() && ids.len() != paths.len() {
        return Err(bad(format!(
            "the config names {} layers, the manifest {}",
            ids.len(),
            paths.len()
        )));
    }
    Ok(paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| LayerBlob {
            path,
            diff_id: ids
                .get(i)
                .and_then(|d| d.strip_prefix("sha256:"))
                .filter(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()))
                .map(str::to_ascii_lowercase),
        })
        .collect())
}
