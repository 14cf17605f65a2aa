//! `create`: everything of config.json applied except the exec of
//! `process.args`, then the container waits on its `exec.fifo` for `start`.
//!
//! The parent's steps: read and check the bundle, make the state directory,
//! create the cgroup with its limits, open what the child needs (namespace
//! paths, console socket, fifo), fork into the new namespaces, answer the
//! child (id mappings, hooks) until it reports ready, then write the pid
//! file and the state. A failure at any point removes everything made so
//! far and kills the child: "as if the operation were never attempted".

use super::cgroups;
use super::config::{self, Config, IdMap};
use super::hooks;
use super::plan;
use super::state::{self, State, Status};
use crate::cgroup::{self, Layout, detect};
use crate::child;
use crate::engine;
use crate::error::{Error, Result, Step};
use crate::sys::{self, signal::SigSet};
use linux_raw_sys::general as g;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::Pid;
use std::ffi::CString;
use std::path::{Path, PathBuf};

#[derive(Clone)]
pub struct CreateArgs {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    /// The signal mask the payload gets (`None`: ours as it is).
    pub exec_mask: Option<SigSet>,
    /// A foreground `run`: a terminal with no `--console-socket` is ours
    /// to relay ([`Created::terminal`]).
    pub relay_terminal: bool,
    /// `run --keep`: the stopped container stays until `delete`.
    pub keep: bool,
    /// `--rootless` as given (`None`: auto, see [`super::rootless`]): no
    /// cgroup where the caller may not make one and asks for no limit.
    pub rootless: Option<bool>,
}

/// A created container's PID 1 (our child until this process exits), the
/// settings it accepted but ignored (warnings), and the pty master when
/// the terminal is ours to relay.
pub struct Created {
    pub pid: Pid,
    pub warnings: Vec<Error>,
    pub terminal: Option<OwnedFd>,
}

/// Read `bundle/config.json`: the raw bytes (saved with the state) and
/// the decoded config.
pub fn read_bundle(bundle: &Path) -> Result<(Vec<u8>, Config, PathBuf)> {
    let bundle = std::fs::canonicalize(bundle)
        .map_err(|e| state::io_error(e).at(format!("bundle {}", bundle.display())))?;
    let file = bundle.join("config.json");
    let bytes = crate::input::read(&file, crate::json::MAX_INPUT)?;
    let doc =
        crate::json::parse(&bytes).map_err(|e| Error::usage(format!("{}: {e}", file.display())))?;
    let cfg = config::decode(&doc, &bundle)?;
    Ok((bytes, cfg, bundle))
}

