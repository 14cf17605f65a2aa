//! From decoded arguments to a validated container description.
//!
//! `spec` may look at the system (it checks that the rootfs and bind sources
//! exist, reads cella's own environment for `-e K`, draws a random name) but
//! never changes it. Every string the forked child needs (argv, envp, the
//! candidate paths of the command, hostname bytes) is built here, before the
//! clone, so the child never allocates or parses.

use crate::cgroup::devices::{self, DeviceRule};
use crate::cli::{Net, RunArgs};
use crate::error::{Ctx, Error, Result, Step};
use crate::mount::{DeviceNode, Filesystem, MountOp};
use crate::process::{Exec, Payload};
use crate::sys::CStrArray;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

mod root;
mod security;

pub use root::Root;
#[cfg(feature = "image")]
use root::from_image;
use root::{command_in_rootfs, no_symlinked_specials, root_at};
use security::security;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything `container::run` needs, validated.
#[derive(Debug)]
pub struct Spec {
    pub name: String,
    pub hostname: String,
    pub root: Root,
    pub net: Net,
    pub pid_host: bool,
    pub limits: Limits,
    /// Its mounts and device nodes, as docker gives them.
    pub filesystem: Filesystem,
    /// The device cgroup's rules: docker's defaults plus `--device`; empty
    /// with `--privileged` (every device).
    pub device_rules: Vec<DeviceRule>,
    pub payload: Payload,
    /// `-d`: a supervisor of its own runs it; `cella run` returns at once.
    pub detach: bool,
    /// `-i`: the caller's stdin reaches the payload (else `/dev/null`).
    pub interactive: bool,
    /// `--rm`: a detached container's record goes with it.
    pub remove: bool,
    /// The options it was run with, as typed (recorded, for `exec`).
    pub options: Vec<String>,
    /// Started by an unprivileged user: the user namespace's maps.
    pub rootless: Option<crate::rootless::Maps>,
    /// Its name resolution files (name in its state directory, text),
    /// bound in at `/etc` (see [`crate::net::files`]).
    pub net_files: Vec<crate::store::File>,
    /// What the user should know, printed by `main` (one line each).
    pub warnings: Vec<String>,
    /// What cella did besides (a bridge made), printed by `main`.
    pub notes: Vec<String>,
    /// `--net bridge`: the bridge and the address leased on it.
    #[cfg(feature = "net")]
    pub network: Option<crate::net::bridge::Attachment>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Limits {
    pub memory: Option<u64>,
    /// Memory plus swap; -1: no swap limit.
    pub memory_swap: Option<i64>,
    pub pids: Option<u64>,
    pub cpu_quota: Option<u64>,
    pub cpu_weight: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub io_weight: Option<u64>,
}

/// Validate `args` against the system and build the spec.
pub fn build(#[allow(unused_mut)] mut args: RunArgs) -> Result<Spec> {
    // `cella run NAME`: an imported image's root, command and defaults.
    #[cfg(feature = "image")]
    let (image_root, image_env) = match from_image(&mut args)? {
        Some((root, env)) => (Some(root), env),
        None => (None, Vec::new()),
    };
    #[cfg(not(feature = "image"))]
    let (image_root, image_env): (Option<Root>, Vec<OsString>) = (None, Vec::new());
    if args.entrypoint.is_some() && image_root.is_none() {
        return Err(Error::usage(
            "--entrypoint: needs an image (cella run [OPTIONS] IMAGE); otherwise the command is the first word after the options",
        ));
    }
    check_limits(&args)?;
    if args.detach && args.interactive && !args.tty {
        return Err(Error::usage(
            "run -d -i: a detached container's input comes through its terminal: -dit, then `cella attach NAME`",
        ));
    }
    let security = security(&args)?;
    let name = match args.name {
        Some(n) => n,
        None => generated_name()?,
    };
    let hostname = args
        .hostname
        .unwrap_or_else(|| default_hostname(&name, args.net));
    let root = match (image_root, &args.rootfs) {
        (Some(image), _) => image,
        (None, Some(given)) => root_at(
            given,
            args.overlay,
            args.overlay_upper.as_deref(),
            args.read_only,
        )?,
        (None, None) if args.overlay || args.overlay_upper.is_some() => {
            return Err(Error::usage(
                "--overlay and --overlay-upper need --rootfs (the layer below)",
            ));
        }
        (None, None) => Root {
            source: PathBuf::from("/"),
            is_host: true,
            read_only: true,
            #[cfg(feature = "image")]
            layers: None,
        },
    };
    let view = root.view(args.inside_of)?;
    if !root.is_host && args.inside_of.is_none() {
        no_symlinked_specials(&view, root.source.as_os_str())?;
    }
    let rootless = crate::rootless::active().then(crate::rootless::Maps::for_caller);
    let mut nodes: Vec<DeviceNode> = Vec::with_capacity(args.devices.len());
    for d in &args.devices {
        nodes.push(device(d)?);
    }
    // As docker's: a privileged container has every device of the host.
    // (Rootless, there are none to make: mknod is the host root's.)
    // (A `--device` at the same path wins.)
    if args.privileged && rootless.is_none() {
        let mut host = Vec::new();
        host_devices(Path::new("/dev"), "dev", &mut host);
        host.retain(|h| !nodes.iter().any(|n| n.target == h.target));
        nodes.extend(host);
    }
    let device_rules = if args.privileged {
        Vec::new()
    } else {
        let allowed: Vec<DeviceRule> = nodes
            .iter()
            .zip(&args.devices)
            .map(|(n, d)| DeviceRule {
                allow: true,
                kind: if n.kind == rustix::fs::FileType::BlockDevice {
                    b'b'
                } else {
                    b'c'
                },
                major: Some(u64::from(n.major)),
                minor: Some(u64::from(n.minor)),
                access: d.access.clone(),
            })
            .collect();
        devices::docker_default(&allowed)
    };
    if args.net != Net::Bridge
        && (args.ip.is_some()
            || args.bridge.is_some()
            || args.subnet.is_some()
            || !args.publish.is_empty())
    {
        return Err(Error::usage(
            "-p, --ip, --bridge and --subnet are for a container on a bridge (--net bridge)",
        ));
    }
    for (i, p) in args.publish.iter().enumerate() {
        if args.publish[..i].iter().any(|q| q.clashes(p)) {
            return Err(Error::usage(format!(
                "-p {}: the host's port {}/{} is given twice",
                p.shown(),
                p.host_port,
                p.proto()
            )));
        }
    }
    if args.net == Net::Bridge && rootless.is_some() {
        return Err(Error::usage(
            "--net bridge needs root (a bridge and veth pairs of the host's): run rootless with --net none or host",
        ));
    }
    // The name resolution files, bound from the state directory the record
    // will have (written once the network is known, below). On the host's
    // read-only root, only over files it has (nothing can be made there).
    let store_dir = crate::store::dir(&crate::store::default_root(), &name);
    let mut etc_binds = Vec::new();
    for file in crate::net::files::names(args.net != Net::None) {
        if !root.is_host || Path::new("/etc").join(file).is_file() {
            etc_binds.push((
                format!("etc/{file}"),
                crate::mount::cpath(&store_dir.join(file))?,
            ));
        }
    }
    let mount_args = MountArgs {
        etc_binds,
        tmpfs: &args.tmpfs,
        // Not in a read-only root (the host's, or --read-only): nothing
        // is written there.
        workdir: args.workdir.clone().filter(|_| !root.read_only),
        binds: &args.binds,
        privileged: args.privileged,
    };
    // The host's root as it is: a private /tmp where it has one (an
    // initramfs may have none, and its read-only clone cannot get one).
    let host_root = root.is_host.then(|| HostRoot {
        has_tmp: Path::new("/tmp").is_dir(),
    });
    let filesystem = filesystem(&mount_args, host_root, rootless.is_some(), nodes)?;
    // Who the payload is, from the container's own passwd and group
    // files, as docker resolves `-u` (root by default).
    let who =
        crate::users::identify_in(&view, args.user.as_deref().unwrap_or("0")).map_err(|e| {
            Error::usage(format!(
                "--user {}: {e}",
                args.user.as_deref().unwrap_or("0")
            ))
        })?;
    // docker's order: TERM for a tty, the env files, then `-e` (later
    // entries win).
    let mut env: Vec<OsString> = Vec::new();
    if args.tty {
        env.push("TERM=xterm".into());
    }
    env.extend(image_env);
    for file in &args.env_files {
        env.extend(env_file(Path::new(file))?);
    }
    env.extend(args.env.iter().cloned());
    let envp = environment(&env, &hostname, &who.home, |k| std::env::var_os(k))?;
    let candidates = candidates(&args.command[0], &envp)?;
    if !root.is_host || args.inside_of.is_some() {
        let mounted: Vec<&str> = (args.binds.iter().map(|b| b.target.as_str()))
            .chain(args.tmpfs.iter().map(|t| t.target.as_str()))
            .collect();
        command_in_rootfs(&view, &root.source, &candidates, &args.command[0], &mounted)?;
    }
    let exec = Exec {
        candidates,
        argv: cstrings(args.command)?,
        envp: cstrings(envp)?,
        workdir: args.workdir.map(cstring).transpose()?,
        init: args.init,
    };
    let payload = Payload {
        exec,
        uid: who.uid,
        gid: who.gid,
        groups: who
            .groups
            .into_iter()
            .map(rustix::process::Gid::from_raw)
            .collect(),
        umask: None,
        caps: security.caps,
        known_caps: security.known_caps,
        rlimits: security.rlimits,
        no_new_privileges: security.no_new_privs,
        oom_score_adj: security.oom_score_adj,
        seccomp: security.seccomp,
        terminal: args.tty,
        console_size: None,
    };
    let limits = Limits {
        memory: args.memory,
        memory_swap: args.memory_swap,
        pids: args.pids,
        cpu_quota: args.cpu_quota,
        cpu_weight: args.cpu_weight,
        cpu_shares: args.cpu_shares,
        cpuset_cpus: args.cpuset_cpus.clone(),
        io_weight: args.io_weight,
    };
    // Last, once everything else is checked: the bridge (made on first
    // use) and the container's address on it, then the files that name it.
    #[cfg_attr(not(feature = "net"), allow(unused_mut))]
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    #[cfg(feature = "net")]
    let network = match args.net {
        Net::Bridge => Some(crate::net::bridge::prepare(
            &crate::store::default_root(),
            &crate::net::bridge::Request {
                bridge: args
                    .bridge
                    .clone()
                    .unwrap_or_else(|| crate::net::bridge::DEFAULT_BRIDGE.to_owned()),
                subnet: args.subnet,
                address: args.ip,
                ports: args.publish.clone(),
            },
            &mut notes,
            &mut warnings,
        )?),
        _ => None,
    };
    let mode = match args.net {
        Net::None => crate::net::files::Mode::None,
        Net::Host => crate::net::files::Mode::Host,
        #[cfg(feature = "net")]
        Net::Bridge => match &network {
            Some(n) => crate::net::files::Mode::Bridge(n.address, n.gateway),
            None => crate::net::files::Mode::None,
        },
        #[cfg(not(feature = "net"))]
        Net::Bridge => crate::net::files::Mode::None,
    };
    let (net_files, file_warnings) = net_files(
        mode,
        &args.resolution,
        args.host_resolv.as_deref(),
        &name,
        &hostname,
    )?;
    warnings.extend(file_warnings);
    Ok(Spec {
        name,
        hostname,
        root,
        net: args.net,
        pid_host: args.pid_host,
        limits,
        filesystem,
        device_rules,
        payload,
        detach: args.detach,
        interactive: args.interactive,
        remove: args.remove,
        options: args
            .options
            .iter()
            .map(|o| o.to_string_lossy().into_owned())
            .collect(),
        rootless,
        net_files,
        warnings,
        notes,
        #[cfg(feature = "net")]
        network,
    })
}

impl Spec {
    /// Descriptors the spec holds (the bridge's network lock until the
    /// container is recorded, its published ports; an image's mount,
    /// `--overlay-upper`'s lock),
    /// which a fork that closes the others keeps.
    pub fn held_fds(&self) -> Vec<i32> {
        #[allow(unused_mut)]
        let mut held: Vec<i32> = Vec::new();
        #[cfg(feature = "net")]
        held.extend(self.network.iter().flat_map(|n| n.held_fds()));
        #[cfg(feature = "image")]
        held.extend(self.root.layers.iter().flat_map(|l| l.fds()));
        held
    }
}

/// The container's name resolution files and the warning they may carry,
/// from the host's files and `--dns...`/`--add-host`.
fn net_files(
    mode: crate::net::files::Mode,
    opts: &crate::net::files::Options,
    host_resolv: Option<&str>,
    name: &str,
    hostname: &str,
) -> Result<(Vec<crate::store::File>, Vec<String>)> {
    use crate::net::files;
    if mode == files::Mode::None
        && !(opts.dns.is_empty() && opts.search.is_empty() && opts.options.is_empty())
    {
        return Err(Error::usage(
            "--dns, --dns-search and --dns-option need a network: this container has none (--net none)",
        ));
    }
    if mode == files::Mode::None && opts.hosts.iter().any(|(_, addr)| addr.is_none()) {
        return Err(Error::usage(
            "--add-host NAME:host-gateway needs a network: this container has none (--net none)",
        ));
    }
    // Only the host's files the mode takes (this is every container's
    // start): its hosts with its network, its resolv.conf with a network,
    // resolved's upstream servers on a bridge.
    let read = |wanted: bool, path: &str| wanted.then(|| crate::input::system_text(path)).flatten();
    let hosts = read(mode == files::Mode::Host, "/etc/hosts");
    let resolv = host_resolv
        .map(str::to_owned)
        .or_else(|| read(mode != files::Mode::None, "/etc/resolv.conf"));
    let upstream = read(
        matches!(mode, files::Mode::Bridge(..)),
        "/run/systemd/resolve/resolv.conf",
    );
    let (made, warning) = files::make(
        mode,
        name,
        hostname,
        opts,
        &files::HostFiles {
            hosts: hosts.as_deref(),
            resolv: resolv.as_deref(),
            upstream: upstream.as_deref(),
        },
    );
    Ok((
        made.into_iter()
            .map(|(name, text)| crate::store::File {
                name,
                bytes: text.into_bytes(),
                readable: true,
            })
            .collect(),
        warning.into_iter().collect(),
    ))
}

const RDONLY: u64 = linux_raw_sys::general::MOUNT_ATTR_RDONLY as u64;
const NOSUID: u64 = linux_raw_sys::general::MOUNT_ATTR_NOSUID as u64;
const NODEV: u64 = linux_raw_sys::general::MOUNT_ATTR_NODEV as u64;
const NOEXEC: u64 = linux_raw_sys::general::MOUNT_ATTR_NOEXEC as u64;
const NO: u64 = NOSUID | NODEV | NOEXEC;

/// What of the host's root a container on it (no `--rootfs`) needs to know.
#[derive(Clone, Copy)]
struct HostRoot {
    has_tmp: bool,
}

/// What of `cella run`'s options makes its file system.
struct MountArgs<'a> {
    /// (target, source) of each name resolution file, bound read-only.
    etc_binds: Vec<(String, CString)>,
    tmpfs: &'a [crate::cli::Tmpfs],
    /// `-w`: made if missing, as docker does.
    workdir: Option<String>,
    binds: &'a [crate::cli::Bind],
    privileged: bool,
}

