//! Device access from inside `cella run` and `cella init` containers: the
//! payload keeps CAP_MKNOD (docker's default set), so the device cgroup is
//! what stands between container root and the host's disks. Each test makes
//! the nodes an attacker would (a host block device, `/dev/kmsg`) and
//! requires opening them to fail, with `--privileged` as the control where
//! the same attack works. The host side is checked too: the disk image is
//! unchanged, the kernel log has no line from the container.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::*;

const SECRET: &str = "HOST-SECRET";

/// A loop device over a 1 MiB image that starts with `HOST-SECRET`;
/// detached and removed however the test ends.
struct Disk {
    image: PathBuf,
    dev: String,
}

impl Disk {
    fn new(tag: &str) -> Disk {
        let image = std::env::temp_dir().join(format!("cella-disk-{tag}-{}", std::process::id()));
        let mut bytes = vec![0u8; 1 << 20];
        bytes[..SECRET.len()].copy_from_slice(SECRET.as_bytes());
        std::fs::write(&image, bytes).unwrap();
        let out = Command::new("losetup")
            .args(["-f", "--show", image.to_str().unwrap()])
            .output()
            .expect("losetup (util-linux)");
        assert!(out.status.success(), "{out:?}");
        let dev = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Disk { image, dev }
    }

    /// `b MAJOR MINOR` of the loop device, for mknod inside.
    fn numbers(&self) -> (u32, u32) {
        let st = rustix::fs::stat(self.dev.as_str()).unwrap();
        (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev))
    }

    /// What the host sees at byte 4096 (where the attack writes).
    fn written(&self) -> String {
        let bytes = std::fs::read(&self.image).unwrap();
        String::from_utf8_lossy(&bytes[4096..4102]).into_owned()
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
        let _ = std::fs::remove_file(&self.image);
    }
}

/// The attack of the review: make the host disk's node, read it, write it.
fn disk_attack(d: &Disk) -> String {
    let (major, minor) = d.numbers();
    format!(
        "mknod /dev/b b {major} {minor} && head -c 11 /dev/b; echo; \
         echo PWNED | dd of=/dev/b bs=512 seek=8 conv=notrunc,fsync 2>&1"
    )
}

fn kernel_log() -> String {
    let out = Command::new("dmesg").output().expect("dmesg");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_host(extra: &[&str], script: &str) -> std::process::Output {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "/bin/sh", "-c", script]);
    cella(&args)
}

#[test]
fn host_disks_and_the_kernel_log_are_out_of_reach() {
    let _g = serial();
    let root = rootfs("dev-attack");
    let r = root.to_str().unwrap();
    let disk = Disk::new("attack");
    let marker = format!("cella-kmsg-attack-{}", std::process::id());
    let kmsg = format!("mknod /dev/k c 1 11 && echo '<1>{marker}' > /dev/k");
    // The default, a read-only root, a non-root user with the capability
    // kept (docker's default set is root's), the host's own root.
    let variants: [(&str, Vec<&str>); 4] = [
        ("rootfs", vec!["--rootfs", r]),
        ("read-only", vec!["--rootfs", r, "--read-only"]),
        ("cap-add", vec!["--rootfs", r, "--cap-add", "ALL"]),
        ("host root", vec![]),
    ];
    for (what, extra) in &variants {
        let out = run_host(extra, &disk_attack(&disk));
        let (text, err) = (stdout(&out), stderr(&out));
        assert!(
            !text.contains(SECRET),
            "{what}: the host disk was read: {text}"
        );
        assert!(
            text.contains("Operation not permitted") || err.contains("Operation not permitted"),
            "{what}: {text} {err}"
        );
        assert_eq!(
            disk.written(),
            "\0\0\0\0\0\0",
            "{what}: the host disk was written"
        );
        let out = run_host(extra, &kmsg);
        assert_ne!(code(&out), 0, "{what}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("Operation not permitted")
                || stdout(&out).contains("Operation not permitted"),
            "{what}: {}",
            stderr(&out)
        );
    }
    assert!(
        !kernel_log().contains(&marker),
        "a container wrote the host's kernel log"
    );
    // Control: --privileged means every device, and the attack works.
    let out = run_host(&["--rootfs", r, "--privileged"], &disk_attack(&disk));
    assert!(stdout(&out).contains(SECRET), "{}", stderr(&out));
    assert_eq!(disk.written(), "PWNED\n");
}

#[test]
fn the_device_cgroup_is_dockers_seen_from_the_host() {
    let _g = serial();
    if cgroup_v2() {
        return; // v2 has no devices.list: tests/guest.rs covers the eBPF program.
    }
    let root = rootfs("dev-list");
    let name = format!("devlist-{}", std::process::id());
    let run = spawn_ready(&root, &name, "sleep 30");
    let list =
        std::fs::read_to_string(container_cgroup("devices", &name).join("devices.list")).unwrap();
    let mut lines: Vec<&str> = list.lines().collect();
    lines.sort_unstable();
    let mut want = vec![
        "b *:* m",
        "c *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 10:200 rwm",
        "c 136:* rwm",
        "c 5:0 rwm",
        "c 5:2 rwm",
    ];
    want.sort_unstable();
    assert_eq!(lines, want);
    drop(run);
    // --privileged: no device rules at all (every device).
    let out = ok(run_in(
        &root,
        &["--privileged"],
        &["cat", "/proc/self/cgroup"],
    ));
    assert!(!out.contains("devices:/cella"), "{out}");
}

