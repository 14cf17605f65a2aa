//! `cella image import` and `cella run NAME`, with archives written here
//! entry by entry (tests/support/tarball.rs): a `docker save` archive, an
//! OCI layout as a directory and as a tar, a plain rootfs tar.gz; whiteouts
//! and opaque directories; layers two images share stored once; and
//! hostile archives, each refused in one line with exit 125, nothing
//! written outside the store and nothing half-imported left in it.
//!
//! Each test has an image store of its own (`CELLA_IMAGES`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::tarball::{self, Tar};
use support::*;

const APPLETS: &[&str] = &[
    "sh", "cat", "ls", "echo", "id", "pwd", "stat", "head", "sleep", "test",
];

/// A fresh store and scratch directory for test `tag`.
fn store(tag: &str) -> (PathBuf, PathBuf) {
    let dir = rootfs(tag).with_extension("import");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    (dir.join("store"), dir)
}

fn cella_in(store: &Path, args: &[&str]) -> Output {
    cella_within(store, args, std::time::Duration::from_secs(120))
}

/// `cella ARGS` with the store, failing the test past `limit`.
fn cella_within(store: &Path, args: &[&str], limit: std::time::Duration) -> Output {
    let child = Command::new(cella_bin())
        .args(args)
        .env("CELLA_IMAGES", store)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_output(child, limit)
}

fn ok_in(store: &Path, args: &[&str]) -> String {
    ok(cella_in(store, args))
}