/// Create the container (status `created`).
pub fn create(a: &CreateArgs) -> Result<Created> {
    state::check_id(&a.id)?;
    let (bytes, mut cfg, bundle) = read_bundle(&a.bundle)?;
    let Some(process) = &cfg.process else {
        return Err(Error::usage("config.json: process: missing"));
    };
    cfg.root = check_rootfs(&cfg.root)?;
    // The fds after stdio the payload keeps: --preserve-fds, and socket
    // activation's LISTEN_FDS, which also goes to its environment.
    let mut process = process.clone();
    let view = crate::input::RootView::dir(&cfg.root);
    crate::users::with_home(&mut process.env, &view, process.uid);
    let mut preserve = a.preserve_fds;
    if let Some(n) = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        preserve += n;
        process
            .env
            .retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        process.env.push(format!("LISTEN_FDS={n}"));
        process.env.push("LISTEN_PID=1".into());
    }
    let payload = plan::payload(&process, cfg.linux.seccomp.as_ref(), "process")?;
    let flags = namespace_flags(&cfg)?;
    let joins = open_joins(&cfg)?;
    // The cgroup, at `cgroupsPath` in every hierarchy, as runc makes it.
    let layout = detect(Path::new(cgroup::ROOT)).unwrap_or(Layout::V1);
    let cgroup = cgroup::Plan {
        supervised: None,
        path: cfg
            .linux
            .cgroups_path
            .clone()
            .unwrap_or_else(|| format!("/{}", a.id)),
        writes: cgroups::writes(layout, &cfg.linux.resources)?,
        devices: cgroups::device_rules(&cfg.linux.resources, &plan::node_rules(&cfg)),
        // As runc's rootless manager: only for a path it chose itself (so
        // a config with a path, as podman's and containerd's as root, does
        // not look for rootless at all).
        only_where_permitted: cfg.linux.cgroups_path.is_none() && super::rootless(a.rootless),
    };
    let record = State {
        id: a.id.clone(),
        kind: state::Kind::Oci,
        pid: 0,
        pid_start: 0,
        bundle: bundle.clone(),
        rootfs: cfg.root.clone(),
        created: state::now_rfc3339(),
        annotations: cfg.annotations.clone(),
        cgroup: cgroup::Cgroup::default(),
        own_pid_ns: cfg.linux.has(g::CLONE_NEWPID),
        keep: false,
        exit_code: None,
        finished: String::new(),
        command: process.args.join(" "),
        options: Vec::new(),
        network: None,
    };
    let mounts = crate::mount::plan(plan::filesystem(&cfg, &bundle, host_netns(&cfg, &joins))?)?;
    let cstring = |v: &Option<String>, what: &str| {
        v.as_deref()
            .map(CString::new)
            .transpose()
            .map_err(|_| Error::usage(format!("config.json: {what}: NUL byte")))
    };
    let id_maps = (flags & g::CLONE_NEWUSER != 0).then(|| engine::IdMaps::Given {
        uids: id_map_text(&cfg.linux.uid_mappings),
        gids: id_map_text(&cfg.linux.gid_mappings),
    });
    let mut container = engine::Container {
        store: a.root.clone(),
        record,
        // Only we may read it: the config holds the payload's environment.
        files: vec![crate::store::File {
            name: "config.json",
            bytes,
            readable: false,
        }],
        cgroup: Some(cgroup),
        clone_flags: flags,
        cgroup_ns: cfg.linux.new_namespaces() & g::CLONE_NEWCGROUP != 0,
        joins,
        id_maps,
        dies_with_us: false,
        hostname: cstring(&cfg.hostname, "hostname")?,
        domainname: cstring(&cfg.domainname, "domainname")?,
        root_path: cfg.root.clone(),
        root: plan::cpath(&cfg.root)?,
        host_root: false,
        root_readonly: cfg.root_readonly,
        #[cfg(feature = "image")]
        layers: None,
        rootfs_propagation: cfg
            .linux
            .rootfs_propagation
            .as_deref()
            .and_then(config::propagation),
        mounts,
        hooks: !(cfg.hooks.prestart.is_empty()
            && cfg.hooks.create_runtime.is_empty()
            && cfg.hooks.create_container.is_empty()),
        payload,
        preserve,
        hold_for_start: true,
        title: None,
        #[cfg(feature = "net")]
        network: None,
    };
    let (console, ours) = crate::console::sockets(
        process.terminal,
        a.console_socket.as_deref(),
        a.relay_terminal,
        "process",
    )?;
    // A pid or time namespace given by path is entered here: it applies to
    // our children, and the container's PID 1 is one.
    enter_for_children(&cfg)?;
    // The payload gets the caller's signal mask (`run` blocked some of its
    // own meanwhile).
    let exec_mask = match a.exec_mask {
        Some(mask) => mask,
        None => sys::signal::block(SigSet::empty()).map_err(|e| Error::new(Step::SignalMask, e))?,
    };
    let io = engine::Io {
        stdio: crate::child::Stdio::default(),
        console,
        waited: SigSet::empty(),
        exec_mask,
    };
    // The state a failed create hook leaves for the poststop hooks.
    let mut hook_failed: Option<String> = None;
    let made = engine::create(&mut container, io, &mut |ask, st| match ask {
        engine::Ask::Hooks => run_create_hooks(&cfg, st).inspect_err(|_| {
            hook_failed = Some(state::to_json(st, Status::Stopped));
        }),
        // The state runc sends: `creating`, the pid recorded already.
        engine::Ask::SeccompAgent(fd) => super::agent::hand_over(
            cfg.linux.seccomp.as_ref(),
            fd,
            &state::to_json_as(st, "creating", st.pid, ""),
            st.pid,
        ),
    });
    let made = match (made, hook_failed) {
        // The spec: a failed prestart, createRuntime or createContainer
        // hook stops the container and goes on at delete, whose poststop
        // hooks run (now that the container is gone); their failures are
        // warnings in the log, the hook's error is the verb's.
        (Err(e), Some(json)) => {
            hooks::run_warning("hooks.poststop", &cfg.hooks.poststop, &json, &mut |w| {
                super::log::warning(&w.to_string())
            });
            return Err(e);
        }
        (made, _) => made?,
    };
    // The pid file before we return (the caller reads it at once); then the
    // child may wait for `start`: from here on the container exists.
    if let Some(file) = &a.pid_file {
        write_atomic(file, made.pid.to_string().as_bytes())?;
    }
    let terminal = ours.as_ref().map(crate::console::receive).transpose()?;
    let pid = made.pid;
    super::log::debug(|| format!("{}: created, pid {pid}", a.id));
    // Besides our child, as runc counts them.
    let found = made.cgroup.found_processes;
    made.keep()?;
    let mut warnings: Vec<Error> = cfg
        .linux
        .resources
        .ignored
        .iter()
        .chain(cfg.process.iter().flat_map(|p| &p.ignored))
        .map(|w| Error::usage(w.clone()))
        .collect();
    if found > 0 {
        warnings.push(Error::usage(format!(
            "container's cgroup is not empty: {found} process(es) found"
        )));
    }
    Ok(Created {
        pid,
        warnings,
        terminal,
    })
}