#[test]
fn the_default_nodes_still_work() {
    let _g = serial();
    let root = rootfs("dev-defaults");
    let out = ok(sh(
        &root,
        &[],
        "echo x > /dev/null && head -c1 /dev/zero | wc -c && head -c1 /dev/urandom | wc -c \
         && head -c1 /dev/random | wc -c && (echo x > /dev/full) 2>&1; \
         exec 3<>/dev/ptmx && echo ptmx-ok",
    ));
    assert_eq!(
        out,
        "1\n1\n1\nsh: write error: No space left on device\nptmx-ok\n"
    );
}

#[test]
fn device_option_gives_one_node_with_its_permissions() {
    let _g = serial();
    let root = rootfs("dev-option");
    let disk = Disk::new("option");
    let (major, minor) = disk.numbers();
    let r = root.to_str().unwrap();
    // Read-only access under another name: readable, not writable; the node
    // has the host's type and numbers.
    let spec = format!("{}:/dev/xvdc:r", disk.dev);
    let out = run_host(
        &["--rootfs", r, "--device", &spec],
        "stat -c '%t:%T' /dev/xvdc; head -c 11 /dev/xvdc; echo; (echo x > /dev/xvdc) 2>&1",
    );
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("{major:x}:{minor:x}\n{SECRET}\n")),
        "{text} {}",
        stderr(&out)
    );
    assert!(text.contains("Operation not permitted"), "{text}");
    // Default permissions (rwm) at the host's path: writable; another loop
    // device stays out of reach.
    let out = run_host(
        &["--rootfs", r, "--device", &disk.dev],
        &format!(
            "echo PWNED | dd of={} bs=512 seek=8 conv=notrunc,fsync 2>/dev/null && echo wrote; \
             mknod /dev/other b {major} {} && head -c1 /dev/other",
            disk.dev,
            minor + 1
        ),
    );
    assert!(stdout(&out).contains("wrote"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(disk.written(), "PWNED\n");
    // Bad values: one line, 125, no container.
    for (value, needle) in [
        ("/etc/passwd", "not a character or block device"),
        ("dev/null", "--device"),
        ("/dev/null:/", "cannot be a mount destination"),
        ("/dev/null:/dev/x:rwx", "--device"),
        ("/nonexistent", "No such file or directory"),
    ] {
        let out = run_in(&root, &["--device", value], &["true"]);
        let err = stderr(&out);
        assert_eq!(code(&out), 125, "{value}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{value}: {err}");
    }
}

/// `cella init` with `config`: its console once it has ended.
fn init_console(config: &Path) -> String {
    let child = init_command(config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_output(child, Duration::from_secs(60));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn init_containers_get_the_same_device_rules() {
    let _g = serial();
    let root = rootfs("dev-init");
    let disk = Disk::new("init");
    let config = root.parent().unwrap().join("dev-init.conf");
    std::fs::write(
        &config,
        format!(
            "grace 1\n[container attack]\nrootfs {}\ncommand sh -c '{}'\n",
            root.display(),
            disk_attack(&disk)
        ),
    )
    .unwrap();
    let console = init_console(&config);
    assert!(console.contains("[attack] "), "{console}");
    assert!(!console.contains(SECRET), "{console}");
    assert!(console.contains("Operation not permitted"), "{console}");
    assert_eq!(disk.written(), "\0\0\0\0\0\0");
}

/// `--privileged` as docker's: every device node of the host's `/dev`
/// (its subdirectories' too) with its numbers, owner and mode, and `/sys`
/// writable; without it, neither (the host's devices are not there, `/sys`
/// is read-only).
#[test]
fn privileged_has_the_hosts_devices_and_a_writable_sys() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let _g = serial();
    let root = rootfs("dev-privileged");
    // The host's nodes, as `stat` inside will show them.
    let mut host = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from("/dev")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let (path, name) = (e.path(), e.file_name());
            let Ok(m) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let name = name.to_str().unwrap();
            if m.is_dir() && !["pts", "shm", "mqueue", "fd"].contains(&name) {
                dirs.push(path);
            } else if (m.file_type().is_char_device() || m.file_type().is_block_device())
                && name != "console"
            {
                host.push(format!(
                    "{} {:x}:{:x} {:o} {}:{}",
                    path.display(),
                    rustix::fs::major(m.rdev()),
                    rustix::fs::minor(m.rdev()),
                    m.mode() & 0o777,
                    m.uid(),
                    m.gid()
                ));
            }
        }
    }
    host.sort();
    assert!(host.iter().any(|l| l.starts_with("/dev/kmsg ")), "{host:?}");
    let list: Vec<&str> = host.iter().map(|l| l.split(' ').next().unwrap()).collect();
    let script = format!(
        "for d in {}; do stat -c '%n %t:%T %a %u:%g' $d; done | sort; grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1",
        list.join(" ")
    );
    let out = ok(sh(&root, &["--privileged"], &script));
    let mut lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.pop(), Some("rw"), "/sys: {out}");
    assert_eq!(lines, host.iter().map(String::as_str).collect::<Vec<_>>());
    // Confined: /dev/kmsg is not there, /sys is read-only.
    let out = ok(sh(
        &root,
        &[],
        "test -e /dev/kmsg && echo kmsg; grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1",
    ));
    assert_eq!(out, "ro\n");
}
