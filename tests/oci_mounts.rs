//! Mount propagation as the runtime spec and runc give it (issue 11,
//! point 3): `shared`, `slave`, `unbindable` and their `r*` forms on a
//! mount; a `slave` bind of a host mount receives what the host mounts
//! there later (Kubernetes' HostToContainer), while by default nothing of
//! the host's reaches the container. Seen in the container's mountinfo
//! from the host.
#![cfg(feature = "oci")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::bundle::*;
use support::*;

/// The container's mountinfo line for the mount at `target`.
fn mount_line(pid: i32, target: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap()
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(target))
        .map(str::to_owned)
}

/// The bundle template's own mounts go: those of `Cfg::top` stay.
fn only_the_tests_mounts(b: &Bundle) {
    b.edit_config(|c| {
        let first = c.find("\"mounts\": [").unwrap();
        let second = c[first + 1..].find("\"mounts\": [").unwrap() + first + 1;
        let end = c[second..].find("],").unwrap() + second + 2;
        format!("{}{}", &c[..second], &c[end..])
    });
}

fn sh(cmd: &str) {
    let ok = Command::new("sh")
        .args(["-c", cmd])
        .status()
        .unwrap()
        .success();
    assert!(ok, "{cmd}");
}

/// A shared host mount point that is undone however the test ends.
struct HostMount(PathBuf);

