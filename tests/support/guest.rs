//! Booting real kernels under QEMU with a test initramfs: Debian's kernel
//! and busybox-static for the guest architecture (downloaded with apt and
//! cached under the target directory), a newc cpio written here, and the
//! serial console captured until the guest powers off.
//!
//! The build hosts' cgroups are v1; these guests are where cgroup v2 runs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Arch {
    pub rust_target: &'static str,
    pub deb_arch: &'static str,
    kernel_flavour: &'static str,
    qemu: &'static str,
    machine: &'static str,
    cpu: Option<&'static str>,
    console: &'static str,
}

pub const X86_64: Arch = Arch {
    rust_target: "x86_64-unknown-linux-musl",
    deb_arch: "amd64",
    kernel_flavour: "amd64",
    qemu: "qemu-system-x86_64",
    machine: "pc",
    cpu: None,
    console: "ttyS0",
};

pub const AARCH64: Arch = Arch {
    rust_target: "aarch64-unknown-linux-musl",
    deb_arch: "arm64",
    kernel_flavour: "arm64",
    qemu: "qemu-system-aarch64",
    machine: "virt",
    cpu: Some("cortex-a57"),
    console: "ttyAMA0",
};

/// 32-bit ARM. rustup ships no std for armv7-unknown-linux-musleabihf on
/// this toolchain, so it is built by `size-report/build-armv7.sh` (nightly
/// `-Zbuild-std` against Debian's musl for armhf).
pub const ARMV7: Arch = Arch {
    rust_target: "armv7-unknown-linux-musleabihf",
    deb_arch: "armhf",
    kernel_flavour: "armmp",
    qemu: "qemu-system-arm",
    machine: "virt,highmem=off",
    cpu: Some("cortex-a15"),
    console: "ttyAMA0",
};

/// armv7 is built with nightly -Zbuild-std (no rustup std for it here);
/// without nightly, say so and skip.
pub fn armv7_buildable() -> bool {
    let toolchains = Command::new("rustup").args(["toolchain", "list"]).output();
    let ok = toolchains.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("nightly"));
    if !ok {
        eprintln!("SKIP: the armv7 guest needs a nightly toolchain with rust-src to build cella");
    }
    ok
}

fn cache() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest-cache");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `apt-get download PKG:ARCH` into the cache once, unpacked; returns the dir.
fn debian_package(name: &str, arch: &str) -> PathBuf {
    let dir = cache().join(format!("{name}_{arch}"));
    if dir.join(".done").exists() {
        return dir;
    }
    let dl = cache().join(format!("dl-{name}-{arch}"));
    let _ = std::fs::remove_dir_all(&dl);
    std::fs::create_dir_all(&dl).unwrap();
    // apt's sandbox user must be able to write there.
    run(Command::new("chmod").args(["777", dl.to_str().unwrap()]));
    run(Command::new("apt-get").current_dir(&dl).args([
        "download",
        "-qq",
        &format!("{name}:{arch}"),
    ]));
    let deb = std::fs::read_dir(&dl)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let _ = std::fs::remove_dir_all(&dir);
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir));
    std::fs::remove_dir_all(&dl).unwrap();
    std::fs::write(dir.join(".done"), "").unwrap();
    dir
}

/// The current Debian kernel image for `arch`.
pub fn kernel(arch: &Arch) -> PathBuf {
    let meta = format!("linux-image-{}:{}", arch.kernel_flavour, arch.deb_arch);
    let deps = run(Command::new("apt-cache").args(["depends", &meta]));
    let pkg = deps
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: "))
        .map(|p| p.split(':').next().unwrap().trim().to_owned())
        .unwrap_or_else(|| {
            panic!(
                "no kernel package behind {meta}: is dpkg architecture {} added?",
                arch.deb_arch
            )
        });
    let dir = debian_package(&pkg, arch.deb_arch);
    std::fs::read_dir(dir.join("boot"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("vmlinuz-")
        })
        .expect("vmlinuz in the kernel package")
}

