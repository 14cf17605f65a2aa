//! What `cella image import` reads: a `docker save` archive (its
//! `manifest.json`, in the older form and the OCI-layout form newer
//! docker writes), an OCI image layout (a directory, or a tar of one as
//! `podman save --format oci-archive` writes), or a plain root file system
//! tar; any of the archives may be gzip-compressed. Layers are tar,
//! uncompressed or gzip; zstd is refused with a message.

use super::inflate::Gunzip;
use super::tar::Reader;
use crate::json::Value;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const GZIP: [u8; 2] = [0x1f, 0x8b];
const ZSTD: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// A gzip stream may grow this many times over, and at least to
/// [`MIN_LIMIT`], at most to [`MAX_LIMIT`]: past that it is a bomb.
const RATIO: u64 = 100;
const MIN_LIMIT: u64 = 256 << 20;
const MAX_LIMIT: u64 = 64 << 30;
/// JSON documents of an image (manifests, configs) are small.
const MAX_JSON: u64 = 4 << 20;

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// An opened archive or layout.
pub struct Archive {
    file: Option<File>,
    /// Members of a tar: path, data offset, size.
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

/// The limit on what `compressed` bytes of gzip may become.
fn limit_for(compressed: u64) -> u64 {
    compressed.saturating_mul(RATIO).clamp(MIN_LIMIT, MAX_LIMIT)
}

/// A byte range of a file.
struct Range<'a> {
    file: &'a File,
    offset: u64,
    left: u64,
}

impl Read for Range<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let take = self.left.min(buf.len() as u64) as usize;
        if take == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..take], self.offset)?;
        if n == 0 {
            return Err(bad("the archive is cut short"));
        }
        self.offset += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

/// The first bytes of `r`'s stream, and a reader of the whole of it.
fn sniff<'a>(mut r: Box<dyn Read + 'a>) -> io::Result<([u8; 4], usize, Box<dyn Read + 'a>)> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match r.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let replay = io::Cursor::new(head[..n].to_vec());
    Ok((head, n, Box::new(replay.chain(r))))
}

/// `r`, decompressed if it is gzip (and whether it was); zstd refused.
fn decompressed<'a>(r: Box<dyn Read + 'a>, size: u64) -> io::Result<(Box<dyn Read + 'a>, bool)> {
    let (head, n, r) = sniff(r)?;
    if n >= 2 && head[..2] == GZIP {
        return Ok((Box::new(Gunzip::new(r, limit_for(size))?), true));
    }
    if n == 4 && head == ZSTD {
        return Err(bad(
            "zstd-compressed: not supported (decompress it first: zstd -d, or save the image uncompressed or with gzip)",
        ));
    }
    Ok((r, false))
}

impl Archive {
    /// Open `source`: a directory, or a (gzip-compressed) tar file, which
    /// is decompressed into `tmp` first (members are read by offset).
    pub fn open(source: &Path, tmp: &Path) -> io::Result<Archive> {
        let meta = std::fs::metadata(source)?;
        if meta.is_dir() {
            return Ok(Archive {
                file: None,
                members: Vec::new(),
                dir: Some(source.to_owned()),
            });
        }
        if !meta.is_file() {
            return Err(bad("not a file or a directory"));
        }
        let mut file = File::open(source)?;
        // A compressed archive: written out once, to be read by offset.
        let unpacked = {
            let whole = Range {
                file: &file,
                offset: 0,
                left: meta.len(),
            };
            match decompressed(Box::new(whole), meta.len())? {
                (mut stream, true) => {
                    let path = tmp.join("archive.tar");
                    io::copy(&mut stream, &mut File::create(&path)?)?;
                    Some(path)
                }
                (_, false) => None,
            }
        };
        if let Some(path) = unpacked {
            file = File::open(&path)?;
        }
        let mut members = Vec::new();
        let whole = Range {
            file: &file,
            offset: 0,
            left: file.metadata()?.len(),
        };
        let mut reader = Reader::new(io::BufReader::new(whole));
        while let Some(e) = reader.next_entry()? {
            if e.kind == super::tar::Kind::File {
                let path = super::tar::components(&e.path)
                    .map(|c| c.join("/"))
                    .unwrap_or_default();
                members.push((path, reader.offset(), e.size));
            }
        }
        drop(reader);
        Ok(Archive {
            file: Some(file),
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

    /// A member (or a file of the layout) and its size.
    fn open_member(&self, path: &str) -> io::Result<(Box<dyn Read + '_>, u64)> {
        if let (true, Some(file)) = (path.is_empty(), &self.file) {
            // A plain root file system tar: the archive is the layer.
            let size = file.metadata()?.len();
            return Ok((
                Box::new(Range {
                    file,
                    offset: 0,
                    left: size,
                }),
                size,
            ));
        }
        if super::tar::components(path).is_none() {
            return Err(bad(format!("'{path}': an absolute path or one with '..'")));
        }
        if let Some(d) = &self.dir {
            let file = File::open(d.join(path)).map_err(|e| bad(format!("{path}: {e}")))?;
            let size = file.metadata()?.len();
            return Ok((Box::new(file), size));
        }
        let want = super::tar::components(path).unwrap_or_default().join("/");
        let (_, offset, size) = self
            .members
            .iter()
            .rev()
            .find(|(p, _, _)| *p == want)
            .ok_or_else(|| bad(format!("{path}: not in the archive")))?;
        let file = self.file.as_ref().ok_or_else(|| bad("no archive"))?;
        Ok((
            Box::new(Range {
                file,
                offset: *offset,
                left: *size,
            }),
            *size,
        ))
    }

    fn json(&self, path: &str) -> io::Result<Value> {
        let (r, size) = self.open_member(path)?;
        if size > MAX_JSON {
            return Err(bad(format!("{path}: too large for a manifest")));
        }
        let mut bytes = vec![0u8; size as usize];
        let mut r = r;
        r.read_exact(&mut bytes)?;
        crate::json::parse(&bytes).map_err(|e| bad(format!("{path}: {e}")))
    }

    /// A layer's tar stream, decompressed.
    pub fn layer(&self, blob: &LayerBlob) -> io::Result<Box<dyn Read + '_>> {
        let (r, size) = self.open_member(&blob.path)?;
        Ok(decompressed(r, size)?.0)
    }

    /// Its name, layers and config: docker's manifest.json, else an OCI
    /// layout's index.json, else a plain root file system (one layer).
    pub fn describe(&self) -> io::Result<Found> {
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

    fn docker(&self) -> io::Result<Found> {
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
            .collect::<io::Result<_>>()?;
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

    fn oci(&self) -> io::Result<Found> {
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
fn blob_path(descriptor: &Value) -> io::Result<String> {
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
fn with_diff_ids(paths: Vec<String>, config: &Value) -> io::Result<Vec<LayerBlob>> {
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
