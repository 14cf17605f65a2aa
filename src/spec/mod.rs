//! From decoded arguments to a validated container description.
//!
//! `spec` may look at the system (it checks that the rootfs and bind sources
//! exist, reads cella's own environment for `-e K`, draws a random name) but
//! never changes it. Every string the forked child needs (argv, envp, the
//! candidate paths of the command, hostname bytes) is built here, before the
//! clone, so the child never allocates or parses.

use crate::caps::{self, Caps};
use crate::cgroup::devices::{self, DeviceRule};
use crate::cli::{Net, RunArgs, Seccomp};
use crate::error::{Ctx, Error, Result, Step};
use crate::mount::{DeviceNode, Filesystem, MountOp};
use crate::process::{Exec, Payload};
use crate::seccomp;
use crate::sys::CStrArray;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

mod root;

pub use root::Root;
#[cfg(feature = "image")]
use root::from_image;
use root::{command_in_rootfs, no_symlinked_specials, root_at};

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

/// What the payload may do: docker's defaults unless `--privileged`,
/// `--cap-*` or `--security-opt` say otherwise.
struct Security {
    caps: Caps,
    /// Every capability the kernel knows (the bounding set is trimmed to `caps`).
    known_caps: u64,
    no_new_privs: bool,
    seccomp: Option<seccomp::Filter>,
    /// `--ulimit`s, set before the user switch.
    rlimits: Vec<(rustix::process::Resource, rustix::process::Rlimit)>,
    /// `--oom-score-adj`, as the text written to `/proc/self/oom_score_adj`.
    oom_score_adj: Option<Vec<u8>>,
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
    let hostname = args.hostname.unwrap_or_else(|| name.clone());
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
        Net::Bridge => crate::net::files::Mode::Bridge(
            network
                .as_ref()
                .map_or(std::net::Ipv4Addr::UNSPECIFIED, |n| n.address),
        ),
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
    /// container is recorded; an image's mount, `--overlay-upper`'s lock),
    /// which a fork that closes the others keeps.
    pub fn held_fds(&self) -> Vec<i32> {
        #[allow(unused_mut)]
        let mut held: Vec<i32> = Vec::new();
        #[cfg(feature = "net")]
        held.extend(self.network.iter().filter_map(|n| n.lock_fd()));
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
    // Only the host's files the mode takes (this is every container's
    // start): its hosts with its network, its resolv.conf with a network,
    // resolved's upstream servers on a bridge.
    let read = |wanted: bool, path: &str| wanted.then(|| crate::input::system_text(path)).flatten();
    let hosts = read(mode == files::Mode::Host, "/etc/hosts");
    let resolv = host_resolv
        .map(str::to_owned)
        .or_else(|| read(mode != files::Mode::None, "/etc/resolv.conf"));
    let upstream = read(
        matches!(mode, files::Mode::Bridge(_)),
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
        fs("sys".into(), "sysfs", "sysfs", RDONLY | NO, Vec::new()),
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
    let paths = |list: &[&str]| {
        if confined {
            list.iter().map(|p| (*p).to_owned()).collect()
        } else {
            Vec::new()
        }
    };
    Ok(Filesystem {
        mounts,
        devices,
        bind_devices: rootless,
        sysctls: Vec::new(),
        readonly_paths: paths(&crate::mount::READ_ONLY_PATHS),
        masked_paths: paths(&crate::mount::MASKED_PATHS),
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

/// `--security-opt seccomp=FILE`: an OCI/docker profile, read with the
/// OCI runtime's JSON decoder, and its filter flags. `cella run` has no
/// seccomp agent: a profile that notifies is refused.
#[cfg(feature = "oci")]
fn profile_file(f: &OsStr) -> Result<(seccomp::Profile, u32)> {
    let refused = |what: &str| {
        Error::usage(format!(
            "--security-opt seccomp={}: {}",
            f.to_string_lossy(),
            what.trim_start_matches("config.json: ")
        ))
    };
    let doc = crate::oci::config::read_json(std::path::Path::new(f))?;
    let s = crate::oci::config::linux_seccomp(&doc)
        .map_err(|e| refused(e.what.as_deref().unwrap_or("")))?;
    if s.listener.is_some() {
        return Err(refused(
            "linux.seccomp.listenerPath: SCMP_ACT_NOTIFY needs a seccomp agent, which cella run does not support",
        ));
    }
    Ok((s.profile, s.flags))
}

#[cfg(not(feature = "oci"))]
fn profile_file(f: &OsStr) -> Result<(seccomp::Profile, u32)> {
    Err(Error::usage(format!(
        "--security-opt seccomp={}: profile files need cella built with the oci feature",
        f.to_string_lossy()
    )))
}

/// Syscalls docker's profile allows only with a capability beyond its
/// defaults: given the capability, the filter lets them through too.
const CAP_SYSCALLS: [(&str, &str); 11] = [
    (
        "SYS_ADMIN",
        "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr move_mount name_to_handle_at open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare",
    ),
    ("SYS_BOOT", "reboot"),
    ("SYS_MODULE", "delete_module init_module finit_module"),
    ("SYS_PACCT", "acct"),
    (
        "SYS_PTRACE",
        "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
    ),
    ("SYS_RAWIO", "iopl ioperm"),
    (
        "SYS_TIME",
        "settimeofday stime clock_settime clock_settime64",
    ),
    ("SYS_TTY_CONFIG", "vhangup"),
    (
        "SYS_NICE",
        "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    ),
    ("SYSLOG", "syslog"),
    ("BPF", "bpf"),
];

/// The system calls `caps` open beyond docker's default profile.
fn cap_syscalls(caps: u64) -> Vec<String> {
    let mut names = Vec::new();
    for (cap, calls) in CAP_SYSCALLS {
        if caps::bit(cap).is_some_and(|b| caps & b != 0) {
            names.extend(calls.split(' ').map(str::to_owned));
        }
    }
    names
}

fn with_cap_rules(mut p: seccomp::Profile, caps: u64) -> seccomp::Profile {
    let names = cap_syscalls(caps);
    if !names.is_empty() {
        // First matching rule wins: these go before the argument-checked ones.
        p.rules.insert(
            0,
            seccomp::Rule {
                names,
                action: seccomp::Action::Allow,
                args: Vec::new(),
            },
        );
    }
    p
}

/// The payload's capabilities, no_new_privs, seccomp filter and /proc view.
fn security(args: &RunArgs) -> Result<Security> {
    let known = caps::all_known();
    let mut set = if args.privileged {
        known
    } else {
        caps::mask(caps::DOCKER_DEFAULT).unwrap_or(0)
    };
    let bits = |names: &[String]| -> u64 {
        names
            .iter()
            .map(|n| {
                if n.eq_ignore_ascii_case("all") {
                    known
                } else {
                    caps::bit(n).unwrap_or(0)
                }
            })
            .fold(0, |m, b| m | b)
    };
    set &= !bits(&args.cap_drop);
    set |= bits(&args.cap_add);
    // --privileged means every capability cella itself holds (a VM or an
    // outer container may have taken some away, and capset cannot add them).
    // Rootless, the payload is root of its own user namespace, with every
    // capability there.
    let held = if crate::rootless::active() {
        known
    } else {
        rustix::thread::capabilities(None).map_or(known, |c| c.permitted.bits())
    };
    set &= known & held;
    let compile = |p: seccomp::Profile| {
        seccomp::compile(&p).map_err(|e| Error::usage(format!("--security-opt seccomp: {e}")))
    };
    let program = |program| Some(seccomp::Filter { program, flags: 0 });
    let seccomp = match (&args.seccomp, args.privileged) {
        (Seccomp::Unconfined, _) | (Seccomp::Default, true) => None,
        // docker's profile as it stands comes precompiled where it can.
        (Seccomp::Default, false) => match seccomp::default_program() {
            Some(prog) if cap_syscalls(set).is_empty() => program(prog.to_vec()),
            _ => program(compile(with_cap_rules(seccomp::default_profile(), set))?),
        },
        (Seccomp::File(f), _) => {
            let (profile, flags) = profile_file(f)?;
            Some(seccomp::Filter {
                program: compile(profile)?,
                flags,
            })
        }
    };
    Ok(Security {
        caps: Caps::same(set),
        known_caps: known,
        no_new_privs: args.no_new_privileges,
        seccomp,
        rlimits: args
            .ulimits
            .iter()
            .filter_map(|(name, soft, hard)| {
                let lim = |v: u64| (v != u64::MAX).then_some(v);
                Some((
                    crate::process::rlimit_resource(name)?,
                    rustix::process::Rlimit {
                        current: lim(*soft),
                        maximum: lim(*hard),
                    },
                ))
            })
            .collect(),
        oom_score_adj: args.oom_score_adj.map(|n| n.to_string().into_bytes()),
    })
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
    Ok(DeviceNode {
        host: path,
        target: mount_target(&d.container, "--device")?,
        kind,
        major: rustix::fs::major(st.st_rdev),
        minor: rustix::fs::minor(st.st_rdev),
        mode: st.st_mode & 0o777,
        uid: 0,
        gid: 0,
    })
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
    path.split(|&b| b == b':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| {
            let mut full = dir.to_vec();
            full.push(b'/');
            full.extend_from_slice(cmd);
            cstring(OsString::from_vec(full))
        })
        .collect()
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
mod tests {
    use super::*;
    use crate::mount::{Kind, plan};

    /// The mount ops of a `cella run` with `--tmpfs /run --bind /:/srv/data:ro`.
    fn ops(host_root: bool, rootless: bool, privileged: bool) -> Vec<MountOp> {
        let binds = [crate::cli::Bind {
            source: "/".into(),
            target: "/srv/data".into(),
            read_only: true,
        }];
        let args = MountArgs {
            etc_binds: Vec::new(),
            tmpfs: &[crate::cli::Tmpfs::at("/run").unwrap()],
            workdir: None,
            binds: &binds,
            privileged,
        };
        let host = host_root.then_some(HostRoot { has_tmp: true });
        plan(filesystem(&args, host, rootless, Vec::new()).unwrap()).unwrap()
    }

    #[test]
    fn dev_comes_before_what_lives_in_it_and_user_mounts_after_cellas() {
        let ops = ops(false, false, false);
        let targets: Vec<&str> = ops.iter().map(|o| o.target.as_str()).collect();
        assert_eq!(
            targets[..10],
            [
                "proc",
                "sys",
                "dev",
                "dev/pts",
                "dev/shm",
                "dev/mqueue",
                "sys/fs/cgroup",
                "run",
                "srv/data",
                "dev"
            ]
        );
        assert_eq!(ops[9].kind, Kind::DevNodes);
        assert_eq!(
            ops[8].kind,
            Kind::Bind {
                source: c"/".to_owned(),
                is_dir: true,
                recursive: true,
                attrs: 0,
                tree_attrs: RDONLY,
            }
        );
        // docker's read-only paths, then its masked ones.
        assert_eq!(ops[10].target, "proc/bus");
        assert_eq!(ops[10].kind, Kind::ReadOnly);
        assert_eq!(ops.last().unwrap().kind, Kind::Mask);
    }

    #[test]
    fn sysfs_is_read_only_and_proc_is_noexec() {
        let ops = ops(false, false, false);
        let attrs = |i: usize| match &ops[i].kind {
            Kind::Fs { attrs, .. } => *attrs,
            _ => unreachable!(),
        };
        assert_ne!(attrs(1) & RDONLY, 0);
        assert_ne!(attrs(0) & NOEXEC, 0);
        assert_eq!(attrs(2) & NODEV, 0, "/dev must allow device nodes");
    }

    #[test]
    fn devpts_is_a_new_instance_with_the_tty_group_unless_rootless() {
        let options = |rootless: bool| match &ops(false, rootless, false)[3].kind {
            Kind::Fs {
                fstype, options, ..
            } if fstype == "devpts" => options.clone(),
            other => panic!("{other:?}"),
        };
        let root = options(false);
        assert!(root.contains(&("newinstance".into(), String::new())));
        assert!(root.contains(&("gid".into(), "5".into())));
        assert!(!options(true).iter().any(|(k, _)| k == "gid"));
    }

    #[test]
    fn host_root_gets_a_private_tmp() {
        let has_tmp = |host| {
            ops(host, false, false)
                .iter()
                .any(|o| o.target == "tmp" && o.step == Step::MountTmpfs)
        };
        assert!(has_tmp(true));
        assert!(!has_tmp(false));
        // A host root without /tmp (an initramfs, read-only): none is
        // made, rather than a mount point its read-only clone cannot get.
        let args = MountArgs {
            etc_binds: Vec::new(),
            tmpfs: &[],
            workdir: None,
            binds: &[],
            privileged: false,
        };
        let host = Some(HostRoot { has_tmp: false });
        let ops = plan(filesystem(&args, host, false, Vec::new()).unwrap()).unwrap();
        assert!(!ops.iter().any(|o| o.target == "tmp"));
    }

    #[test]
    fn privileged_sees_everything_and_may_write_its_cgroup() {
        let privileged = ops(false, false, true);
        assert!(
            !privileged
                .iter()
                .any(|o| matches!(o.kind, Kind::ReadOnly | Kind::Mask))
        );
        let cgroup_read_only = |ops: &[MountOp]| {
            ops.iter().find(|o| o.target == "sys/fs/cgroup").map(|o| {
                matches!(
                    o.kind,
                    Kind::Cgroup {
                        read_only: true,
                        ..
                    }
                )
            })
        };
        assert_eq!(cgroup_read_only(&privileged), Some(false));
        assert_eq!(cgroup_read_only(&ops(false, false, false)), Some(true));
    }

    fn env(entries: &[&str], lookup: &[(&str, &str)]) -> Vec<String> {
        let entries: Vec<OsString> = entries.iter().map(OsString::from).collect();
        environment(&entries, "box", "/root", |k| {
            lookup
                .iter()
                .find(|(n, _)| OsStr::new(n) == k)
                .map(|(_, v)| OsString::from(v))
        })
        .unwrap()
        .into_iter()
        .map(|e| e.into_string().unwrap())
        .collect()
    }

    #[test]
    fn default_environment_and_overrides() {
        assert_eq!(
            env(&[], &[]),
            [
                &format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=box",
                "HOME=/root"
            ]
        );
        let e = env(
            &["PATH=/x", "A=1", "A=2", "FROM_HOST", "UNSET"],
            &[("FROM_HOST", "v")],
        );
        assert_eq!(
            e,
            [
                "HOSTNAME=box",
                "HOME=/root",
                "PATH=/x",
                "A=2",
                "FROM_HOST=v"
            ]
        );
        // A key that is a prefix of another is not confused with it.
        let e = env(&["HOME2=x"], &[]);
        assert!(e.contains(&"HOME=/root".to_string()) && e.contains(&"HOME2=x".to_string()));
    }

    #[test]
    fn command_candidates_follow_container_path() {
        let env = [OsString::from("PATH=/bin::/usr/bin")];
        let c = candidates(OsStr::new("ls"), &env).unwrap();
        assert_eq!(c, [c"/bin/ls".to_owned(), c"/usr/bin/ls".to_owned()]);
        let c = candidates(OsStr::new("./run.sh"), &env).unwrap();
        assert_eq!(c, [c"./run.sh".to_owned()]);
        assert!(candidates(OsStr::new(""), &env).is_err());
    }

    #[test]
    fn targets_become_relative() {
        assert_eq!(relative("/a//b/./c/"), "a/b/c");
        assert_eq!(relative("/"), "");
        assert_eq!(relative("/a/../../b/./../c/d/.."), "c");
        assert_eq!(relative("/tmp/.."), "");
        for root in ["/", "//", "/.", "/tmp/..", "/a/b/../..", "/../"] {
            let e = mount_target(root, "--tmpfs").unwrap_err().to_string();
            assert!(
                e.contains("cannot be a mount destination (it is the container's root)"),
                "{root}: {e}"
            );
        }
        assert_eq!(mount_target("/dev/xvdc", "--device").unwrap(), "dev/xvdc");
    }

    #[test]
    fn generated_names_are_valid_and_distinct() {
        let (a, b) = (generated_name().unwrap(), generated_name().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 18);
        assert!(a.starts_with("cella-"));
    }
}