/// The container's file system as docker gives it, in the shape every
/// front end describes one: proc, a read-only sysfs, a small `/dev` tmpfs
/// with its pts, shm and mqueue, the container's cgroup; the host root's
/// private `/tmp`; then `--tmpfs` and `--bind` (a user's mount can shadow
/// cella's); `--device` nodes (bound from the host where mknod is refused,
/// rootless); and, unless `--privileged`, docker's read-only and masked
/// paths, with the cgroup read-only.
fn filesystem(
    args: &MountArgs<'_>,
    host_root: Option<HostRoot>,
    rootless: bool,
    devices: Vec<DeviceNode>,
) -> Result<Filesystem> {
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let mut pts = owned(&[
        ("newinstance", ""),
        ("ptmxmode", "0666"),
        ("mode", "0620"),
        ("gid", "5"),
    ]);
    // gid 5 (tty) is not mapped in a rootless user namespace.
    if rootless {
        pts.pop();
    }
    let confined = !args.privileged;
    let fs = MountOp::fs;
    let mut mounts = vec![
        fs("proc".into(), "proc", "proc", NO, Vec::new()),
        // Read-only, unless `--privileged` (docker's).
        fs(
            "sys".into(),
            "sysfs",
            "sysfs",
            if confined { RDONLY | NO } else { NO },
            Vec::new(),
        ),
        fs(
            "dev".into(),
            "tmpfs",
            "tmpfs",
            NOSUID | NOEXEC,
            owned(&[("mode", "755"), ("size", "65536k")]),
        ),
        fs("dev/pts".into(), "devpts", "devpts", NOSUID | NOEXEC, pts),
        fs(
            "dev/shm".into(),
            "tmpfs",
            "shm",
            NO,
            owned(&[("mode", "1777"), ("size", "65536k")]),
        ),
        fs("dev/mqueue".into(), "mqueue", "mqueue", NO, Vec::new()),
        crate::mount::cgroup_view("sys/fs/cgroup", confined),
    ];
    for (target, source) in &args.etc_binds {
        let mut op = MountOp::bind(
            target.clone(),
            source.clone(),
            false,
            false,
            (RDONLY | NO, 0),
        );
        op.optional = true;
        mounts.push(op);
    }
    let mut tmpfs = |target: String, t: &crate::cli::Tmpfs| {
        let mut options = vec![("mode".to_owned(), format!("{:o}", t.mode))];
        if let Some(size) = t.size {
            options.push(("size".to_owned(), size.to_string()));
        }
        mounts.push(fs(target, "tmpfs", "tmpfs", t.flags, options));
    };
    if host_root.is_some_and(|h| h.has_tmp)
        && let Some(tmp) = crate::cli::Tmpfs::at("/tmp")
    {
        tmpfs("tmp".into(), &tmp);
    }
    for t in args.tmpfs {
        tmpfs(mount_target(&t.target, "--tmpfs")?, t);
    }
    for b in args.binds {
        mounts.push(bind(b)?);
    }
    let paths = |list: &str| {
        if confined {
            list.split(' ').map(str::to_owned).collect()
        } else {
            Vec::new()
        }
    };
    Ok(Filesystem {
        mounts,
        devices,
        bind_devices: rootless,
        sysctls: Vec::new(),
        readonly_paths: paths(crate::mount::READ_ONLY_PATHS),
        masked_paths: paths(crate::mount::MASKED_PATHS),
        workdir: args.workdir.clone(),
    })
}

