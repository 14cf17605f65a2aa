//! A small tar writer (ustar) for the image tests: layers, `docker save`
//! archives and OCI layouts written entry by entry, hostile ones included
//! (absolute paths, `..`, links out), which tar(1) would not write.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

/// One pax record, `LENGTH KEY=VALUE\n`, LENGTH counting itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut length = rest + 1;
    while length != rest + length.to_string().len() {
        length = rest + length.to_string().len();
    }
    format!("{length} {key}={value}\n").into_bytes()
}

#[derive(Default)]
pub struct Tar {
    data: Vec<u8>,
}

impl Tar {
    fn header(
        &mut self,
        path: &str,
        kind: u8,
        mode: u32,
        size: usize,
        link: &str,
        dev: (u32, u32),
    ) {
        // Names too long for ustar's fields go in a pax header first, as
        // tar(1) and docker write them (a test's directory can be long).
        if path.len() >= 100 || link.len() >= 100 {
            let mut records = Vec::new();
            for (key, value) in [("path", path), ("linkpath", link)] {
                if value.len() >= 100 {
                    records.extend_from_slice(&pax_record(key, value));
                }
            }
            self.header("PaxHeaders/long", b'x', 0o644, records.len(), "", (0, 0));
            self.body(&records);
        }
        let (path, link) = (&path[..path.len().min(99)], &link[..link.len().min(99)]);
        let mut h = [0u8; 512];
        h[..path.len()].copy_from_slice(path.as_bytes());
        h[100..107].copy_from_slice(format!("{mode:07o}").as_bytes());
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[136..147].copy_from_slice(b"14000000000");
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[329..336].copy_from_slice(format!("{:07o}", dev.0).as_bytes());
        h[337..344].copy_from_slice(format!("{:07o}", dev.1).as_bytes());
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|c| u32::from(*c)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        self.data.extend_from_slice(&h);
    }

    fn body(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
        while !self.data.len().is_multiple_of(512) {
            self.data.push(0);
        }
    }

    pub fn file(mut self, path: &str, mode: u32, bytes: &[u8]) -> Self {
        self.header(path, b'0', mode, bytes.len(), "", (0, 0));
        self.body(bytes);
        self
    }

    /// A pax extended header of one record, for the entry after it.
    pub fn pax(mut self, key: &str, value: &str) -> Self {
        let record = pax_record(key, value);
        self.header("PaxHeaders/x", b'x', 0o644, record.len(), "", (0, 0));
        self.body(&record);
        self
    }

    /// A header that claims `size` bytes, with none after it.
    pub fn claims(mut self, path: &str, size: usize) -> Self {
        self.header(path, b'0', 0o644, size, "", (0, 0));
        self
    }

    pub fn dir(mut self, path: &str) -> Self {
        self.header(path, b'5', 0o755, 0, "", (0, 0));
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.header(path, b'2', 0o777, 0, target, (0, 0));
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        self.header(path, b'1', 0o644, 0, target, (0, 0));
        self
    }

    pub fn device(mut self, path: &str, kind: u8, major: u32, minor: u32) -> Self {
        self.header(path, kind, 0o666, 0, "", (major, minor));
        self
    }

    /// A busybox root file system: the host's busybox with its applets.
    pub fn busybox_root(self, applets: &[&str]) -> Self {
        let busybox = std::fs::read(super::BUSYBOX).unwrap();
        let mut t = self
            .dir("bin")
            .dir("etc")
            .dir("proc")
            .dir("sys")
            .dir("dev")
            .dir("tmp")
            .file("bin/busybox", 0o755, &busybox);
        for a in applets {
            t = t.symlink(&format!("bin/{a}"), "busybox");
        }
        t
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.data.extend_from_slice(&[0u8; 1024]);
        self.data
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    pipe("gzip", &["-c", "-n"], bytes)
}

pub fn sha256(bytes: &[u8]) -> String {
    let out = pipe("sha256sum", &[], bytes);
    String::from_utf8(out).unwrap()[..64].to_owned()
}

fn pipe(cmd: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out.stdout
}

/// An image config with `config` (JSON object text) and these layers'
/// uncompressed digests.
pub fn config(config: &str, layers: &[&[u8]]) -> Vec<u8> {
    let ids: Vec<String> = layers
        .iter()
        .map(|l| format!("\"sha256:{}\"", sha256(l)))
        .collect();
    format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{config},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{}]}}}}",
        ids.join(",")
    )
    .into_bytes()
}

/// A `docker save` archive (the older form: `ID/layer.tar`, `ID.json`).
pub fn docker_save(name: &str, config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let cid = sha256(config);
    let mut t = Tar::default().file(&format!("{cid}.json"), 0o644, config);
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let dir = format!("layer{i}");
        t = t.dir(&dir).file(&format!("{dir}/layer.tar"), 0o644, l);
        paths.push(format!("\"{dir}/layer.tar\""));
    }
    let manifest = format!(
        "[{{\"Config\":\"{cid}.json\",\"RepoTags\":[\"{name}\"],\"Layers\":[{}]}}]",
        paths.join(",")
    );
    t.file("manifest.json", 0o644, manifest.as_bytes()).finish()
}

/// An OCI image layout in `dir` (layers gzip-compressed), named `name`.
pub fn oci_layout(dir: &Path, name: &str, config: &[u8], layers: &[&[u8]]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha256(bytes);
        std::fs::write(blobs.join(&d), bytes).unwrap();
        (d, bytes.len())
    };
    let (cd, cs) = put(config);
    let mut descs = Vec::new();
    for l in layers {
        let (d, s) = put(&gzip(l));
        descs.push(format!(
            "{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:{d}\",\"size\":{s}}}"
        ));
    }
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:{cd}\",\"size\":{cs}}},\"layers\":[{}]}}",
        descs.join(",")
    );
    let (md, ms) = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}").unwrap();
    std::fs::write(
        dir.join("index.json"),
        format!(
            "{{\"schemaVersion\":2,\"manifests\":[{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:{md}\",\"size\":{ms},\"annotations\":{{\"org.opencontainers.image.ref.name\":\"{name}\"}}}}]}}"
        ),
    )
    .unwrap();
}