/// The prestart, createRuntime and createContainer hooks, in that order.
fn run_create_hooks(cfg: &Config, st: &State) -> Result<()> {
    // As runc: the container is still `creating` for these hooks.
    let json = state::to_json_as(st, "creating", st.pid, "");
    hooks::run("hooks.prestart", &cfg.hooks.prestart, &json, None)?;
    hooks::run(
        "hooks.createRuntime",
        &cfg.hooks.create_runtime,
        &json,
        None,
    )?;
    hooks::run(
        "hooks.createContainer",
        &cfg.hooks.create_container,
        &json,
        Some(st.pid),
    )
}

/// The rootfs, symlinks resolved (it is mounted over itself by path).
fn check_rootfs(root: &Path) -> Result<PathBuf> {
    let shown = || root.display().to_string();
    let real = std::fs::canonicalize(root).map_err(|e| {
        Error {
            step: Step::Rootfs,
            ..state::io_error(e)
        }
        .at(shown())
    })?;
    let st = rustix::fs::stat(&real).map_err(|e| Error::new(Step::Rootfs, e).at(shown()))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
        return Err(Error::new(Step::Rootfs, Errno::NOTDIR).at(shown()));
    }
    // procfs and sysfs writes must not be redirected by the image
    // (CVE-2019-19921, CVE-2023-27561): refuse a symlinked /proc or /sys.
    for special in ["proc", "sys"] {
        let is_link = rustix::fs::lstat(real.join(special)).is_ok_and(|m| {
            rustix::fs::FileType::from_raw_mode(m.st_mode) == rustix::fs::FileType::Symlink
        });
        if is_link {
            return Err(Error::invalid(
                Step::Rootfs,
                format!(
                    "{}: /{special} is a symlink, refusing to mount over it",
                    shown()
                ),
            ));
        }
    }
    Ok(real)
}

