//! Image files as roots (`--rootfs FILE`), `--overlay` and
//! `--overlay-upper`, from both sides: what the payload sees (its root an
//! overlay, the only mount at `/`; its writes; its passwd and command
//! found through the layers) and what the host shows after (the image
//! unchanged, no loop device or mount left, no cgroup), for squashfs and
//! erofs files made here with Debian's squashfs-tools and erofs-utils.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::*;

#[derive(Clone, Copy, Debug)]
enum Format {
    Squashfs,
    Erofs,
}

const FORMATS: [Format; 2] = [Format::Squashfs, Format::Erofs];

/// An image of `root` in `format`, beside it.
fn image(root: &Path, format: Format) -> PathBuf {
    let out = root.with_extension(match format {
        Format::Squashfs => "sqfs",
        Format::Erofs => "erofs",
    });
    let _ = std::fs::remove_file(&out);
    let status = match format {
        Format::Squashfs => Command::new("mksquashfs")
            .arg(root)
            .arg(&out)
            .args(["-noappend", "-quiet", "-no-progress"])
            .status(),
        Format::Erofs => Command::new("mkfs.erofs")
            .arg("--quiet")
            .arg(&out)
            .arg(root)
            .status(),
    }
    .expect("mksquashfs and mkfs.erofs (.ci/run installs squashfs-tools and erofs-utils)");
    assert!(status.success(), "making {}", out.display());
    out
}

/// A test's lock, a fresh busybox rootfs `tag`, and its image in `format`.
fn image_root(tag: &str, format: Format) -> (std::sync::MutexGuard<'static, ()>, PathBuf, PathBuf) {
    require_root();
    let guard = serial();
    let root = rootfs(tag);
    let file = image(&root, format);
    (guard, root, file)
}

/// The loop devices backed by `file` (`/sys/block/loopN/loop/backing_file`).
fn loops_of(file: &Path) -> Vec<String> {
    let name = std::fs::canonicalize(file).unwrap();
    std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let backing = std::fs::read_to_string(e.path().join("loop/backing_file")).ok()?;
            (Path::new(backing.trim()) == name).then(|| e.file_name().to_string_lossy().into())
        })
        .collect()
}

/// The host's mounts that could be a container's of ours: under the
/// test's directory, an image's file system, or cella's overlay (its
/// layers named `lower`, `upper`...). Other tests' mounts come and go.
fn our_mounts(dir: &Path) -> Vec<String> {
    let dir = dir.parent().unwrap().to_str().unwrap().to_owned();
    host_mounts()
        .lines()
        .filter(|l| {
            l.contains(&dir)
                || l.contains(" - squashfs ")
                || l.contains(" - erofs ")
                || l.contains("upperdir=upper,")
                || l.contains("upperdir=data/upper,")
        })
        .map(str::to_owned)
        .collect()
}