/// Kernel modules `names` of `arch`'s kernel and every module they depend
/// on (each module's `.modinfo` `depends=`), dependencies first: the order
/// `insmod` or `cella init`'s `module` lines must load them. Each is
/// (file name, contents).
pub fn modules(arch: &Arch, names: &[&str]) -> Vec<(String, Vec<u8>)> {
    let package = kernel(arch).parent().unwrap().parent().unwrap().to_owned();
    let mut files = std::collections::HashMap::new();
    let mut dirs = vec![package.join("lib/modules")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Some(name) = path
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .strip_suffix(".ko")
            {
                files.insert(name.replace('-', "_"), path);
            }
        }
    }
    fn visit(
        name: &str,
        files: &std::collections::HashMap<String, PathBuf>,
        out: &mut Vec<(String, Vec<u8>)>,
    ) {
        if out.iter().any(|(n, _)| n == &format!("{name}.ko")) {
            return;
        }
        let path = files
            .get(name)
            .unwrap_or_else(|| panic!("module {name} is not in the kernel package"));
        let body = std::fs::read(path).unwrap();
        let depends = body
            .windows(8)
            .position(|w| w == b"depends=")
            .map(|at| {
                let rest = &body[at + 8..];
                let end = rest.iter().position(|b| *b == 0).unwrap();
                String::from_utf8_lossy(&rest[..end]).into_owned()
            })
            .unwrap_or_default();
        for dep in depends.split(',').filter(|d| !d.is_empty()) {
            visit(&dep.replace('-', "_"), files, out);
        }
        out.push((format!("{name}.ko"), body));
    }
    let mut out = Vec::new();
    for name in names {
        visit(name, &files, &mut out);
    }
    out
}

pub fn busybox(arch: &Arch) -> PathBuf {
    debian_package("busybox-static", arch.deb_arch).join("bin/busybox")
}

/// Build the release cella and the probe for `arch` (its own target dir, so
/// the test's cargo lock is not needed).
pub fn build_for(arch: &Arch) -> (PathBuf, PathBuf) {
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest-build");
    if arch.deb_arch == "armhf" {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("size-report/build-armv7.sh");
        // Cargo's variables for this test would pin the nested build to stable.
        run(Command::new(script)
            .arg(&target_dir)
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("RUSTC"));
        let out = target_dir.join(arch.rust_target).join("release");
        return (out.join("cella"), out.join("examples/probe"));
    }
    run(Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--quiet",
            "--release",
            "--bin",
            "cella",
            "--example",
            "probe",
            "--target",
        ])
        .arg(arch.rust_target)
        .arg("--target-dir")
        .arg(&target_dir));
    let out = target_dir.join(arch.rust_target).join("release");
    (out.join("cella"), out.join("examples/probe"))
}

/// A newc ("070701") cpio archive, the format the kernel unpacks as initramfs.
#[derive(Default)]
pub struct Cpio {
    data: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, body: &[u8], rdev: (u32, u32)) {
        self.ino += 1;
        let name = name.trim_start_matches('/');
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            body.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.data.extend_from_slice(header.as_bytes());
        self.data.extend_from_slice(name.as_bytes());
        self.data.push(0);
        self.pad();
        self.data.extend_from_slice(body);
        self.pad();
    }
    fn pad(&mut self) {
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
    }
    pub fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, &[], (0, 0));
    }
    pub fn file(&mut self, name: &str, body: &[u8], exec: bool) {
        self.entry(name, if exec { 0o100755 } else { 0o100644 }, body, (0, 0));
    }
    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120777, target.as_bytes(), (0, 0));
    }
    pub fn char_dev(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, 0o020600, &[], (major, minor));
    }
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        self.data
    }
}

/// A busybox rootfs at `prefix` inside the archive (applets as symlinks).
pub fn add_busybox_root(cpio: &mut Cpio, prefix: &str, busybox: &[u8], applets: &[&str]) {
    for d in [
        "", "/bin", "/proc", "/sys", "/dev", "/tmp", "/etc", "/root", "/run", "/mnt",
    ] {
        cpio.dir(&format!("{prefix}{d}"));
    }
    cpio.file(&format!("{prefix}/bin/busybox"), busybox, true);
    for a in applets {
        cpio.symlink(&format!("{prefix}/bin/{a}"), "busybox");
    }
}

/// Boot `arch` with `initramfs`; return the console output once the guest
/// powers off (QEMU exits), or panic after `limit`.
pub fn boot(arch: &Arch, initramfs: &[u8], limit: Duration) -> String {
    boot_with(arch, initramfs, "", limit, None)
}

