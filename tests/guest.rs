//! `cella run` on real kernels with cgroup v2, booted under QEMU: the build
//! hosts are cgroup v1, so this is where the v2 code (CLONE_INTO_CGROUP,
//! memory.max, pids.max, cpu.max, OOM reporting, cleanup) and a container
//! root inside an initramfs (where pivot_root is impossible) are proven.
//!
//! Each guest boots Debian's kernel with an initramfs made here: busybox,
//! cella and the probe for that architecture, a busybox container rootfs, and
//! a shell script as /init that runs the checks and powers off.

mod support;

use std::time::Duration;
use support::guest::{self, Arch, Cpio};

/// Applets the guest script and the containers use (the list cannot be asked
/// of a foreign-architecture busybox without emulation).
const APPLETS: &[&str] = &[
    "sh", "mount", "cat", "echo", "sleep", "ls", "mkdir", "poweroff", "grep", "head", "tr", "test",
    "[", "seq", "kill", "wc", "cut", "hostname", "true", "stat", "touch", "ps", "sync", "sed",
    "mknod", "ln", "dmesg",
];

/// The checks; each prints `CHECK name ok` or `CHECK name FAIL: ...`.
const SCRIPT: &str = r#"#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t cgroup2 none /sys/fs/cgroup
check() { if [ "$2" = "$3" ]; then echo "CHECK $1 ok"; else echo "CHECK $1 FAIL: got [$2] want [$3]"; fi; }

check cgroup2 "$(grep -c ' /sys/fs/cgroup cgroup2 ' /proc/mounts)" 1
#MODULES#
# An erofs image as the root (a loop device: 6.1 mounts erofs from a block
# device only), under a throw-away layer; the initramfs root forces the
# chroot fallback.
check erofs-root "$(cella run --rootfs /img.erofs -- sh -c 'echo w > /w && cat /w && cat /version && grep -c . /etc/passwd')" "w
erofs
1"
check erofs-throwaway "$(cella run --rootfs /img.erofs -- sh -c 'cat /w 2>&1')" "cat: can't open '/w': No such file or directory"
check erofs-escape "$(cella run --rootfs /img.erofs -- /bin/probe escape /initramfs-marker | cut -c1-9)" CONTAINED
check erofs-no-loop-left "$(cat /sys/block/loop*/loop/backing_file 2>/dev/null | grep -c img.erofs)" 0
check pid1-hostname "$(cella run --rootfs /rootfs --hostname g1 -- sh -c 'echo $$ $(hostname)')" "1 g1"

cella run --rootfs /rootfs --name lim --memory 16m --pids 20 --cpus 0.5 --cpu-weight 100 -- \
    sh -c 'cat /proc/self/cgroup > /tmp/cg; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max > /tmp/view; (echo 5 > /sys/fs/cgroup/pids.max) 2>> /tmp/view; touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.1; done' &
while [ ! -e /rootfs/tmp/ready ]; do sleep 0.1; done
check memory.max "$(cat /sys/fs/cgroup/cella/ctr-lim/memory.max)" 16777216
check pids.max "$(cat /sys/fs/cgroup/cella/ctr-lim/pids.max)" 20
check cpu.max "$(cat /sys/fs/cgroup/cella/ctr-lim/cpu.max)" "50000 100000"
check cpu.weight "$(cat /sys/fs/cgroup/cella/ctr-lim/cpu.weight)" 100
first=$(head -n1 /sys/fs/cgroup/cella/ctr-lim/cgroup.procs)
check born-in-cgroup "$(cat /proc/$first/cgroup)" "0::/cella/ctr-lim"
touch /rootfs/tmp/go
wait $!
check run-rc $? 0
check cgroup-namespace "$(cat /rootfs/tmp/cg)" "0::/"
check cgroup-view "$(cat /rootfs/tmp/view | tr '\n' ' ')" "16777216 20 sh: can't create /sys/fs/cgroup/pids.max: Read-only file system "
check cgroup-removed "$(ls /sys/fs/cgroup/cella | grep -c ctr-)" 0
rm -f /rootfs/tmp/go /rootfs/tmp/ready /rootfs/tmp/view

cella run --rootfs /rootfs --name bomb --pids 20 -- \
    sh -c 'touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.1; done; b() { b | b & }; b; sleep 30' 2>/dev/null &