/// What the options ask of this machine, checked as docker checks it.
fn check_limits(args: &RunArgs) -> Result<()> {
    if let Some(swap) = args.memory_swap {
        match args.memory {
            None => {
                return Err(Error::usage(
                    "--memory-swap: needs --memory (it is memory plus swap)",
                ));
            }
            Some(m) if swap >= 0 && (swap as u64) < m => {
                return Err(Error::usage(format!(
                    "--memory-swap {swap}: must be at least --memory ({m}), or -1 for unlimited swap"
                )));
            }
            _ => {}
        }
    }
    if let Some(quota) = args.cpu_quota {
        let online = rustix::thread::sched_getaffinity(None)
            .map(|set| set.count() as u64)
            .unwrap_or(1)
            .max(1);
        if quota > online * 100_000 {
            return Err(Error::usage(format!(
                "--cpus {}.{:02}: the range is 0.01 to {online}.00, as there are {online} CPUs available",
                quota / 100_000,
                quota % 100_000 / 1000
            )));
        }
    }
    Ok(())
}

/// A docker `--env-file`: one `K=V` (or `K`, copied from cella's
/// environment) per line; blank lines and lines starting with `#` are
/// skipped; nothing is unquoted or expanded.
fn env_file(file: &Path) -> Result<Vec<OsString>> {
    let shown = || format!("--env-file {}", file.display());
    let bytes =
        crate::input::read(file, 1 << 20).map_err(|e| Error::usage(format!("--env-file: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::usage(format!("{}: not valid UTF-8", shown())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split('=').next().unwrap_or("");
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(Error::usage(format!(
                "{}:{}: expected K=V, found '{line}'",
                shown(),
                i + 1
            )));
        }
        out.push(OsString::from(line));
    }
    Ok(out)
}

/// `cella-` and 12 random hex digits.
fn generated_name() -> Result<String> {
    let mut bytes = [0u8; 6];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()).ctx(Step::Usage)?;
    let mut name = String::from("cella-");
    for b in bytes {
        for nibble in [b >> 4, b & 15] {
            name.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    Ok(name)
}

/// Every character and block device under the host's `dir` (`/dev`), as
/// nodes at `target` (`dev`) in the container: `--privileged`, as docker
/// gives them. Not the console, nor what `/dev` has of its own (pts, shm,
/// mqueue: the container's are made).
fn host_devices(dir: &Path, target: &str, out: &mut Vec<DeviceNode>) {
    use rustix::fs::FileType;
    for (name, kind) in crate::dirs::entries(dir) {
        let Some(name) = name.to_str() else {
            continue;
        };
        let (host, inside) = (dir.join(name), format!("{target}/{name}"));
        match kind {
            FileType::Directory if !crate::cli::among("pts shm mqueue fd", name) => {
                host_devices(&host, &inside, out);
            }
            FileType::CharacterDevice | FileType::BlockDevice if name != "console" => {
                if let Ok(st) = rustix::fs::stat(&host) {
                    let owner = (st.st_uid, st.st_gid);
                    out.push(node_of(host, inside, &st, owner));
                }
            }
            _ => {}
        }
    }
}

/// `--device`: the host path must be a character or block device.
fn device(d: &crate::cli::Device) -> Result<DeviceNode> {
    use rustix::fs::FileType;
    let path = std::fs::canonicalize(&d.host)
        .map_err(|e| Error::from_io(Step::MakeDevice, e).at(&*d.host))?;
    let st = rustix::fs::stat(&path).map_err(|e| Error::new(Step::MakeDevice, e).at(&*d.host))?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::CharacterDevice && kind != FileType::BlockDevice {
        return Err(Error::usage(format!(
            "--device {}: not a character or block device",
            d.host
        )));
    }
    let target = mount_target(&d.container, "--device")?;
    Ok(node_of(path, target, &st, (0, 0)))
}

/// The node a device file `host` (its `st`) is at `target` in the
/// container: its kind, numbers and mode, owned by `owner`.
fn node_of(host: PathBuf, target: String, st: &rustix::fs::Stat, owner: (u32, u32)) -> DeviceNode {
    DeviceNode {
        host,
        target,
        kind: rustix::fs::FileType::from_raw_mode(st.st_mode),
        major: rustix::fs::major(st.st_rdev),
        minor: rustix::fs::minor(st.st_rdev),
        mode: st.st_mode & 0o777,
        uid: owner.0,
        gid: owner.1,
    }
}

/// `--bind`: a recursive bind of the host path, symlinks resolved.
fn bind(b: &crate::cli::Bind) -> Result<MountOp> {
    let shown = b.source.to_string_lossy();
    let source = std::fs::canonicalize(&b.source)
        .map_err(|e| Error::from_io(Step::BindMount, e).at(&*shown))?;
    let meta = rustix::fs::stat(&source).map_err(|e| Error::new(Step::BindMount, e).at(&*shown))?;
    let is_dir =
        rustix::fs::FileType::from_raw_mode(meta.st_mode) == rustix::fs::FileType::Directory;
    // `:ro` as docker 25 gives it on kernels that can: the whole tree.
    Ok(MountOp::bind(
        mount_target(&b.target, "--bind")?,
        crate::mount::cpath(&source)?,
        is_dir,
        true,
        (0, if b.read_only { RDONLY } else { 0 }),
    ))
}

/// `/a//b/./c/../d` → `a/b/d`: a path inside the container made relative
/// to its root and cleaned as the root's `/` would (`..` never leaves it).
pub fn relative(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// [`relative`] for a mount (or device) destination, which cannot be the
/// root itself: a mount over `/` would replace the whole root.
pub fn mount_target(path: &str, what: &str) -> Result<String> {
    let target = relative(path);
    if target.is_empty() {
        return Err(Error::usage(format!(
            "{what} {path}: cannot be a mount destination (it is the container's root)"
        )));
    }
    Ok(target)
}

/// A container's hostname when `-h` gives none, as docker's: on the host's
/// network, the host's name; else the container's own name.
pub fn default_hostname(name: &str, net: Net) -> String {
    match net {
        Net::Host => rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        _ => name.to_owned(),
    }
}

/// The payload's environment: what docker gives (PATH, HOSTNAME, HOME), then
/// `-e` entries in order, a later key replacing an earlier one. `-e K` copies
/// K from cella's own environment, or sets nothing when K is unset.
fn environment(
    entries: &[OsString],
    hostname: &str,
    home: &str,
    lookup: impl Fn(&OsStr) -> Option<OsString>,
) -> Result<Vec<OsString>> {
    let mut env: Vec<OsString> = vec![
        format!("PATH={DEFAULT_PATH}").into(),
        format!("HOSTNAME={hostname}").into(),
        format!("HOME={home}").into(),
    ];
    for entry in entries {
        let bytes = entry.as_bytes();
        let full = match bytes.iter().position(|&b| b == b'=') {
            Some(_) => entry.clone(),
            None => match lookup(entry) {
                Some(v) => {
                    let mut kv = entry.clone();
                    kv.push("=");
                    kv.push(v);
                    kv
                }
                None => continue,
            },
        };
        let key_len = full.as_bytes().iter().position(|&b| b == b'=').unwrap_or(0);
        let key = &full.as_bytes()[..=key_len];
        env.retain(|e| !e.as_bytes().starts_with(key));
        env.push(full);
    }
    Ok(env)
}

/// Where to look for the command, like execvp but decided before the clone:
/// a name with a `/` is used as it is; otherwise each `$PATH` entry of the
/// container's environment, in order.
pub fn candidates(command: &OsStr, env: &[OsString]) -> Result<Vec<CString>> {
    let cmd = command.as_bytes();
    if cmd.is_empty() {
        return Err(Error::usage("run: the command is empty"));
    }
    if cmd.contains(&b'/') {
        return Ok(vec![cstring(command.to_owned())?]);
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
        .unwrap_or(DEFAULT_PATH.as_bytes());
    let mut out = Vec::new();
    for dir in path.split(|&b| b == b':').filter(|dir| !dir.is_empty()) {
        let mut full = dir.to_vec();
        full.push(b'/');
        full.extend_from_slice(cmd);
        out.push(cstring(OsString::from_vec(full))?);
    }
    Ok(out)
}

/// `strings` as an argv or envp.
pub fn cstrings(strings: Vec<OsString>) -> Result<CStrArray> {
    let mut out = Vec::with_capacity(strings.len());
    for s in strings {
        out.push(cstring(s)?);
    }
    Ok(CStrArray::new(out))
}

pub fn cstring(s: impl Into<OsString>) -> Result<CString> {
    let s: OsString = s.into();
    CString::new(s.into_vec()).map_err(|_| Error::usage("arguments must not contain NUL bytes"))
}
#[cfg(test)]
mod tests;