/// The clone flags: every namespace to create, except the cgroup one
/// (unshared from inside the cgroup) and time (entered before the fork).
fn namespace_flags(cfg: &Config) -> Result<u32> {
    for (flag, path) in &cfg.linux.namespaces {
        if path.is_some() && *flag == g::CLONE_NEWUSER {
            return Err(Error::usage(
                "config.json: linux.namespaces: joining a user namespace by path is not supported by cella",
            ));
        }
    }
    // Without a mount namespace the container has ours, root and all, as
    // with runc: nothing of the file system can be set up for it alone.
    if !cfg.linux.has(g::CLONE_NEWNS) {
        let asks = [
            ("mounts", !cfg.mounts.is_empty()),
            ("linux.devices", !cfg.linux.devices.is_empty()),
            ("linux.sysctl", !cfg.linux.sysctl.is_empty()),
            ("linux.maskedPaths", !cfg.linux.masked_paths.is_empty()),
            ("linux.readonlyPaths", !cfg.linux.readonly_paths.is_empty()),
            ("root.readonly", cfg.root_readonly),
        ];
        if let Some((what, _)) = asks.iter().find(|(_, asked)| *asked) {
            return Err(Error::usage(format!(
                "config.json: {what}: needs a mount namespace (linux.namespaces has none)"
            )));
        }
    }
    Ok(cfg.linux.new_namespaces() & !(g::CLONE_NEWCGROUP | g::CLONE_NEWTIME))
}

/// Namespaces given by path that the child joins, opened before the fork
/// so a bad path fails in the parent (the undo guard then removes the
/// cgroup and state directory made so far).
fn open_joins(cfg: &Config) -> Result<Vec<(OwnedFd, u32)>> {
    let mut out = Vec::new();
    for (flag, path) in &cfg.linux.namespaces {
        let Some(path) = path else { continue };
        if *flag == g::CLONE_NEWPID || *flag == g::CLONE_NEWTIME {
            continue;
        }
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::new(Step::JoinNamespace, e).at(path.display().to_string()))?;
        out.push((fd, *flag));
    }
    Ok(out)
}

/// Whether the container's network namespace is cella's own: no new one,
/// or the one joined (checked on the fd it will join) is ours.
fn host_netns(cfg: &Config, joins: &[(OwnedFd, u32)]) -> bool {
    if !cfg.linux.has(g::CLONE_NEWNET) {
        return true;
    }
    let ours = rustix::fs::stat("/proc/self/ns/net");
    joins
        .iter()
        .filter(|(_, k)| *k == g::CLONE_NEWNET)
        .any(|(fd, _)| match (rustix::fs::fstat(fd), &ours) {
            (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
            _ => true,
        })
}

fn enter_for_children(cfg: &Config) -> Result<()> {
    // A new time namespace gets its clock offsets before any process is in it.
    if cfg.linux.new_namespaces() & g::CLONE_NEWTIME != 0 {
        sys::unshare_time_ns().map_err(|e| Error::new(Step::JoinNamespace, e).at("time"))?;
        let offsets: String = cfg
            .linux
            .time_offsets
            .iter()
            .map(|(clock, secs, nanos)| format!("{clock} {secs} {nanos}\n"))
            .collect();
        if !offsets.is_empty() {
            std::fs::write("/proc/self/timens_offsets", offsets).map_err(|e| {
                state::io_error(e).at("linux.timeOffsets (/proc/self/timens_offsets)")
            })?;
        }
    }
    for (flag, path) in &cfg.linux.namespaces {
        let Some(path) = path else { continue };
        if *flag != g::CLONE_NEWPID && *flag != g::CLONE_NEWTIME {
            continue;
        }
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::new(Step::JoinNamespace, e).at(path.display().to_string()))?;
        child::join_namespace(fd.as_fd(), *flag)
            .map_err(|e| Error::new(Step::JoinNamespace, e).at(path.display().to_string()))?;
    }
    Ok(())
}

/// `linux.uidMappings` or `gidMappings` as `/proc/PID/uid_map` takes them.
fn id_map_text(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container, m.host, m.size))
        .collect()
}

/// Write a small file whole or not at all.
pub fn write_atomic(file: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".cella-tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, file))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            state::io_error(e).at(file.display().to_string())
        })
}