/// What the store holds: its images' and layers' names, and whether its
/// tmp/ is empty.
fn contents(store: &Path) -> (Vec<String>, Vec<String>, bool) {
    let names = |d: &str| {
        let mut v: Vec<String> = std::fs::read_dir(store.join(d))
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    (names("images"), names("layers"), names("tmp").is_empty())
}

/// The two layers of the test image: a busybox root with a user, a motd
/// and /data/old; then the motd whited out, /data made opaque with
/// /data/new, an app directory.
fn layers() -> (Vec<u8>, Vec<u8>) {
    let base = Tar::default()
        .busybox_root(APPLETS)
        .file(
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .file("etc/motd", 0o644, b"welcome\n")
        .dir("data")
        .file("data/old", 0o644, b"old\n")
        .file("bin/suid", 0o4755, b"#!/bin/sh\n")
        .dir("srv")
        .device("srv/disk", b'4', 7, 0)
        .finish();
    let top = Tar::default()
        .dir("etc")
        .file("etc/.wh.motd", 0o644, b"")
        .dir("data")
        .file("data/.wh..wh..opq", 0o644, b"")
        .file("data/new", 0o644, b"new\n")
        .dir("app")
        .finish();
    (base, top)
}

const CONFIG: &str = r#"{"Entrypoint":["/bin/sh","-c"],"Cmd":["echo $GREETING from $(pwd) as $(id -u); cat /etc/motd 2>&1; ls /data"],"Env":["GREETING=hello","PATH=/bin"],"WorkingDir":"/app","User":"1000","StopSignal":"SIGINT"}"#;

#[test]
fn a_docker_save_archive_runs_with_its_config() {
    require_root();
    let _g = serial();
    let (store, dir) = store("import-docker");
    let (base, top) = layers();
    let config = tarball::config(CONFIG, &[&base, &top]);
    let archive = dir.join("app.tar");
    std::fs::write(
        &archive,
        tarball::docker_save("app:1.0", &config, &[&base, &top]),
    )
    .unwrap();
    assert_eq!(
        ok_in(&store, &["image", "import", archive.to_str().unwrap()]),
        "app:1.0\n"
    );
    // The store is the root's alone.
    let mode = std::fs::metadata(&store).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o700
    );
    let listed = ok_in(&store, &["images"]);
    assert!(
        listed.contains("app:1.0") && listed.contains("      2  /bin/sh -c echo"),
        "{listed}"
    );
    // Its config: the entrypoint with its Cmd, Env, WorkingDir, User; the
    // whiteout hides the motd, the opaque /data shows only the new file.
    let out = ok_in(&store, &["run", "app:1.0"]);
    assert_eq!(
        out,
        "hello from /app as 1000\ncat: can't open '/etc/motd': No such file or directory\nnew\n"
    );
    // The options win; the ARGs replace Cmd, after the entrypoint.
    let out = ok_in(
        &store,
        &[
            "run",
            "-e",
            "GREETING=bye",
            "-w",
            "/",
            "-u",
            "0",
            "app:1.0",
            "echo $GREETING from $(pwd) as $(id -u)",
        ],
    );
    assert_eq!(out, "bye from / as 0\n");
    // --entrypoint replaces the image's, and its Cmd goes with it.
    let out = ok_in(
        &store,
        &["run", "--entrypoint", "/bin/echo", "app:1.0", "given"],
    );
    assert_eq!(out, "given\n");
    let out = ok_in(&store, &["run", "--entrypoint", "", "app:1.0", "pwd"]);
    assert_eq!(out, "/app\n");
    let out = cella_in(&store, &["run", "--entrypoint", "", "app:1.0"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    // What an image carries: a setuid file, a device node (which device
    // rules still refuse to open).
    let out = cella_in(
        &store,
        &[
            "run",
            "-u",
            "0",
            "app:1.0",
            "stat -c %a /bin/suid; head -c1 /srv/disk",
        ],
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.starts_with("4755\n") && text.contains("Operation not permitted"),
        "{text}"
    );
    let inspect = ok_in(&store, &["image", "inspect", "app:1.0"]);
    assert!(
        inspect.contains(&format!("\"sha256:{}\"", tarball::sha256(&base))),
        "{inspect}"
    );
    assert!(inspect.contains("\"StopSignal\":\"SIGINT\""), "{inspect}");
    // An image's strings are shown escaped: a Cmd with a terminal's
    // escape sequence neither clears the screen nor splits the table, and
    // `image inspect` prints no C1 control, DEL or CR the config holds raw.
    let config = tarball::config(
        "{\"Cmd\":[\"echo\",\"\\u001b[2J\\n\\u009b\"],\r\"Env\":[\"X=\u{9b}[2J\u{7f}\"]}",
        &[&base, &top],
    );
    let archive = dir.join("esc.tar");
    std::fs::write(
        &archive,
        tarball::docker_save("esc", &config, &[&base, &top]),
    )
    .unwrap();
    ok_in(&store, &["image", "import", archive.to_str().unwrap()]);
    let listed = ok_in(&store, &["images"]);
    assert!(listed.contains("echo \\u{1b}[2J\\n\\u{9b}\n"), "{listed}");
    assert!(!listed.contains(['\x1b', '\u{9b}']), "{listed}");
    assert_eq!(listed.lines().count(), 3, "{listed}");
    let inspect = ok_in(&store, &["image", "inspect", "esc"]);
    assert!(inspect.contains(r#""X=\u009b[2J\u007f""#), "{inspect:?}");
    assert!(!inspect.contains(['\u{9b}', '\x7f', '\r']), "{inspect:?}");
    ok_in(&store, &["rmi", "esc"]);
    ok_in(&store, &["rmi", "app:1.0"]);
    assert_eq!(contents(&store), (vec![], vec![], true));
}

#[test]
fn oci_layouts_share_their_layers_and_rmi_keeps_what_another_uses() {
    require_root();
    let _g = serial();
    let (store, dir) = store("import-oci");
    let (base, top) = layers();
    let config = tarball::config(CONFIG, &[&base, &top]);
    let layout = dir.join("layout");
    tarball::oci_layout(&layout, "oci-a", &config, &[&base, &top]);
    ok_in(&store, &["image", "import", layout.to_str().unwrap()]);
    // The same layout as a tar (podman save --format oci-archive), gzip'd.
    let tar = dir.join("oci.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-czf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    ok_in(&store, &["image", "import", tar.to_str().unwrap(), "oci-b"]);
    let (images, layer_dirs, clean) = contents(&store);
    assert_eq!(
        (images.len(), layer_dirs.len(), clean),
        (2, 2, true),
        "stored once"
    );
    for name in ["oci-a", "oci-b"] {
        assert!(ok_in(&store, &["run", name]).starts_with("hello from /app"));
    }
    ok_in(&store, &["rmi", "oci-a"]);
    assert_eq!(contents(&store).1.len(), 2, "oci-b still uses them");
    // A container running on an image holds it.
    let running = spawn_command(
        Command::new(cella_bin())
            .args(["run", "oci-b", "sleep 30"])
            .env("CELLA_IMAGES", &store),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = cella_in(&store, &["rmi", "oci-b"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a container is running on it"),
        "{}",
        stderr(&out)
    );
    drop(running);
    ok_in(&store, &["rmi", "oci-b"]);
    assert_eq!(contents(&store), (vec![], vec![], true));
}

#[test]
fn a_plain_rootfs_tar_gz_is_an_image_of_one_layer() {
    require_root();
    let _g = serial();
    let (store, dir) = store("import-plain");
    let root = Tar::default().busybox_root(APPLETS).finish();
    let file = dir.join("rootfs.tar.gz");
    std::fs::write(&file, tarball::gzip(&root)).unwrap();
    assert_eq!(
        ok_in(&store, &["image", "import", file.to_str().unwrap()]),
        "rootfs.tar\n"
    );
    assert_eq!(
        ok_in(&store, &["run", "rootfs.tar", "echo", "plain"]),
        "plain\n"
    );
    let out = cella_in(&store, &["run", "rootfs.tar"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("has no Entrypoint or Cmd"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn hostile_archives_are_refused_leaving_nothing() {
    require_root();
    let _g = serial();
    let (store, dir) = store("import-hostile");
    // A good image first: a failed import must leave it as it was.
    let good = Tar::default().busybox_root(APPLETS).finish();
    let file = dir.join("good.tar");
    std::fs::write(&file, &good).unwrap();
    ok_in(&store, &["image", "import", file.to_str().unwrap(), "good"]);
    let before = contents(&store);
    // What a layer could aim at outside the store.
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim"), "untouched\n").unwrap();
    let o = outside.to_str().unwrap().to_owned();
    let zeros = {
        let out = Command::new("sh")
            .arg("-c")
            .arg("head -c 400M /dev/zero | gzip -1 -c -n")
            .output()
            .unwrap();
        out.stdout
    };
    let mut zstd = vec![0x28, 0xb5, 0x2f, 0xfd];
    zstd.resize(4096, 0);
    let layer_of = |t: Tar| t.busybox_root(&["sh"]).finish();
    let damaged = {
        let l = layer_of(Tar::default());
        let config = tarball::config("{}", &[b"something else"]);
        tarball::docker_save("damaged", &config, &[&l])
    };
    let truncated = {
        let d = tarball::docker_save("cut", &tarball::config("{}", &[&good]), &[&good]);
        d[..d.len() / 2].to_vec()
    };
    // A config nested as deep as the JSON parser goes: the record that
    // keeps it is deeper still, and could never be read back.
    let deep_config = {
        let l = layer_of(Tar::default());
        let nest = format!("{}{}", "[".repeat(126), "]".repeat(126));
        let config = tarball::config(&format!("{{\"Cmd\":[\"sh\"],\"x\":{nest}}}"), &[&l]);
        tarball::docker_save("deep", &config, &[&l])
    };
    let bad_diff_id = {
        let l = layer_of(Tar::default());
        let config = br#"{"rootfs":{"type":"layers","diff_ids":["sha256:not-hex"]}}"#;
        tarball::docker_save("bad-id", config, &[&l])
    };
    // One over docker's 127 (each layer an empty tar).
    let too_many = {
        let empty = Tar::default().finish();
        let layers = vec![&empty[..]; 128];
        tarball::docker_save("many", &tarball::config("{}", &layers), &layers)
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            // A pax size of 2^64-1: skipping it must not wrap around.
            "pax-size-max",
            layer_of(
                Tar::default()
                    .pax("size", "18446744073709551615")
                    .file("big", 0o644, b""),
            ),
            "an entry's size is out of range",
        ),
        (
            // Deeper than a removal of the tree could descend.
            "too-deep",
            layer_of(Tar::default().file(&format!("{}f", "d/".repeat(513)), 0o644, b"x")),
            "nested over 512 directories deep",
        ),
        ("deep-config", deep_config, "nested too deeply to keep"),
        (
            "bad-diff-id",
            bad_diff_id,
            "rootfs.diff_ids[0] is not a sha256 digest",
        ),
        (
            "too-many-layers",
            too_many,
            "128 layers (cella runs images of at most 127",
        ),
        (
            "dotdot",
            layer_of(Tar::default().file("../../escape", 0o644, b"x")),
            "one with '..'",
        ),
        (
            // A name too long for ustar's field: tar writers put it in a
            // pax header, which must be checked as strictly.
            "dotdot-in-pax",
            layer_of(Tar::default().file(&format!("{}escape", "../".repeat(40)), 0o644, b"x")),
            "one with '..'",
        ),
        (
            "absolute",
            layer_of(Tar::default().file(&format!("{o}/abs"), 0o644, b"x")),
            "an absolute path",
        ),
        (
            "through-symlink",
            layer_of(
                Tar::default()
                    .symlink("evil", &o)
                    .file("evil/victim", 0o644, b"pwned\n"),
            ),
            "goes through a symlink",
        ),
        (
            "dir-then-symlink",
            layer_of(
                Tar::default()
                    .dir("d")
                    .symlink("d", &o)
                    .file("d/victim", 0o644, b"pwned\n"),
            ),
            "goes through a symlink",
        ),
        (
            "hardlink-out",
            layer_of(Tar::default().hardlink("hl", &format!("{o}/victim"))),
            "a hard link to an absolute path",
        ),
        (
            "hardlink-dotdot",
            layer_of(Tar::default().hardlink("hl", "../../../../etc/passwd")),
            "a hard link to an absolute path or one with '..'",
        ),
        (
            "huge-claim",
            Tar::default().claims("big", 1 << 32).finish(),
            "cut short",
        ),
        ("truncated", truncated, "cut short"),
        ("bomb", zeros, "past the size limit"),
        ("zstd", zstd, "zstd-compressed: not supported"),
        ("damaged", damaged, "its content's digest is sha256:"),
        (
            "garbage",
            b"not an archive at all, but long enough to be read as one .....".repeat(20),
            "checksum",
        ),
    ];
    for (tag, bytes, needle) in cases {
        let file = dir.join(format!("{tag}.tar"));
        std::fs::write(&file, &bytes).unwrap();
        let out = cella_in(&store, &["image", "import", file.to_str().unwrap(), tag]);
        let err = stderr(&out);
        assert_eq!(code(&out), 125, "{tag}: {err}");
        assert_eq!(err.lines().count(), 1, "{tag}: {err}");
        assert!(
            err.starts_with("cella: ") && err.contains(needle),
            "{tag}: {err}"
        );
        assert_eq!(contents(&store), before, "{tag}: the store changed");
        let mut left: Vec<String> = std::fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["victim"], "{tag}: wrote outside");
        assert_eq!(
            std::fs::read_to_string(outside.join("victim")).unwrap(),
            "untouched\n",
            "{tag}"
        );
        let _ = std::fs::remove_file(&file);
    }
    // An OCI layout whose layer blob is a symlink to a file outside it:
    // a layout is someone else's directory, read only beneath itself.
    let layout = dir.join("layout");
    let l = layer_of(Tar::default());
    tarball::oci_layout(&layout, "linked", &tarball::config("{}", &[&l]), &[&l]);
    let blob = layout
        .join("blobs/sha256")
        .join(tarball::sha256(&tarball::gzip(&l)));
    std::fs::rename(&blob, outside.join("blob")).unwrap();
    std::os::unix::fs::symlink(outside.join("blob"), &blob).unwrap();
    let out = cella_in(&store, &["image", "import", layout.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), 125, "{err}");
    assert!(
        err.contains("a symlink (refused: it could lead out of the layout)"),
        "{err}"
    );
    assert_eq!(contents(&store), before, "the store changed");
    // A layout's blobs are what their digests say: a config altered after
    // the manifest named it (another Cmd, say) is refused, and so is a
    // digest of an algorithm cella cannot check.
    let refused = |layout: &Path, needle: &str| {
        let out = cella_in(&store, &["image", "import", layout.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(code(&out), 125, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
        assert_eq!(contents(&store), before, "the store changed");
    };
    let altered = dir.join("altered");
    let config = tarball::config(r#"{"Cmd":["true"]}"#, &[&l]);
    tarball::oci_layout(&altered, "altered", &config, &[&l]);
    let config_blob = altered.join("blobs/sha256").join(tarball::sha256(&config));
    let evil = String::from_utf8(config.clone())
        .unwrap()
        .replace("true", "evil");
    std::fs::write(&config_blob, evil).unwrap();
    refused(&altered, "its content does not match its digest");
    let sha512 = dir.join("sha512");
    tarball::oci_layout(&sha512, "sha512", &config, &[&l]);
    let index = std::fs::read_to_string(sha512.join("index.json")).unwrap();
    let (head, hex) = index.split_once("sha256:").unwrap();
    let index = format!("{head}sha512:{}{hex}", "0".repeat(64));
    std::fs::write(sha512.join("index.json"), index).unwrap();
    refused(&sha512, "not a sha256 digest");
    assert_eq!(ok_in(&store, &["run", "good", "echo", "still"]), "still\n");
}

/// An image store another user could change is not used: its layers'
/// device nodes and setuid files would be theirs to reach, its layer
/// directories theirs to swap for links to the host's.
#[test]
fn a_store_another_user_could_change_is_refused() {
    require_root();
    let _g = serial();
    let (store, dir) = store("import-owner");
    let file = dir.join("good.tar");
    std::fs::write(&file, Tar::default().busybox_root(APPLETS).finish()).unwrap();
    // Made by nobody (as under a shared /tmp) before cella came.
    std::fs::create_dir(&store).unwrap();
    std::os::unix::fs::chown(&store, Some(65534), Some(65534)).unwrap();
    let out = cella_in(&store, &["image", "import", file.to_str().unwrap(), "good"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 125, "{err}");
    assert!(
        err.contains("not a directory owned by uid 0: refusing to keep images there"),
        "{err}"
    );
    assert!(!store.join("layers").exists(), "something was kept there");
    // Ours again: imported and run; then its layers made writable by the
    // group, and a run refuses them.
    std::os::unix::fs::chown(&store, Some(0), Some(0)).unwrap();
    ok_in(&store, &["image", "import", file.to_str().unwrap(), "good"]);
    assert_eq!(ok_in(&store, &["run", "good", "echo", "ran"]), "ran\n");
    let layers = store.join("layers");
    let mode =
        |m| std::fs::set_permissions(&layers, std::os::unix::fs::PermissionsExt::from_mode(m));
    mode(0o770).unwrap();
    let out = cella_in(
        &store,
        &["run", "--name", "import-owner", "good", "echo", "ran"],
    );
    let err = stderr(&out);
    assert_eq!(code(&out), 125, "{err}");
    assert!(
        err.contains("writable by others: refusing to run its images"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
    mode(0o700).unwrap();
    assert_eq!(ok_in(&store, &["run", "good", "echo", "ran"]), "ran\n");
}

/// A usrmerged base (`bin -> usr/bin`) and a layer that adds
/// `/usr/bin/app`: the image's `/bin/app` is found across the two, as the
/// kernel's overlay finds it (the command is looked for before anything
/// starts, and must not be refused).
#[test]
fn a_command_is_found_through_a_symlink_in_another_layer() {
    require_root();
    let _g = serial();
    let (store, dir) = store("import-merged");
    let busybox = std::fs::read(BUSYBOX).unwrap();
    let base = Tar::default()
        .dir("usr")
        .dir("usr/bin")
        .file("usr/bin/busybox", 0o755, &busybox)
        .symlink("usr/bin/sh", "busybox")
        .symlink("usr/bin/echo", "busybox")
        .symlink("bin", "usr/bin")
        .dir("etc")
        .file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
        .finish();
    let app = Tar::default()
        .dir("usr")
        .dir("usr/bin")
        .file("usr/bin/app", 0o755, b"#!/bin/sh\necho app ran\n")
        .finish();
    let config = tarball::config(r#"{"Cmd":["/bin/app"]}"#, &[&base, &app]);
    let archive = dir.join("merged.tar");
    std::fs::write(
        &archive,
        tarball::docker_save("merged", &config, &[&base, &app]),
    )
    .unwrap();
    ok_in(&store, &["image", "import", archive.to_str().unwrap()]);
    assert_eq!(ok_in(&store, &["run", "merged"]), "app ran\n");
    assert_eq!(
        ok_in(&store, &["run", "merged", "/bin/echo", "via bin"]),
        "via bin\n"
    );
    let out = cella_in(&store, &["run", "merged", "/bin/missing"]);
    assert_eq!(code(&out), 127, "{}", stderr(&out));
}

/// Archives another tool wrote: podman's `save` of an image, in docker's
/// archive form and in the OCI archive form, as a user brings one over.
#[test]
fn archives_podman_saves_are_imported_and_run() {
    require_root();
    let _g = serial();
    let Some(podman) = support::clients::Podman::new("image-save") else {
        return;
    };
    let (store, dir) = store("import-podman");
    for (format, file, name) in [
        ("docker-archive", "bb-docker.tar", None),
        ("oci-archive", "bb-oci.tar", Some("bb-oci")),
    ] {
        let path = dir.join(file);
        let p = path.to_str().unwrap();
        podman.ok(&["save", "--format", format, "-o", p, support::clients::IMAGE]);
        let mut args = vec!["image", "import", p];
        args.extend(name);
        let imported = ok_in(&store, &args);
        // docker's archive carries the image's name, as docker load reads it.
        let want = name.unwrap_or("localhost/bb:latest");
        assert_eq!(imported, format!("{want}\n"), "{format}");
        assert_eq!(
            ok_in(&store, &["run", want, "echo", format]),
            format!("{format}\n")
        );
    }
}

/// A FIFO where an archive or a blob should be (no writer: opening one
/// for reading would wait for ever) is refused at once, and the store
/// is left as it was.
#[test]
fn fifos_where_files_should_be_are_refused_without_waiting() {
    require_root();
    let _g = serial();
    let (store, dir) = store("import-fifo");
    let mkfifo = |path: &Path| {
        let _ = std::fs::remove_file(path);
        assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
    };
    let quick = std::time::Duration::from_secs(10);
    let fifo = dir.join("archive.tar");
    mkfifo(&fifo);
    let out = cella_within(&store, &["image", "import", fifo.to_str().unwrap()], quick);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a file or a directory"),
        "{}",
        stderr(&out)
    );
    // An OCI layout whose layer blob is a FIFO.
    let (base, top) = layers();
    let config = tarball::config(CONFIG, &[&base, &top]);
    let layout = dir.join("layout");
    tarball::oci_layout(&layout, "fifo-blob", &config, &[&base, &top]);
    let blob = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read(p).unwrap().starts_with(&[0x1f, 0x8b]))
        .expect("a gzip'd layer blob");
    mkfifo(&blob);
    let out = cella_within(
        &store,
        &["image", "import", layout.to_str().unwrap()],
        quick,
    );
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    let (images, layer_dirs, clean) = contents(&store);
    assert!(
        images.is_empty() && layer_dirs.is_empty() && clean,
        "{images:?} {layer_dirs:?}"
    );
}

/// An image as deep as docker allows (127 layers): each adds a file and
/// replaces one the layers below wrote; the container sees them all, the
/// top one's winning. (`fsconfig`'s 255-byte values held about 90.)
#[test]
fn an_image_of_127_layers_runs_with_every_layer() {
    require_root();
    let _g = serial();
    let (store, dir) = store("import-deep");
    let mut layers = vec![
        Tar::default()
            .busybox_root(&["sh", "cat", "ls", "wc"])
            .finish(),
    ];
    for i in 1..127 {
        let n = format!("{i}\n");
        layers.push(
            Tar::default()
                .dir("layers")
                .file(&format!("layers/{i}"), 0o644, n.as_bytes())
                .file("top", 0o644, n.as_bytes())
                .finish(),
        );
    }
    let refs: Vec<&[u8]> = layers.iter().map(Vec::as_slice).collect();
    let config = tarball::config(
        r#"{"Cmd":["/bin/sh","-c","ls /layers | wc -l; cat /top /layers/1"]}"#,
        &refs,
    );
    let archive = dir.join("deep.tar");
    std::fs::write(&archive, tarball::docker_save("deep:1", &config, &refs)).unwrap();
    ok_in(&store, &["image", "import", archive.to_str().unwrap()]);
    let out = ok_in(&store, &["run", "deep:1"]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["126", "126", "1"],
        "{out}"
    );
}

/// A name imported again while a container runs on it: the container
/// keeps every file of the image it started with (its layers are held,
/// not collected), `cella run NAME` then runs the new image, and the old
/// layers go with the first garbage collection after the container.
#[test]
fn a_name_imported_again_leaves_a_running_container_its_layers() {
    require_root();
    let _g = serial();
    let (store, dir) = store("import-again");
    let plain = |marker: &[u8]| {
        Tar::default()
            .busybox_root(APPLETS)
            .file("marker", 0o644, marker)
            .finish()
    };
    let (first, second) = (dir.join("first.tar"), dir.join("second.tar"));
    std::fs::write(&first, plain(b"first\n")).unwrap();
    std::fs::write(&second, plain(b"second\n")).unwrap();
    ok_in(&store, &["image", "import", first.to_str().unwrap(), "app"]);
    let (_, old_layers, _) = contents(&store);
    // The container reads its image before and after the import, which
    // starts once `ready` exists and ends before `go` is made.
    let (ready, go) = (dir.join("ready"), dir.join("go"));
    let script = "cat /marker; touch /x/ready; while [ ! -e /x/go ]; do sleep 0.05; done; \
                  cat /marker; ls /bin | wc -l";
    let mount = format!("{}:/x", dir.display());
    let running = spawn_command(
        Command::new(cella_bin())
            .env("CELLA_IMAGES", &store)
            .args(["run", "-v", &mount, "app", "sh", "-c", script]),
    );
    wait_for(&ready, std::time::Duration::from_secs(30));
    ok_in(
        &store,
        &["image", "import", second.to_str().unwrap(), "app"],
    );
    let (_, during, _) = contents(&store);
    assert!(old_layers.iter().all(|l| during.contains(l)), "{during:?}");
    std::fs::write(&go, "").unwrap();
    let out = running.output(std::time::Duration::from_secs(30));
    let applets = (APPLETS.len() + 1).to_string();
    assert_eq!(
        stdout(&out),
        format!("first\nfirst\n{applets}\n"),
        "{}",
        stderr(&out)
    );
    assert_eq!(ok_in(&store, &["run", "app", "cat", "/marker"]), "second\n");
    // The next collection (a removal) takes the old layers.
    ok_in(&store, &["rmi", "app"]);
    let (images, left, tmp_empty) = contents(&store);
    assert!(
        images.is_empty() && left.is_empty() && tmp_empty,
        "{left:?}"
    );
}
