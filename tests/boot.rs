//! cella as `/init`: Debian's kernel boots under QEMU (x86_64, aarch64,
//! armv7) into an initramfs holding only cella, its configuration and a
//! busybox container rootfs. From the console: each container's hostname and
//! PID 1, isolation from the initramfs, cgroup v2 limits really enforced (a
//! fork bomb under pids.max, a memory hog OOM-killed with 137 while the
//! machine stays up), a restart policy, and a clean power-off once the
//! containers have ended. Also the boot-to-container time.

mod support;

use std::time::Duration;
use support::guest::{self, Arch, Cpio};

const APPLETS: &[&str] = &[
    "sh", "mount", "cat", "echo", "sleep", "ls", "grep", "head", "cut", "kill", "hostname", "true",
    "false", "test", "[", "mknod",
];

const CONFIG: &str = r#"# cella's own test machine
hostname guest
grace 2

[container hello]
rootfs /rootfs
command sh -c 'echo "pid=$$ host=$(hostname) uptime=$(cut -d" " -f1 /proc/uptime)"; /bin/probe escape /initramfs-marker'

[container bomb]
rootfs /rootfs
pids 20
# To mount its cgroup and read pids.max from inside (refused by default).
# While the bomb holds every pid, the shell waits with builtins only: a
# fork of its own (sleep) would fail and end it.
cap-add SYS_ADMIN
command sh -c 'mount -t cgroup2 none /mnt; echo "pids.max=$(cat /mnt/pids.max)"; (b() { b | b & }; b) 2>/dev/null; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; kill -9 -1; sleep 1; echo "after the bomb: $(cat /mnt/pids.events)"'

[container hog]
rootfs /rootfs
memory 16m
command /bin/probe hog 64

[container flaky]
rootfs /rootfs
restart on-failure
command sh -c 'n=$(cat /flaky 2>/dev/null || echo 0); n=$((n+1)); echo $n > /flaky; echo "attempt $n"; [ $n -ge 2 ]'

[container devices]
rootfs /rootfs
# Container root keeps CAP_MKNOD: the kernel log and a disk must not open.
command sh -c 'mknod /dev/k c 1 11 && echo "<1>kmsg-from-a-container" > /dev/k; mknod /dev/b b 1 0 && head -c1 /dev/b; echo devices done'

[container hostroot]
# No rootfs: the initramfs's own root, read-only, which has no /tmp.
command sh -c 'read l < /initramfs-marker; echo "host root: $l"; [ -d /tmp ] || echo "no /tmp"'

[container after]
rootfs /rootfs
command echo still up
"#;

/// Selected with `cella.conf=` on the kernel command line: containers that
/// run until the machine is told to stop.
const LONG_CONFIG: &str = r#"grace 2

[container server]
rootfs /rootfs
init yes
command sh -c 'echo ready; exec sleep 1000'

[container stubborn]
rootfs /rootfs
restart always
command sleep 1000
"#;

/// Selected with `cella.conf=`: a container sharing the machine's PID
/// namespace sends SIGTERM to PID 1, as an administrator's `kill 1` would.
const TERM_CONFIG: &str = r#"grace 2

[container server]
rootfs /rootfs
init yes
command sh -c 'echo ready; exec sleep 1000'

[container stopper]
rootfs /rootfs
pid host
command sh -c 'sleep 3; echo "SIGTERM to PID 1 ($(cat /proc/1/comm))"; kill -TERM 1'
"#;

fn initramfs(arch: &Arch) -> Vec<u8> {
    let (cella, probe) = guest::build_for(arch);
    let busybox = std::fs::read(guest::busybox(arch)).unwrap();
    let mut cpio = Cpio::default();
    for d in ["dev", "proc", "sys", "run", "etc", "etc/cella"] {
        cpio.dir(d);
    }
    cpio.char_dev("dev/console", 5, 1);
    cpio.file("init", &std::fs::read(cella).unwrap(), true);
    cpio.file("etc/cella/init.conf", CONFIG.as_bytes(), false);
    cpio.file("etc/cella/long.conf", LONG_CONFIG.as_bytes(), false);
    cpio.file("etc/cella/term.conf", TERM_CONFIG.as_bytes(), false);
    // A shell for the emergency test: busybox at /bin of the initramfs.
    cpio.dir("bin");
    cpio.file("bin/busybox", &busybox, true);
    cpio.symlink("bin/sh", "busybox");
    cpio.file("initramfs-marker", b"only in the initramfs\n", false);
    guest::add_busybox_root(&mut cpio, "/rootfs", &busybox, APPLETS);
    cpio.file("rootfs/bin/probe", &std::fs::read(probe).unwrap(), true);
    cpio.finish()
}