/// [`boot`] with devices: extra QEMU arguments (`-netdev`, `-device`).
pub fn boot_with_devices(
    arch: &Arch,
    initramfs: &[u8],
    qemu_args: &[String],
    limit: Duration,
) -> String {
    boot_machine(arch, initramfs, "", qemu_args, limit, None)
}

/// Something the test does to a running guest.
pub enum Act<'a> {
    /// A QEMU human-monitor command (`sendkey ctrl-alt-delete`).
    Monitor(&'a str),
    /// Text typed on the serial console.
    Type(&'a str),
}

/// [`boot`] with extra kernel command line words, and optionally a QEMU
/// monitor command (`sendkey ctrl-alt-delete`, say) sent once a console line
/// contains the trigger text.
pub fn boot_with(
    arch: &Arch,
    initramfs: &[u8],
    append: &str,
    limit: Duration,
    on_line: Option<(&str, Act<'_>)>,
) -> String {
    boot_machine(arch, initramfs, append, &[], limit, on_line)
}

fn boot_machine(
    arch: &Arch,
    initramfs: &[u8],
    append: &str,
    qemu_args: &[String],
    limit: Duration,
    on_line: Option<(&str, Act<'_>)>,
) -> String {
    // Unique per boot: tests of one binary boot in parallel.
    static BOOTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = BOOTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tag = format!("{}-{}-{n}", arch.deb_arch, std::process::id());
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let initrd = tmp.join(format!("initramfs-{tag}.cpio"));
    // A socket's path is at most 107 bytes (sun_path): not under the
    // target directory, which a CI checkout can put deep.
    let monitor = std::env::temp_dir().join(format!("cella-monitor-{tag}.sock"));
    let _ = std::fs::remove_file(&monitor);
    std::fs::write(&initrd, initramfs).unwrap();
    let mut cmd = Command::new(arch.qemu);
    cmd.args([
        "-M",
        arch.machine,
        "-m",
        "512",
        "-smp",
        "1",
        "-nodefaults",
        "-no-user-config",
    ])
    .args([
        "-display",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-accel",
        "tcg",
        "-monitor",
    ])
    .arg(format!("unix:{},server=on,wait=off", monitor.display()))
    .arg("-kernel")
    .arg(kernel(arch))
    .arg("-initrd")
    .arg(&initrd)
    .arg("-append")
    .arg(format!(
        "console={} panic=-1 rdinit=/init quiet {append}",
        arch.console
    ));
    if let Some(cpu) = arch.cpu {
        cmd.args(["-cpu", cpu]);
    }
    cmd.args(qemu_args);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (.ci/run installs QEMU)", arch.qemu));
    let stdout = child.stdout.take().unwrap();
    let mut console_in = child.stdin.take().unwrap();
    let trigger = on_line.map(|(t, act)| match act {
        Act::Monitor(c) => (t.to_owned(), true, c.to_owned()),
        Act::Type(c) => (t.to_owned(), false, c.to_owned()),
    });
    let monitor_path = monitor.clone();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut out = String::new();
        let mut pending = trigger;
        for line in std::io::BufReader::new(stdout).split(b'\n') {
            let line = String::from_utf8_lossy(&line.unwrap_or_default()).into_owned();
            if let Some((_, to_monitor, c)) = pending
                .as_ref()
                .filter(|(t, _, _)| line.contains(t.as_str()))
            {
                if *to_monitor {
                    monitor_command(&monitor_path, c);
                } else {
                    use std::io::Write;
                    let _ = console_in.write_all(c.as_bytes());
                }
                pending = None;
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let out = reader.join().unwrap();
            panic!(
                "{} guest did not power off within {limit:?}:\n{out}",
                arch.deb_arch
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap();
    let _ = std::fs::remove_file(&initrd);
    let _ = std::fs::remove_file(&monitor);
    assert!(status.success(), "qemu failed: {status:?}\n{out}");
    out
}

/// Send one command to QEMU's human monitor.
fn monitor_command(socket: &Path, command: &str) {
    use std::io::Write;
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("QEMU monitor socket");
    stream.write_all(format!("{command}\n").as_bytes()).unwrap();
    // Give QEMU time to read it before the socket closes.
    std::thread::sleep(Duration::from_millis(300));
}