fn digest(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the payload reports of its root: the mounts at `/` in its own
/// mount table (mount point, type), one per line.
const ROOT_MOUNTS: &str =
    "awk '$5 == \"/\" { for (i = 7; $i != \"-\"; i++); print $5, $(i+1) }' /proc/self/mountinfo";

#[test]
fn an_image_file_is_the_root_under_a_throwaway_layer() {
    require_root();
    let _g = serial();
    for format in FORMATS {
        let root = rootfs(&format!("img-{format:?}"));
        let file = image(&root, format);
        let before = digest(&file);
        let cgroups = cella_cgroups();
        let f = file.to_str().unwrap();
        let out = ok(cella(&[
            "run",
            "--rootfs",
            f,
            "--",
            "sh",
            "-c",
            &format!(
                "echo written > /etc/new && cat /etc/new && rm /bin/probe && {ROOT_MOUNTS}; \
                 ls /mnt/sandboxing /var/lib 2>&1 | grep -c 'No such file'"
            ),
        ]));
        // Its root is the overlay, and nothing of the host's tree is left
        // in its mount namespace, over it or under it.
        assert_eq!(out, "written\n/ overlay\n2\n", "{format:?}");
        assert!(
            loops_of(&file).is_empty(),
            "{format:?}: {:?}",
            loops_of(&file)
        );
        assert_eq!(
            our_mounts(&root),
            Vec::<String>::new(),
            "{format:?} left a mount"
        );
        assert_no_new_cgroups(&cgroups);
        // The next container starts from the image again.
        let out = ok(cella(&[
            "run",
            "--rootfs",
            f,
            "--",
            "sh",
            "-c",
            "cat /etc/new 2>&1; ls /bin/probe",
        ]));
        assert_eq!(
            out,
            "cat: can't open '/etc/new': No such file or directory\n/bin/probe\n"
        );
        assert_eq!(digest(&file), before, "{format:?}: the image was written");
    }
}

#[test]
fn the_payloads_user_and_command_are_found_through_the_layers() {
    let (_g, root, file) = image_root("img-layers", Format::Squashfs);
    let upper = root.with_extension("upper");
    let _ = std::fs::remove_dir_all(&upper);
    std::fs::create_dir_all(&upper).unwrap();
    let (f, u) = (file.to_str().unwrap(), upper.to_str().unwrap());
    let with = |extra: &[&str]| {
        let mut args = vec!["run", "--rootfs", f, "--overlay-upper", u];
        args.extend_from_slice(extra);
        cella(&args)
    };
    // The first container adds a user and removes a command; its writes
    // are kept in the directory.
    ok(with(&[
        "--",
        "sh",
        "-c",
        "echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd && rm /bin/probe",
    ]));
    assert!(upper.join("upper/etc/passwd").is_file());
    // The next one is that user, by name (its passwd read in the upper
    // layer), with HOME from it.
    let out = ok(with(&["-u", "app", "--", "sh", "-c", "id -u; echo $HOME"]));
    assert_eq!(out, "1234\n/home/app\n");
    // The removed command is missing (its whiteout hides the image's),
    // refused before anything is made, as a missing command always is.
    let out = with(&["--", "probe", "fds"]);
    assert_eq!(code(&out), 127, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exec probe: No such file or directory"),
        "{}",
        stderr(&out)
    );
    assert!(loops_of(&file).is_empty());
}

#[test]
fn an_upper_directory_is_written_by_one_container_at_a_time() {
    let (_g, root, file) = image_root("img-upper", Format::Erofs);
    let upper = root.with_extension("upper");
    let _ = std::fs::remove_dir_all(&upper);
    std::fs::create_dir_all(&upper).unwrap();
    let (f, u) = (file.to_str().unwrap(), upper.to_str().unwrap());
    let first = spawn(&[
        "run",
        "--rootfs",
        f,
        "--overlay-upper",
        u,
        "--name",
        "img-upper-1",
        "--",
        "sh",
        "-c",
        "echo one > /data; touch /tmp/ready; sleep 30",
    ]);
    wait_for(&upper.join("upper/tmp/ready"), Duration::from_secs(20));
    let cgroups = cella_cgroups();
    let loops = loops_of(&file);
    let out = cella(&["run", "--rootfs", f, "--overlay-upper", u, "--", "true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("in use by another container"), "{err}");
    assert_eq!(our_mounts(&root), Vec::<String>::new());
    assert_no_new_cgroups(&cgroups);
    assert_eq!(loops_of(&file), loops, "the refused one left a loop device");
    drop(first);
    // Once it is gone, the next one has the directory, and its writes.
    let out = ok(cella(&[
        "run",
        "--rootfs",
        f,
        "--overlay-upper",
        u,
        "--",
        "cat",
        "/data",
    ]));
    assert_eq!(out, "one\n");
    assert!(loops_of(&file).is_empty());
    // A detached container's supervisor holds the lock as long.
    #[cfg(feature = "manage")]
    {
        let name = "img-upper-d";
        let _ = cella(&["rm", "-f", name]);
        ok(cella(&[
            "run",
            "-d",
            "--name",
            name,
            "--rootfs",
            f,
            "--overlay-upper",
            u,
            "--",
            "sleep",
            "30",
        ]));
        let out = cella(&["run", "--rootfs", f, "--overlay-upper", u, "--", "true"]);
        let removed = cella(&["rm", "-f", name]);
        assert_eq!(code(&out), 125, "{}", stderr(&out));
        assert!(stderr(&out).contains("in use by another container"));
        ok(removed);
        ok(cella(&[
            "run",
            "--rootfs",
            f,
            "--overlay-upper",
            u,
            "--",
            "true",
        ]));
    }
}

/// `--overlay-upper DIR` whose `upper` or `work` is a symlink (DIR shared
/// with another user, or planted there): refused before anything is made.
/// The overlay would write what an `upper` link names, and empty what a
/// `work` link names.
#[test]
fn an_upper_directory_holding_symlinks_is_refused() {
    let (_g, root, file) = image_root("img-upper-link", Format::Squashfs);
    let upper = root.with_extension("upper");
    let victim = root.with_extension("victim");
    let (f, u) = (file.to_str().unwrap(), upper.to_str().unwrap());
    for (sub, link) in [("upper", victim.clone()), ("work", victim.join("work"))] {
        for d in [&upper, &victim] {
            let _ = std::fs::remove_dir_all(d);
        }
        std::fs::create_dir_all(victim.join("work/work")).unwrap();
        std::fs::write(victim.join("work/work/data"), "precious\n").unwrap();
        std::fs::create_dir_all(&upper).unwrap();
        std::os::unix::fs::symlink(&link, upper.join(sub)).unwrap();
        let cgroups = cella_cgroups();
        let out = cella(&[
            "run",
            "--rootfs",
            f,
            "--overlay-upper",
            u,
            "--",
            "sh",
            "-c",
            "echo pwned > /pwn",
        ]);
        let err = stderr(&out);
        assert_eq!(code(&out), 125, "{sub}: {err}");
        assert_eq!(err.lines().count(), 1, "{sub}: {err}");
        assert!(
            err.contains(&format!(
                "--overlay-upper {u}: its {sub} is not a directory"
            )),
            "{sub}: {err}"
        );
        assert!(
            !victim.join("pwn").exists(),
            "{sub}: written through the link"
        );
        assert_eq!(
            std::fs::read_to_string(victim.join("work/work/data")).unwrap(),
            "precious\n",
            "{sub}: emptied through the link"
        );
        assert_eq!(our_mounts(&root), Vec::<String>::new());
        assert_no_new_cgroups(&cgroups);
        assert!(loops_of(&file).is_empty());
    }
}

#[test]
fn overlay_never_writes_the_directory_below() {
    require_root();
    let _g = serial();
    let root = rootfs("img-overlay");
    std::fs::write(root.join("etc/keep"), "kept\n").unwrap();
    let listing = || {
        let out = Command::new("find")
            .arg(&root)
            .arg("-printf")
            .arg("%p %s %m\n")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = listing();
    let out = ok(sh(
        &root,
        &["--overlay"],
        &format!(
            "rm /etc/keep /bin/probe && echo new > /etc/new && mkdir /made && cat /etc/new && {ROOT_MOUNTS}"
        ),
    ));
    assert_eq!(out, "new\n/ overlay\n");
    assert_eq!(listing(), before, "the directory was written");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/keep")).unwrap(),
        "kept\n"
    );
}

#[test]
fn many_containers_run_one_image_at_once() {
    let (_g, _, file) = image_root("img-many", Format::Squashfs);
    let f = file.to_str().unwrap();
    let running: Vec<Running> = (0..5)
        .map(|i| {
            spawn(&[
                "run",
                "--rootfs",
                f,
                "--name",
                &format!("img-many-{i}"),
                "--",
                "sh",
                "-c",
                &format!("echo {i} > /mine; sleep 1; cat /mine"),
            ])
        })
        .collect();
    for (i, r) in running.into_iter().enumerate() {
        let out = r.output(Duration::from_secs(60));
        assert_eq!(ok(out), format!("{i}\n"));
    }
    assert!(loops_of(&file).is_empty());
}

#[test]
fn a_killed_cella_leaves_no_loop_device_or_mount() {
    let (_g, root, file) = image_root("img-killed", Format::Squashfs);
    let run = spawn(&[
        "run",
        "--rootfs",
        file.to_str().unwrap(),
        "--name",
        "img-killed",
        "--",
        "sleep",
        "30",
    ]);
    wait_until(
        "a loop device for the image",
        Duration::from_secs(20),
        || !loops_of(&file).is_empty(),
    );
    kill(run.id(), rustix::process::Signal::KILL);
    drop(run);
    wait_until("the loop device gone", Duration::from_secs(10), || {
        loops_of(&file).is_empty()
    });
    assert_eq!(our_mounts(&root), Vec::<String>::new());
    ok(run_in(&file, &["--name", "img-killed"], &["true"]));
}

#[test]
fn bad_roots_are_refused_in_one_line_leaving_nothing() {
    let (_g, root, file) = image_root("img-bad", Format::Squashfs);
    // The magic of a squashfs, the rest cut off.
    let truncated = root.with_extension("truncated");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&truncated, &bytes[..4096.min(bytes.len() / 2)]).unwrap();
    // An erofs whose superblock is whole and the rest cut off: it mounts,
    // and every lookup in it fails (EUCLEAN), which is not a missing
    // command.
    let damaged = root.with_extension("damaged");
    let erofs = std::fs::read(image(&root, Format::Erofs)).unwrap();
    std::fs::write(&damaged, &erofs[..8192]).unwrap();
    let text = root.with_extension("txt");
    std::fs::write(&text, "not an image\n").unwrap();
    let fifo = root.with_extension("fifo");
    let _ = std::fs::remove_file(&fifo);
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let r = root.to_str().unwrap();
    // An upper layer inside the directory below it, or holding it: the
    // kernel takes both, and the payload would see its own writes change
    // its lower layer.
    let inner = root.join("upper-inside");
    std::fs::create_dir_all(&inner).unwrap();
    let outer = root.parent().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "run",
                "--rootfs",
                r,
                "--overlay-upper",
                inner.to_str().unwrap(),
                "true",
            ],
            "upper-inside: overlaps the layer below it",
        ),
        (
            vec![
                "run",
                "--rootfs",
                r,
                "--overlay-upper",
                outer.to_str().unwrap(),
                "true",
            ],
            "overlaps the layer below it",
        ),
        (
            vec!["run", "--rootfs", text.to_str().unwrap(), "true"],
            "neither a directory nor a squashfs or erofs image",
        ),
        (
            vec!["run", "--rootfs", truncated.to_str().unwrap(), "true"],
            "mount image ",
        ),
        (
            vec!["run", "--rootfs", fifo.to_str().unwrap(), "true"],
            "Not a directory",
        ),
        (
            vec!["run", "--rootfs", damaged.to_str().unwrap(), "true"],
            ": /bin/true: Structure needs cleaning",
        ),
        (
            vec!["run", "--overlay", "true"],
            "--overlay and --overlay-upper need --rootfs",
        ),
        (
            vec![
                "run",
                "--rootfs",
                r,
                "--overlay-upper",
                "/nonexistent-upper",
                "true",
            ],
            "--overlay-upper /nonexistent-upper: No such file or directory",
        ),
        (
            vec!["run", "--rootfs", file.to_str().unwrap(), "missing-command"],
            "exec missing-command: No such file or directory",
        ),
    ];
    let cgroups = cella_cgroups();
    for (args, needle) in cases {
        let out = cella_timed(&args, Duration::from_secs(20));
        let err = stderr(&out);
        let missing = args.contains(&"missing-command");
        assert_eq!(
            code(&out),
            if missing { 127 } else { 125 },
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("cella: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert_eq!(
            our_mounts(&root),
            Vec::<String>::new(),
            "{args:?} left a mount"
        );
        assert_no_new_cgroups(&cgroups);
        assert!(
            [&truncated, &damaged, &file]
                .iter()
                .all(|f| loops_of(f).is_empty()),
            "{args:?}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&inner).unwrap().count(),
        0,
        "the upper layer was written"
    );
    assert!(!outer.join("upper").exists() && !outer.join("work").exists());
}

#[test]
fn device_rules_apply_inside_an_image() {
    let (_g, _, file) = image_root("img-devices", Format::Erofs);
    let out = run_in(
        &file,
        &[],
        &["sh", "-c", "mknod /dev/b b 7 0 && head -c1 /dev/b"],
    );
    assert!(
        stderr(&out).contains("Operation not permitted")
            || stdout(&out).contains("Operation not permitted"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[cfg(feature = "manage")]
#[test]
fn exec_into_an_image_container_sees_its_files() {
    let (_g, _, file) = image_root("img-exec", Format::Squashfs);
    let name = "img-exec";
    let _ = cella(&["rm", "-f", name]);
    ok(cella(&[
        "run",
        "-d",
        "--name",
        name,
        "--rootfs",
        file.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo 'app:x:77:77::/:/bin/sh' >> /etc/passwd; touch /tmp/ready; sleep 30",
    ]));
    wait_until("the container ready", Duration::from_secs(20), || {
        code(&cella(&["exec", name, "test", "-e", "/tmp/ready"])) == 0
    });
    let out = cella(&["exec", "-u", "app", name, "id", "-u"]);
    let removed = cella(&["rm", "-f", name]);
    assert_eq!(ok(out), "77\n");
    ok(removed);
    wait_until("the loop device gone", Duration::from_secs(10), || {
        loops_of(&file).is_empty()
    });
}

/// A board's container: `cella init` runs it from an image file with a
/// persistent upper layer and a bound data directory; the image replaced
/// on disk while it runs is the one its restart gets, with its writes kept.
#[test]
fn init_restarts_a_container_on_the_image_file_now_on_disk() {
    require_root();
    let _g = serial();
    let root = rootfs("img-init");
    std::fs::write(root.join("version"), "1\n").unwrap();
    let file = image(&root, Format::Squashfs);
    let base = root.parent().unwrap();
    let (upper, sync) = (base.join("img-init.upper"), base.join("img-init.sync"));
    for d in [&upper, &sync] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
    }
    let config = base.join("img-init.conf");
    std::fs::write(
        &config,
        format!(
            "on-exit poweroff\n[container app]\nrootfs {}\noverlay-upper {}\nbind {}:/sync\n\
             restart on-failure\n\
             command sh -c 'n=$(cat /count 2>/dev/null || echo 0); n=$((n+1)); echo $n > /count; \
             echo \"run $n version $(cat /version)\"; [ $n -ge 2 ] && exit 0; touch /sync/ready; \
             while [ ! -e /sync/go ]; do sleep 0.1; done; exit 1'\n",
            file.display(),
            upper.display(),
            sync.display()
        ),
    )
    .unwrap();
    let init = init_command(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&sync.join("ready"), Duration::from_secs(30));
    // A new image in its place (the old file unlinked while the container
    // still runs from it), as an update lands on a board.
    std::fs::write(root.join("version"), "2\n").unwrap();
    assert_eq!(image(&root, Format::Squashfs), file);
    std::fs::write(sync.join("go"), "").unwrap();
    let out = wait_output(init, Duration::from_secs(60));
    let text = stdout(&out);
    assert!(
        text.contains("[app] run 1 version 1"),
        "{text}{}",
        stderr(&out)
    );
    assert!(
        text.contains("[app] run 2 version 2"),
        "{text}{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(upper.join("upper/count")).unwrap(),
        "2\n"
    );
    assert!(loops_of(&file).is_empty());
}