bomb=$!
while [ ! -e /rootfs/tmp/ready ]; do sleep 0.1; done
check bomb-limit-first "$(cat /sys/fs/cgroup/cella/ctr-bomb/pids.max)" 20
touch /rootfs/tmp/go
peak=0
for i in $(seq 60); do
    c=$(cat /sys/fs/cgroup/cella/ctr-bomb/pids.current)
    [ "$c" -gt "$peak" ] && peak=$c
    sleep 0.05
done
if [ "$peak" -ge 15 ] && [ "$peak" -le 20 ]; then echo "CHECK bomb-contained ok (peak $peak)"; else echo "CHECK bomb-contained FAIL: peak $peak"; fi
kill -9 $(cat /sys/fs/cgroup/cella/ctr-bomb/cgroup.procs) 2>/dev/null
wait $bomb
check bomb-rc $? 137
check bomb-cgroup-removed "$(ls /sys/fs/cgroup/cella | grep -c ctr-)" 0

out=$(cella run --rootfs /rootfs --memory 16m -- /bin/probe hog 64 2>&1)
check oom-rc $? 137
case "$out" in *"memory limit (16m)"*) echo "CHECK oom-message ok";; *) echo "CHECK oom-message FAIL: $out";; esac
check still-up "$(cella run --rootfs /rootfs -- echo alive)" alive

cella run --rootfs /rootfs --memory 256k /bin/true
check memory-floor-256k $? 0
cella run --rootfs /rootfs --pids 1 /bin/true
check pids-1 $? 0

check clone-fallback "$(/rootfs/bin/probe no-clone3 cella run --rootfs /rootfs -- sh -c 'echo $$' 2>/dev/null)" 1
cella run --rootfs /rootfs --init -- sh -c 'kill -TERM $$'
check init-signal-status $? 143
check initramfs-escape "$(cella run --rootfs /rootfs -- /bin/probe escape /initramfs-marker | cut -c1-9)" CONTAINED
check initramfs-host-root "$(cella run --memory 4m -- /bin/busybox echo hi)" hi
# cella run: docker's device rules, as cella's eBPF program on cgroup v2.
# Container root keeps CAP_MKNOD; the kernel log (1:11) and a disk node
# (1:0 here, the guest has no disk) must not open: EPERM, where a missing
# disk would give ENXIO and an allowed kmsg would take the line.
attack='mknod /dev/k c 1 11 && echo "<1>guest-kmsg-attack" > /dev/k; mknod /dev/b b 1 0 && head -c1 /dev/b'
check run-device-rules "$(cella run --rootfs /rootfs -- sh -c "$attack" 2>&1 | grep -c 'Operation not permitted')" 2
check run-device-read-only "$(cella run --rootfs /rootfs --read-only -- sh -c "$attack" 2>&1 | grep -c 'Operation not permitted')" 2
check run-device-host-root "$(cella run -- /bin/busybox sh -c "$attack" 2>&1 | grep -c 'Operation not permitted')" 2
check run-device-kmsg-log "$(dmesg | grep -c guest-kmsg-attack)" 0
check run-device-privileged "$(cella run --rootfs /rootfs --privileged -- sh -c 'mknod /dev/k c 1 11 && echo "<6>guest-privileged" > /dev/k && echo written' 2>&1)" written
out=$(cella run --rootfs /rootfs --device /dev/kmsg:/dev/xkmsg:w -- sh -c 'echo "<6>guest-device-option" > /dev/xkmsg && echo written; head -c1 /dev/xkmsg' 2>&1)
case "$out" in written*"Operation not permitted"*) echo "CHECK run-device-option ok";; *) echo "CHECK run-device-option FAIL: $out";; esac
# OCI: a bundle from `cella spec` on the same rootfs. On cgroup v2 its
# device rules (deny all, then the defaults) become cella's eBPF program:
# a disk node made inside cannot be opened; without the rules it can
# (ENXIO: the guest has no disk).
mkdir -p /b && ln -s /rootfs /b/rootfs && cella spec --bundle /b
sed -i 's|"args": \["sh"\]|"args": ["sh", "-c", "mknod /dev/sda b 8 0; head -c1 /dev/sda 2>\&1; echo x > /dev/null \&\& echo null-ok"]|; s|"CAP_AUDIT_WRITE",|"CAP_AUDIT_WRITE", "CAP_MKNOD",|g' /b/config.json
out=$(cella run --bundle /b oci1 2>&1)
case "$out" in *"Operation not permitted"*null-ok*) echo "CHECK oci-device-filter ok";; *) echo "CHECK oci-device-filter FAIL: $out";; esac
sed -i '/"resources"/d' /b/config.json
out=$(cella run --bundle /b oci2 2>&1)
case "$out" in *"not permitted"*) echo "CHECK oci-device-control FAIL: $out";; *null-ok*) echo "CHECK oci-device-control ok";; *) echo "CHECK oci-device-control FAIL: $out";; esac
check oci-cgroups-removed "$(ls /sys/fs/cgroup | grep -c oci)" 0
echo "GUEST DONE"
sync
poweroff -f
"#;