fn boot_and_check(arch: &Arch) {
    support::require_root();
    let console = guest::boot(arch, &initramfs(arch), Duration::from_secs(600));
    let has = |needle: &str| console.lines().any(|l| l.contains(needle));
    let line = |prefix: &str| {
        console
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or("")
            .to_owned()
    };
    let hello = line("[hello] pid=");
    assert!(
        hello.starts_with("[hello] pid=1 host=hello uptime="),
        "{console}"
    );
    assert!(
        line("[hello] ").contains("CONTAINED") || has("[hello] CONTAINED"),
        "{console}"
    );
    assert!(!has("ESCAPED"), "{console}");
    assert!(has("[bomb] pids.max=20"), "{console}");
    let after_bomb = line("[bomb] after the bomb: ");
    let refused: u64 = after_bomb
        .rsplit(' ')
        .next()
        .unwrap_or("")
        .parse()
        .unwrap_or(0);
    assert!(refused > 0, "the bomb must have hit pids.max: {console}");
    assert!(has("cella: hog: killed by the OOM killer"), "{console}");
    assert!(has("cella: hog: exited with status 137"), "{console}");
    assert!(!has("[hog] SURVIVED"), "{console}");
    assert!(
        has("[flaky] attempt 1")
            && has("cella: flaky: restarting in 1s")
            && has("[flaky] attempt 2"),
        "{console}"
    );
    // Device rules under cella init on cgroup v2 (its eBPF program).
    let refused = console
        .lines()
        .filter(|l| l.starts_with("[devices] ") && l.ends_with("Operation not permitted"))
        .count();
    assert_eq!(refused, 2, "{console}");
    assert!(has("[devices] devices done"), "{console}");
    assert!(
        !has("kmsg-from-a-container"),
        "a container wrote the kernel log: {console}"
    );
    // A container on an initramfs's root, which has no /tmp (issue 12).
    assert!(
        has("[hostroot] host root: only in the initramfs"),
        "{console}"
    );
    assert!(has("[hostroot] no /tmp"), "{console}");
    assert!(has("[after] still up"), "{console}");
    assert!(has("cella: powering off"), "{console}");
    assert!(!has("Kernel panic"), "{console}");
    // The figure the README reports.
    let uptime = hello.rsplit('=').next().unwrap_or("?");
    eprintln!(
        "{}: boot to first container output: {uptime} s (TCG emulation)",
        arch.deb_arch
    );
    if std::env::var_os("CELLA_SHOW_CONSOLE").is_some() {
        eprintln!("{console}");
    }
}

/// SIGTERM to PID 1 stops the containers (the --init payload takes SIGTERM,
/// 143) and powers the machine off.
fn sigterm_and_check(arch: &Arch) {
    support::require_root();
    let console = guest::boot_with(
        arch,
        &initramfs(arch),
        "cella.conf=/etc/cella/term.conf",
        Duration::from_secs(600),
        None,
    );
    let has = |needle: &str| console.lines().any(|l| l.contains(needle));
    assert!(has("[server] ready"), "{console}");
    assert!(has("[stopper] SIGTERM to PID 1 (init)"), "{console}");
    assert!(has("cella: stopping the containers"), "{console}");
    assert!(has("cella: server: exited with status 143"), "{console}");
    assert!(
        has("cella: powering off") && !has("Kernel panic"),
        "{console}"
    );
}

#[test]
fn cella_as_init_on_x86_64() {
    boot_and_check(&guest::X86_64);
    sigterm_and_check(&guest::X86_64);
}

#[test]
fn cella_as_init_on_aarch64() {
    boot_and_check(&guest::AARCH64);
    sigterm_and_check(&guest::AARCH64);
}

#[test]
fn cella_as_init_on_armv7() {
    if !guest::armv7_buildable() {
        return;
    }
    boot_and_check(&guest::ARMV7);
    sigterm_and_check(&guest::ARMV7);
}

#[test]
fn ctrl_alt_del_stops_the_containers_and_powers_off() {
    support::require_root();
    let arch = &guest::X86_64;
    // The PC keyboard turns ctrl-alt-del into SIGINT for PID 1 (cella turns
    // the kernel's own reboot off). The configuration is chosen on the
    // kernel command line.
    let console = guest::boot_with(
        arch,
        &initramfs(arch),
        "cella.conf=/etc/cella/long.conf",
        Duration::from_secs(300),
        Some((
            "[server] ready",
            guest::Act::Monitor("sendkey ctrl-alt-delete"),
        )),
    );
    let has = |needle: &str| console.lines().any(|l| l.contains(needle));
    assert!(has("cella: stopping the containers"), "{console}");
    assert!(
        has("cella: server: exited with status 143"),
        "SIGTERM reached the payload: {console}"
    );
    assert!(
        has("cella: stubborn: exited with status 137"),
        "SIGKILL after the grace period: {console}"
    );
    assert!(!has("restarting"), "{console}");
    assert!(
        has("cella: powering off") && !has("Kernel panic"),
        "{console}"
    );
}

#[test]
fn bad_configuration_gives_the_emergency_shell_then_powers_off() {
    support::require_root();
    let arch = &guest::X86_64;
    // The shell gets the console: the test types a command and `exit`.
    let console = guest::boot_with(
        arch,
        &initramfs(arch),
        "cella.conf=/etc/cella/missing.conf cella.emergency=/bin/sh",
        Duration::from_secs(300),
        Some((
            "starting emergency shell",
            guest::Act::Type("echo in the shell $$\nexit\n"),
        )),
    );
    let has = |needle: &str| console.lines().any(|l| l.contains(needle));
    assert!(
        has("cella: /etc/cella/missing.conf: No such file or directory"),
        "{console}"
    );
    assert!(has("cella: starting emergency shell /bin/sh"), "{console}");
    assert!(
        has("in the shell "),
        "the shell ran commands typed on the console: {console}"
    );
    assert!(
        has("cella: powering off") && !has("Kernel panic"),
        "{console}"
    );
    assert!(!has("started"), "{console}");
}