impl HostMount {
    fn new(tag: &str) -> HostMount {
        let dir = std::env::temp_dir().join(format!("cella-prop-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        sh(&format!("mount --bind {d} {d} && mount --make-shared {d}"));
        HostMount(dir)
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let d = self.0.display();
        let _ = Command::new("sh")
            .args(["-c", &format!("umount -R {d}; rm -rf {d}")])
            .status();
    }
}

#[test]
fn mounts_take_their_propagation_and_a_slave_bind_follows_the_host() {
    let _g = serial();
    let host = HostMount::new("slave");
    let b = Bundle::new(
        "prop",
        &["sleep", "1000"],
        Cfg {
            top: &format!(
                r#""mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/host", "type": "bind", "source": "{}", "options": ["rbind", "rslave"]}},
    {{"destination": "/shared", "type": "tmpfs", "source": "tmpfs", "options": ["shared"]}},
    {{"destination": "/unb", "type": "tmpfs", "source": "tmpfs", "options": ["runbindable"]}}
  ],"#,
                host.0.display()
            ),
            ..Cfg::default()
        },
    );
    only_the_tests_mounts(&b);
    ok(b.create(&[]));
    let pid = b.pid();
    let shared = mount_line(pid, "/shared").unwrap();
    assert!(shared.contains(" shared:"), "{shared}");
    let unbindable = mount_line(pid, "/unb").unwrap();
    assert!(unbindable.contains(" unbindable "), "{unbindable}");
    let bound = mount_line(pid, "/host").unwrap();
    assert!(bound.contains(" master:"), "a slave of the host's: {bound}");
    // Mounted on the host after the container started: it shows inside.
    sh(&format!(
        "mkdir -p {0}/sub && mount -t tmpfs cella-late {0}/sub",
        host.0.display()
    ));
    assert!(
        mount_line(pid, "/host/sub").is_some(),
        "the host's new mount did not reach the slave"
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

#[test]
fn by_default_no_mount_of_the_host_reaches_the_container() {
    let _g = serial();
    let host = HostMount::new("private");
    let b = Bundle::new("prop-private", &["sleep", "1000"], Cfg::default());
    b.edit_config(|c| {
        c.replace(
            "\"mounts\": [",
            &format!(
                "\"mounts\": [\n    {{\"destination\": \"/host\", \"type\": \"bind\", \"source\": \"{}\", \"options\": [\"rbind\"]}},",
                host.0.display()
            ),
        )
    });
    ok(b.create(&[]));
    let pid = b.pid();
    let bound = mount_line(pid, "/host").unwrap();
    assert!(
        !bound.contains("master:") && !bound.contains("shared:"),
        "{bound}"
    );
    sh(&format!(
        "mkdir -p {0}/sub && mount -t tmpfs cella-late {0}/sub",
        host.0.display()
    ));
    assert!(
        mount_line(pid, "/host/sub").is_none(),
        "a host mount reached a private container"
    );
    assert!(Path::new(&format!("{}/sub", host.0.display())).exists());
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
}

#[test]
fn a_read_only_dev_gets_its_nodes_and_mounts_first() {
    let _g = serial();
    let b = Bundle::new(
        "ro-dev",
        &[
            "sh",
            "-c",
            "echo ok > /dev/null && ls /dev/pts/ptmx >/dev/null && \
             { touch /dev/new 2>/dev/null && echo writable || echo read-only; }",
        ],
        Cfg::default(),
    );
    b.edit_config(|c| {
        c.replace(
            "\"options\": [\"nosuid\", \"strictatime\", \"mode=755\"",
            "\"options\": [\"ro\", \"nosuid\", \"strictatime\", \"mode=755\"",
        )
    });
    assert!(
        std::fs::read_to_string(b.dir.join("config.json"))
            .unwrap()
            .contains("[\"ro\", \"nosuid\", \"strictatime\"")
    );
    let out = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "read-only\n");
    b.assert_gone();
}

#[test]
fn a_bind_source_only_host_root_can_reach_works_in_a_user_namespace() {
    let _g = serial();
    // podman's volumes: a 0700 store, a data directory open to the container.
    let store = std::env::temp_dir().join(format!("cella-hidden-{}", std::process::id()));
    let data = store.join("volume/_data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("file"), "from the volume\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let b = Bundle::new(
        "userns-bind",
        &["sh", "-c", "cat /data/file; id -u"],
        Cfg {
            linux: r#""uidMappings": [{"containerID": 0, "hostID": 210000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 210000, "size": 65536}],"#,
            ..Cfg::default()
        },
    );
    b.edit_config(|c| {
        c.replace(r#"{"type": "mount"}]"#, r#"{"type": "mount"}, {"type": "user"}]"#)
            .replace(
                "\"mounts\": [",
                &format!(
                    "\"mounts\": [\n    {{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"{}\", \"options\": [\"rbind\", \"ro\"]}},",
                    data.display()
                ),
            )
    });
    // The image has the mount point (its root is the host's root's, which
    // the container's root cannot write).
    std::fs::create_dir(b.rootfs().join("data")).unwrap();
    let out = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    let _ = std::fs::remove_dir_all(&store);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "from the volume\n0\n");
    b.assert_gone();
}

#[test]
fn without_a_mount_namespace_the_container_has_the_runtimes_and_changes_none() {
    let _g = serial();
    let host = HostMount::new("nomntns");
    let shared_before = mount_line(std::process::id() as i32, host.0.to_str().unwrap()).unwrap();
    assert!(shared_before.contains("shared:"), "{shared_before}");
    let marker = host.0.join("seen-from-the-container");
    std::fs::write(&marker, "").unwrap();
    let b = Bundle::new(
        "no-mntns",
        &[
            "sh",
            "-c",
            &format!(
                "readlink /proc/self/ns/mnt; test -e {} && echo host-files",
                marker.display()
            ),
        ],
        Cfg::default(),
    );
    // As runc: nothing of the file system can be the container's own.
    b.edit_config(|c| c.replace(r#", {"type": "mount"}]"#, "]"));
    let out = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    refused(
        &out,
        "mounts without a mount namespace",
        "mounts: needs a mount namespace",
    );
    b.edit_config(|c| {
        let start = c.find("\"mounts\": [").unwrap();
        let end = c[start..].find("],").unwrap() + start + 2;
        let c = format!("{}{}", &c[..start], &c[end..]);
        let start = c.find("\"maskedPaths\"").unwrap();
        let end = c[start..].find("\n  }").unwrap() + start;
        format!("{}\"devices\": []{}", &c[..start], &c[end..])
    });
    let out = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_eq!(stdout(&out), format!("{}\nhost-files\n", ours.display()));
    let shared_after = mount_line(std::process::id() as i32, host.0.to_str().unwrap()).unwrap();
    assert!(
        shared_after.contains("shared:"),
        "the host's propagation changed: {shared_after}"
    );
    b.assert_gone();
}

/// A process holding a mount namespace; killed when dropped.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process in a mount namespace of its own (a copy of ours): the
/// process, the namespace's path and its link.
fn mount_namespace_holder() -> (Holder, String, PathBuf) {
    let holder = Holder(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sleep", "100"])
            .spawn()
            .unwrap(),
    );
    let ns = format!("/proc/{}/ns/mnt", holder.0.id());
    let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let start = std::time::Instant::now();
    loop {
        let theirs = std::fs::read_link(&ns).unwrap();
        if theirs != ours {
            return (holder, ns, theirs);
        }
        assert!(start.elapsed().as_secs() < 10, "unshare made no namespace");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A mount namespace joined by path is the container's, set up as a new
/// one would be (runc's way): the container's mounts and root are made in
/// it, seen by the namespace's other processes and not by the host; a user
/// namespace joined by path is still refused by name.
#[test]
fn a_mount_namespace_joined_by_path_is_where_the_container_is_made() {
    let _g = serial();
    let b = Bundle::new(
        "join-mntns",
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/mnt; test -x /bin/busybox && echo rootfs",
        ],
        Cfg::default(),
    );
    let template = std::fs::read_to_string(b.dir.join("config.json")).unwrap();
    let join = |ns: &str| {
        let config = template.replace(
            r#"{"type": "mount"}"#,
            &format!(r#"{{"type": "mount", "path": "{ns}"}}"#),
        );
        std::fs::write(b.dir.join("config.json"), config).unwrap();
    };
    let (holder, ns, _) = mount_namespace_holder();
    join(&ns);
    let out = b.create(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The container's root and /proc are mounts of the joined namespace,
    // not ours; its other process was moved to the new root with the
    // pivot, as pivot_root(2) does (so with runc).
    let in_joined = std::fs::read_to_string(format!("/proc/{}/mountinfo", holder.0.id())).unwrap();
    let root = in_joined.lines().find(|l| l.split(' ').nth(4) == Some("/"));
    assert!(
        root.is_some_and(|l| l.split(' ').nth(3) == b.rootfs().to_str()),
        "{in_joined}"
    );
    assert!(
        in_joined
            .lines()
            .any(|l| l.split(' ').nth(4) == Some("/proc") && l.contains(" - proc proc ")),
        "{in_joined}"
    );
    assert!(!host_mounts().contains(b.rootfs().to_str().unwrap()));
    ok(b.oci(&["start", &b.id]));
    b.wait_status("stopped");
    ok(b.oci(&["delete", &b.id]));
    b.assert_gone();
    drop(holder);
    // What the payload sees: the namespace it joined, and its rootfs.
    let (holder, ns, theirs) = mount_namespace_holder();
    join(&ns);
    let out = ok(b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]));
    assert_eq!(out, format!("{}\nrootfs\n", theirs.display()));
    b.assert_gone();
    drop(holder);
    // A user namespace by path: refused, naming it.
    b.edit_config(|c| {
        c.replace(
            r#"{"type": "pid"}"#,
            r#"{"type": "pid"}, {"type": "user", "path": "/proc/self/ns/user"}"#,
        )
    });
    refused(
        &b.create(&[]),
        "user namespace by path",
        "joining a user namespace by path is not supported by cella",
    );
    b.assert_gone();
}

/// Every option runc takes is taken (runc's spelling of each atime flag,
/// its clearing forms, iversion, loud and silent; the file system's own
/// sync, dirsync and lazytime reaching a new file system; none of them
/// a bind's), and `features` lists exactly what is taken.
#[test]
fn the_mount_options_runc_takes_are_taken_and_features_lists_them() {
    let _g = serial();
    let every = [
        "norelatime",
        "diratime",
        "nostrictatime",
        "symfollow",
        "iversion",
        "noiversion",
        "loud",
        "silent",
        "async",
        "nolazytime",
        "nomand",
        "rsymfollow",
        "rdiratime",
        "rnostrictatime",
        "rnorelatime",
    ];
    let options = |extra: &[&str]| quoted(&[&every[..], extra].concat());
    let dir = std::env::temp_dir().join(format!("cella-mntopts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let b = Bundle::new(
        "mntopts",
        &["sleep", "1000"],
        Cfg {
            top: &format!(
                r#""mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/fs", "type": "tmpfs", "source": "tmpfs", "options": [{}]}},
    {{"destination": "/bound", "type": "bind", "source": "{}", "options": [{}]}}
  ],"#,
                options(&["sync", "dirsync", "lazytime", "nosuid"]),
                dir.display(),
                options(&["rbind", "sync", "nodev"]),
            ),
            ..Cfg::default()
        },
    );
    only_the_tests_mounts(&b);
    let out = b.create(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pid = b.pid();
    // mountinfo: the mount's options (field 6), then the super block's.
    let fs = mount_line(pid, "/fs").unwrap();
    let fields: Vec<&str> = fs.split(' ').collect();
    assert!(fields[5].contains("nosuid"), "{fs}");
    let has = |list: &str, opt: &str| list.split(',').any(|o| o == opt);
    let sb = fields.last().unwrap();
    assert!(has(sb, "sync") && has(sb, "dirsync"), "{fs}");
    assert!(has(fields[5], "relatime"), "the atime default stays: {fs}");
    let bound = mount_line(pid, "/bound").unwrap();
    assert!(
        bound.split(' ').nth(5).unwrap().contains("nodev"),
        "{bound}"
    );
    ok(b.oci(&["delete", "--force", &b.id]));
    b.assert_gone();
    // features: the same names.
    let features = ok(b.oci(&["features"]));
    for name in every
        .iter()
        .chain(&["sync", "dirsync", "lazytime", "rbind", "rshared"])
    {
        assert!(
            features.contains(&format!("\"{name}\"")),
            "{name}: {features}"
        );
    }
    assert!(
        features.contains("\"time\""),
        "the time namespace: {features}"
    );
    let _ = std::fs::remove_dir(&dir);
}

/// `tmpcopyup` (podman's for `--read-only`'s /tmp, /var/tmp and /run, and
/// for `--tmpfs`): the new tmpfs starts with what the image's directory
/// held, files, directories, links and FIFOs with their modes and owners;
/// writes go to the tmpfs, never to the image; with `ro` it is read-only
/// and still filled. A link in the image pointing out of the container is
/// copied as a link, not followed.
#[test]
fn a_tmpcopyup_tmpfs_starts_with_the_images_directory() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let _g = serial();
    let b = Bundle::new(
        "copyup",
        &[
            "sh",
            "-c",
            "cd /data && stat -c '%n %F %a %u:%g' f sub sub/g fifo link && readlink link \
             && cat f sub/g && echo new > w && cat w \
             && grep -o ' /data tmpfs [^ ]*' /proc/mounts && grep -o ' /data-ro tmpfs ro' /proc/mounts \
             && cat /data-ro/f && { echo x > /data-ro/f 2>/dev/null && echo writable || echo read-only; }",
        ],
        Cfg {
            top: r#""mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "tmpcopyup"]},
    {"destination": "/data-ro", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "ro"]}
  ],"#,
            ..Cfg::default()
        },
    );
    only_the_tests_mounts(&b);
    let data = b.rootfs().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("f"), "image file\n").unwrap();
    // (The owner first: a chown clears the set-user-ID bit.)
    std::os::unix::fs::chown(data.join("f"), Some(1000), Some(1001)).unwrap();
    std::fs::set_permissions(data.join("f"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::write(data.join("w"), "image w\n").unwrap();
    std::fs::write(data.join("sub/g"), "below\n").unwrap();
    std::fs::set_permissions(data.join("sub"), std::fs::Permissions::from_mode(0o710)).unwrap();
    symlink("/etc/shadow-of-the-host", data.join("link")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(data.join("fifo"))
        .status()
        .unwrap();
    assert!(fifo.success());
    let ro = b.rootfs().join("data-ro");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(ro.join("f"), "read-only copy\n").unwrap();
    let out = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "f regular file 4755 1000:1001\n\
         sub directory 710 0:0\n\
         sub/g regular file 644 0:0\n\
         fifo fifo 644 0:0\n\
         link symbolic link 777 0:0\n\
         /etc/shadow-of-the-host\n\
         image file\nbelow\nnew\n \
         /data tmpfs rw,nosuid,nodev,relatime\n \
         /data-ro tmpfs ro\n\
         read-only copy\nread-only\n"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("w")).unwrap(),
        "image w\n",
        "the image was written through the tmpfs"
    );
    b.assert_gone();
    // A copy that does not fit: one line naming the step and the mount,
    // and nothing left.
    b.edit_config(|c| {
        c.replace(
            r#""nodev", "tmpcopyup""#,
            r#""nodev", "tmpcopyup", "size=4k""#,
        )
    });
    std::fs::write(data.join("big"), vec![b'x'; 256 << 10]).unwrap();
    refused(
        &b.create(&[]),
        "a copy larger than its tmpfs",
        "copy into tmpfs /data: No space left on device",
    );
    b.assert_gone();
}