const CHECKS: usize = 37;

fn initramfs(arch: &Arch) -> Vec<u8> {
    let (cella, probe) = guest::build_for(arch);
    let busybox = std::fs::read(guest::busybox(arch)).unwrap();
    let mut cpio = Cpio::default();
    guest::add_busybox_root(&mut cpio, "", &busybox, APPLETS);
    cpio.char_dev("dev/console", 5, 1);
    let mut load = String::new();
    cpio.dir("lib");
    cpio.dir("lib/modules");
    // crc32c_generic: libcrc32c's (erofs's) soft dependency, which nothing
    // would load on demand (no modprobe here).
    let wanted = ["crc32c_generic", "loop", "erofs", "overlay"];
    for (name, body) in guest::modules(arch, &wanted) {
        cpio.file(&format!("lib/modules/{name}"), &body, false);
        load.push_str(&format!("insmod /lib/modules/{name}\n"));
    }
    cpio.file("init", SCRIPT.replace("#MODULES#", &load).as_bytes(), true);
    let probe_bytes = std::fs::read(&probe).unwrap();
    cpio.file(
        "img.erofs",
        &erofs_image(arch, &busybox, &probe_bytes),
        false,
    );
    cpio.file("bin/cella", &std::fs::read(cella).unwrap(), true);
    cpio.file("initramfs-marker", b"only in the initramfs\n", false);
    guest::add_busybox_root(&mut cpio, "/rootfs", &busybox, APPLETS);
    cpio.file("rootfs/bin/probe", &std::fs::read(probe).unwrap(), true);
    cpio.finish()
}

/// An erofs image of a busybox rootfs (and the probe) for `arch`, made here with
/// mkfs.erofs (erofs-utils).
fn erofs_image(arch: &Arch, busybox: &[u8], probe: &[u8]) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "guest-erofs-{}-{}",
        arch.deb_arch,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("root");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for (name, body) in [("busybox", busybox), ("probe", probe)] {
        std::fs::write(root.join("bin").join(name), body).unwrap();
        std::fs::set_permissions(
            root.join("bin").join(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("version"), "erofs\n").unwrap();
    let image = dir.join("img.erofs");
    let status = std::process::Command::new("mkfs.erofs")
        .arg("--quiet")
        .arg(&image)
        .arg(&root)
        .status()
        .expect("mkfs.erofs (.ci/run installs erofs-utils)");
    assert!(status.success());
    let bytes = std::fs::read(&image).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

fn guest_checks(arch: &Arch) {
    support::require_root();
    let console = guest::boot(arch, &initramfs(arch), Duration::from_secs(600));
    let checks: Vec<&str> = console
        .lines()
        .filter(|l| l.starts_with("CHECK "))
        .collect();
    let failed: Vec<&&str> = checks.iter().filter(|l| !l.contains(" ok")).collect();
    assert!(
        failed.is_empty(),
        "{} guest: {failed:#?}\n{console}",
        arch.deb_arch
    );
    assert_eq!(
        checks.len(),
        CHECKS,
        "{} guest ran {} checks:\n{console}",
        arch.deb_arch,
        checks.len()
    );
    assert!(console.contains("GUEST DONE"), "{console}");
}

#[test]
fn cgroup_v2_and_initramfs_root_on_x86_64() {
    guest_checks(&guest::X86_64);
}

#[test]
fn cgroup_v2_and_initramfs_root_on_aarch64() {
    guest_checks(&guest::AARCH64);
}

#[test]
fn cgroup_v2_and_initramfs_root_on_armv7() {
    if !guest::armv7_buildable() {
        return;
    }
    guest_checks(&guest::ARMV7);
}
